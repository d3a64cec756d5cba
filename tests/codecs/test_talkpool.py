"""Talkpool OY1210 codec against diwise's real Netmore uplinks and the TTN decoder's layout."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stadsnav.codecs.base import DecodeResult
from stadsnav.codecs.talkpool import CODECS, TalkpoolCodec
from support import vector_rows

CODEC = TalkpoolCodec("talkpool/oy1210")
DIWISE_NAMES = {"co2": "CO2", "humidity": "Humidity", "temperature": "Temperature"}


ROWS = vector_rows("diwise_vectors.jsonl", vendor="talkpool")


def test_vector_file_holds_talkpool_rows() -> None:
    assert len(ROWS) == 6


@pytest.mark.parametrize("row", ROWS, ids=[row["id"] for row in ROWS])
def test_diwise_vectors(row: dict[str, Any]) -> None:
    # Netmore delivered these on fPort 1 but diwise decodes them as port-2 reports.
    result = CODEC.decode_uplink(bytes.fromhex(row["bytes_hex"]), 2)
    assert result.errors == []
    for key, value in row["expected"].items():
        if key in DIWISE_NAMES:
            assert result.data[DIWISE_NAMES[key]] == pytest.approx(value), key


def test_higab_report_decodes_fully() -> None:
    assert CODEC.decode_uplink(bytes.fromhex("3e1eb801ae"), 2).as_dict() == {
        "data": {"Temperature": 20.3, "Humidity": 23.8, "CO2": 430},
        "warnings": [],
        "errors": [],
    }


def test_other_ports_are_rejected() -> None:
    result = CODEC.decode_uplink(bytes.fromhex("3e1eb801ae"), 1)
    assert result.data == {}
    assert "fPort 1" in result.errors[0]


@pytest.mark.parametrize("hex_payload", ["", "3e1eb801", "3e1eb801ae00"])
def test_wrong_length_is_rejected(hex_payload: str) -> None:
    result = CODEC.decode_uplink(bytes.fromhex(hex_payload), 2)
    assert result.data == {}
    assert "5 bytes" in result.errors[0]


@given(st.binary(max_size=16), st.integers(min_value=0, max_value=255))
def test_never_raises(payload: bytes, f_port: int) -> None:
    assert isinstance(CODEC.decode_uplink(payload, f_port), DecodeResult)


def test_registered_ids() -> None:
    assert [codec.id for codec in CODECS] == ["talkpool/oy1210"]
