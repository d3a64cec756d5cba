"""X2 Climate codec against diwise's real Netmore uplinks."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stadsnav.codecs.base import DecodeResult
from stadsnav.codecs.x2climate import CODECS, X2ClimateCodec
from support import vector_rows

CODEC = X2ClimateCodec("x2climate/x2-climate")


ROWS = vector_rows("diwise_vectors.jsonl", vendor="x2climate")


def test_vector_file_holds_x2climate_rows() -> None:
    assert len(ROWS) == 6


@pytest.mark.parametrize("row", ROWS, ids=[row["id"] for row in ROWS])
def test_diwise_vectors_decode(row: dict[str, Any]) -> None:
    # The fixture asserts nothing; plausible indoor values are the check.
    result = CODEC.decode_uplink(bytes.fromhex(row["bytes_hex"]), int(row["fport"]))
    assert result.errors == []
    if "temperature" in result.data:
        assert 15 < result.data["temperature"] < 30
        assert 20 < result.data["humidity"] < 60
        assert 2000 < result.data["batteryVoltage"] < 3700


def test_climate_record() -> None:
    result = CODEC.decode_uplink(bytes.fromhex("031101149c1a00000d17002b088c2800000001"), 1)
    assert result.as_dict() == {
        "data": {"temperature": 24.97625, "humidity": 33.51, "batteryVoltage": 2188},
        "warnings": [],
        "errors": [],
    }


def test_unknown_record_before_climate_is_skipped() -> None:
    result = CODEC.decode_uplink(bytes.fromhex(ROWS[4]["bytes_hex"]), 1)
    assert result.data == {"temperature": 22.72625, "humidity": 33.54, "batteryVoltage": 2142}
    assert result.warnings == ["record type 0x88 at byte 0 has no published layout"]


@pytest.mark.parametrize(
    ("hex_payload", "reason"),
    [
        ("", "empty"),
        ("03", "need type and length"),
        ("031101149c1a", "length says 17 bytes"),
        ("0302aabb", "expected 17"),
    ],
)
def test_bad_payloads_are_rejected(hex_payload: str, reason: str) -> None:
    result = CODEC.decode_uplink(bytes.fromhex(hex_payload), 1)
    assert result.data == {}
    assert reason in result.errors[0]


@given(st.binary(max_size=40), st.integers(min_value=0, max_value=255))
def test_never_raises(payload: bytes, f_port: int) -> None:
    assert isinstance(CODEC.decode_uplink(payload, f_port), DecodeResult)


def test_registered_ids() -> None:
    assert [codec.id for codec in CODECS] == ["x2climate/x2-climate"]
