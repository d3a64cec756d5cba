import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from stadsnav.model.language import parse_lang
from stadsnav.model.render import (
    format_time,
    geojson_collection,
    geojson_feature,
    key_value,
    query_attributes,
    render_entity,
    simplified_value,
)
from stadsnav.store.base import AttributeInstance, Provenance, StoredEntity

BEACH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "beach"
CREATED = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
MODIFIED = datetime(2026, 6, 1, 10, 0, 0, 123456, tzinfo=UTC)
PROVENANCE = {
    "type": "Property",
    "value": {
        "integration": "servanet",
        "sourceMessageId": "m-1",
        "receivedAt": "2026-06-01T10:00:01Z",
    },
}


def water_quality() -> StoredEntity:
    """The real normalized WaterQualityObserved entity as the store would hold it."""
    path = BEACH / "handlers_waterquality__context_broker_input__waterqualityTemporalJson.json"
    entity = json.loads(path.read_text())
    temperature = dict(entity["temperature"][-1], unitCode="CEL", provenance=PROVENANCE)
    attributes = {
        "dateObserved": entity["dateObserved"],
        "location": entity["location"],
        "temperature": temperature,
        "refPointOfInterest": {
            "type": "Relationship",
            "object": "urn:ngsi-ld:Beach:se:sundsvall:anlaggning:283",
            "createdAt": CREATED,
        },
        "name": {"type": "LanguageProperty", "languageMap": {"sv": "Slädaviken"}},
    }
    return StoredEntity(entity["id"], entity["type"], attributes, CREATED, MODIFIED)


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 6, 1, 10, 0, tzinfo=UTC), "2026-06-01T10:00:00Z"),
        (datetime(2026, 6, 1, 10, 0, 0, 123456, tzinfo=UTC), "2026-06-01T10:00:00.123Z"),
        (datetime(2026, 6, 1, 10, 0, 0, 999, tzinfo=UTC), "2026-06-01T10:00:00Z"),
        (datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))), "2026-06-01T10:00:00Z"),
        (datetime(2026, 6, 1, 10, 0), "2026-06-01T10:00:00Z"),
    ],
)
def test_format_time(moment: datetime, text: str) -> None:
    assert format_time(moment) == text


def test_normalized_keeps_attributes_and_drops_system_attributes() -> None:
    body = render_entity(water_quality())
    assert body["id"] == "urn:ngsi-ld:WaterQualityObserved:testID"
    assert body["type"] == "WaterQualityObserved"
    assert body["temperature"] == {
        "type": "Property",
        "value": 10.8,
        "observedAt": "2021-05-18T19:23:09Z",
        "unitCode": "CEL",
        "provenance": PROVENANCE,
    }
    assert body["refPointOfInterest"] == {
        "type": "Relationship",
        "object": "urn:ngsi-ld:Beach:se:sundsvall:anlaggning:283",
    }
    assert "createdAt" not in body
    assert body["location"]["value"] == {"coordinates": [17.39364, 62.297684], "type": "Point"}
    json.dumps(body)


def test_sys_attrs_are_rfc3339_utc() -> None:
    body = render_entity(water_quality(), sys_attrs=True)
    assert body["createdAt"] == "2026-06-01T08:00:00Z"
    assert body["modifiedAt"] == "2026-06-01T10:00:00.123Z"
    assert body["refPointOfInterest"]["createdAt"] == "2026-06-01T08:00:00Z"
    assert list(body)[:4] == ["id", "type", "createdAt", "modifiedAt"]


def test_provenance_can_be_left_out() -> None:
    body = render_entity(water_quality(), include_provenance=False)
    assert "provenance" not in body["temperature"]
    assert body["temperature"]["unitCode"] == "CEL"


def test_attrs_selects_attributes() -> None:
    body = render_entity(water_quality(), attrs={"temperature", "nosuch"})
    assert set(body) == {"id", "type", "temperature"}
    assert set(render_entity(water_quality(), attrs=[])) == {"id", "type"}


def test_key_values() -> None:
    body = render_entity(water_quality(), key_values=True)
    assert body == {
        "id": "urn:ngsi-ld:WaterQualityObserved:testID",
        "type": "WaterQualityObserved",
        "dateObserved": {"@type": "DateTime", "@value": "2021-05-18T19:23:09Z"},
        "location": {"coordinates": [17.39364, 62.297684], "type": "Point"},
        "temperature": 10.8,
        "refPointOfInterest": "urn:ngsi-ld:Beach:se:sundsvall:anlaggning:283",
        "name": {"languageMap": {"sv": "Slädaviken"}},
    }


