"""Enviot snow-depth / climate station codec (not in the TTN device repository; id
``enviot/snow-depth-sensor``).

Enviot publishes no payload specification, and diwise reads the network server's decoded
object rather than the bytes. The 19-byte fPort-1 layout here is read off a real uplink whose
network-server decode is known (diwise fixture ``decoders.enviot_test.go``): byte 0 battery (%),
bytes 3-4 mounting angle (uint16 BE, ``raw/100 - 180`` °), bytes 12-13 temperature (uint16 BE,
``(raw - 1000)/10`` °C), byte 14 humidity (%RH), bytes 15-18 pressure (uint32 BE, Pa, reported
in hPa). Names follow that network-server object. Bytes 1-2 and 5-11 hold snow height,
distances, sensor status and signal strength in an order that uplink (all zero) cannot show,
so they are left undecoded with a warning rather than guessed.
"""

from __future__ import annotations

from functools import partial

from stadsnav.codecs.base import DecodeResult, FunctionCodec

REPORT_SIZE = 19
UNDECODED = "bytes 1-2 and 5-11 (snow height, distances, status) have no published layout"


def _u16(payload: bytes, at: int) -> int:
    return int.from_bytes(payload[at : at + 2], "big")


def decode_enviot(payload: bytes) -> DecodeResult:
    """Decode one Enviot report."""
    if len(payload) != REPORT_SIZE:
        return DecodeResult(
            errors=[f"Enviot report must be {REPORT_SIZE} bytes, got {len(payload)}"]
        )
    return DecodeResult(
        data={
            "battery": payload[0],
            "fixangle": _u16(payload, 3) / 100 - 180,
            "temperature": (_u16(payload, 12) - 1000) / 10,
            "humidity": payload[14],
            "pressure": int.from_bytes(payload[15:19], "big") / 100,
        },
        warnings=[UNDECODED],
    )


def _decode_uplink(payload: bytes, f_port: int) -> DecodeResult:
    """The station reports on any application port."""
    if f_port == 0:
        return DecodeResult.rejected("fPort 0 carries MAC commands, not an Enviot report")
    return decode_enviot(payload)


EnviotCodec = partial(FunctionCodec, decode=_decode_uplink)
"""The Enviot station decoder under a given id."""

CODECS: tuple[FunctionCodec, ...] = (EnviotCodec("enviot/snow-depth-sensor"),)
"""One codec instance per Enviot model id."""
