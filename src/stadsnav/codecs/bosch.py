"""Bosch Parking Lot Sensor (TPS110) codec, one frame layout per fPort.

Field names follow Bosch's decoder in the TTN device repository (``occupied``, ``temperature``,
``debugCodes``, ``firmwareVersion``, ``resetCause``). PLS v1 firmware (0.23.x) sends a 1-byte
heartbeat; v2 (0.29.x) adds a signed temperature byte in °C, so both lengths are accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stadsnav.codecs.base import DecodeResult, FunctionCodec

Decoder = Callable[[bytes], dict[str, Any]]

RESET_CAUSES: dict[int, str] = {1: "watchdog", 2: "power on", 3: "system request", 4: "other"}


def _occupied(payload: bytes) -> bool:
    return bool(payload[0] & 0x01)


def _status(payload: bytes) -> dict[str, Any]:
    return {"type": "parking status", "occupied": _occupied(payload)}


def _heartbeat(payload: bytes) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "heartbeat", "occupied": _occupied(payload)}
    if len(payload) >= 2:
        data["temperature"] = int.from_bytes(payload[1:2], "big", signed=True)
    return data


def _debug_code(payload: bytes, at: int) -> int:
    # 12-bit code, little-endian, in the low bits of a 4-byte debug record.
    return ((payload[at + 1] & 0x0F) << 8) | payload[at]


def _startup(payload: bytes) -> dict[str, Any]:
    codes = [_debug_code(payload, at) for at in (0, 4, 8)]
    return {
        "type": "startup",
        "debugCodes": [code for code in codes if code],
        "firmwareVersion": f"{payload[12]}.{payload[13]}.{payload[14]}",
        "resetCause": RESET_CAUSES.get(payload[15]),
        "occupied": bool(payload[16] & 0x01),
    }


def _device_information(payload: bytes) -> dict[str, Any]:
    return {"type": "device information", "bytes": list(payload)}


def _device_usage(payload: bytes) -> dict[str, Any]:
    return {"type": "device usage", "bytes": list(payload)}


def _debug(payload: bytes) -> dict[str, Any]:
    return {
        "type": "debug",
        "timestamp": int.from_bytes(payload[0:4], "little"),
        "debugCode": _debug_code(payload, 4),
        "sequenceNumber": int.from_bytes(payload[8:10], "little"),
    }


FRAMES: dict[int, tuple[str, int, int, Decoder]] = {
    1: ("parking status", 1, 1, _status),
    2: ("heartbeat", 1, 2, _heartbeat),
    3: ("startup", 17, 17, _startup),
    4: ("device information", 1, 255, _device_information),
    5: ("device usage", 1, 255, _device_usage),
    6: ("debug", 10, 10, _debug),
}
"""fPort → (frame name, minimum length, maximum length, decoder)."""


def decode_bosch(payload: bytes, f_port: int) -> DecodeResult:
    """Decode one Bosch PLS uplink; the fPort selects the frame type."""
    frame = FRAMES.get(f_port)
    if frame is None:
        return DecodeResult.rejected(f"unsupported fPort {f_port}")
    name, shortest, longest, decode = frame
    if not shortest <= len(payload) <= longest:
        expected = str(shortest) if shortest == longest else f"{shortest}..{longest}"
        return DecodeResult(
            errors=[f"{name} frame on fPort {f_port} must be {expected} bytes, got {len(payload)}"]
        )
    return DecodeResult(data=decode(payload))


CODECS: tuple[FunctionCodec, ...] = (FunctionCodec("bosch/tps110", decode_bosch),)
"""The Bosch models in the TTN device repository."""
