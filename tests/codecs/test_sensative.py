"""Sensative Strips codec against diwise's municipal uplinks and Sensative's examples."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stadsnav.codecs.base import DecodeResult
from stadsnav.codecs.sensative import CODECS, decode_strips
from support import vector_rows

ROWS = vector_rows("diwise_vectors.jsonl", vendor="sensative")


# The check-in rows carry the Servanet test wrapper's fPort 2, but they are reports: diwise's
# own fixture envelope (livboj_checkin) says fPort 1, and on fPort 2 Sensative sends history.
REPORT_PORT = 1


def test_vector_file_holds_sensative_rows() -> None:
    assert len(ROWS) == 6


@pytest.mark.parametrize("row", ROWS, ids=[row["id"] for row in ROWS])
def test_diwise_vectors_decode(row: dict[str, Any]) -> None:
    result = CODECS[0].decode_uplink(bytes.fromhex(row["bytes_hex"]), REPORT_PORT)
    assert result.errors == []
    assert result.data["historySeqNr"] == 65535


def test_lifebuoy_presence() -> None:
    assert decode_strips(bytes.fromhex("ffff1501"), 1).data == {
        "historySeqNr": 65535,
        "prevHistSeqNr": 65535,
        "closeProximityAlarm": {"value": True},
    }


def test_periodic_check_in() -> None:
    data = decode_strips(bytes.fromhex("ffff6e0312fc5000000000"), 1).data
    assert data["buildId"] == {"id": 51575888, "modified": False}
    assert data["historySeqNr"] == 65535
    assert data["prevHistSeqNr"] == 65535


def test_check_in_counters() -> None:
    data = decode_strips(bytes.fromhex("ffff6e0312fc50f9000000"), 1).data
    assert data["startUpCount"] == {"value": 249}
    assert data["watchdogCount"] == {"value": 0}


def test_strips_ms_h_report() -> None:
    # diwise iotagent_test TestStripsPayload (Strips MS-H, devEui 70b3d52c00019193).
    payload = bytes.fromhex("ffff01590200d90400d4063c07000008000009000a01")
    assert decode_strips(payload, 1).data == {
        "historySeqNr": 65535,
        "prevHistSeqNr": 65535,
        "battery": 89,
        "temperature": {"value": 21.7},
        "averageTemperature": {"value": 21.2},
        "humidity": {"value": 30.0},
        "lux": {"value": 0},
        "lux2": {"value": 0},
        "door": {"value": False},
        "doorAlarm": {"value": True},
    }


def test_ttn_example_drip() -> None:
    # strips-codec.yaml example payload.
    payload = bytes.fromhex("ffff015002 00ea 0300 0d00 0e00 1000".replace(" ", ""))
    assert decode_strips(payload, 1).data == {
        "historySeqNr": 65535,
        "prevHistSeqNr": 65535,
        "battery": 80,
        "temperature": {"value": 23.4},
        "tempAlarm": {"highAlarm": False, "lowAlarm": False},
        "flood": {"value": 0},
        "floodAlarm": {"value": False},
        "userSwitch1Alarm": {"value": False},
    }


def test_history_flag_and_negative_temperature() -> None:
    data = decode_strips(bytes.fromhex("0010" + "82ff38" + "5064ff9c"), 1).data
    assert data["prevHistSeqNr"] == 15
    assert data["temperature"] == {"value": -10.0}
    assert data["humidity"] == {"value": 50.0}


def test_combined_and_enum_frames() -> None:
    data = decode_strips(bytes.fromhex("0001" + "520100c8" + "1603" + "0f01" + "110102"), 1).data
    assert data["door"] == {"value": True}
    assert data["temperature"] == {"value": 20.0}
    assert data["disinfectAlarm"] == {"value": 3, "state": "clean"}
    assert data["oilAlarm"] == {"value": 1}
    assert data["foilAlarm"] == {"value": True}
    assert data["doorCount"] == {"value": 258}


def test_history_answer() -> None:
    payload = bytes.fromhex("0005" + "0000003c" + "0200d2" + "00000e10" + "1201")
    assert decode_strips(payload, 2).data == {
        "historySeqNr": 5,
        "history": [
            {"seqNr": 5, "secondsAgo": 60, "temperature": {"value": 21.0}},
            {"seqNr": 6, "secondsAgo": 3600, "presence": {"value": True}},
        ],
    }


def test_truncated_history_record() -> None:
    assert decode_strips(bytes.fromhex("00050000"), 2).errors == [
        "truncated history record at byte 2: needs 4 time bytes and a type byte, only 2 remain"
    ]


def test_truncated_frame_rejects_the_report() -> None:
    result = decode_strips(bytes.fromhex("ffff015902"), 1)
    assert result.data == {}
    assert result.errors == [
        "truncated frame at byte 4: type 0x02 (temperature) needs 2 data bytes, only 0 remain"
    ]


def test_unknown_type_and_short_payloads() -> None:
    assert decode_strips(bytes.fromhex("ffff3001"), 1).errors == [
        "unknown report type 0x30 at byte 2"
    ]
    assert decode_strips(b"\xff", 1).errors == [
        "payload of 1 bytes has no 2-byte history sequence number"
    ]
    assert decode_strips(b"\xff\xff", 3).errors == ["unsupported fPort 3"]


def test_codec_ids() -> None:
    assert [codec.id for codec in CODECS] == ["sensative/strips"]


@given(st.binary(max_size=64), st.integers(0, 255))
def test_arbitrary_bytes_never_raise(payload: bytes, f_port: int) -> None:
    result = decode_strips(payload, f_port)
    assert isinstance(result, DecodeResult)
    if result.errors:
        assert result.data == {}
