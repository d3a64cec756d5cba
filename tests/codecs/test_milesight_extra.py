"""Milesight AM103 and WS101 tables against diwise and ThingsBoard uplinks."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stadsnav.codecs.base import DecodeResult
from stadsnav.codecs.milesight_extra import CODECS
from support import vector_rows

CODEC_BY_ID = {codec.id: codec for codec in CODECS}
AM103 = CODEC_BY_ID["milesight-iot/am103"]
AM308 = CODEC_BY_ID["milesight-iot/am308"]
WS101 = CODEC_BY_ID["milesight-iot/ws101"]
# ThingsBoard's AM307 example ends in an AM308 history record (20 bytes, with PM2.5/PM10).
AM308_TAIL = "0e015520ce6535ca0c00e1006e016401c2000a279700190032"


AM103_ROWS = vector_rows("diwise_vectors.jsonl", model="AM103")
WS101_ROWS = vector_rows("thingsboard_vectors.jsonl", model="WS101")


def test_vector_files_hold_rows() -> None:
    assert len(AM103_ROWS) == 1
    assert len(WS101_ROWS) == 6


def test_am103_diwise_vector() -> None:
    [row] = AM103_ROWS
    result = AM103.decode_uplink(bytes.fromhex(row["bytes_hex"]), row["fport"])
    assert result.as_dict() == {"data": row["expected"], "warnings": [], "errors": []}


def test_am103_history_record() -> None:
    # AM100 series table: 20 ce, timestamp, temperature int16/10, humidity uint8/2, co2 uint16.
    result = AM103.decode_uplink(bytes.fromhex("20ce" + "e6be2b65" + "0b01" + "58" + "2003"), 85)
    assert result.data == {
        "history": [{"timestamp": 1697365734, "temperature": 26.7, "humidity": 44.0, "co2": 800}]
    }


def test_am308_reads_thingsboard_am307_history_tail() -> None:
    [row, *_] = [
        row
        for row in vector_rows("thingsboard_vectors.jsonl", model="AM307")
        if row["bytes_hex"].endswith(AM308_TAIL)
    ]
    result = AM308.decode_uplink(bytes.fromhex(row["bytes_hex"]), row["fport"])
    assert result.errors == []
    live = row["expected_telemetry"][0]
    assert {key: result.data[key] for key in ("co2", "tvoc", "battery")} == {
        key: live[key] for key in ("co2", "tvoc", "battery")
    }
    # The record's bytes are ThingsBoard's made-up example; pm2_5 = 0x1900, pm10 = 0x3200.
    [point] = result.data["history"]
    assert (point["pm2_5"], point["pm10"]) == (6400, 12800)
    assert point["co2"] == row["expected_telemetry"][1]["co2"]


@pytest.mark.parametrize("row", WS101_ROWS, ids=[row["id"] for row in WS101_ROWS])
def test_ws101_thingsboard_vectors(row: dict[str, Any]) -> None:
    result = WS101.decode_uplink(bytes.fromhex(row["bytes_hex"]), row["fport"])
    telemetry = row["expected_telemetry"][0]
    # ThingsBoard calls the press "press"; the TTN decoder calls it "button".
    assert result.as_dict() == {
        "data": {"battery": telemetry["battery"], "button": telemetry["press"]},
        "warnings": [],
        "errors": [],
    }


@pytest.mark.parametrize(("byte", "press"), [("02", "long"), ("03", "double")])
def test_ws101_presses(byte: str, press: str) -> None:
    assert WS101.decode_uplink(bytes.fromhex("ff2e" + byte), 85).data == {"button": press}


def test_tables_stay_apart() -> None:
    assert (
        "unknown channel 0x07 type 0x7d"
        in WS101.decode_uplink(bytes.fromhex("077d7603"), 85).errors[0]
    )
    assert AM103.decode_uplink(bytes.fromhex("ff2e01"), 85).errors


@given(st.binary(max_size=32), st.integers(min_value=0, max_value=255))
def test_never_raises(payload: bytes, f_port: int) -> None:
    for codec in CODECS:
        assert isinstance(codec.decode_uplink(payload, f_port), DecodeResult)


def test_registered_ids() -> None:
    assert [codec.id for codec in CODECS] == [
        "milesight-iot/am103",
        "milesight-iot/am308",
        "milesight-iot/ws101",
    ]
