"""Change versions: a reader asks only for the entities changed since the version it holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stadsnav.store.base import AttributeWrite
from stadsnav.store.sql import SqlStore

T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
GARAGE = "urn:ngsi-ld:OffStreetParking:se:testby:kanalen"
STREET = "urn:ngsi-ld:OnStreetParking:se:testby:storgatan"
BEACH = "urn:ngsi-ld:Beach:se:testby:norrstrand"


def free(entity_id: str, entity_type: str, value: int, at: datetime) -> AttributeWrite:
    attribute = {"type": "Property", "value": value, "observedAt": at.isoformat()}
    return AttributeWrite(entity_id, entity_type, "availableSpotNumber", attribute, at)


def ids(store: SqlStore, after: int | None) -> tuple[int, list[str]]:
    version, changed = store.entity_changes(["OffStreetParking", "OnStreetParking"], after)
    return version, [entity.id for entity in changed]


def test_only_entities_changed_since_a_version_come_back(store: SqlStore) -> None:
    start, everything = ids(store, None)
    assert everything == []
    store.commit_batch([], [free(GARAGE, "OffStreetParking", 40, T0)], [])
    store.commit_batch([], [free(STREET, "OnStreetParking", 3, T0)], [])
    first, listed = ids(store, None)
    assert first == start + 2
    assert listed == [GARAGE, STREET]
    assert ids(store, first) == (first, [])
    store.commit_batch([], [free(GARAGE, "OffStreetParking", 39, T0 + timedelta(minutes=1))], [])
    second, changed = ids(store, first)
    assert (second, changed) == (first + 1, [GARAGE])
    [garage] = store.entity_changes(["OffStreetParking"], first)[1]
    assert garage.attributes["availableSpotNumber"]["value"] == 39


def test_writes_that_change_no_latest_value_are_no_change(store: SqlStore) -> None:
    store.commit_batch([], [free(GARAGE, "OffStreetParking", 40, T0)], [])
    version, _ = ids(store, None)
    # A late observation goes into the history only; the latest value stays.
    store.commit_batch([], [free(GARAGE, "OffStreetParking", 12, T0 - timedelta(hours=1))], [])
    assert ids(store, version)[1] == []


def test_other_types_are_not_listed(store: SqlStore) -> None:
    version, _ = ids(store, None)
    name = AttributeWrite(BEACH, "Beach", "name", {"type": "Property", "value": "Norrstrand"})
    store.commit_batch([], [name], [])
    later, changed = ids(store, version)
    assert changed == []
    assert later == version + 1


def test_changes_are_counted_up_to_a_limit(store: SqlStore) -> None:
    version, _ = ids(store, None)
    store.commit_batch([], [free(GARAGE, "OffStreetParking", 40, T0)], [])
    store.commit_batch([], [free(STREET, "OnStreetParking", 3, T0)], [])
    types = ["OffStreetParking", "OnStreetParking"]
    assert store.count_changes(types, version, 10) == 2
    assert store.count_changes(types, version, 1) == 1
    assert store.count_changes(types, version + 2, 10) == 0
