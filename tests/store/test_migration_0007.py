"""Migration 0007 (datasetId, removals, tenants) on a database that already holds 0006-era data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from stadsnav.store.base import AttributeWrite, Provenance
from stadsnav.store.migrate import apply_migrations
from stadsnav.store.sql import SqlStore

SENSOR = "urn:ngsi-ld:WaterQualityObserved:sk-elt-temp-16"
SPOT = "urn:ngsi-ld:ParkingSpot:testby:1"
SITE = "urn:ngsi-ld:OffStreetParking:testby:kanalen"
T0 = datetime(2022, 3, 28, 12, 40, 40, 653515, tzinfo=UTC)
TIMES = [T0 + timedelta(minutes=n) for n in range(4)]
RECEIVED = T0 + timedelta(seconds=1)
PROVENANCE = {
    "type": "Property",
    "value": {"integration": "servanet", "sourceMessageId": "10301"},
}


def reading(value: float, at: datetime) -> dict[str, Any]:
    return {
        "type": "Property",
        "value": value,
        "unitCode": "CEL",
        "observedAt": at.isoformat().replace("+00:00", "Z"),
        "provenance": PROVENANCE,
    }


def fill_0006(store: SqlStore) -> None:
    """Rows as the 0006-era commit_batch wrote them: no dataset_id column yet."""
    now = store.time_in(T0 + timedelta(minutes=5))
    entities = [(SENSOR, "WaterQualityObserved", now, now, 3), (SPOT, "ParkingSpot", now, now, 3)]
    link = orjson.dumps({"type": "Relationship", "object": SITE}).decode()
    status = orjson.dumps({"type": "Property", "value": "free"}).decode()
    history = [
        (SENSOR, "temperature", store.time_in(t), reading(19 + n, t))
        for n, t in enumerate(TIMES[:3])
    ]
    with store.migration_transaction() as cursor:
        cursor.executemany(
            store.sql(
                "INSERT INTO entities (id, type, created_at, modified_at, change_version) "
                "VALUES (?, ?, ?, ?, ?)"
            ),
            entities,
        )
        cursor.executemany(
            store.sql(
                "INSERT INTO attribute_history (entity_id, name, observed_at, attribute, "
                "integration, source_message_id, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            ),
            [
                (e, n, t, orjson.dumps(a).decode(), "servanet", "10301", store.time_in(RECEIVED))
                for e, n, t, a in history
            ],
        )
        cursor.executemany(
            store.sql(
                "INSERT INTO entity_attributes (entity_id, name, attribute, observed_at, "
                "modified_at, integration, source_message_id, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            [
                (
                    *history[-1][:2],
                    orjson.dumps(history[-1][3]).decode(),
                    history[-1][2],
                    now,
                    "servanet",
                    "10301",
                    store.time_in(RECEIVED),
                ),
                (SPOT, "refParkingSite", link, None, now, None, None, None),
                (SPOT, "status", status, store.time_in(T0), now, None, None, None),
            ],
        )
        cursor.execute("UPDATE change_counter SET version = 3")


def indexes(store: SqlStore) -> set[str]:
    query = (
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        if store.dialect == "sqlite"
        else "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    )
    with store.migration_transaction() as cursor:
        cursor.execute(query)
        return {row[0] for row in cursor.fetchall()}


def test_0007_keeps_0006_data_and_the_pipeline_carries_on(empty_store: SqlStore) -> None:
    store = empty_store
    applied = apply_migrations(store, until="0006_message_digests")
    assert applied[-1] == "0006_message_digests"
    fill_0006(store)
    before = indexes(store)
    assert apply_migrations(store, until="0007_ngsild_entities") == ["0007_ngsild_entities"]
    assert before <= indexes(store)
    store.migrate()  # today's store code reads the columns later migrations add

    sensor = store.get_entity(SENSOR)
    assert sensor is not None
    assert sensor.attributes == {"temperature": reading(21, TIMES[2])}
    assert sensor.datasets == {}
    history = store.history(SENSOR)["temperature"]
    assert [i.attribute["value"] for i in history] == [19, 20, 21]
    assert history[0].provenance == Provenance("servanet", "10301", RECEIVED)
    assert store.entity_changes(["WaterQualityObserved"], 2)[0] == 3
    [count] = store.count_related("ParkingSpot", "refParkingSite", [SITE], "status")
    assert (count.value, count.count, count.newest) == ("free", 1, T0)

    # The same observation again is a duplicate; a newer one is stored and becomes the latest.
    provenance = Provenance("servanet", "10302", RECEIVED)
    writes = [
        AttributeWrite(SENSOR, "WaterQualityObserved", "temperature", reading(v, t), t, provenance)
        for v, t in [(21, TIMES[2]), (22, TIMES[3])]
    ]
    for write in writes:
        write.attribute.pop("provenance")  # commit_batch adds it from ``provenance``
    assert store.commit_batch([], writes, []) == 1
    latest = store.get_entity(SENSOR)
    assert latest is not None
    assert latest.attributes["temperature"]["value"] == 22


def test_an_unknown_target_version_is_refused(empty_store: SqlStore) -> None:
    with pytest.raises(ValueError, match="unknown migration"):
        apply_migrations(empty_store, until="0099_nothing")
    assert empty_store.schema_version() is None
