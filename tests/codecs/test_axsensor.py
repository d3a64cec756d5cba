"""AX Sensor codec against diwise's real Netmore uplinks."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stadsnav.codecs.axsensor import CODECS, AxSensorCodec
from stadsnav.codecs.base import DecodeResult
from support import vector_rows

CODEC = AxSensorCodec("axsensor/ax-sensor")
# diwise's filling_level / filling_percent assume a 1400 mm tank (an installation setting, not a
# device value); they are checked here from the decoded distance.
TANK_MM = 1400


ROWS = vector_rows("diwise_vectors.jsonl", vendor="axsensor")


def test_vector_file_holds_axsensor_rows() -> None:
    assert len(ROWS) == 2


@pytest.mark.parametrize("row", ROWS, ids=[row["id"] for row in ROWS])
def test_diwise_vectors(row: dict[str, Any]) -> None:
    result = CODEC.decode_uplink(bytes.fromhex(row["bytes_hex"]), int(row["fport"]))
    assert result.errors == []
    data, expected = result.data, row["expected"]
    assert data["distance"] / 1000 == pytest.approx(expected["distance_m"])
    assert data["temperature"] == pytest.approx(expected["temperature"])
    level = TANK_MM - int(data["distance"])
    assert level * 100 / TANK_MM == pytest.approx(expected["filling_percent"], abs=1e-4)
    assert (level + 5) // 10 == expected["filling_level"]
    if "pressure_Pa" in expected:
        assert data["pressure"] * 100 == expected["pressure_Pa"]
    if "power_source_voltage_mV" in expected:
        assert data["batteryVoltage"] == expected["power_source_voltage_mV"]


def test_all_known_items_and_unknown_item_skipped() -> None:
    result = CODEC.decode_uplink(bytes.fromhex("80a336a1ed03a2a000a3e301c8f9ff4f02"), 2)
    assert result.data == {
        "distance": 1398.7,
        "pressure": 1005,
        "temperature": 16.0,
        "humidity": pytest.approx(47.168, abs=1e-3),
    }
    assert result.warnings == ["item 0xc8 at byte 12 has no known meaning; skipped"]


def test_negative_temperature() -> None:
    assert CODEC.decode_uplink(bytes.fromhex("a2ceff"), 2).data == {"temperature": -5.0}


@pytest.mark.parametrize(
    ("hex_payload", "reason"), [("", "empty"), ("8040", "truncated item 0x80")]
)
def test_bad_payloads_are_rejected(hex_payload: str, reason: str) -> None:
    result = CODEC.decode_uplink(bytes.fromhex(hex_payload), 2)
    assert result.data == {}
    assert reason in result.errors[0]


def test_other_ports_are_rejected() -> None:
    assert "fPort 1" in CODEC.decode_uplink(bytes.fromhex("804024"), 1).errors[0]


@given(st.binary(max_size=32), st.integers(min_value=0, max_value=255))
def test_never_raises(payload: bytes, f_port: int) -> None:
    assert isinstance(CODEC.decode_uplink(payload, f_port), DecodeResult)


def test_registered_ids() -> None:
    assert [codec.id for codec in CODECS] == ["axsensor/ax-sensor"]
