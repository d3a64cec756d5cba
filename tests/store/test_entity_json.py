"""``entity_json``: the stored attribute JSON spliced into exactly what ``render_entity`` gives."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import orjson

from stadsnav.model.render import render_entity
from stadsnav.store.base import AttributeWrite, Provenance
from stadsnav.store.sql import SqlStore

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
WATER_QUALITY = DATA / "smart-data-models" / "WaterQualityObserved" / "example-normalized.jsonld"
T0 = datetime(2022, 3, 28, 12, 40, 40, 653515, tzinfo=UTC)


def store_example(store: SqlStore, provenance: Provenance | None = None) -> str:
    """Store the real WaterQualityObserved example; its id."""
    example = json.loads(WATER_QUALITY.read_text(encoding="utf-8"))
    writes = [
        AttributeWrite(example["id"], example["type"], name, attribute, provenance=provenance)
        for name, attribute in example.items()
        if name not in ("id", "type", "@context")
    ]
    store.commit_batch([], writes, [])
    return str(example["id"])


def rendered(store: SqlStore, entity_id: str) -> object:
    entity = store.get_entity(entity_id)
    assert entity is not None
    return render_entity(entity)


def test_entity_json_equals_the_rendered_entity(store: SqlStore) -> None:
    entity_id = store_example(store, Provenance("servanet", "10301", T0))
    body = store.entity_json(entity_id)
    assert body is not None
    assert orjson.loads(body) == rendered(store, entity_id)
    assert list(orjson.loads(body)) == list(rendered(store, entity_id))  # type: ignore[call-overload]
    assert orjson.loads(body)["temperature"]["provenance"]["value"]["integration"] == "servanet"


def test_entity_json_of_an_unknown_entity_is_none(store: SqlStore) -> None:
    assert store.entity_json("urn:ngsi-ld:Thing:nope") is None


def test_entity_json_declines_attributes_with_system_attributes(store: SqlStore) -> None:
    entity_id = "urn:ngsi-ld:Beach:byske"
    attribute = {"type": "Property", "value": "Byske", "createdAt": "2026-01-01T00:00:00Z"}
    store.commit_batch([], [AttributeWrite(entity_id, "Beach", "name", attribute)], [])
    assert store.entity_json(entity_id) is None
    assert rendered(store, entity_id) == {
        "id": entity_id,
        "type": "Beach",
        "name": {"type": "Property", "value": "Byske"},
    }
