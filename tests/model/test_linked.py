"""Joined entities (join=inline|flat): each level renders the entities the previous links to."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stadsnav.model.entity import StoredEntity
from stadsnav.model.linked import MAX_JOIN_NODES, JoinTooLargeError, build_nodes

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def neighbours(count: int) -> list[StoredEntity]:
    """Car parks of one operator that each name all the others as an alternative."""
    ids = [f"urn:ngsi-ld:OffStreetParking:skelleftea:{n}" for n in range(count)]
    return [
        StoredEntity(
            entity_id,
            "OffStreetParking",
            {
                "alternative": {
                    "type": "Relationship",
                    "object": [other for other in ids if other != entity_id],
                }
            },
            NOW,
            NOW,
        )
        for entity_id in ids
    ]


def test_a_shallow_join_renders_each_link() -> None:
    entities = neighbours(3)
    by_id = {entity.id: entity for entity in entities}
    nodes = build_nodes(
        entities[:1],
        lambda entity, depth: {"id": entity.id, "depth": depth},
        lambda ids: [by_id[i] for i in ids],
        1,
        str,
    )
    [root] = nodes
    assert sorted(root.links["alternative"]) == sorted(e.id for e in entities[1:])


def test_a_join_that_would_explode_is_refused() -> None:
    entities = neighbours(4)
    by_id = {entity.id: entity for entity in entities}
    rendered: list[str] = []

    def render(entity: StoredEntity, depth: int) -> dict[str, str]:
        rendered.append(entity.id)
        return {"id": entity.id}

    with pytest.raises(JoinTooLargeError, match="joinLevel"):
        build_nodes(entities, render, lambda ids: [by_id[i] for i in ids], 10, str)
    assert len(rendered) <= MAX_JOIN_NODES
