"""The compiled demo mapping: observed values every time, static links once per batch."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stadsnav.mapping import CompiledMapping, MappingError, compile_mapping
from stadsnav.mapping.engine import StaticWrites
from stadsnav.pipeline.processor import device_scope
from stadsnav.store.base import Provenance
from stadsnav.workspace import Mapping, Workspace
from support import BYSKE_SENSOR

RECEIVED = datetime(2026, 7, 1, 12, 0, 5, 123000, tzinfo=UTC)
ENTITY = "urn:ngsi-ld:WaterQualityObserved:skelleftea:elt2-byske-havsbad"


def test_static_links_are_left_out_once_written_with_the_same_value(
    workspace: Workspace,
) -> None:
    mapping = compile_mapping(workspace.integrations["beach-sensors-tts"].mapping)
    device = device_scope(workspace.devices[BYSKE_SENSOR])
    scopes = {"data": {"externalTemperature": 19.3}, "device": device}
    provenance = Provenance("beach-sensors-tts", "m1", RECEIVED)
    first = mapping.apply(scopes, RECEIVED, provenance, {})
    assert [(w.entity_id, w.name) for w in first] == [
        (ENTITY, "temperature"),
        (ENTITY, "refPointOfInterest"),
        (ENTITY, "location"),
    ]
    assert first[0].attribute["observedAt"] == "2026-07-01T12:00:05.123Z"
    written: StaticWrites = {(w.entity_id, w.name): w.attribute for w in first[1:]}
    assert [w.name for w in mapping.apply(scopes, RECEIVED, provenance, written)] == ["temperature"]
    moved = {**device, "location": {"type": "Point", "coordinates": [21.0, 64.9]}}
    changed = mapping.apply({**scopes, "device": moved}, RECEIVED, provenance, written)
    assert [w.name for w in changed] == ["temperature", "location"]
    assert changed[1].attribute["value"] == moved["location"]


def test_lint_and_engine_share_one_path_grammar() -> None:
    from stadsnav.mapping.paths import PathSyntaxError, compile_path
    from stadsnav.workspace.fields import check_path

    for good in ("data.externalTemperature", "device.site", "uplink.f_port", "data.a.b"):
        assert compile_path(good) == tuple(good.split("."))
        assert check_path(good) == good
    for bad in ("data", "payload.x", "data.values[0]", "data..x", "data.a b", "{data.x}"):
        with pytest.raises(PathSyntaxError):
            compile_path(bad)
        with pytest.raises(ValueError, match="must start with"):
            check_path(bad)


def _record_mapping(**properties: dict[str, object]) -> CompiledMapping:
    spec = Mapping.model_validate(
        {
            "entity_type": "ParkingSpot",
            "entity_id": "urn:ngsi-ld:ParkingSpot:{data.id}",
            "properties": properties,
            "relationships": {"refParkingSite": "data.site"},
            "observed_at": "data.time",
        }
    )
    return compile_mapping(spec)


def test_lookup_maps_decoded_values_and_names_the_unlisted_one() -> None:
    # YAML reads `true:` as a boolean key; the mapping matches it as JSON spells it.
    mapping = _record_mapping(
        status={"value": "data.occupied", "lookup": {True: "occupied", False: "free"}}
    )
    provenance = Provenance("spots", "m1", RECEIVED)
    scopes = {"data": {"id": "a1", "occupied": False, "site": "urn:ngsi-ld:X:1"}}
    [status, link] = mapping.apply(scopes, RECEIVED, provenance)
    assert status.attribute["value"] == "free"
    assert link.attribute == {"type": "Relationship", "object": "urn:ngsi-ld:X:1"}
    with pytest.raises(MappingError, match=r"data.occupied is 'maybe', which lookup does not list"):
        mapping.apply({"data": {"id": "a1", "occupied": "maybe"}}, RECEIVED, provenance)


def test_static_properties_have_no_observation_time_and_are_written_once_per_batch() -> None:
    mapping = _record_mapping(
        name={"value": "data.name", "static": True},
        free={"value": "data.vacant"},
    )
    provenance = Provenance("sites", "m1", RECEIVED)
    scopes = {"data": {"id": "p1", "name": "P-hus Kanalen", "vacant": 3}}
    writes = mapping.apply(scopes, RECEIVED, provenance, {})
    by_name = {w.name: w for w in writes}
    assert by_name["name"].attribute == {"type": "Property", "value": "P-hus Kanalen"}
    assert by_name["name"].observed_at is None
    assert by_name["free"].observed_at == RECEIVED
    written: StaticWrites = {(w.entity_id, w.name): w.attribute for w in writes}
    assert [w.name for w in mapping.apply(scopes, RECEIVED, provenance, written)] == ["free"]
    # A record with only static values is still a record, not "nothing could be mapped".
    only_name = {"data": {"id": "p1", "name": "P-hus Kanalen"}}
    assert mapping.apply(only_name, RECEIVED, provenance, written) == []


def test_observation_time_comes_from_the_record_when_it_has_one() -> None:
    mapping = _record_mapping(free={"value": "data.vacant"})
    timed = {"data": {"id": "p1", "vacant": 3, "time": "2025-05-09T21:41:58.5461534+02:00"}}
    assert mapping.observed_time(timed, RECEIVED) == datetime(
        2025, 5, 9, 19, 41, 58, 546153, tzinfo=UTC
    )
    assert mapping.observed_time({"data": {"id": "p1"}}, RECEIVED) == RECEIVED
    with pytest.raises(MappingError, match="observed_at: 'yesterday' is not an RFC 3339 time"):
        mapping.observed_time({"data": {"time": "yesterday"}}, RECEIVED)


def test_relationship_target_is_resolved_from_the_scopes() -> None:
    mapping = _record_mapping(free={"value": "data.vacant"})
    assert mapping.relationship("refParkingSite", {"data": {"site": "urn:x"}}) == "urn:x"
    assert mapping.relationship("refParkingSite", {"data": {}}) is None
    assert mapping.relationship("refOther", {"data": {"site": "urn:x"}}) is None
