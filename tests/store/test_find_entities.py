"""find_entities in pages (after, limit) and narrowed by a Prefilter, on every store."""

from __future__ import annotations

from typing import Any

import pytest

from stadsnav.model.entity_query import Prefilter, ValueTest
from stadsnav.store.base import EntityChange
from stadsnav.store.sql import SqlStore

GPS = "urn:ngsi-ld:Dataset:gps"


def prop(value: Any, **members: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, **members}


def create(store: SqlStore, entity_type: str, entity_id: str, **attributes: Any) -> None:
    """One entity; an attribute given as a list is a multi-attribute (one put per instance)."""
    puts = [
        (name, instance)
        for name, value in attributes.items()
        for instance in (value if isinstance(value, list) else [value])
    ]
    store.change_entities({entity_id: lambda _: EntityChange(type=entity_type, put=puts)})


def found(store: SqlStore, *tests: ValueTest, names: set[str] | None = None) -> list[str]:
    prefilter = Prefilter(None if names is None else frozenset(names), tests)
    return [entity.id for entity in store.find_entities(prefilter=prefilter)]


def spot(number: int) -> str:
    return f"urn:ngsi-ld:ParkingSpot:kanalgatan:{number:02d}"


def test_pages_of_limit_after_the_last_id_read_every_entity_once_in_id_order(
    store: SqlStore,
) -> None:
    for number in range(11):
        create(store, "ParkingSpot", spot(number), status=prop("free"))
    create(store, "OffStreetParking", "urn:ngsi-ld:OffStreetParking:kanalen", name=prop("K"))
    for types in (["ParkingSpot"], ["OffStreetParking", "ParkingSpot"], None):
        every = [entity.id for entity in store.find_entities(types)]
        paged: list[str] = []
        after: str | None = None
        while True:
            page = store.find_entities(types, after=after, limit=4)
            paged += [entity.id for entity in page]
            if len(page) < 4:
                break
            after = page[-1].id
        assert paged == every
        assert len(every) == (11 if types == ["ParkingSpot"] else 12)
    [first] = store.find_entities(["ParkingSpot"], limit=1)
    assert first.attributes["status"]["value"] == "free"
    assert [e.id for e in store.find_entities(ids=[spot(3), spot(1)], after=spot(1))] == [spot(3)]


def test_names_keep_the_entities_with_an_instance_of_any_of_them(store: SqlStore) -> None:
    create(store, "ParkingSpot", spot(1), status=prop("free"))
    create(store, "ParkingSpot", spot(2), occupancy=prop(1))
    create(store, "ParkingSpot", spot(3), speed=prop(3, datasetId=GPS))
    assert found(store, names={"status", "speed"}) == [spot(1), spot(3)]
    assert found(store, names={"nothing"}) == []


def test_value_tests_compare_plain_strings_and_numbers(store: SqlStore) -> None:
    create(store, "ParkingSpot", spot(1), status=prop("free"), occupancy=prop(0))
    create(store, "ParkingSpot", spot(2), status=prop("occupied"), occupancy=prop(1))
    create(store, "ParkingSpot", spot(3), status=prop("closed"), occupancy=prop(0.5))
    create(store, "ParkingSpot", spot(4), name=prop("no status"))
    assert found(store, ValueTest("status")) == [spot(1), spot(2), spot(3)]
    assert found(store, ValueTest("status", "==", "free")) == [spot(1)]
    assert found(store, ValueTest("status", "!=", "free")) == [spot(2), spot(3)]
    assert found(store, ValueTest("status", ">", "closed")) == [spot(1), spot(2)]
    assert found(store, ValueTest("status", "<=", "free")) == [spot(1), spot(3)]
    assert found(store, ValueTest("occupancy", "==", 1)) == [spot(2)]
    assert found(store, ValueTest("occupancy", "==", 1.0)) == [spot(2)]
    assert found(store, ValueTest("occupancy", ">=", 0.5)) == [spot(2), spot(3)]
    assert found(store, ValueTest("occupancy", "<", 0.5)) == [spot(1)]
    # A string never equals or orders with a number.
    assert found(store, ValueTest("occupancy", "==", "1")) == []
    assert found(store, ValueTest("status", ">=", 0)) == []
    both = (ValueTest("status", "!=", "occupied"), ValueTest("occupancy", "<=", 0))
    assert found(store, *both) == [spot(1)]


def test_strings_order_by_code_point_whatever_the_database_collation(store: SqlStore) -> None:
    names = ["Zeta", "alfa", "Älvsbyn", "Överby", "östra", "Ö"]
    for number, name in enumerate(names):
        create(store, "Place", f"urn:ngsi-ld:Place:{number}", name=prop(name))
    for bound in ("a", "Ö", "Öv", "ö"):
        expected = sorted(f"urn:ngsi-ld:Place:{n}" for n, t in enumerate(names) if t > bound)
        assert found(store, ValueTest("name", ">", bound)) == expected, bound


def test_instances_sql_cannot_compare_are_left_to_the_caller(store: SqlStore) -> None:
    create(store, "Thing", "urn:t:list", status=prop(["free", "closed"]))
    create(store, "Thing", "urn:t:object", status=prop({"@value": "free"}))
    create(store, "Thing", "urn:t:bool", status=prop(True))
    create(store, "Thing", "urn:t:lang", status={"type": "LanguageProperty", "languageMap": {}})
    create(store, "Thing", "urn:t:link", status={"type": "Relationship", "object": "urn:x"})
    create(store, "Thing", "urn:t:other", status=prop("occupied"))
    maybe = ["urn:t:bool", "urn:t:lang", "urn:t:link", "urn:t:list", "urn:t:object"]
    assert found(store, ValueTest("status", "==", "free")) == maybe
    assert found(store, ValueTest("status", "<", 5)) == maybe
    # Not equal holds unless a plain instance equals: these may all match.
    assert found(store, ValueTest("status", "!=", "free")) == [*maybe, "urn:t:other"]


def test_a_multi_attribute_matches_through_any_instance(store: SqlStore) -> None:
    create(store, "Vehicle", "urn:v:1", speed=[prop(55), prop(11, datasetId=GPS)])
    create(store, "Vehicle", "urn:v:2", speed=[prop(30, datasetId=GPS)])
    assert found(store, ValueTest("speed", "<=", 11)) == ["urn:v:1"]
    assert found(store, ValueTest("speed", ">=", 30)) == ["urn:v:1", "urn:v:2"]
    assert found(store, ValueTest("speed", "==", 30)) == ["urn:v:2"]
    # Not equal: no instance may equal the value.
    assert found(store, ValueTest("speed", "!=", 11)) == ["urn:v:2"]


@pytest.mark.parametrize("limit", [1, 2, 50])
def test_a_prefilter_and_a_limit_count_only_the_entities_that_meet_it(
    store: SqlStore, limit: int
) -> None:
    for number in range(9):
        create(store, "ParkingSpot", spot(number), status=prop("free" if number % 3 else "gone"))
    prefilter = Prefilter(values=(ValueTest("status", "==", "free"),))
    pages: list[str] = []
    after: str | None = None
    while True:
        page = store.find_entities(["ParkingSpot"], prefilter=prefilter, after=after, limit=limit)
        pages += [entity.id for entity in page]
        if len(page) < limit:
            break
        after = page[-1].id
    assert pages == [spot(n) for n in range(9) if n % 3]
