"""The compiled demo mapping: observed values every time, static links once per batch."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stadsnav.mapping import compile_mapping
from stadsnav.mapping.engine import StaticWrites
from stadsnav.pipeline.processor import device_scope
from stadsnav.store.base import Provenance
from stadsnav.workspace import Workspace
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
