"""pick/omit (GS CIM 009, 4.21) and linked entity retrieval (4.5.23): parse, project, join."""

from datetime import UTC, datetime
from typing import Any

import pytest

from stadsnav.model.entity import StoredEntity
from stadsnav.model.linked import build_nodes, flat, inline, link_targets, project
from stadsnav.model.projection import ProjectionSyntaxError, depth, parse_projection, rename
from stadsnav.model.render import render_entity

NOW = datetime(2026, 6, 1, 8, tzinfo=UTC)


def entity(entity_id: str, entity_type: str, **attributes: dict[str, Any]) -> StoredEntity:
    return StoredEntity(entity_id, entity_type, dict(attributes), NOW, NOW)


def prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def rel(target: str) -> dict[str, Any]:
    return {"type": "Relationship", "object": target}


BUILDING = entity(
    "urn:ngsi-ld:Building:1",
    "Building",
    name=prop("Eiffel Tower"),
    locatedAt=rel("urn:ngsi-ld:City:Paris"),
)
CITY = entity(
    "urn:ngsi-ld:City:Paris",
    "City",
    name=prop("Paris"),
    isInCountry=rel("urn:ngsi-ld:Country:France"),
)
COUNTRY = entity("urn:ngsi-ld:Country:France", "Country", description=prop("A country"))
STORE = {e.id: e for e in (BUILDING, CITY, COUNTRY)}


def test_projection_grammar() -> None:
    parsed = parse_projection("id,locatedAt{id,name,isInCountry{description}}|name")
    assert parsed == {
        "id": None,
        "locatedAt": {"id": None, "name": None, "isInCountry": {"description": None}},
        "name": None,
    }
    assert depth(parsed) == 2
    assert depth(parse_projection("id,name")) == 0
    assert rename(parse_projection("a{b}"), str.upper) == {"A": {"B": None}}


@pytest.mark.parametrize(
    "text",
    ["id;name", "id,locatedAt{name", "id,locatedAt{{name}", "id,,name", "id,locatedAt{,name}",
     "id,locatedAt{}", "", "name||airQualityLevel", "id,id", "a}"],
)  # fmt: skip
def test_invalid_projections(text: str) -> None:
    with pytest.raises(ProjectionSyntaxError):
        parse_projection(text)


def fetch(ids: list[str]) -> list[StoredEntity]:
    return [STORE[i] for i in ids if i in STORE]


def nodes(level: int, key_values: bool = False) -> list[Any]:
    return build_nodes(
        [BUILDING],
        lambda e, _: render_entity(e, key_values=key_values),
        fetch,
        level,
        lambda name: name,
    )


def test_link_targets() -> None:
    assert link_targets(BUILDING) == {"locatedAt": ["urn:ngsi-ld:City:Paris"]}
    listed = entity(
        "urn:x:1", "T", route={"type": "ListRelationship", "objectList": [{"object": "urn:a"}]}
    )
    assert link_targets(listed) == {"route": ["urn:a"]}


def test_inline_two_levels_normalized() -> None:
    [body] = [inline(node, False) for node in nodes(2)]
    city = body["locatedAt"]["entity"]
    assert city["id"] == CITY.id
    assert city["name"] == prop("Paris")
    assert city["isInCountry"]["entity"]["description"] == prop("A country")
    assert body["locatedAt"]["object"] == CITY.id


def test_inline_key_values_replaces_the_object() -> None:
    [body] = [inline(node, True) for node in nodes(1, key_values=True)]
    assert body["locatedAt"] == {
        "id": CITY.id,
        "type": "City",
        "name": "Paris",
        "isInCountry": "urn:ngsi-ld:Country:France",
    }


def test_flat_lists_each_linked_entity_once_level_by_level() -> None:
    bodies = flat(nodes(2))
    assert [b["id"] for b in bodies] == [BUILDING.id, CITY.id, COUNTRY.id]
    assert "entity" not in bodies[0]["locatedAt"]


def test_missing_targets_are_left_out() -> None:
    lonely = entity("urn:x:2", "Building", locatedAt=rel("urn:ngsi-ld:City:Atlantis"))
    [node] = build_nodes([lonely], lambda e, _: render_entity(e), fetch, 1, str)
    assert inline(node, False) == render_entity(lonely)
    assert flat([node]) == [render_entity(lonely)]


def test_pick_and_omit_reach_into_linked_entities() -> None:
    picked = [
        project(n, parse_projection("id,locatedAt{name,isInCountry{id}}"), None) for n in nodes(2)
    ]
    [body] = [inline(n, False) for n in picked]
    assert set(body) == {"id", "locatedAt"}
    assert body["locatedAt"]["entity"] == {
        "name": prop("Paris"),
        "isInCountry": {**rel(COUNTRY.id), "entity": {"id": COUNTRY.id}},
    }
    omitted = [project(n, None, parse_projection("type,locatedAt{name}")) for n in nodes(1)]
    bodies = flat(omitted)
    assert "type" not in bodies[0]
    assert "locatedAt" in bodies[0]
    assert bodies[1] == {"id": CITY.id, "type": "City", "isInCountry": rel(COUNTRY.id)}
