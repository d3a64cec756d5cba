"""VEGAPULS Air 41 codec against diwise's real uplinks, VEGA's example and bad packets."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stadsnav.codecs.base import DecodeResult
from stadsnav.codecs.vega import CODECS, PACKETS, decode_vegapuls
from support import vector_rows

REPO_ROOT = Path(__file__).resolve().parents[2]
DEVICES = REPO_ROOT.parent / "shared" / "data" / "devices"

# diwise's expected names → ours; diwise rounds distances to 5 decimals (metres).
NAMES = {"battery": "remainingPower", "distance_m": "distance", "temperature": "temperature"}


ROWS = vector_rows("diwise_vectors.jsonl", vendor="vega")
GOOD = [row for row in ROWS if not row["expect_error"]]
BAD = [row for row in ROWS if row["expect_error"]]


def _decode(hex_payload: str, f_port: int = 1) -> DecodeResult:
    return decode_vegapuls(bytes.fromhex(hex_payload), f_port)


def test_vector_file_holds_vega_rows() -> None:
    assert (len(GOOD), len(BAD)) == (6, 2)
    thingsboard = (DEVICES / "thingsboard_vectors.jsonl").read_text(encoding="utf-8").lower()
    assert "vega" not in thingsboard


@pytest.mark.parametrize("row", GOOD, ids=[row["id"] for row in GOOD])
def test_diwise_vectors(row: dict[str, Any]) -> None:
    result = _decode(row["bytes_hex"], int(row["fport"]))
    assert result.errors == []
    for name, expected in row["expected"].items():
        if name in NAMES:
            assert result.data[NAMES[name]] == pytest.approx(expected, abs=1e-5), name


@pytest.mark.parametrize("row", BAD, ids=[row["id"] for row in BAD])
def test_diwise_rejections(row: dict[str, Any]) -> None:
    result = _decode(row["bytes_hex"], int(row["fport"]))
    assert result.data == {}
    assert result.errors


def test_vega_documentation_example_packet_8() -> None:
    # VEGAPULS Air 41 documentation example (packet id 8), as quoted in diwise's test (diwise-0059).
    result = _decode("083fa31f152d2401042009")
    assert result.warnings == []
    assert result.data == {
        "packetIdentifier": 8,
        "distanceRaw": pytest.approx(1.27439, abs=1e-5),
        "distanceUnit": "m",
        "distance": pytest.approx(1.27439, abs=1e-5),
        "remainingPower": 36,
        "temperature": 26.0,
        "temperatureUnit": "°C",
        "inclinationDegree": 9,
    }


def test_packet_2_carries_namur_state_and_fixed_celsius() -> None:
    data = _decode("0200400000002d6000d1af").data
    assert data["namurState"] == 0
    assert data["namurStatus"] == "good"
    assert (data["distance"], data["temperature"], data["inclinationDegree"]) == (2.0, 20.9, 175)


def test_inches_and_fahrenheit_are_normalised() -> None:
    inches = _decode("02003fa31f152f2400fa09").data
    assert inches["distanceUnit"] == "in"
    assert inches["distanceRaw"] == pytest.approx(1.27439, abs=1e-5)
    assert inches["distance"] == pytest.approx(0.03237, abs=1e-5)
    fahrenheit = _decode("083fa31f152d2403022109").data
    assert (fahrenheit["temperatureUnit"], fahrenheit["temperature"]) == ("°F", 25.0)


def test_packet_12_percent_values() -> None:
    data = _decode("0c3fefc9712d222f222f42af05af296300d620b2").data
    assert data["percentValue"] == 87.51
    assert data["linPercentValue"] == 87.51
    assert data["scaledValue"] == pytest.approx(87.511, abs=1e-3)
    assert data["scaledValueUnit"] == "l"
    assert (data["remainingPower"], data["temperature"], data["inclinationDegree"]) == (
        99,
        21.4,
        178,
    )


def test_packet_10_without_valid_distance() -> None:
    result = _decode("0a047fffffff2d42000055f0003d2004")
    assert result.data["namurStatus"] == "failure"
    assert result.data["distance"] is None
    assert result.data["detailState"] == 0x55F0
    assert result.data["temperature"] == 6.1
    assert result.warnings == ["no valid distance measurement"]


def test_packet_16_device_information() -> None:
    # Schedule: every day (bits 1..7 of byte 0), 00:00..23:59, measure every 60, send every 360 min.
    schedule = bytes([0xFE, 0x00, 0x2C, 0xF8, 0x3C, 0x01, 0x68])
    payload = (
        bytes([16, 0x01])
        + (0x1234).to_bytes(4, "big")
        + (98).to_bytes(4, "big")
        + (0xA041).to_bytes(4, "big")
        + bytes([1, 2, 3, 4])
        + schedule
        + (5).to_bytes(2, "big")
        + struct.pack(">ff", 0.0, 100.0)
    )
    data = decode_vegapuls(payload, 1).data
    assert data["information"] == 1
    assert (data["dtmId"], data["manufacturerId"], data["deviceType"]) == (0x1234, 98, 0xA041)
    assert data["softwareVersion"] == "1.2.3.4"
    assert data["schedule"] == {
        "days": ["Su", "Mo", "Tu", "We", "Th", "Fr", "Sa"],
        "startTimeMinutes": 0,
        "endTimeMinutes": 1439,
        "measureIntervalMinutes": 60,
        "transmissionIntervalMinutes": 360,
    }
    assert (data["changeCounter"], data["scaledMin"], data["scaledMax"]) == (5, 0.0, 100.0)


def test_packet_17_names_stop_at_nul() -> None:
    payload = bytes([17]) + b"Tank 4".ljust(19, b"\x00") + b"LEVEL-002".ljust(19, b"\x00")
    data = decode_vegapuls(payload, 1).data
    assert (data["deviceName"], data["deviceTag"]) == ("Tank 4", "LEVEL-002")


def test_unavailable_temperature_and_unknown_units_warn() -> None:
    result = _decode("083fa31f1563248000200d")
    assert result.data["distance"] is None
    assert result.data["distanceUnit"] == 0x63
    assert result.data["temperature"] is None
    assert result.warnings == ["unknown distance unit code 99, distance not converted"]


def test_trailing_bytes_warn() -> None:
    result = _decode("083fa31f152d2401042009ffff")
    assert result.ok
    assert result.warnings == ["2 trailing bytes ignored after offset 11"]


@pytest.mark.parametrize(
    ("payload", "f_port", "reason"),
    [
        ("", 1, "empty payload"),
        ("1b", 1, "unknown packet identifier 27 at offset 0"),
        ("00", 1, "unknown packet identifier 0 at offset 0"),
        ("083fa31f152d2401042009", 0, "fPort 0"),
        ("02003fa31f152d2400fa", 1, "inclination: 1 bytes needed at offset 10"),
        ("083fa3", 1, "distance: 4 bytes needed at offset 1"),
        ("10", 1, "information: 1 bytes needed at offset 1"),
    ],
)
def test_malformed_packets_are_rejected(payload: str, f_port: int, reason: str) -> None:
    result = _decode(payload, f_port)
    assert result.data == {}
    assert len(result.errors) == 1
    assert reason in result.errors[0]


def test_every_truncation_of_every_layout_is_rejected() -> None:
    for packet in PACKETS:
        payload = bytes([packet]) + bytes(80)
        trailing = decode_vegapuls(payload, 1).warnings[-1]
        size = len(payload) - int(trailing.split()[0])
        assert decode_vegapuls(payload[:size], 1).ok, packet
        for shorter in range(1, size):
            assert not decode_vegapuls(payload[:shorter], 1).ok, (packet, shorter)


def test_codec_ids() -> None:
    assert [codec.id for codec in CODECS] == ["vega/vegapuls-air-41"]


@given(st.binary(max_size=64), st.integers(0, 255))
def test_arbitrary_bytes_never_raise(payload: bytes, f_port: int) -> None:
    result = decode_vegapuls(payload, f_port)
    assert isinstance(result, DecodeResult)
    if result.errors:
        assert result.data == {}


@given(st.sampled_from(sorted(PACKETS)), st.binary(min_size=80, max_size=80))
def test_long_enough_packets_always_decode(packet: int, body: bytes) -> None:
    assert decode_vegapuls(bytes([packet]) + body, 1).ok
