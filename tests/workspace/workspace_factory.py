"""A small valid workspace, written into a folder for tests to break one file at a time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from textwrap import dedent

_BASE: dict[str, str] = {
    "stadsnav.toml": """\
        [workspace]
        name = "Testby kommun"
        timezone = "Europe/Stockholm"
        """,
    "datasets/beaches.yaml": """\
        id: beaches
        title: Beaches
        owner: {name: Fritid, email: fritid@example.org}
        classification: open
        licence: CC0-1.0
        entity_types: [Beach]
        """,
    "datasets/temps.yaml": """\
        id: temps
        title: Water temperature
        owner: {name: Fritid, email: fritid@example.org}
        classification: open
        licence: CC0-1.0
        entity_types: [WaterQualityObserved]
        freshness: PT2H
        rules:
          temperature: {min: -2, max: 35}
        """,
    "entities/beaches.yaml": """\
        entities:
          - id: urn:ngsi-ld:Beach:se:testby:norrstrand
            type: Beach
            dataset: beaches
            name: Norrstrand
            location: {lon: 21.2351, lat: 64.94787}
        """,
    "devices/sensors.yaml": """\
        devices:
          - dev_eui: A81758FFFE05C3A1
            name: elt2-norrstrand
            codec: elsys/elt-2
            measures: [temperature]
            site: urn:ngsi-ld:Beach:se:testby:norrstrand
            location: [21.2353, 64.94781]
          - dev_eui: a81758fffe05c3a2
            name: elt2-spare
            codec: elsys/elt-2
        """,
    "integrations/tts.yaml": """\
        id: tts
        title: Beach sensors via TTS
        dataset: temps
        source:
          type: webhook
          format: tts_v3
        codec: elsys/elt-2
        mapping:
          entity_type: WaterQualityObserved
          entity_id: "urn:ngsi-ld:WaterQualityObserved:testby:{device.name}"
          properties:
            temperature:
              value: data.externalTemperature
              unit_code: CEL
          relationships:
            refPointOfInterest: device.site
          location: device.location
        """,
    "products/beaches.yaml": """\
        id: beaches
        title: Beaches
        path: beaches
        dataset: beaches
        entity_type: Beach
        fields: {name: name}
        observation:
          entity_type: WaterQualityObserved
          relationship: refPointOfInterest
          dataset: temps
          values: {waterTemperature: temperature}
          history: temperatures
        """,
}

BASE = {name: dedent(text) for name, text in _BASE.items()}
WorkspaceFactory = Callable[..., Path]


def write_workspace(root: Path, files: dict[str, str | None] | None = None) -> Path:
    """Write BASE into root with some files replaced (text) or removed (None)."""
    merged: dict[str, str | None] = {**BASE, **(files or {})}
    for name, text in merged.items():
        if text is None:
            continue
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text), encoding="utf-8")
    return root
