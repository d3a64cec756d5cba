"""Devices seen but not registered: grouped from dead letters, adopted through a CSV."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from stadsnav.codecs.registry import codec_ids
from stadsnav.pipeline.unknown_devices import adoption_csv, unknown_devices
from stadsnav.simulate.tts import tts_uplink
from stadsnav.store.base import DeadLetter
from stadsnav.workspace import Workspace
from stadsnav.workspace.device_csv import COLUMNS, read_device_csv
from support import BYSKE_SENSOR, SUNDSVALL_BEACH_PAYLOAD

BYSKE = "urn:ngsi-ld:Beach:se:skelleftea:byske-havsbad"
HEADER = ",".join(COLUMNS)


def write_csv(tmp_path: Path, text: str, name: str = "devices.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def dead_letter(
    letter_id: int, dev_eui: str, device_id: str, received_at: datetime, stage: str = "device"
) -> DeadLetter:
    body = tts_uplink(
        device_id=device_id,
        dev_eui=dev_eui,
        application_id="skelleftea-beaches",
        f_port=5,
        f_cnt=letter_id,
        payload=SUNDSVALL_BEACH_PAYLOAD,
        received_at=received_at,
    )
    reason = f"unknown device {dev_eui} ({device_id}): add it to the device registry"
    return DeadLetter(
        letter_id,
        "beach-sensors-tts",
        f"m{letter_id}",
        received_at,
        "application/json",
        orjson.dumps(body),
        None,
        stage,
        reason,
        received_at,
    )


def test_unknown_devices_are_grouped_and_turned_into_an_adoption_csv(
    workspace: Workspace,
) -> None:
    t0 = datetime(2026, 6, 1, 12, tzinfo=UTC)
    letters = [
        dead_letter(4, "a81758fffe0a0b0c", "ELT2 Kusten", t0 + timedelta(hours=2)),
        dead_letter(3, "a81758fffe0a0b0d", "ers-hamnen", t0 + timedelta(hours=1)),
        dead_letter(2, "a81758fffe0a0b0c", "ELT2 Kusten", t0),
        dead_letter(1, BYSKE_SENSOR, "elt2-byske-havsbad", t0),  # registered since
        dead_letter(5, "a81758fffe0a0b0e", "other", t0, stage="decode"),
    ]
    found = unknown_devices(letters, workspace)
    assert [(d.dev_eui, d.device_name, d.count) for d in found] == [
        ("a81758fffe0a0b0c", "ELT2 Kusten", 2),
        ("a81758fffe0a0b0d", "ers-hamnen", 1),
    ]
    assert found[0].as_json() == {
        "devEui": "a81758fffe0a0b0c",
        "deviceName": "ELT2 Kusten",
        "count": 2,
        "firstSeen": "2026-06-01T12:00:00+00:00",
        "lastSeen": "2026-06-01T14:00:00+00:00",
        "integrations": ["beach-sensors-tts"],
        "deadLetterIds": [4, 2],
    }
    assert adoption_csv(found, workspace) == (
        f"{HEADER}\na81758fffe0a0b0c,elt2-kusten,,,,,\na81758fffe0a0b0d,ers-hamnen,,,,,\n"
    )


def test_adoption_csv_imports_as_is(tmp_path: Path, workspace: Workspace) -> None:
    registered = workspace.devices[BYSKE_SENSOR].name
    t0 = datetime(2026, 6, 1, 12, tzinfo=UTC)
    found = unknown_devices([dead_letter(1, "a81758fffe0a0b0c", registered, t0)], workspace)
    text = adoption_csv(found, workspace)
    assert f"a81758fffe0a0b0c,{registered}-0b0c," in text  # the name is taken: made unique
    devices, problems = read_device_csv(write_csv(tmp_path, text), codec_ids(), workspace)
    assert problems == []
    assert [d.dev_eui for d in devices] == ["a81758fffe0a0b0c"]