def test_key_values_of_real_beach_round_trips() -> None:
    """keyValues → normalized (as stored) → keyValues gives back the original beach."""
    beach = json.loads(
        (BEACH / "handlers_beaches__context_broker_input__beachesJson.json").read_text()
    )[0]
    attributes = {
        name: {"type": "GeoProperty" if name == "location" else "Property", "value": value}
        for name, value in beach.items()
        if name not in ("id", "type")
    }
    stored = StoredEntity(beach["id"], "Beach", attributes, CREATED, MODIFIED)
    assert render_entity(stored, key_values=True) == {**beach, "type": "Beach"}
    assert render_entity(stored)["waterquality"]["value"][1]["temperature"] == 22.9


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ({"type": "VocabProperty", "vocab": "Beach"}, "Beach"),
        ({"type": "JsonProperty", "json": {"a": 1}}, {"a": 1}),
        ({"type": "ListProperty", "valueList": [1, 2]}, [1, 2]),
        (
            {"type": "ListRelationship", "objectList": [{"object": "urn:a"}, {"object": "urn:b"}]},
            ["urn:a", "urn:b"],
        ),
    ],
)
def test_simplified_value_of_other_attribute_types(attribute: dict[str, Any], value: Any) -> None:
    assert simplified_value(attribute) == value


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ({"type": "Property", "value": 55}, 55),
        (
            {"type": "Relationship", "object": "urn:ngsi-ld:OffStreetParking:1"},
            "urn:ngsi-ld:OffStreetParking:1",
        ),
        ({"type": "LanguageProperty", "languageMap": {"en": "hi"}}, {"languageMap": {"en": "hi"}}),
        ({"type": "JsonProperty", "json": {"a": 1}}, {"json": {"a": 1}}),
        ({"type": "VocabProperty", "vocab": "non-commercial"}, {"vocab": "non-commercial"}),
        ({"type": "ListProperty", "valueList": [1.2, 3.4]}, [1.2, 3.4]),
        ({"type": "ListRelationship", "objectList": [{"object": "urn:a"}]}, ["urn:a"]),
    ],
)
def test_key_value_wraps_what_could_pass_for_a_property(
    attribute: dict[str, Any], value: Any
) -> None:
    assert key_value(attribute) == value


def vehicle() -> StoredEntity:
    """A vehicle with a multi-attribute speed: the default instance and a GPS one."""
    gps = {"type": "Property", "value": 11, "datasetId": "urn:ngsi-ld:Dataset:gps"}
    return StoredEntity(
        "urn:ngsi-ld:Vehicle:A4567",
        "Vehicle",
        {
            "speed": {"type": "Property", "value": 55},
            "location": {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [1.0, 2.0]},
            },
            "category": {"type": "VocabProperty", "vocab": "commercial"},
            "scope": ["/Madrid/Gardens"],
        },
        CREATED,
        MODIFIED,
        datasets={
            "speed": {"urn:ngsi-ld:Dataset:gps": gps},
            "location": {
                "urn:ngsi-ld:Dataset:gps": {
                    "type": "GeoProperty",
                    "value": {"type": "Point", "coordinates": [9.0, 9.0]},
                    "datasetId": "urn:ngsi-ld:Dataset:gps",
                }
            },
        },
    )


def test_multi_attribute_is_an_array_default_first() -> None:
    body = render_entity(vehicle())
    assert body["speed"] == [
        {"type": "Property", "value": 55},
        {"type": "Property", "value": 11, "datasetId": "urn:ngsi-ld:Dataset:gps"},
    ]
    assert body["scope"] == ["/Madrid/Gardens"]
    key_values = render_entity(vehicle(), key_values=True)
    assert key_values["speed"] == {"dataset": {"@none": 55, "urn:ngsi-ld:Dataset:gps": 11}}
    assert key_values["category"] == {"vocab": "commercial"}


def test_dataset_ids_pick_instances() -> None:
    gps_only = render_entity(vehicle(), dataset_ids={"urn:ngsi-ld:Dataset:gps"})
    assert gps_only["speed"] == {
        "type": "Property",
        "value": 11,
        "datasetId": "urn:ngsi-ld:Dataset:gps",
    }
    assert "category" not in gps_only
    default_only = render_entity(vehicle(), dataset_ids={"@none"})
    assert default_only["speed"] == {"type": "Property", "value": 55}


def test_query_attributes_show_every_instance() -> None:
    speed = query_attributes(vehicle())["speed"]
    assert [instance["value"] for instance in speed] == [55, 11]
    single = water_quality()
    assert query_attributes(single) is single.attributes


