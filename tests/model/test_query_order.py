"""orderBy (GS CIM 009 v1.9, 4.23): parse, and the page a query answers in that order."""

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stadsnav.model.entity import StoredEntity
from stadsnav.model.entity_query import (
    EntityQuery,
    OrderBySyntaxError,
    OrderKey,
    Prefilter,
    parse_order_by,
)

T0 = datetime(2026, 6, 1, 8, tzinfo=UTC)


def building(number: int, name: str | None, created: int, sub: Any = None) -> StoredEntity:
    attributes: dict[str, dict[str, Any]] = {}
    if name is not None:
        attributes["name"] = {
            "type": "Property",
            "value": name,
            "createdAt": (T0 + timedelta(seconds=10 - created)).isoformat(),
            "subProperty": {"type": "Property", "value": sub},
        }
    at = T0 + timedelta(seconds=created)
    return StoredEntity(f"urn:ngsi-ld:Building:{number}", "Building", attributes, at, at)


# Created 2, 1, 3; names A, B, C; the attribute createdAt runs the other way round.
ENTITIES = [
    building(1, "A", created=1, sub=30),
    building(2, "B", created=0, sub=20),
    building(3, "C", created=2, sub=10),
    building(4, None, created=3),
]


def finder(
    types: Sequence[str] | None = None,
    ids: Sequence[str] | None = None,
    id_pattern: str | None = None,
    *,
    prefilter: Prefilter | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> Iterable[StoredEntity]:
    found = [e for e in ENTITIES if after is None or e.id > after]
    return found[:limit]


def order(text: str, offset: int = 0, limit: int = 10) -> list[str]:
    query = EntityQuery(order_by=parse_order_by(text, str))
    matches = query.page(finder, offset, limit, count=False)
    assert matches.seen == len(ENTITIES)
    return [entity.id.rsplit(":", 1)[1] for entity in matches.entities]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name", ["1", "2", "3", "4"]),
        ("name;desc", ["3", "2", "1", "4"]),
        ("id;desc", ["4", "3", "2", "1"]),
        ("createdAt", ["2", "1", "3", "4"]),
        ("name.createdAt", ["3", "1", "2", "4"]),
        ("name.subProperty", ["3", "2", "1", "4"]),
        ("type;asc,name.subProperty;desc,name", ["1", "2", "3", "4"]),
        ("nothing,id;desc", ["4", "3", "2", "1"]),
    ],
)
def test_a_page_is_ordered_by_the_members_asked_for(text: str, expected: list[str]) -> None:
    # Entities without the member come last, whichever the direction; ties go by id.
    assert order(text) == expected


def test_an_ordered_page_is_a_slice_of_the_whole_order() -> None:
    assert order("name;desc", offset=1, limit=2) == ["2", "1"]


def test_parse_renames_attributes_but_not_entity_members() -> None:
    keys = parse_order_by("name.subProperty;desc, id ,name.createdAt", lambda n: f"tst:{n}")
    assert keys == (
        OrderKey(("tst:name", "tst:subProperty"), descending=True),
        OrderKey(("id",)),
        OrderKey(("tst:name", "createdAt")),
    )


@pytest.mark.parametrize(
    "text",
    ["", "name;up", "name..sub", "name;asc;desc", "a,,b", "na me", ",".join(["id"] * 11)],
)
def test_invalid_order_by(text: str) -> None:
    with pytest.raises(OrderBySyntaxError):
        parse_order_by(text, str)


def test_ten_members_are_the_most_an_order_may_name() -> None:
    assert len(parse_order_by(",".join(["id"] * 10), str)) == 10
