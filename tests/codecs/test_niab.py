"""NIAB FLS codec against diwise's fixtures."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stadsnav.codecs.base import DecodeResult
from stadsnav.codecs.niab import CODECS, NiabCodec
from support import vector_rows

CODEC = NiabCodec("niab/fls")
# diwise turns the temperature byte negative with `t - 255`, so 0xf0 gives -15; an int8 byte
# 0xf0 is -16 °C (two's complement, as 0x0f is +15). The bytes win over the fixture.
BYTES_OVER_FIXTURE = {("diwise-0075", "temperature"): -16}


def _ours(row: dict[str, Any]) -> dict[str, Any]:
    values = dict(row["expected"])
    if "distance_m" in values:
        values["distance"] = round(values.pop("distance_m") * 1000)
    for (row_id, key), value in BYTES_OVER_FIXTURE.items():
        if row_id == row["id"]:
            values[key] = value
    return values


ROWS = vector_rows("diwise_vectors.jsonl", vendor="niab")


def test_vector_file_holds_niab_rows() -> None:
    assert len(ROWS) == 5


@pytest.mark.parametrize("row", ROWS, ids=[row["id"] for row in ROWS])
def test_diwise_vectors(row: dict[str, Any]) -> None:
    result = CODEC.decode_uplink(bytes.fromhex(row["bytes_hex"]), 1)
    if row["expect_error"]:
        assert result.errors
        assert result.data == {}
        return
    assert result.errors == []
    for key, value in _ours(row).items():
        assert result.data[key] == value, key


def test_full_report() -> None:
    assert CODEC.decode_uplink(bytes.fromhex("cc0f03c5"), 1).data == {
        "battery": 80,
        "temperature": 15,
        "distance": 965,
    }


def test_read_error_is_named() -> None:
    assert "read error" in CODEC.decode_uplink(bytes.fromhex("cc0fffff"), 1).errors[0]


def test_mac_port_is_rejected() -> None:
    assert CODEC.decode_uplink(bytes.fromhex("cc0f03c5"), 0).errors


@given(st.binary(max_size=16), st.integers(min_value=0, max_value=255))
def test_never_raises(payload: bytes, f_port: int) -> None:
    assert isinstance(CODEC.decode_uplink(payload, f_port), DecodeResult)


def test_registered_ids() -> None:
    assert [codec.id for codec in CODECS] == ["niab/fls"]
