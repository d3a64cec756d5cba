"""Talkpool OY1210 CO2 / temperature / humidity codec, from the TTN device repository's decoder.

The 5-byte port-2 report packs temperature and humidity as two 12-bit values sharing byte 2
(high nibble → temperature, low nibble → humidity): ``T = raw/10 - 80`` °C, ``RH = raw/10 - 25``
%, then CO2 as a big-endian uint16 in ppm. Names are the TTN decoder's (``Temperature``,
``Humidity``, ``CO2``). Other ports carry configuration or status and are rejected.
"""

from __future__ import annotations

from functools import partial

from stadsnav.codecs.base import DecodeResult, FunctionCodec

DATA_PORT = 2
REPORT_SIZE = 5


def decode_oy1210(payload: bytes) -> DecodeResult:
    """Decode one OY1210 port-2 measurement report."""
    if len(payload) != REPORT_SIZE:
        return DecodeResult(
            errors=[f"OY1210 report must be {REPORT_SIZE} bytes, got {len(payload)}"]
        )
    temperature = (payload[0] << 4) | (payload[2] >> 4)
    humidity = (payload[1] << 4) | (payload[2] & 0x0F)
    return DecodeResult(
        data={
            "Temperature": round(temperature / 10 - 80, 1),
            "Humidity": round(humidity / 10 - 25, 1),
            "CO2": int.from_bytes(payload[3:5], "big"),
        }
    )


def _decode_uplink(payload: bytes, f_port: int) -> DecodeResult:
    """Only fPort 2 carries measurements."""
    if f_port != DATA_PORT:
        return DecodeResult.rejected(
            f"fPort {f_port} is not the OY1210 measurement port {DATA_PORT}"
        )
    return decode_oy1210(payload)


TalkpoolCodec = partial(FunctionCodec, decode=_decode_uplink)
"""The OY1210 decoder under a given id."""

CODECS: tuple[FunctionCodec, ...] = (TalkpoolCodec("talkpool/oy1210"),)
"""One codec instance per Talkpool model id."""
