"""Counting related entities per value in the store: the spots of a car park by status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stadsnav.store.base import AttributeWrite, RelatedCount
from stadsnav.store.sql import SqlStore

T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
GARAGE = "urn:ngsi-ld:OffStreetParking:se:testby:kanalen"
STREET = "urn:ngsi-ld:OnStreetParking:se:testby:storgatan"


def spot(name: str, site: str, status: str, at: datetime) -> list[AttributeWrite]:
    entity_id = f"urn:ngsi-ld:ParkingSpot:{name}"
    link = {"type": "Relationship", "object": site}
    state = {"type": "Property", "value": status, "observedAt": at.isoformat()}
    return [
        AttributeWrite(entity_id, "ParkingSpot", "refParkingSite", link),
        AttributeWrite(entity_id, "ParkingSpot", "status", state, at),
    ]


def test_spots_are_counted_per_site_and_status_with_their_newest_time(store: SqlStore) -> None:
    writes = [
        *spot("a", GARAGE, "free", T0),
        *spot("b", GARAGE, "occupied", T0 + timedelta(minutes=1)),
        *spot("c", GARAGE, "free", T0 + timedelta(minutes=5)),
        *spot("d", STREET, "free", T0),
    ]
    store.commit_batch([], writes, [])
    counts = store.count_related("ParkingSpot", "refParkingSite", [GARAGE], "status")
    assert sorted(counts, key=lambda c: c.value) == [
        RelatedCount(GARAGE, "free", 2, T0 + timedelta(minutes=5)),
        RelatedCount(GARAGE, "occupied", 1, T0 + timedelta(minutes=1)),
    ]
    both = store.count_related("ParkingSpot", "refParkingSite", [GARAGE, STREET], "status")
    assert sum(c.count for c in both) == 4
    assert store.count_related("Beach", "refParkingSite", [GARAGE], "status") == []
