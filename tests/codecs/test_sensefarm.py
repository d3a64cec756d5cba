"""Sensefarm CUBE02 codec against diwise's real uplinks and Sensefarm's own decoder example."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stadsnav.codecs.base import DecodeResult
from stadsnav.codecs.sensefarm import CODECS, SensefarmCodec
from support import vector_rows

CODEC = SensefarmCodec("sensefarm/cube02")


ROWS = vector_rows("diwise_vectors.jsonl", vendor="sensefarm")


def test_vector_file_holds_sensefarm_rows() -> None:
    assert len(ROWS) == 2


def test_diwise_soil_uplink() -> None:
    # diwise asserts 6 SenML packs: temperature, device, two conductivities, two pressures.
    result = CODEC.decode_uplink(bytes.fromhex(ROWS[0]["bytes_hex"]), 2)
    assert result.as_dict() == {
        "data": {
            "transmissionReason": "normal",
            "protocolVersion": 1,
            "batteryVoltage0": 2276,
            "resistance0": 815,
            "soilMoisture0": 6,
            "resistance1": 1082,
            "soilMoisture1": 10,
            "temperature0": pytest.approx(17.31826),
        },
        "warnings": [],
        "errors": [],
    }


def test_netmore_facade_uplink() -> None:
    result = CODEC.decode_uplink(bytes.fromhex(ROWS[1]["bytes_hex"]), 2)
    assert result.data["temperature0"] == 7.125
    assert result.data["batteryVoltage0"] == 2252
    assert result.data["resistance1"] == 25


def test_vendor_decoder_example() -> None:
    # Sensefarm/protocols, Sensefarm-LPP-decoder.js header comment: voltage 2.28 V,
    # resistances 10230005 Ohm, temperature 20.289112091064453 °C.
    result = CODEC.decode_uplink(bytes.fromhex("b006b800013008e898009c18f599009c18f50841a2501a"), 2)
    assert result.data == {
        "transmissionReason": "normal",
        "protocolVersion": 1,
        "batteryVoltage0": 2280,
        "resistance0": 10230005,
        "resistance1": 10230005,
        "temperature0": pytest.approx(20.289112091064453),
    }


def test_humidity_and_acceleration_from_format_table() -> None:
    # Sensefarm-LPP.md: 0x02 humidity uint16/100, 0x03 three int16/1000 (g).
    result = CODEC.decode_uplink(bytes.fromhex("111388" + "19" + "03e8fc180000"), 2)
    assert result.data == {"humidity1": 50.0, "acceleration1": [1.0, -1.0, 0.0]}


@pytest.mark.parametrize(
    ("hex_payload", "reason"),
    [("", "empty"), ("3008", "truncated batteryVoltage"), ("f8", "unknown sensor type 0x1f")],
)
def test_bad_payloads_are_rejected(hex_payload: str, reason: str) -> None:
    result = CODEC.decode_uplink(bytes.fromhex(hex_payload), 2)
    assert result.data == {}
    assert reason in result.errors[0]


@given(st.binary(max_size=40), st.integers(min_value=0, max_value=255))
def test_never_raises(payload: bytes, f_port: int) -> None:
    assert isinstance(CODEC.decode_uplink(payload, f_port), DecodeResult)


def test_registered_ids() -> None:
    assert [codec.id for codec in CODECS] == ["sensefarm/cube02"]
