"""Bosch PLS codec against ThingsBoard vectors and Bosch's documented examples."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stadsnav.codecs.base import DecodeResult
from stadsnav.codecs.bosch import CODECS, decode_bosch
from support import vector_rows

ROWS = vector_rows("thingsboard_vectors.jsonl", vendor="Bosch")


def _startup_expectation(telemetry: dict[str, Any]) -> dict[str, Any]:
    # ThingsBoard prints the three version bytes (12..14: 00 1d 02) in reverse as "2.29.0";
    # Bosch's firmware is 0.29.x (TTN tps110.yaml, PLS Communication Interface v0.29.4), major
    # first. It names reset cause 2 "Power On Reset" and shows the debug bytes as hex text;
    # the debug records 00000000 990200d1 00050000 hold codes 0x299 and 0x500.
    assert telemetry["firmwareVersion"] == "2.29.0"
    assert telemetry["resetCause"] == "Power On Reset"
    return {
        "type": "startup",
        "occupied": telemetry["occupied"],
        "debugCodes": [665, 1280],
        "firmwareVersion": "0.29.2",
        "resetCause": "power on",
    }


def test_vector_file_holds_bosch_rows() -> None:
    assert len(ROWS) == 13


@pytest.mark.parametrize("row", ROWS, ids=[row["id"] for row in ROWS])
def test_thingsboard_vectors(row: dict[str, Any]) -> None:
    result = CODECS[0].decode_uplink(bytes.fromhex(row["bytes_hex"]), row["fport"])
    assert result.errors == []
    telemetry = row["expected_telemetry"][0]
    expected = _startup_expectation(telemetry) if row["fport"] == 3 else telemetry
    assert result.data == expected


def test_ttn_examples() -> None:
    # tps110-0292-codec.yaml examples.
    assert decode_bosch(bytes([1, 255]), 2).data == {
        "type": "heartbeat",
        "occupied": True,
        "temperature": -1,
    }
    startup = bytes([0x24, 3, 0, 0, 0x75, 3, 0, 0, 0, 0, 0, 0, 0, 29, 2, 3, 1])
    assert decode_bosch(startup, 3).data == {
        "type": "startup",
        "debugCodes": [804, 885],
        "firmwareVersion": "0.29.2",
        "resetCause": "system request",
        "occupied": True,
    }


def test_v1_heartbeat_has_no_temperature() -> None:
    assert decode_bosch(b"\x00", 2).data == {"type": "heartbeat", "occupied": False}


def test_debug_frame() -> None:
    payload = bytes.fromhex("78563412" + "2403" + "0000" + "0a00")
    assert decode_bosch(payload, 6).data == {
        "type": "debug",
        "timestamp": 0x12345678,
        "debugCode": 804,
        "sequenceNumber": 10,
    }


def test_device_information_keeps_bytes() -> None:
    assert decode_bosch(b"\x01\x02", 4).data == {"type": "device information", "bytes": [1, 2]}


def test_wrong_lengths_are_rejected() -> None:
    assert decode_bosch(b"", 1).errors == ["parking status frame on fPort 1 must be 1 bytes, got 0"]
    assert decode_bosch(bytes(10), 3).errors == [
        "startup frame on fPort 3 must be 17 bytes, got 10"
    ]
    assert decode_bosch(b"\x01\x02\x03", 2).errors == [
        "heartbeat frame on fPort 2 must be 1..2 bytes, got 3"
    ]


def test_unknown_port_is_rejected() -> None:
    result = decode_bosch(b"\x01", 7)
    assert result.data == {}
    assert result.errors == ["unsupported fPort 7"]


def test_codec_ids() -> None:
    assert [codec.id for codec in CODECS] == ["bosch/tps110"]


@given(st.binary(max_size=64), st.integers(0, 255))
def test_arbitrary_bytes_never_raise(payload: bytes, f_port: int) -> None:
    result = decode_bosch(payload, f_port)
    assert isinstance(result, DecodeResult)
    if result.errors:
        assert result.data == {}
