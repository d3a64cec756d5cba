"""Sensefarm CUBE02 codec, from Sensefarm's published "Sensefarm LPP" payload format.

A payload is a sequence of sensors: a header byte (type in bits 7..3, sensor number 0..7 in
bits 2..0), then a fixed number of big-endian value bytes for that type. Values are named as
Sensefarm's own example decoder labels them, type name plus sensor number (``temperature0``,
``resistance1``, ``soilMoisture0``); units are those of the format table (°C, mV, Ohm, kPa ...).
Transmission reason and protocol version describe the whole message and carry no number.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

from stadsnav.codecs.base import DecodeResult, FunctionCodec

Convert = Callable[[bytes], Any]


class SensorType(NamedTuple):
    """How one sensor type is read: its output name, value length and conversion."""

    name: str
    size: int
    convert: Convert
    numbered: bool = True


def _unsigned(data: bytes) -> int:
    return int.from_bytes(data, "big")


def _signed(data: bytes) -> int:
    return int.from_bytes(data, "big", signed=True)


def _hundredths(data: bytes) -> float:
    return int.from_bytes(data, "big") / 100


def _float32(data: bytes) -> float:
    return float(struct.unpack(">f", data)[0])


def _acceleration(data: bytes) -> list[float]:
    return [int.from_bytes(data[at : at + 2], "big", signed=True) / 1000 for at in (0, 2, 4)]


def _radio(data: bytes) -> dict[str, int]:
    return {"rssi": data[0] - 215, "snr": _signed(data[1:2])}


def _gps(data: bytes) -> dict[str, float]:
    latitude, longitude = struct.unpack(">ff", data)
    return {"latitude": latitude, "longitude": longitude}


def _gps_detailed(data: bytes) -> dict[str, float]:
    latitude, longitude = struct.unpack(">dd", data)
    return {"latitude": latitude, "longitude": longitude}


REASONS = {
    0: "unknown reset",
    1: "POR/PDR reset",
    2: "independent watchdog reset",
    3: "window watchdog reset",
    4: "low-power reset",
    5: "POR/PDR reset",
    6: "normal",
    7: "button reset",
}


def _reason(data: bytes) -> str:
    return REASONS.get(data[0], f"0x{data[0]:02x}")


TYPES: dict[int, SensorType] = {
    0x01: SensorType("temperature", 4, _float32),
    0x02: SensorType("humidity", 2, _hundredths),
    0x03: SensorType("acceleration", 6, _acceleration),
    0x04: SensorType("illuminance", 4, _float32),
    0x05: SensorType("analog", 2, _unsigned),
    0x06: SensorType("batteryVoltage", 2, _unsigned),
    0x07: SensorType("altitude", 4, _float32),
    0x08: SensorType("pulse", 2, _unsigned),
    0x09: SensorType("pulseAbs", 4, _unsigned),
    0x0A: SensorType("rotation", 2, _signed),
    0x0B: SensorType("rotationAbs", 4, _signed),
    0x0C: SensorType("radio", 2, _radio),
    0x0D: SensorType("gps", 8, _gps),
    0x0E: SensorType("gps", 16, _gps_detailed),
    0x0F: SensorType("windSpeed", 2, _hundredths),
    0x10: SensorType("windDirection", 2, _hundredths),
    0x11: SensorType("state", 1, _unsigned),
    0x12: SensorType("misc", 4, _float32),
    0x13: SensorType("resistance", 4, _unsigned),
    0x14: SensorType("id", 8, lambda data: data.hex()),
    0x15: SensorType("soilMoisture", 2, _unsigned),
    0x16: SensorType("transmissionReason", 1, _reason, numbered=False),
    0x17: SensorType("protocolVersion", 2, _unsigned, numbered=False),
}
"""Sensor type (header bits 7..3) → how it is read, from the Sensefarm LPP uplink table."""


def decode_sensefarm(payload: bytes) -> DecodeResult:
    """Decode one Sensefarm LPP payload; an unknown or truncated sensor rejects it."""
    if not payload:
        return DecodeResult.rejected("empty payload")
    data: dict[str, Any] = {}
    at = 0
    while at < len(payload):
        header = payload[at]
        kind = TYPES.get(header >> 3)
        if kind is None:
            return DecodeResult(
                errors=[
                    f"unknown sensor type 0x{header >> 3:02x} (header 0x{header:02x}) at byte {at}"
                ]
            )
        end = at + 1 + kind.size
        if end > len(payload):
            return DecodeResult(
                errors=[
                    f"truncated {kind.name} at byte {at}: needs {kind.size} value bytes, "
                    f"only {len(payload) - at - 1} remain"
                ]
            )
        key = f"{kind.name}{header & 0x07}" if kind.numbered else kind.name
        data[key] = kind.convert(payload[at + 1 : end])
        at = end
    return DecodeResult(data=data)


def _decode_uplink(payload: bytes, f_port: int) -> DecodeResult:
    """The CUBE02 reports on fPort 2 but the format is port-independent."""
    if f_port == 0:
        return DecodeResult.rejected("fPort 0 carries MAC commands, not a Sensefarm payload")
    return decode_sensefarm(payload)


SensefarmCodec = partial(FunctionCodec, decode=_decode_uplink)
"""The CUBE02 decoder under a given id."""

CODECS: tuple[FunctionCodec, ...] = (SensefarmCodec("sensefarm/cube02"),)
"""One codec instance per Sensefarm model id."""
