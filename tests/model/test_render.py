import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from stadsnav.model.render import (
    format_time,
    instance_id,
    render_entity,
    render_temporal,
    render_temporal_values,
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
        "name": {"sv": "Slädaviken"},
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


def test_temporal_normalized() -> None:
    body = render_temporal(
        "urn:ngsi-ld:WaterQualityObserved:testID", "WaterQualityObserved", history()
    )
    instances = body["temperature"]
    assert [i["observedAt"] for i in instances] == [
        "2021-05-18T12:23:09Z",
        "2021-05-20T13:23:09Z",
        "2021-05-21T14:23:09Z",
        "2021-05-22T15:23:09Z",
    ]
    first = instances[0]
    assert first["value"] == 10.8
    assert first["unitCode"] == "CEL"
    assert first["provenance"]["value"] == {
        "integration": "servanet",
        "sourceMessageId": "m-2",
        "receivedAt": "2021-05-23T00:00:00Z",
    }
    assert len({i["instanceId"] for i in instances}) == 4
    assert first["instanceId"] == instance_id(
        "urn:ngsi-ld:WaterQualityObserved:testID",
        "temperature",
        datetime(2021, 5, 18, 12, 23, 9, tzinfo=UTC),
    )
    assert first["instanceId"].startswith("urn:ngsi-ld:instance:")
    without = render_temporal("urn:x", "T", history(), include_provenance=False)
    assert "provenance" not in without["temperature"][0]


def test_instance_id_is_deterministic_and_distinct() -> None:
    moment = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    same = instance_id("urn:a", "t", moment.astimezone(timezone(timedelta(hours=2))))
    assert instance_id("urn:a", "t", moment) == same
    assert instance_id("urn:a", "t", moment) != instance_id("urn:a", "u", moment)
    assert instance_id("urn:a", "t", moment) != instance_id(
        "urn:a", "t", moment + timedelta(microseconds=1)
    )


def test_temporal_values() -> None:
    series = history()
    series["refDevice"] = [
        AttributeInstance({"type": "Relationship", "object": "urn:ngsi-ld:Device:1"}, CREATED, None)
    ]
    series["empty"] = []
    body = render_temporal_values("urn:x", "WaterQualityObserved", series)
    assert body["temperature"] == {
        "type": "Property",
        "values": [
            [10.8, "2021-05-18T12:23:09Z"],
            [10.8, "2021-05-20T13:23:09Z"],
            [10.8, "2021-05-21T14:23:09Z"],
            [10.8, "2021-05-22T15:23:09Z"],
        ],
    }
    assert body["refDevice"] == {
        "type": "Relationship",
        "objects": [["urn:ngsi-ld:Device:1", "2026-06-01T08:00:00Z"]],
    }
    assert body["empty"] == {"type": "Property", "values": []}
