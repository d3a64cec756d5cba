"""Axioma Qalcosonic W1 water meter codec: 24-hour and enhanced 24-hour frames, alarms.

fPort 100 carries the daily frame in one of three layouts, all little-endian:

- enhanced (51 bytes): frame version 0x01, time, status, log volume, 23 packed 14-bit hourly
  deltas and a 6-bit multiplier; names as in the TTN repository's ``qalcosonic-w1-codec.js``;
- extended (47 bytes): time, status, current volume, log time, log volume, 15 16-bit deltas;
- with temperature (47 bytes): as extended, with water temperature (0.01 °C) after the current
  volume and 14 deltas. The two 47-byte layouts are told apart by which log time falls in the
  25 hours before the reading time. Names as in the TTN repository's ``qalcosonic.js``.

fPort 103 carries an alarm: time and status byte. Volumes are m³, deltas litres.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from stadsnav.codecs.base import DecodeResult, FunctionCodec

DATA_PORT = 100
ALARM_PORT = 103
ENHANCED_LENGTH = 51
DAILY_LENGTH = 47
ENHANCED_VERSION = 0x01
DELTA_BITS = 14
ENHANCED_DELTAS = 23
LOG_WINDOW_S = 25 * 3600


def _u32(payload: bytes, at: int) -> int:
    return int.from_bytes(payload[at : at + 4], "little")


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status_flags(status: int) -> dict[str, bool]:
    """Axioma's status byte; backflow and burst are two-bit codes over the leakage bit."""
    backflow = status & 0x60 == 0x60
    burst = status & 0xA0 == 0xA0
    return {
        "low_battery": bool(status & 0x04),
        "permanent_error": bool(status & 0x08),
        "temporary_error": bool(status & 0x10),
        "pipe_empty": status == 0x10,
        "backflow": backflow,
        "burst": burst,
        "leakage": bool(status & 0x20) and not backflow and not burst,
        "low_temperature": bool(status & 0x80) and not burst,
    }


def _enhanced(payload: bytes) -> DecodeResult:
    if payload[0] != ENHANCED_VERSION:
        return DecodeResult(
            errors=[f"unsupported frame version 0x{payload[0]:02x} at byte 0, expected 0x01"]
        )
    timestamp = _u32(payload, 1)
    status = payload[5]
    log_litres = _u32(payload, 6)
    packed = int.from_bytes(payload[10:], "little")
    mask = (1 << DELTA_BITS) - 1
    deltas = [(packed >> (DELTA_BITS * i)) & mask for i in range(ENHANCED_DELTAS)]
    data: dict[str, Any] = {
        "payload_format": "AXIOMA_W1_ENHANCED_24H",
        "frame_version": payload[0],
        "timestamp_unix": timestamp,
        "timestamp_utc": _iso(timestamp),
        "status": status,
        **_status_flags(status),
        "log_volume_m3": log_litres / 1000,
    }
    for index, litres in enumerate(deltas, start=1):
        data[f"delta_{index}_m3"] = litres / 1000
    multiplier = packed >> (DELTA_BITS * ENHANCED_DELTAS)
    data.update(
        history_count=ENHANCED_DELTAS,
        history_total_m3=sum(deltas) / 1000,
        current_volume_m3=(log_litres + sum(deltas)) / 1000,
        history_multiplier=multiplier,
    )
    warnings = [f"history multiplier {multiplier} is not 0; deltas may need scaling"]
    return DecodeResult(data=data, warnings=warnings if multiplier else [])


def _log_time_fits(payload: bytes, at: int) -> bool:
    return 0 <= _u32(payload, 0) - _u32(payload, at) <= LOG_WINDOW_S


def _daily(payload: bytes) -> DecodeResult:
    if _log_time_fits(payload, 9):
        temperature, log_at = None, 9
    elif _log_time_fits(payload, 11):
        temperature, log_at = int.from_bytes(payload[9:11], "little", signed=True) / 100, 11
    else:
        return DecodeResult(
            errors=[
                "47-byte frame: neither bytes 9-12 nor 11-14 hold a log time within 25 h "
                "before the reading time"
            ]
        )
    status = payload[4]
    data: dict[str, Any] = {
        "timestamp": _u32(payload, 0),
        "status_code": status,
        **_status_flags(status),
        "current_volume": _u32(payload, 5) / 1000,
    }
    if temperature is not None:
        data["temperature"] = temperature
    deltas_at = log_at + 8
    data.update(
        log_timestamp=_u32(payload, log_at),
        log_volume=_u32(payload, log_at + 4) / 1000,
        delta_volumes=[
            {"interval": index, "volume_liters": int.from_bytes(payload[at : at + 2], "little")}
            for index, at in enumerate(range(deltas_at, len(payload), 2), start=1)
        ],
    )
    return DecodeResult(data=data)


def _alarm(payload: bytes) -> DecodeResult:
    if len(payload) != 5:
        return DecodeResult.rejected(f"alarm frame must be 5 bytes, got {len(payload)}")
    status = payload[4]
    return DecodeResult(
        data={"timestamp": _u32(payload, 0), "status_code": status, **_status_flags(status)}
    )


def decode_qalcosonic(payload: bytes, f_port: int) -> DecodeResult:
    """Decode one Qalcosonic W1 uplink: daily data on fPort 100, alarms on fPort 103."""
    if f_port == ALARM_PORT:
        return _alarm(payload)
    if f_port != DATA_PORT:
        return DecodeResult.rejected(f"unsupported fPort {f_port}")
    if len(payload) == ENHANCED_LENGTH:
        return _enhanced(payload)
    if len(payload) == DAILY_LENGTH:
        return _daily(payload)
    return DecodeResult(
        errors=[f"data frame must be {DAILY_LENGTH} or {ENHANCED_LENGTH} bytes, got {len(payload)}"]
    )


CODECS: tuple[FunctionCodec, ...] = (FunctionCodec("axioma/qalcosonic-w1", decode_qalcosonic),)
"""The Axioma models in the TTN device repository."""
