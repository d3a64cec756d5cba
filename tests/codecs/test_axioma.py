"""Qalcosonic W1 codec against diwise's municipal uplinks and Axioma's TTN example."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stadsnav.codecs.axioma import CODECS, decode_qalcosonic
from stadsnav.codecs.base import DecodeResult
from support import vector_rows

ROWS = vector_rows("diwise_vectors.jsonl", vendor="axioma")
SERIES = [row for row in ROWS if row["test"] == "TestDecodeW1t"]


def _port(row: dict[str, Any]) -> int:
    # The frame-version rows come as raw bytes without an envelope; they are daily frames.
    return 100 if row["fport"] is None else int(row["fport"])


def _decode(row: dict[str, Any]) -> DecodeResult:
    return CODECS[0].decode_uplink(bytes.fromhex(row["bytes_hex"]), _port(row))


def _row(row_id: str) -> dict[str, Any]:
    return next(row for row in ROWS if row["id"] == row_id)


def test_vector_file_holds_axioma_rows() -> None:
    assert len(ROWS) == 28
    assert len(SERIES) == 22


@pytest.mark.parametrize("row", ROWS, ids=[row["id"] for row in ROWS])
def test_diwise_vectors_accept_or_reject(row: dict[str, Any]) -> None:
    result = _decode(row)
    if row["expect_error"]:
        assert result.data == {}
        assert result.errors == ["unsupported frame version 0xef at byte 0, expected 0x01"]
    else:
        assert result.errors == []


def test_w1t_with_temperature() -> None:
    data = _decode(_row("diwise-0030")).data
    assert data["temperature"] == 25.78
    assert data["current_volume"] == 302.578
    assert data["status_code"] == 0x7C
    # diwise counts the log volume as the first of 15 history points.
    assert len(data["delta_volumes"]) == 14
    assert data["delta_volumes"][0] == {"interval": 1, "volume_liters": 1229}


def test_w1h_enhanced_frame() -> None:
    data = _decode(_row("diwise-0031")).data
    assert data["status"] == 48
    assert data["current_volume_m3"] == 573.662
    assert data["log_volume_m3"] == 528.333
    assert data["history_count"] == 23
    cumulated = [
        528333 + litres
        for litres in itertools.accumulate(
            round(data[f"delta_{index}_m3"] * 1000) for index in range(1, 24)
        )
    ]
    # diwise's LwM2M object 16 is the log volume plus the first 16 hourly deltas.
    assert cumulated[15] == 560639


def test_w1e_extended_frame() -> None:
    data = _decode(_row("diwise-0032")).data
    assert data["status_code"] == 48
    assert data["current_volume"] == 13.609
    assert "temperature" not in data
    assert len(data["delta_volumes"]) == 15
    total = sum(delta["volume_liters"] for delta in data["delta_volumes"])
    assert data["log_volume"] * 1000 + total == pytest.approx(13492)


def test_alarm_frame() -> None:
    data = _decode(_row("diwise-0033")).data
    assert data["status_code"] == 136
    assert data["permanent_error"] is True
    assert data["low_temperature"] is True
    assert "current_volume" not in data


@pytest.mark.parametrize("row", SERIES, ids=[row["id"] for row in SERIES])
def test_w1t_series_has_temperature_and_14_deltas(row: dict[str, Any]) -> None:
    data = _decode(row).data
    assert "temperature" in data
    assert len(data["delta_volumes"]) == 14
    assert 0 <= data["timestamp"] - data["log_timestamp"] <= 25 * 3600


def test_ttn_enhanced_example() -> None:
    # qalcosonic-w1-codec.yaml "Enhanced 24h payload - Lackova".
    payload = bytes.fromhex(
        "01aeac986a003217000000000000000000008003800054000e4005100048000240020000200000"
        "000000000000000000000000"
    )
    result = decode_qalcosonic(payload, 100)
    assert result.errors == []
    assert result.warnings == []
    data = result.data
    assert data["timestamp_unix"] == 1788390574
    assert data["timestamp_utc"] == "2026-09-02T23:09:34Z"
    assert data["log_volume_m3"] == 5.938
    assert [data[f"delta_{index}_m3"] for index in range(5, 17)] == [
        0,
        0.014,
        0.008,
        0.021,
        0.014,
        0.021,
        0.001,
        0.018,
        0.002,
        0.009,
        0,
        0.008,
    ]
    assert data["history_total_m3"] == 0.116
    assert data["current_volume_m3"] == 6.054
    assert data["history_multiplier"] == 0
    assert data["leakage"] is False


def test_status_codes() -> None:
    burst = decode_qalcosonic(bytes.fromhex("00000000a0"), 103).data
    assert burst["burst"] is True
    assert burst["leakage"] is False
    assert burst["low_temperature"] is False
    assert decode_qalcosonic(bytes.fromhex("0000000060"), 103).data["backflow"] is True
    assert decode_qalcosonic(bytes.fromhex("0000000010"), 103).data["pipe_empty"] is True


def test_rejections() -> None:
    assert decode_qalcosonic(bytes(20), 100).errors == ["data frame must be 47 or 51 bytes, got 20"]
    # Log times after the reading time fit neither 47-byte layout.
    assert decode_qalcosonic(bytes(9) + b"\x01" * 6 + bytes(32), 100).errors == [
        "47-byte frame: neither bytes 9-12 nor 11-14 hold a log time within 25 h "
        "before the reading time"
    ]
    assert decode_qalcosonic(bytes(4), 103).errors == ["alarm frame must be 5 bytes, got 4"]
    assert decode_qalcosonic(bytes(5), 1).errors == ["unsupported fPort 1"]


def test_codec_ids() -> None:
    assert [codec.id for codec in CODECS] == ["axioma/qalcosonic-w1"]


@given(st.binary(max_size=64), st.sampled_from([1, 100, 103]))
def test_arbitrary_bytes_never_raise(payload: bytes, f_port: int) -> None:
    result = decode_qalcosonic(payload, f_port)
    assert isinstance(result, DecodeResult)
    if result.errors:
        assert result.data == {}
