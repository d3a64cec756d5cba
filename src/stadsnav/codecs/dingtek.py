"""Dingtek DO200 parking occupancy sensor codec (ultrasonic + geomagnetic detection).

Dingtek frames are ``0x80 | forced bit | device type | data type | length | fields... | 0x81`` on
fPort 3, where ``length`` counts the whole frame. Data type 0x01 is the periodic heartbeat, 0x02 the
alarm frame (same 21-byte layout), 0x03 the 17-byte parameter frame. Field names follow the DO200
decoder in the TTN device repository (``vendor/dingtek/do200.js``, examples in
``do200-codec.yaml``): ``level``, ``volt`` (V), ``alarmPark`` ... ``Frame_Counter``; the parameter
frame gives ``firmware``, ``uploadInterval`` (h), ``ultraDetectInterval`` (min),
``magDetectInterval`` (s) and ``magThreshold`` (mGs). ``frameType`` is added so heartbeats and
alarms can be told apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stadsnav.codecs.base import DecodeResult, FunctionCodec

HEADER = 0x80
TRAILER = 0x81
F_PORT = 3

Decoder = Callable[[bytes], dict[str, Any]]


def _int16(payload: bytes, at: int) -> int:
    return int.from_bytes(payload[at : at + 2], "big", signed=True)


def _uint16(payload: bytes, at: int) -> int:
    return int.from_bytes(payload[at : at + 2], "big")


def _measurement(frame_type: str) -> Decoder:
    def decode(payload: bytes) -> dict[str, Any]:
        return {
            "frameType": frame_type,
            "level": _uint16(payload, 5),
            "volt": _uint16(payload, 9) / 100,
            "alarmPark": bool(payload[7] >> 4),
            "alarmLevel": bool(payload[7] & 0x0F),
            "alarmMagnet": bool(payload[8] >> 4),
            "alarmBattery": bool(payload[8] & 0x0F),
            "xMagnet": _int16(payload, 11),
            "yMagnet": _int16(payload, 13),
            "zMagnet": _int16(payload, 15),
            "Frame_Counter": _uint16(payload, 17),
        }

    return decode


def _parameters(payload: bytes) -> dict[str, Any]:
    return {
        "frameType": "parameter",
        "firmware": f"{payload[5]}.{payload[6]}",
        "uploadInterval": payload[7],
        "ultraDetectInterval": payload[8],
        "magDetectInterval": payload[9],
        "magThreshold": _uint16(payload, 12),
    }


FRAMES: dict[int, tuple[str, int, Decoder]] = {
    0x01: ("heartbeat", 21, _measurement("heartbeat")),
    0x02: ("alarm", 21, _measurement("alarm")),
    0x03: ("parameter", 17, _parameters),
}
"""Data type byte → (frame name, frame length, decoder)."""


def _framing_error(payload: bytes) -> str | None:
    if len(payload) < 6:
        return f"frame too short: at least 6 bytes needed, got {len(payload)}"
    if payload[0] != HEADER:
        return f"byte 0 must be header 0x80, got 0x{payload[0]:02x}"
    if payload[-1] != TRAILER:
        return f"byte {len(payload) - 1} must be trailer 0x81, got 0x{payload[-1]:02x}"
    if payload[4] != len(payload):
        return f"length byte 4 says {payload[4]} bytes, frame has {len(payload)}"
    return None


def decode_do200(payload: bytes, f_port: int) -> DecodeResult:
    """Decode one DO200 uplink: heartbeat, alarm or parameter frame on fPort 3."""
    if f_port != F_PORT:
        return DecodeResult.rejected(f"unsupported fPort {f_port}, DO200 uplinks use fPort 3")
    problem = _framing_error(payload)
    if problem:
        return DecodeResult.rejected(problem)
    frame = FRAMES.get(payload[3])
    if frame is None:
        return DecodeResult.rejected(f"unknown data type 0x{payload[3]:02x} at byte 3")
    name, size, decode = frame
    if len(payload) != size:
        return DecodeResult.rejected(f"{name} frame must be {size} bytes, got {len(payload)}")
    return DecodeResult(data=decode(payload))


CODECS: tuple[FunctionCodec, ...] = (FunctionCodec("dingtek/do200", decode_do200),)
"""The Dingtek models decoded natively."""
