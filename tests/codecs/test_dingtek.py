"""Dingtek DO200 codec against the TTN device repository's examples and malformed frames."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stadsnav.codecs.base import DecodeResult
from stadsnav.codecs.dingtek import CODECS, decode_do200

REPO_ROOT = Path(__file__).resolve().parents[2]
DEVICES = REPO_ROOT.parent / "shared" / "data" / "devices"

# TheThingsNetwork/lorawan-devices vendor/dingtek/do200-codec.yaml, "telemetry upload" example.
TELEMETRY = "800002011500000000016f0079ffb0fff500000081"
# Same file, "parameter packet" example.
PARAMETERS = "8000020311000b18020a05a0003c000081"


def _frame(hex_payload: str) -> bytes:
    return bytes.fromhex(hex_payload)


def test_shared_vectors_hold_no_dingtek_rows() -> None:
    for name in ("thingsboard_vectors.jsonl", "diwise_vectors.jsonl"):
        text = (DEVICES / name).read_text(encoding="utf-8")
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        assert not [row for row in rows if "dingtek" in json.dumps(row).lower()]


def test_ttn_example_telemetry() -> None:
    result = decode_do200(_frame(TELEMETRY), 3)
    assert result.errors == []
    assert result.data == {
        "frameType": "heartbeat",
        "level": 0,
        "volt": 3.67,
        "alarmPark": False,
        "alarmLevel": False,
        "alarmMagnet": False,
        "alarmBattery": False,
        "xMagnet": 121,
        "yMagnet": -80,
        "zMagnet": -11,
        "Frame_Counter": 0,
    }


def test_ttn_example_parameters() -> None:
    assert decode_do200(_frame(PARAMETERS), 3).data == {
        "frameType": "parameter",
        "firmware": "0.11",
        "uploadInterval": 24,
        "ultraDetectInterval": 2,
        "magDetectInterval": 10,
        "magThreshold": 60,
    }


def test_alarm_frame_sets_alarm_nibbles() -> None:
    # The telemetry example as an alarm (data type 0x02): parked + battery alarm, level 1234,
    # frame counter 7.
    alarm = bytearray(_frame(TELEMETRY))
    alarm[3] = 0x02
    alarm[5:7] = (1234).to_bytes(2, "big")
    alarm[7], alarm[8] = 0x10, 0x01
    alarm[17:19] = (7).to_bytes(2, "big")
    data = decode_do200(bytes(alarm), 3).data
    assert data["frameType"] == "alarm"
    assert data["level"] == 1234
    assert (data["alarmPark"], data["alarmLevel"]) == (True, False)
    assert (data["alarmMagnet"], data["alarmBattery"]) == (False, True)
    assert data["Frame_Counter"] == 7


@pytest.mark.parametrize(
    ("payload", "f_port", "reason"),
    [
        (TELEMETRY, 2, "unsupported fPort 2"),
        ("", 3, "at least 6 bytes needed, got 0"),
        ("800002011581", 3, "length byte 4 says 21 bytes, frame has 6"),
        ("7f" + TELEMETRY[2:], 3, "header 0x80, got 0x7f"),
        (TELEMETRY[:-2] + "00", 3, "trailer 0x81, got 0x00"),
        (TELEMETRY[:-4] + "81", 3, "length byte 4 says 21 bytes, frame has 20"),
        ("80000209" + TELEMETRY[8:], 3, "unknown data type 0x09 at byte 3"),
        ("8000020115" + PARAMETERS[10:], 3, "length byte 4 says 21 bytes, frame has 17"),
        ("8000020311" + TELEMETRY[10:], 3, "length byte 4 says 17 bytes, frame has 21"),
        ("8000020111" + PARAMETERS[10:], 3, "heartbeat frame must be 21 bytes, got 17"),
    ],
)
def test_malformed_frames_are_rejected(payload: str, f_port: int, reason: str) -> None:
    result = decode_do200(_frame(payload), f_port)
    assert result.data == {}
    assert len(result.errors) == 1
    assert reason in result.errors[0]


def test_codec_ids() -> None:
    assert [codec.id for codec in CODECS] == ["dingtek/do200"]


def test_codec_decodes_through_protocol() -> None:
    assert CODECS[0].decode_uplink(_frame(TELEMETRY), 3).data["volt"] == 3.67


@given(st.binary(max_size=64), st.integers(0, 255))
def test_arbitrary_bytes_never_raise(payload: bytes, f_port: int) -> None:
    result = decode_do200(payload, f_port)
    assert isinstance(result, DecodeResult)
    if result.errors:
        assert result.data == {}


@given(st.binary(min_size=15, max_size=15), st.sampled_from([0x01, 0x02]))
def test_well_framed_measurements_always_decode(body: bytes, data_type: int) -> None:
    payload = bytes([0x80, 0x00, 0x02, data_type, 21]) + body + b"\x81"
    assert decode_do200(payload, 3).ok
