"""Entities from clients: normalized and concise forms checked and normalized (GS CIM 009, 4.5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from stadsnav.model.entity_input import (
    InvalidEntityError,
    parse_attribute,
    parse_entity,
    parse_fragment,
)
from support import SHARED_DATA

MODELS = SHARED_DATA / "smart-data-models"


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = orjson.loads(path.read_bytes())
    return document


@pytest.mark.parametrize(
    "model",
    ["OffStreetParking", "OnStreetParking", "ParkingSpot", "Device", "WaterQualityObserved"],
)
def test_smart_data_models_normalized_examples_pass_unchanged(model: str) -> None:
    example = load(MODELS / model / "example-normalized.jsonld")
    entity = parse_entity(example)
    assert entity.id == example["id"]
    assert entity.type == (model,)
    for name, instances in entity.attributes.items():
        assert instances == [example[name]]


@pytest.mark.parametrize("model", ["OffStreetParking", "ParkingSpot", "WaterQualityObserved"])
def test_concise_examples_become_the_normalized_form(model: str) -> None:
    concise = load(MODELS / model / "example.jsonld")
    entity = parse_entity(concise)
    location = entity.attributes["location"][0]
    assert location["type"] == "GeoProperty"
    assert location["value"]["type"] in ("Point", "Polygon", "MultiPolygon")
    for name, [instance] in entity.attributes.items():
        assert instance["type"] in ("Property", "GeoProperty", "Relationship"), name
        assert "value" in instance or "object" in instance


def test_concise_members_imply_the_attribute_type() -> None:
    entity = parse_entity(
        {
            "id": "urn:ngsi-ld:ParkingSpot:1",
            "type": "ParkingSpot",
            "status": "free",
            "refParkingSite": {"object": "urn:ngsi-ld:OffStreetParking:1"},
            "name": {"languageMap": {"sv": "Torget", "en": "The square"}},
            "category": {"vocab": "onStreet"},
            "raw": {"json": {"any": ["thing"]}},
            "spots": {"valueList": [1, 2]},
            "address": {"streetAddress": "Storgatan 1", "addressLocality": "Skellefteå"},
            "height": {"value": 2.1, "unitCode": "MTR", "accuracy": {"value": 0.1}},
        }
    )
    kinds = {name: instances[0]["type"] for name, instances in entity.attributes.items()}
    assert kinds == {
        "status": "Property",
        "refParkingSite": "Relationship",
        "name": "LanguageProperty",
        "category": "VocabProperty",
        "raw": "JsonProperty",
        "spots": "ListProperty",
        "address": "Property",
        "height": "Property",
    }
    assert entity.attributes["address"][0]["value"]["addressLocality"] == "Skellefteå"
    assert entity.attributes["height"][0]["accuracy"] == {"type": "Property", "value": 0.1}


def test_multi_attribute_instances_keep_their_dataset_ids() -> None:
    instances = parse_attribute(
        "temperature",
        [
            {"type": "Property", "value": 20.1},
            {"type": "Property", "value": 20.4, "datasetId": "urn:ngsi-ld:Dataset:sensor-b"},
        ],
    )
    assert [i.get("datasetId") for i in instances] == [None, "urn:ngsi-ld:Dataset:sensor-b"]


def test_system_members_sent_by_clients_are_dropped() -> None:
    [instance] = parse_attribute(
        "x", {"type": "Property", "value": 1, "createdAt": "2020-01-01T00:00:00Z"}
    )
    assert instance == {"type": "Property", "value": 1}


REL = {"type": "Relationship", "object": "urn:ngsi-ld:OffStreetParking:1"}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ([], "JSON object"),
        ({"type": "Building"}, "no id"),
        ({"id": "not a uri", "type": "Building"}, "not a URI"),
        ({"id": "urn:ngsi-ld:Building:1"}, "no type"),
        ({"id": "urn:ngsi-ld:Building:1", "type": []}, "list of types is empty"),
        ({"id": "urn:ngsi-ld:Building:1", "type": ["Building", 7]}, "entity type 7"),
        ({"id": "urn:ngsi-ld:Building:1", "type": "type"}, "JSON-LD keyword"),
        ({"id": "urn:ngsi-ld:B:1", "type": "B", "a": {"type": "Property"}}, "needs a 'value'"),
        ({"id": "urn:ngsi-ld:B:1", "type": "B", "a": {"type": "Gadget", "value": 1}}, "Gadget"),
        ({"id": "urn:ngsi-ld:B:1", "type": "B", "a": None}, "null"),
        ({"id": "urn:ngsi-ld:B:1", "type": "B", "a": {"type": "Property", "value": None}}, "null"),
        ({"id": "urn:ngsi-ld:B:1", "type": "B", "r": {"object": "no uri"}}, "must be a URI"),
        (
            {"id": "urn:ngsi-ld:B:1", "type": "B", "g": {"type": "GeoProperty", "value": [1, 2]}},
            "geo-property",
        ),
        (
            {"id": "urn:ngsi-ld:B:1", "type": "B", "a": {"value": 1, "observedAt": "yesterday"}},
            "observedAt",
        ),
        (
            {"id": "urn:ngsi-ld:B:1", "type": "B", "a": {"value": 1, "datasetId": "x"}},
            "datasetId",
        ),
        ({"id": "urn:ngsi-ld:B:1", "type": "B", "bad name": 1}, "not allowed"),
        ({"id": "urn:ngsi-ld:B:1", "type": "B", "a": {"value": 1, "sub(x)": 2}}, "not allowed"),
        (
            {"id": "urn:ngsi-ld:B:1", "type": "B", "a": [{"value": 1}, {"value": 2}]},
            "two instances without a datasetId",
        ),
        ({"id": "urn:ngsi-ld:B:1", "type": "B", "l": {"languageMap": "sv"}}, "languageMap"),
        ({"id": "urn:ngsi-ld:B:1", "type": "B", "r": {**REL, "unitCode": "MTR"}}, "unitCode"),
        ({"id": "urn:ngsi-ld:B:1", "type": "B", "r": {**REL, "value": 42}}, "cannot have value"),
        (
            {"id": "urn:ngsi-ld:B:1", "type": "B", "r": {**REL, "previousObject": REL["object"]}},
            "only ever sent by the broker",
        ),
        (
            {"id": "urn:ngsi-ld:B:1", "type": "B", "j": {"json": {"a": 1}, "unitCode": "C62"}},
            "unitCode",
        ),
        ({"id": "urn:ngsi-ld:B:1", "type": "B", "j": {"json": 5}}, "JSON object"),
    ],
)
def test_invalid_entities_are_refused_saying_what_to_fix(body: Any, says: str) -> None:
    with pytest.raises(InvalidEntityError, match=says.replace("(", r"\(")):
        parse_entity(body)


def test_null_deletes_only_when_a_merge_allows_it() -> None:
    body = {"id": "urn:ngsi-ld:B:1", "type": "B", "name": {"value": "urn:ngsi-ld:null"}}
    assert parse_entity(body, nulls="merge").attributes["name"][0]["value"] == "urn:ngsi-ld:null"
    relationship = {"id": "urn:ngsi-ld:B:1", "r": {"object": "urn:ngsi-ld:null"}}
    assert parse_entity(relationship, need_type=False, nulls="delete").attributes["r"]


NULL = "urn:ngsi-ld:null"


@pytest.mark.parametrize(
    "attribute",
    [
        {"type": "Property", "value": NULL},
        {"type": "Relationship", "object": NULL},
        {"type": "LanguageProperty", "languageMap": {"@none": NULL}},
        {"type": "Property", "value": 1, "sub": {"type": "Property", "value": NULL}},
        {"type": "Property", "value": {"address": {"country": NULL}}},
    ],
)
def test_null_cannot_be_stored(attribute: dict[str, Any]) -> None:
    body = {"id": "urn:ngsi-ld:B:1", "type": "B", "a": attribute}
    with pytest.raises(InvalidEntityError, match="cannot be stored"):
        parse_entity(body)


def test_null_is_no_entity_id() -> None:
    with pytest.raises(InvalidEntityError, match="not a URI"):
        parse_entity({"id": NULL, "type": "B"})


def test_null_inside_a_value_deletes_only_in_a_merge() -> None:
    compound = {"type": "Property", "value": {"street": "Storgatan", "country": NULL}}
    body = {"id": "urn:ngsi-ld:B:1", "address": compound}
    with pytest.raises(InvalidEntityError, match="only in a merge"):
        parse_entity(body, need_type=False, nulls="delete")
    with pytest.raises(InvalidEntityError, match="only in a merge"):
        parse_fragment("address", {"value": {"country": NULL}})
    merged = parse_entity(body, need_type=False, nulls="merge")
    assert merged.attributes["address"][0]["value"]["country"] == NULL


def test_a_relationship_may_name_its_object_type() -> None:
    body = {"id": "urn:ngsi-ld:B:1", "type": "B", "r": {**REL, "objectType": "OffStreetParking"}}
    assert parse_entity(body).attributes["r"][0]["objectType"] == "OffStreetParking"


@pytest.mark.parametrize(
    "codepoint", [0x202E, 0x200B, 0xFEFF, 0x3C, 0xFE0F, 0xE0100, 0xFDD0, 0x3164]
)
def test_an_id_with_an_invisible_or_markup_character_is_no_uri(codepoint: int) -> None:
    entity_id = f"urn:ngsi-ld:Vehicle:a{chr(codepoint)}b"
    with pytest.raises(InvalidEntityError, match="not a URI"):
        parse_entity({"id": entity_id, "type": "Vehicle"})


def test_an_iri_with_ordinary_non_ascii_letters_is_a_uri() -> None:
    body = {"id": "urn:ngsi-ld:Ciudad:París", "type": "City", "r": {**REL, "object": "urn:x:Å"}}
    assert parse_entity(body).id == "urn:ngsi-ld:Ciudad:París"
