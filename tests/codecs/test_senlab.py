"""SenLab T codec against diwise's municipal uplinks."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stadsnav.codecs.base import DecodeResult
from stadsnav.codecs.senlab import CODECS, decode_senlab_t
from support import vector_rows

ROWS = vector_rows("diwise_vectors.jsonl", vendor="sensing-labs")


def test_vector_file_holds_senlab_rows() -> None:
    assert len(ROWS) == 3


@pytest.mark.parametrize("row", ROWS, ids=[row["id"] for row in ROWS])
def test_diwise_vectors(row: dict[str, Any]) -> None:
    result = CODECS[0].decode_uplink(bytes.fromhex(row["bytes_hex"]), int(row["fport"]))
    if row["expect_error"]:
        assert result.data == {}
        assert result.errors == ["sensor reading error: probe reported 0xfd14 at byte 6"]
        return
    assert result.errors == []
    assert result.data["temperature"] == row["expected"]["temperature"]
    assert result.data["battery"] == round(int(row["bytes_hex"][2:4], 16) * 100 / 254)


def test_negative_temperature_and_battery() -> None:
    data = decode_senlab_t(bytes.fromhex("017f00000000ff80"), 3).data
    assert data == {"temperature": -8.0, "battery": 50}


def test_unknown_battery() -> None:
    assert decode_senlab_t(bytes.fromhex("01ff000000000010"), 3).data["battery"] is None


def test_rejections() -> None:
    assert decode_senlab_t(bytes.fromhex("01fe90"), 3).errors == [
        "data frame must be 8 bytes, got 3"
    ]
    assert decode_senlab_t(bytes.fromhex("02fe90619c10006a"), 3).errors == [
        "unknown frame id 0x02 at byte 0"
    ]
    assert decode_senlab_t(bytes.fromhex("01fe90619c10006a"), 2).errors == ["unsupported fPort 2"]


def test_codec_ids() -> None:
    assert [codec.id for codec in CODECS] == ["sensing-labs/senlab-t"]


@given(st.binary(max_size=32), st.integers(0, 255))
def test_arbitrary_bytes_never_raise(payload: bytes, f_port: int) -> None:
    result = decode_senlab_t(payload, f_port)
    assert isinstance(result, DecodeResult)
    if result.errors:
        assert result.data == {}
