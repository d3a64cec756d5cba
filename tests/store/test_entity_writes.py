"""``change_entities``: the NGSI-LD API's create, replace, patch and delete, on every backend."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from stadsnav.store.base import AttributeWrite, EntityChange, StoredEntity
from stadsnav.store.sql import SqlStore

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
WATER_QUALITY = DATA / "smart-data-models" / "WaterQualityObserved" / "example-normalized.jsonld"
PARKING_SPOT = DATA / "smart-data-models" / "ParkingSpot" / "example-normalized.jsonld"
T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)

OpenStore = Callable[[], SqlStore]
Compute = Callable[[StoredEntity | None], EntityChange | None]


class AlreadyExistsError(Exception):
    """What the API layer would answer 409 with."""


def example(path: Path) -> dict[str, Any]:
    """A real Smart Data Models example in normalized form, without its @context."""
    entity: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    entity.pop("@context", None)
    return entity


def attributes_of(entity: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, value) for name, value in entity.items() if name not in ("id", "type")]


def create(entity: dict[str, Any]) -> Compute:
    """As POST /entities: refuse an existing id, else store every attribute."""

    def compute(current: StoredEntity | None) -> EntityChange:
        if current is not None:
            raise AlreadyExistsError(current.id)
        return EntityChange(type=entity["type"], put=attributes_of(entity))

    return compute


def patch(**attributes: dict[str, Any]) -> Compute:
    """As PATCH /entities/{id}/attrs: replace the named attributes of an existing entity."""

    def compute(current: StoredEntity | None) -> EntityChange | None:
        return None if current is None else EntityChange(put=list(attributes.items()))

    return compute


def upsert(entity_type: str, name: str, attribute: dict[str, Any]) -> Compute:
    """Store one attribute, creating the entity if it is missing."""
    return lambda _: EntityChange(type=entity_type, put=[(name, attribute)])


def temperature(value: float, at: datetime | None = None) -> dict[str, Any]:
    attribute: dict[str, Any] = {"type": "Property", "value": value, "unitCode": "CEL"}
    if at is not None:
        attribute["observedAt"] = at.isoformat().replace("+00:00", "Z")
    return attribute


def test_create_stores_the_entity_as_given_with_equal_times(store: SqlStore) -> None:
    entity = example(WATER_QUALITY)
    before = datetime.now(UTC)
    after = store.change_entities({entity["id"]: create(entity)})
    stored = after[entity["id"]]
    assert stored is not None
    assert stored == store.get_entity(entity["id"])
    assert stored.type == "WaterQualityObserved"
    assert stored.attributes == dict(attributes_of(entity))
    assert stored.datasets == {}
    assert stored.created_at == stored.modified_at >= before.replace(microsecond=0)
    body = store.entity_json(entity["id"])
    assert body is not None
    assert orjson.loads(body) == entity


def test_a_function_sees_the_current_state_and_may_do_nothing(store: SqlStore) -> None:
    entity = example(WATER_QUALITY)
    [created] = store.change_entities({entity["id"]: create(entity)}).values()
    version, _ = store.entity_changes(["WaterQualityObserved"], None)
    with pytest.raises(AlreadyExistsError):
        store.change_entities({entity["id"]: create(entity)})
    seen: list[StoredEntity | None] = []

    def look(current: StoredEntity | None) -> None:
        seen.append(current)

    assert store.change_entities({entity["id"]: look, "urn:ngsi-ld:Thing:none": look}) == {
        entity["id"]: created,
        "urn:ngsi-ld:Thing:none": None,
    }
    assert seen == [created, None]
    assert store.entity_changes(["WaterQualityObserved"], version) == (version, [])


def test_patch_replaces_only_the_named_attributes(store: SqlStore) -> None:
    entity = example(WATER_QUALITY)
    [created] = store.change_entities({entity["id"]: create(entity)}).values()
    assert created is not None
    patched = store.change_entities({entity["id"]: patch(temperature=temperature(25.1))})
    after = patched[entity["id"]]
    assert after is not None
    assert after.attributes == {**created.attributes, "temperature": temperature(25.1)}
    assert after.created_at == created.created_at
    assert after.modified_at > created.modified_at
    assert store.change_entities({"urn:ngsi-ld:Thing:none": patch(pH={"value": 7})}) == {
        "urn:ngsi-ld:Thing:none": None
    }


def test_replace_clears_every_attribute_and_may_change_the_type(store: SqlStore) -> None:
    entity = example(WATER_QUALITY)
    store.change_entities({entity["id"]: create(entity)})
    name = {"type": "Property", "value": "Sevilla D1"}
    replace = EntityChange(type="WaterObserved", clear=True, put=[("name", name)])
    replaced = store.change_entities({entity["id"]: lambda _: replace})[entity["id"]]
    assert replaced is not None
    assert (replaced.type, replaced.attributes) == ("WaterObserved", {"name": name})
    assert store.find_entities(types=["WaterQualityObserved"]) == []


def test_deleting_attributes_keeps_their_history(store: SqlStore) -> None:
    entity_id = "urn:ngsi-ld:WaterQualityObserved:byske"
    readings = [("temperature", temperature(19.0 + n, T0 + timedelta(hours=n))) for n in range(3)]
    store.change_entities(
        {entity_id: lambda _: EntityChange(type="WaterQualityObserved", put=readings)}
    )
    stored = store.get_entity(entity_id)
    assert stored is not None
    assert stored.attributes == {"temperature": readings[-1][1]}
    after = store.change_entities(
        {entity_id: lambda _: EntityChange(delete=[("temperature", None), ("pH", None)])}
    )[entity_id]
    assert after is not None
    assert after.attributes == {}
    history = store.history(entity_id)["temperature"]
    assert [i.attribute["value"] for i in history] == [19.0, 20.0, 21.0]
    assert [i.observed_at for i in history] == [T0 + timedelta(hours=n) for n in range(3)]
    assert all(i.provenance is None for i in history)


def test_the_same_observation_time_put_again_replaces_that_history_instance(
    store: SqlStore,
) -> None:
    entity_id = "urn:ngsi-ld:WaterQualityObserved:byske"
    for value in (19.0, 19.5):
        reading = temperature(value, T0)
        store.change_entities({entity_id: upsert("WaterQualityObserved", "temperature", reading)})
    [instance] = store.history(entity_id)["temperature"]
    assert instance.attribute == temperature(19.5, T0)


def test_an_observation_time_with_an_offset_is_stored_in_utc(store: SqlStore) -> None:
    entity_id = "urn:ngsi-ld:WaterQualityObserved:byske"
    reading = {"type": "Property", "value": 18.2, "observedAt": "2026-07-01T10:00:00+02:00"}
    store.change_entities({entity_id: upsert("WaterQualityObserved", "temperature", reading)})
    [instance] = store.history(entity_id)["temperature"]
    assert instance.observed_at == T0
    assert instance.attribute == reading


def test_delete_entity_removes_attributes_and_history(store: SqlStore) -> None:
    entity_id = "urn:ngsi-ld:WaterQualityObserved:byske"
    reading = temperature(19.0, T0)
    store.change_entities({entity_id: upsert("WaterQualityObserved", "temperature", reading)})
    gone = store.change_entities({entity_id: lambda _: EntityChange(delete_entity=True)})
    assert gone == {entity_id: None}
    assert store.get_entity(entity_id) is None
    assert store.history(entity_id) == {}
    # Deleting what is not there changes nothing.
    version, _ = store.entity_changes(["WaterQualityObserved"], None)
    assert store.change_entities({entity_id: lambda _: EntityChange(delete_entity=True)}) == {
        entity_id: None
    }
    assert store.entity_changes(["WaterQualityObserved"], None)[0] == version


def test_creating_needs_a_type(store: SqlStore) -> None:
    with pytest.raises(ValueError, match="needs a type"):
        store.change_entities({"urn:ngsi-ld:Thing:a": patch_always(name={"value": "a"})})
    assert store.get_entity("urn:ngsi-ld:Thing:a") is None


def patch_always(**attributes: dict[str, Any]) -> Compute:
    return lambda _: EntityChange(put=list(attributes.items()))


def test_malformed_instances_are_value_errors(store: SqlStore) -> None:
    bad_time = {"type": "Property", "value": 1, "observedAt": "yesterday"}
    bad_dataset = {"type": "Property", "value": 1, "datasetId": 7}
    for attribute in (bad_time, bad_dataset):
        with pytest.raises(ValueError, match="reading"):
            store.change_entities({"urn:ngsi-ld:Thing:a": upsert("Thing", "reading", attribute)})
    assert store.find_entities() == []


def test_a_raising_function_rolls_back_every_entity(store: SqlStore) -> None:
    spot, water = example(PARKING_SPOT), example(WATER_QUALITY)
    version, _ = store.entity_changes(["ParkingSpot", "WaterQualityObserved"], None)

    def fail(current: StoredEntity | None) -> EntityChange:
        raise RuntimeError("the API layer found a problem")

    with pytest.raises(RuntimeError, match="problem"):
        store.change_entities({spot["id"]: create(spot), water["id"]: fail})
    assert store.find_entities() == []
    assert store.entity_changes(["ParkingSpot"], None)[0] == version


def test_every_applied_change_bumps_the_version_and_deletions_are_seen(store: SqlStore) -> None:
    spot, water = example(PARKING_SPOT), example(WATER_QUALITY)
    types = ["ParkingSpot", "WaterQualityObserved"]
    start = store.entity_delta(types, None).version
    store.change_entities({spot["id"]: create(spot), water["id"]: create(water)})
    created = store.entity_delta(types, start)
    assert created.version == start + 1
    assert [e.id for e in created.changed] == sorted([spot["id"], water["id"]])
    assert created.removed == []

    store.change_entities({spot["id"]: lambda _: EntityChange(delete_entity=True)})
    deleted = store.entity_delta(types, created.version)
    assert (deleted.version, deleted.changed, deleted.removed) == (start + 2, [], [spot["id"]])
    assert store.count_changes(types, created.version, 10) == 1
    assert store.entity_delta(["WaterQualityObserved"], created.version).removed == []
    assert store.entity_delta(types, deleted.version).removed == []
    # entity_changes, as before, lists what exists.
    assert store.entity_changes(types, created.version) == (start + 2, [])

    # Created again: a reader behind the delete gets it as changed, not as removed.
    store.change_entities({spot["id"]: create(spot)})
    again = store.entity_delta(types, created.version)
    assert ([e.id for e in again.changed], again.removed) == ([spot["id"]], [])


def test_a_retyped_entity_is_removed_from_its_old_type(store: SqlStore) -> None:
    water = example(WATER_QUALITY)
    store.change_entities({water["id"]: create(water)})
    version = store.entity_delta(["WaterQualityObserved"], None).version
    store.change_entities({water["id"]: lambda _: EntityChange(type="WaterObserved")})
    old = store.entity_delta(["WaterQualityObserved"], version)
    assert (old.changed, old.removed) == ([], [water["id"]])
    both = store.entity_delta(["WaterQualityObserved", "WaterObserved"], version)
    assert ([e.id for e in both.changed], both.removed) == ([water["id"]], [])


def test_pipeline_writes_and_api_writes_share_the_latest_state(store: SqlStore) -> None:
    entity_id = "urn:ngsi-ld:WaterQualityObserved:byske"
    first = temperature(19.0, T0)
    store.change_entities({entity_id: upsert("WaterQualityObserved", "temperature", first)})
    newer = T0 + timedelta(minutes=10)
    write = AttributeWrite(
        entity_id, "WaterQualityObserved", "temperature", temperature(19.4, newer), newer
    )
    assert store.commit_batch([], [write], []) == 1
    entity = store.get_entity(entity_id)
    assert entity is not None
    assert entity.attributes["temperature"]["value"] == 19.4
    assert [i.attribute["value"] for i in store.history(entity_id)["temperature"]] == [19.0, 19.4]


def test_concurrent_read_modify_writes_lose_no_update(
    store: SqlStore, open_store: OpenStore
) -> None:
    entity_id = "urn:ngsi-ld:Counter:visits"
    store.change_entities({entity_id: upsert("Counter", "count", {"type": "Property", "value": 0})})

    def increment(current: StoredEntity | None) -> EntityChange:
        assert current is not None
        count = current.attributes["count"]["value"]
        return EntityChange(put=[("count", {"type": "Property", "value": count + 1})])

    # Two store objects, as two API processes would have, each used from its own thread.
    stores = [open_store(), open_store()]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(stores))

    def run(writer: SqlStore) -> None:
        barrier.wait()
        try:
            for _ in range(200):
                writer.change_entities({entity_id: increment})
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(writer,)) for writer in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    entity = store.get_entity(entity_id)
    assert entity is not None
    assert entity.attributes["count"]["value"] == 400


def test_concurrent_creates_of_one_id_create_it_once(
    open_store: OpenStore, store: SqlStore
) -> None:
    entity = example(PARKING_SPOT)
    stores = [open_store() for _ in range(4)]
    outcomes: list[str] = []
    barrier = threading.Barrier(len(stores))

    def run(writer: SqlStore) -> None:
        barrier.wait()
        try:
            writer.change_entities({entity["id"]: create(entity)})
            outcomes.append("created")
        except AlreadyExistsError:
            outcomes.append("exists")

    threads = [threading.Thread(target=run, args=(writer,)) for writer in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created", "exists", "exists", "exists"]


def test_a_thousand_entities_change_in_one_call(store: SqlStore) -> None:
    ids = [f"urn:ngsi-ld:ParkingSpot:testby:{n:04}" for n in range(1000)]

    def free(status: str) -> Compute:
        state = {"type": "Property", "value": status, "observedAt": "2026-07-01T08:00:00Z"}
        return lambda current: EntityChange(
            type=None if current else "ParkingSpot", put=[("status", state)]
        )

    created = store.change_entities({entity_id: free("free") for entity_id in ids})
    assert all(entity is not None for entity in created.values())
    changed = store.change_entities({entity_id: free("occupied") for entity_id in ids})
    assert {e.attributes["status"]["value"] for e in changed.values() if e} == {"occupied"}
    assert store.entity_types() == {"ParkingSpot": 1000}
    assert len(store.history(ids[500])["status"]) == 1


def test_discovery_counts_types_and_attributes(store: SqlStore) -> None:
    spot, water = example(PARKING_SPOT), example(WATER_QUALITY)
    other = {**water, "id": "urn:ngsi-ld:WaterQualityObserved:byske", "spot": spot["status"]}
    store.change_entities({e["id"]: create(e) for e in (spot, water, other)})
    assert store.entity_types() == {"ParkingSpot": 1, "WaterQualityObserved": 2}
    names = store.attribute_names()
    assert names["temperature"] == {"WaterQualityObserved": 2}
    assert names["status"] == {"ParkingSpot": 1}
    assert names["spot"] == {"WaterQualityObserved": 1}
    assert set(names) == {name for e in (spot, water, other) for name, _ in attributes_of(e)}
    only = store.attribute_names(["ParkingSpot"])
    assert set(only) == {name for name, _ in attributes_of(spot)}
    assert store.attribute_names([]) == {}
