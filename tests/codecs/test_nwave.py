"""Nwave NPS/NCC codecs against ThingsBoard vectors and Nwave's documented examples."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stadsnav.codecs.base import DecodeResult
from stadsnav.codecs.base import FunctionCodec as NwaveCodec
from stadsnav.codecs.nwave import CODECS, NCC405, NPS310, NPS405, decode_nwave
from support import vector_rows

# ThingsBoard model names → our TTN ids.
MODELS = {
    "G4_NPS_SM": "nwave/nps405sm",
    "G4_NPS_FM": "nwave/nps405fm",
    "G4_NCC_SM": "nwave/ncc405sm",
}
# ThingsBoard decodes heartbeat 00d3d800590b as 2.32 V "critical" (README, conflict_note rows);
# Nwave's formula 2500 + 4·0xD3 mV gives 3.344 V, which at -10 °C is "normal".
VENDOR_FORMULA = {"battery_voltage": 3.344, "battery_health": "normal"}


ROWS = vector_rows("thingsboard_vectors.jsonl", vendor="Nwave")
CODEC_BY_ID = {codec.id: codec for codec in CODECS}


def test_vector_file_holds_nwave_rows() -> None:
    assert len(ROWS) == 31
    assert sum(1 for row in ROWS if row.get("conflict_note")) == 10


@pytest.mark.parametrize("row", ROWS, ids=[row["id"] for row in ROWS])
def test_thingsboard_vectors(row: dict[str, Any]) -> None:
    codec = CODEC_BY_ID[MODELS[row["model"]]]
    result = codec.decode_uplink(bytes.fromhex(row["bytes_hex"]), row["fport"])
    assert result.errors == []
    expected = dict(row["expected_telemetry"][0])
    if row.get("conflict_note"):
        expected.update(VENDOR_FORMULA)
    assert result.data == pytest.approx(expected)


def _nps(hex_payload: str, f_port: int) -> DecodeResult:
    return decode_nwave(NPS405, bytes.fromhex(hex_payload), f_port)


def test_ttn_example_heartbeat() -> None:
    assert _nps("00d3d800590b", 2).data == {
        "type": "heartbeat",
        "occupied": False,
        "hw_health_status": 0,
        "temperature": -10,
        "battery_voltage": 3.344,
        "battery_health": "normal",
    }


def test_ttn_example_user_registration() -> None:
    # nps405-codec.yaml "User Registration" example.
    assert _nps("d1201f345678", 10).data == {
        "type": "user_registration",
        "occupied": True,
        "previous_state_duration": 160,
        "previous_state_duration_error": 4,
        "previous_state_duration_overflow": False,
        "tag_battery_voltage": 3.2,
        "tag_id": "1F345678",
    }


def test_registration_without_occupancy() -> None:
    data = _nps("00201f345678", 10).data
    assert data["occupied"] is None
    assert data["previous_state_duration"] is None


def test_previous_state_duration_ranges() -> None:
    assert _nps("f1", 1).data["previous_state_duration"] == 240
    assert _nps("f1", 1).data["previous_state_duration_error"] == 59
    overflow = _nps("ff", 1).data
    assert overflow["previous_state_duration"] == 660
    assert overflow["previous_state_duration_overflow"] is True
    assert overflow["previous_state_duration_error"] is None


def test_battery_health_thresholds_follow_temperature() -> None:
    # 0x64 → 2900 mV; at +10 °C that is "low", at -10 °C "normal".
    assert _nps("006400", 2).data["battery_health"] == "low"
    assert _nps("0064d8", 2).data["battery_health"] == "normal"
    assert _nps("0063d8", 2).data["battery_health"] == "low"
    assert _nps("0040d8", 2).data["battery_health"] == "critical"


def test_ttn_examples_car_counter() -> None:
    # ncc405-codec.yaml examples.
    assert decode_nwave(NCC405, bytes.fromhex("06aa"), 1).data == {
        "type": "counter_update",
        "counter_value": 1706,
    }
    assert decode_nwave(NCC405, bytes.fromhex("010d0002"), 3).data == {
        "type": "startup",
        "firmware_version": "1.13.0",
        "reset_cause": "power_on",
    }


def test_nps310_frames() -> None:
    assert decode_nwave(NPS310, b"\x01", 1).data == {"type": "parking_status", "occupied": True}
    assert decode_nwave(NPS310, bytes.fromhex("0102030401"), 3).data == {
        "type": "startup",
        "firmware_version": "1.2.3",
        "reset_cause": "brownout",
        "occupied": True,
    }


def test_debug_frame_keeps_bytes() -> None:
    assert _nps("0102", 6).data == {"type": "debug", "bytes": [1, 2]}


def test_truncated_heartbeat_is_rejected() -> None:
    result = _nps("00d3", 2)
    assert result.data == {}
    assert result.errors == ["truncated heartbeat frame on fPort 2: 3 bytes needed, got 2"]


def test_unknown_port_is_rejected() -> None:
    assert _nps("00", 9).errors == ["unsupported fPort 9"]
    assert decode_nwave(NCC405, b"\x00", 10).errors == ["unsupported fPort 10"]


def test_codec_ids() -> None:
    assert [codec.id for codec in CODECS] == [
        "nwave/nps405sm",
        "nwave/nps405fm",
        "nwave/nps310sm",
        "nwave/ncc405sm",
        "nwave/ncc405fm",
    ]


@given(st.binary(max_size=64), st.integers(0, 255), st.sampled_from(CODECS))
def test_arbitrary_bytes_never_raise(payload: bytes, f_port: int, codec: NwaveCodec) -> None:
    result = codec.decode_uplink(payload, f_port)
    assert isinstance(result, DecodeResult)
    if result.errors:
        assert result.data == {}
