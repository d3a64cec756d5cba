"""Entities with several types (NGSI-LD 4.16) in the store, on every backend."""

from __future__ import annotations

from typing import Any

from stadsnav.store.base import EntityChange
from stadsnav.store.sql import SqlStore

HALL = "urn:ngsi-ld:Building:stadshuset"
GARAGE = "urn:ngsi-ld:Building:kanalgaraget"
NAME = ("name", {"type": "Property", "value": "Stadshuset"})


def write(store: SqlStore, entity_id: str, types: Any, *puts: tuple[str, dict[str, Any]]) -> None:
    store.change_entities({entity_id: lambda _: EntityChange(type=types, put=list(puts))})


def types_of(store: SqlStore, entity_id: str) -> tuple[str, ...]:
    entity = store.get_entity(entity_id)
    assert entity is not None
    return entity.types


def ids(store: SqlStore, *types: str) -> list[str]:
    return [entity.id for entity in store.find_entities(list(types))]


def test_an_entity_keeps_its_types_in_order_and_is_found_by_each(store: SqlStore) -> None:
    write(store, HALL, ("Building", "CulturalSite"), NAME)
    write(store, GARAGE, "Building")
    hall = store.get_entity(HALL)
    assert hall is not None
    assert hall.types == ("Building", "CulturalSite")
    assert hall.type_value() == ["Building", "CulturalSite"]
    assert ids(store, "Building") == [GARAGE, HALL]
    assert ids(store, "CulturalSite") == [HALL]
    assert ids(store, "CulturalSite", "Parking") == [HALL]
    assert store.find_entities(["CulturalSite"], limit=1)[0].id == HALL
    assert store.entity_types() == {"Building": 2, "CulturalSite": 1}
    assert store.attribute_names(["CulturalSite"]) == {"name": {"CulturalSite": 1}}
    assert store.attribute_names()["name"] == {"Building": 1, "CulturalSite": 1}
    assert store.attribute_kinds(["CulturalSite"]) == {"name": ["Property"]}


def test_the_fast_read_renders_several_types_as_a_list(store: SqlStore) -> None:
    write(store, HALL, ("Building", "CulturalSite"), NAME)
    text = store.entity_json(HALL)
    assert text is not None
    assert b'"type":["Building","CulturalSite"]' in text


def test_a_change_of_types_replaces_them_and_tells_the_readers_of_a_lost_type(
    store: SqlStore,
) -> None:
    write(store, HALL, ("Building", "CulturalSite"), NAME)
    version, _ = store.entity_changes(["CulturalSite"], None)
    write(store, HALL, ("Building", "Museum"))
    assert types_of(store, HALL) == ("Building", "Museum")
    assert ids(store, "CulturalSite") == []
    assert store.entity_delta(["CulturalSite"], version).removed == [HALL]
    assert [e.id for e in store.entity_delta(["Museum"], version).changed] == [HALL]
    assert store.count_changes(["Museum"], version, 10) == 1
    # Back to one type: the further types are gone from every index.
    write(store, HALL, "Building")
    single = store.get_entity(HALL)
    assert single is not None
    assert single.types == ("Building",)
    assert single.type_value() == "Building"
    assert store.entity_types() == {"Building": 1}


def test_a_deleted_entity_with_several_types_is_one_removal_in_the_feed(store: SqlStore) -> None:
    write(store, HALL, ("Building", "CulturalSite"), NAME)
    version = store.entity_feed(0).version
    store.change_entities({HALL: lambda _: EntityChange(delete_entity=True)})
    assert store.entity_feed(version).removed == [(HALL, "Building")]
    assert store.entity_feed(version, ["CulturalSite"]).removed == [(HALL, "CulturalSite")]
    assert store.entity_types() == {}


def test_the_feed_and_a_snapshot_select_by_a_further_type(store: SqlStore) -> None:
    write(store, HALL, ("Building", "CulturalSite"), NAME)
    write(store, GARAGE, "Building")
    assert [e.id for e in store.entity_feed(0, ["CulturalSite"]).changed] == [HALL]
    version = store.entity_feed(0).version
    unchanged, later = store.entities_as_of(version, ["CulturalSite"])
    assert ([e.id for e in unchanged], later) == ([HALL], [])


def test_temporal_instances_add_the_types_they_name(store: SqlStore) -> None:
    reading = {"type": "Property", "value": 7, "observedAt": "2026-11-27T10:00:00Z"}
    assert store.add_instances(HALL, ["Building"], [("visitors", reading)], create=True)
    assert store.add_instances(HALL, ["Museum", "Building"], [], create=False) is False
    assert types_of(store, HALL) == ("Building", "Museum")


def test_discovery_leaves_out_entities_with_a_hidden_type(store: SqlStore) -> None:
    write(store, HALL, ("Building", "CulturalSite"), NAME)
    write(store, GARAGE, "Building", ("floors", {"type": "Property", "value": 3}))
    assert store.entity_types(["CulturalSite"]) == {"Building": 1}
    assert store.attribute_names(None, ["CulturalSite"]) == {"floors": {"Building": 1}}
    assert store.attribute_kinds(["Building"], ["CulturalSite"]) == {"floors": ["Property"]}
    assert store.entity_types() == {"Building": 2, "CulturalSite": 1}
