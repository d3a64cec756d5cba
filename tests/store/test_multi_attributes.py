"""Multi-attributes: several instances of one attribute, told apart by their datasetId."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from stadsnav.store.base import AttributeWrite, EntityChange, StoredEntity
from stadsnav.store.sql import SqlStore

# As in NGSI-LD's multi-attribute example: a vehicle's speed from its speedometer and its GPS.
VEHICLE = "urn:ngsi-ld:Vehicle:A4567"
SPEEDOMETER = "urn:ngsi-ld:Property:speedometerA4567-speed"
GPS = "urn:ngsi-ld:Property:gpsBxyz123-speed"
T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


def speed(
    value: float, dataset_id: str | None = None, at: datetime | None = None
) -> dict[str, Any]:
    """A speed instance in normalized form, as the API layer hands it to the store."""
    instance: dict[str, Any] = {"type": "Property", "value": value, "unitCode": "KMH"}
    if dataset_id is not None:
        instance["datasetId"] = dataset_id
    if at is not None:
        instance["observedAt"] = at.isoformat().replace("+00:00", "Z")
    return instance


def put(store: SqlStore, *instances: dict[str, Any]) -> StoredEntity:
    change = EntityChange(type="Vehicle", put=[("speed", i) for i in instances])
    entity = store.change_entities({VEHICLE: lambda _: change})[VEHICLE]
    assert entity is not None
    return entity


def drop(store: SqlStore, *dataset_ids: str | None) -> StoredEntity:
    change = EntityChange(delete=[("speed", d) for d in dataset_ids])
    entity = store.change_entities({VEHICLE: lambda _: change})[VEHICLE]
    assert entity is not None
    return entity


def test_instances_of_each_dataset_are_kept_apart_from_the_default(store: SqlStore) -> None:
    entity = put(store, speed(55), speed(54.5, SPEEDOMETER), speed(56, GPS))
    assert entity.attributes == {"speed": speed(55)}
    assert entity.datasets == {
        "speed": {GPS: speed(56, GPS), SPEEDOMETER: speed(54.5, SPEEDOMETER)}
    }
    assert store.get_entity(VEHICLE) == entity
    [found] = store.find_entities(types=["Vehicle"])
    assert found.datasets == entity.datasets
    [changed] = store.entity_changes(["Vehicle"], None)[1]
    assert changed.datasets == entity.datasets
    # Putting one dataset's instance again replaces that one only.
    again = put(store, speed(60, GPS))
    assert again.datasets["speed"] == {GPS: speed(60, GPS), SPEEDOMETER: speed(54.5, SPEEDOMETER)}
    assert again.attributes == {"speed": speed(55)}


def test_deleting_one_instance_leaves_the_others(store: SqlStore) -> None:
    put(store, speed(55), speed(54.5, SPEEDOMETER), speed(56, GPS))
    entity = drop(store, GPS)
    assert entity.datasets == {"speed": {SPEEDOMETER: speed(54.5, SPEEDOMETER)}}
    assert entity.attributes == {"speed": speed(55)}
    # An attribute may have dataset instances only.
    entity = drop(store, None)
    assert entity.attributes == {}
    assert entity.datasets == {"speed": {SPEEDOMETER: speed(54.5, SPEEDOMETER)}}
    assert drop(store, SPEEDOMETER).datasets == {}


def test_replace_clears_every_dataset(store: SqlStore) -> None:
    put(store, speed(55), speed(54.5, SPEEDOMETER), speed(56, GPS))
    change = EntityChange(clear=True, put=[("speed", speed(20, GPS))])
    entity = store.change_entities({VEHICLE: lambda _: change})[VEHICLE]
    assert entity is not None
    assert (entity.attributes, entity.datasets) == ({}, {"speed": {GPS: speed(20, GPS)}})


def test_entity_json_leaves_entities_with_datasets_to_the_renderer(store: SqlStore) -> None:
    put(store, speed(55))
    assert store.entity_json(VEHICLE) is not None
    put(store, speed(56, GPS))
    assert store.entity_json(VEHICLE) is None


def test_history_holds_every_dataset_oldest_first(store: SqlStore) -> None:
    times = [T0 + timedelta(seconds=10 * n) for n in range(3)]
    for n, at in enumerate(times):
        put(store, speed(50 + n, SPEEDOMETER, at), speed(51 + n, GPS, at), speed(52 + n, None, at))
    history = store.history(VEHICLE)["speed"]
    assert [i.observed_at for i in history] == [t for t in times for _ in range(3)]
    by_dataset: dict[str | None, list[float]] = {}
    for instance in history:
        by_dataset.setdefault(instance.attribute.get("datasetId"), []).append(
            instance.attribute["value"]
        )
    assert by_dataset == {None: [52, 53, 54], SPEEDOMETER: [50, 51, 52], GPS: [51, 52, 53]}
    # Deleting an instance from the latest state keeps its history.
    drop(store, GPS)
    assert len(store.history(VEHICLE, ["speed"], time_from=times[2])["speed"]) == 3
    newest = store.history(VEHICLE, last_n=3)["speed"]
    assert [i.observed_at for i in newest] == [times[2]] * 3


def test_pipeline_queries_read_the_default_instance(store: SqlStore) -> None:
    spot = "urn:ngsi-ld:ParkingSpot:testby:1"
    site = "urn:ngsi-ld:OffStreetParking:testby:kanalen"
    link = {"type": "Relationship", "object": site}
    status = {"type": "Property", "value": "free", "observedAt": "2026-07-01T08:00:00Z"}
    store.commit_batch(
        [],
        [
            AttributeWrite(spot, "ParkingSpot", "refParkingSite", link),
            AttributeWrite(spot, "ParkingSpot", "status", status, T0),
        ],
        [],
    )
    # A second source reports the same spot's status under a datasetId, in the same run.
    other = {**status, "value": "occupied", "datasetId": "urn:ngsi-ld:Dataset:camera"}
    linked = {**link, "datasetId": "urn:ngsi-ld:Dataset:camera"}
    change = EntityChange(put=[("status", other), ("refParkingSite", linked)])
    store.change_entities({spot: lambda _: change})
    [count] = store.count_related("ParkingSpot", "refParkingSite", [site], "status")
    assert (count.value, count.count) == ("free", 1)
    horizon = T0 - timedelta(days=1)
    since = store.unchanged_since(spot, "status", "free", T0 + timedelta(hours=1), horizon)
    assert since == T0
    assert store.attribute_names() == {
        "refParkingSite": {"ParkingSpot": 1},
        "status": {"ParkingSpot": 1},
    }
