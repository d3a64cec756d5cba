"""Custom air-quality node codec against diwise's real Servanet uplink."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stadsnav.codecs.airquality import CODECS, AirQualityCodec
from stadsnav.codecs.base import DecodeResult

REPO_ROOT = Path(__file__).resolve().parents[2]
DEVICES = REPO_ROOT.parent / "shared" / "data" / "devices"
CODEC = AirQualityCodec("custom/airquality-node")


def _row() -> dict[str, Any]:
    with (DEVICES / "diwise_vectors.jsonl").open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    found: list[dict[str, Any]] = [row for row in rows if row["model"] == "AirQuality node"]
    [row] = found
    return row


def test_diwise_vector_matches_network_server_object() -> None:
    row = _row()
    result = CODEC.decode_uplink(bytes.fromhex(row["bytes_hex"]), row["fport"])
    assert result.errors == []
    for key, value in row["network_server_object"].items():
        assert result.data[key] == pytest.approx(value), key


def test_below_freezing_and_zero_dust() -> None:
    # 2700 = 270.0 K = -3.2 °C; zero raw PM calibrates to 0, not log(0); NO2 clamps at 0.
    result = CODEC.decode_uplink(bytes.fromhex("00000000" + "8c0a" + "e803" + "0000" + "0000"), 2)
    assert result.data["temperature"] == pytest.approx(-3.2)
    assert result.data["pm10"] == 0.0
    assert result.data["no2"] == 0.0


def test_short_payload_and_wrong_port_are_rejected() -> None:
    assert "12 bytes" in CODEC.decode_uplink(bytes(11), 2).errors[0]
    assert "fPort 1" in CODEC.decode_uplink(bytes(12), 1).errors[0]


@given(st.binary(max_size=24), st.integers(min_value=0, max_value=255))
def test_never_raises(payload: bytes, f_port: int) -> None:
    assert isinstance(CODEC.decode_uplink(payload, f_port), DecodeResult)


def test_registered_ids() -> None:
    assert [codec.id for codec in CODECS] == ["custom/airquality-node"]
