"""Enviot codec against the diwise uplink whose network-server decode is known."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stadsnav.codecs.base import DecodeResult
from stadsnav.codecs.enviot import CODECS, UNDECODED, EnviotCodec

REPO_ROOT = Path(__file__).resolve().parents[2]
DEVICES = REPO_ROOT.parent / "shared" / "data" / "devices"
CODEC = EnviotCodec("enviot/snow-depth-sensor")


def _row() -> dict[str, Any]:
    with (DEVICES / "diwise_vectors.jsonl").open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    found: list[dict[str, Any]] = [row for row in rows if row["vendor"] == "enviot"]
    [row] = found
    return row


def test_diwise_vector() -> None:
    row = _row()
    result = CODEC.decode_uplink(bytes.fromhex(row["bytes_hex"]), row["fport"])
    assert result.errors == []
    assert result.warnings == [UNDECODED]
    for key, value in row["expected"].items():
        assert result.data[key] == pytest.approx(value), key
    server = row["network_server_object"]["payload"]
    assert result.data["fixangle"] == server["fixangle"]
    # The network server reports whole hPa; the bytes say 99511 Pa.
    assert result.data["pressure"] == pytest.approx(server["pressure"], abs=0.5)


@pytest.mark.parametrize("size", [0, 18, 20])
def test_wrong_length_is_rejected(size: int) -> None:
    result = CODEC.decode_uplink(bytes(size), 1)
    assert result.data == {}
    assert "19 bytes" in result.errors[0]


@given(st.binary(max_size=24), st.integers(min_value=0, max_value=255))
def test_never_raises(payload: bytes, f_port: int) -> None:
    assert isinstance(CODEC.decode_uplink(payload, f_port), DecodeResult)


def test_registered_ids() -> None:
    assert [codec.id for codec in CODECS] == ["enviot/snow-depth-sensor"]
