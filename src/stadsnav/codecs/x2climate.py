"""X2 Climate indoor-climate sensor codec (not in the TTN device repository; id
``x2climate/x2-climate``).

A payload is a sequence of records: a type byte, a length byte, then that many content bytes.
Type ``0x03`` (17 content bytes) is the climate reading, with big-endian fields at content
offsets 2 (temperature, 1/1600 °C), 6 (humidity, 1/100 %RH) and 10 (battery voltage, mV), as
diwise decodes it for Swedish deployments. No public specification names the other record
types (``0x04``, ``0x88`` are seen in the field), so they are skipped with a warning; their
length byte keeps the rest of the payload readable.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from stadsnav.codecs.base import DecodeResult, FunctionCodec

CLIMATE = 0x03
CLIMATE_SIZE = 17


def _u16(content: bytes, at: int) -> int:
    return int.from_bytes(content[at : at + 2], "big")


def _climate(content: bytes) -> dict[str, Any]:
    return {
        "temperature": _u16(content, 2) / 1600,
        "humidity": _u16(content, 6) / 100,
        "batteryVoltage": _u16(content, 10),
    }


def decode_x2climate(payload: bytes) -> DecodeResult:
    """Decode one X2 Climate record sequence."""
    if not payload:
        return DecodeResult.rejected("empty payload")
    data: dict[str, Any] = {}
    warnings: list[str] = []
    at = 0
    while at < len(payload):
        if at + 2 > len(payload):
            return DecodeResult.rejected(f"truncated record at byte {at}: need type and length")
        kind, size = payload[at], payload[at + 1]
        end = at + 2 + size
        if end > len(payload):
            return DecodeResult(
                errors=[
                    f"truncated record 0x{kind:02x} at byte {at}: length says {size} bytes, "
                    f"only {len(payload) - at - 2} remain"
                ]
            )
        if kind != CLIMATE:
            warnings.append(f"record type 0x{kind:02x} at byte {at} has no published layout")
        elif size != CLIMATE_SIZE:
            return DecodeResult(
                errors=[f"climate record at byte {at} has {size} bytes, expected {CLIMATE_SIZE}"]
            )
        else:
            data.update(_climate(payload[at + 2 : end]))
        at = end
    return DecodeResult(data=data, warnings=warnings)


def _decode_uplink(payload: bytes, f_port: int) -> DecodeResult:
    """Records are self-describing, so any application port is read."""
    if f_port == 0:
        return DecodeResult.rejected("fPort 0 carries MAC commands, not an X2 payload")
    return decode_x2climate(payload)


X2ClimateCodec = partial(FunctionCodec, decode=_decode_uplink)
"""The X2 Climate decoder under a given id."""

CODECS: tuple[FunctionCodec, ...] = (X2ClimateCodec("x2climate/x2-climate"),)
"""One codec instance per X2 Climate model id."""