def test_concise_leaves_out_types_and_wraps_only_what_is_ambiguous() -> None:
    body = render_entity(water_quality(), concise=True, include_provenance=False)
    assert body["temperature"] == {
        "value": 10.8,
        "unitCode": "CEL",
        "observedAt": "2021-05-18T19:23:09Z",
    }
    assert body["refPointOfInterest"] == {"object": "urn:ngsi-ld:Beach:se:sundsvall:anlaggning:283"}
    assert body["location"] == {"type": "Point", "coordinates": [17.39364, 62.297684]}
    assert body["name"] == {"languageMap": {"sv": "Slädaviken"}}
    assert body["dateObserved"] == {
        "value": {"@type": "DateTime", "@value": "2021-05-18T19:23:09Z"}
    }
    concise_vehicle = render_entity(vehicle(), concise=True)
    assert concise_vehicle["speed"] == [
        {"value": 55},
        {"value": 11, "datasetId": "urn:ngsi-ld:Dataset:gps"},
    ]
    nested = StoredEntity(
        "urn:x:1",
        "T",
        {"t": {"type": "Property", "value": 1, "accuracy": {"type": "Property", "value": 0.5}}},
        CREATED,
        MODIFIED,
    )
    assert render_entity(nested, concise=True)["t"] == {"value": 1, "accuracy": 0.5}


def test_lang_serves_one_language_as_a_property() -> None:
    street = {"type": "LanguageProperty", "languageMap": {"fr": "Grand Place", "nl": "Grote Markt"}}
    entity = StoredEntity("urn:x:1", "Building", {"street": street}, CREATED, MODIFIED)
    normalized = render_entity(entity, lang=parse_lang("nl"))
    assert normalized["street"] == {"type": "Property", "value": "Grote Markt", "lang": "nl"}
    assert render_entity(entity, key_values=True, lang=parse_lang("*"))["street"] == "Grand Place"
    assert render_entity(entity, concise=True, lang=parse_lang("fr"))["street"] == {
        "value": "Grand Place",
        "lang": "fr",
    }


def test_names_translate_attributes_types_sub_attributes_and_vocab_values() -> None:
    def names(name: str) -> str:
        return f"ex:{name}"

    body = render_entity(vehicle(), names=names, attrs={"speed", "category"})
    assert body["type"] == "ex:Vehicle"
    assert set(body) == {"id", "type", "scope", "ex:speed", "ex:category"}
    assert body["ex:category"]["vocab"] == "ex:commercial"
    wq = render_entity(water_quality(), names=names)
    assert "observedAt" in wq["ex:temperature"]
    assert wq["ex:temperature"]["provenance"] == PROVENANCE


def test_geojson_feature_takes_the_default_instance_of_the_geometry_property() -> None:
    feature = geojson_feature(
        render_entity(vehicle()), "location", "https://example.org/ctx.jsonld"
    )
    assert feature["type"] == "Feature"
    assert feature["id"] == "urn:ngsi-ld:Vehicle:A4567"
    assert feature["geometry"] == {"type": "Point", "coordinates": [1.0, 2.0]}
    assert "id" not in feature["properties"]
    assert feature["properties"]["type"] == "Vehicle"
    assert feature["@context"] == "https://example.org/ctx.jsonld"
    simplified = geojson_feature(render_entity(vehicle(), key_values=True), "location")
    assert simplified["geometry"] == {"type": "Point", "coordinates": [1.0, 2.0]}
    assert geojson_feature(render_entity(vehicle()), "speed")["geometry"] is None
    assert geojson_feature(render_entity(vehicle()), "nothing")["geometry"] is None
    collection = geojson_collection([render_entity(vehicle())], "location", "ctx")
    assert collection["type"] == "FeatureCollection"
    assert collection["@context"] == "ctx"
    assert "@context" not in collection["features"][0]


def history() -> dict[str, list[AttributeInstance]]:
    """The real multi-instance temperature series, as the store returns it (oldest first)."""
    path = BEACH / "svc_waterquality__context_broker_input__multipleTemporalJSON.json"
    series = json.loads(path.read_text())["temperature"]
    received = datetime(2021, 5, 23, tzinfo=UTC)
    instances = [
        AttributeInstance(
            {"type": "Property", "value": i["value"], "unitCode": "CEL"},
            datetime.fromisoformat(i["observedAt"]),
            Provenance("servanet", f"m-{n}", received),
        )
        for n, i in enumerate(series)
    ]
    return {"temperature": sorted(instances, key=lambda i: i.observed_at)}
