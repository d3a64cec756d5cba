"""NIAB FLS fill-level sensor codec (not in the TTN device repository; id ``niab/fls``).

A report is exactly 4 bytes: battery (uint8, 255 = 100 %), temperature (int8, °C) and the
measured distance (big-endian int16, mm). A distance of ``0xffff`` is the sensor's read-error
marker, so such a report carries no measurement and is rejected. Layout as used by diwise's
NIAB decoder for the Swedish FLS deployments.
"""

from __future__ import annotations

from functools import partial

from stadsnav.codecs.base import DecodeResult, FunctionCodec

REPORT_SIZE = 4
READ_ERROR = -1


def decode_fls(payload: bytes) -> DecodeResult:
    """Decode one FLS report."""
    if len(payload) != REPORT_SIZE:
        return DecodeResult(
            errors=[f"NIAB FLS report must be {REPORT_SIZE} bytes, got {len(payload)}"]
        )
    distance = int.from_bytes(payload[2:4], "big", signed=True)
    if distance == READ_ERROR:
        return DecodeResult.rejected("distance 0xffff at byte 2: the sensor reported a read error")
    return DecodeResult(
        data={
            "battery": payload[0] * 100 // 255,
            "temperature": int.from_bytes(payload[1:2], "big", signed=True),
            "distance": distance,
        }
    )


def _decode_uplink(payload: bytes, f_port: int) -> DecodeResult:
    """The FLS reports on any application port."""
    if f_port == 0:
        return DecodeResult.rejected("fPort 0 carries MAC commands, not a NIAB report")
    return decode_fls(payload)


NiabCodec = partial(FunctionCodec, decode=_decode_uplink)
"""The FLS decoder under a given id."""

CODECS: tuple[FunctionCodec, ...] = (NiabCodec("niab/fls"),)
"""One codec instance per NIAB model id."""
