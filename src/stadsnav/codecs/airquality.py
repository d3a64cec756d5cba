"""Codec for the custom air-quality node seen in Sundsvall (no vendor; id
``custom/airquality-node``).

The 12-byte port-2 report holds little-endian uint16 values: raw PM10 and PM2.5 (1/10 µg/m³),
temperature (1/10 K), humidity (1/10 %RH), a sensor error word and NO2 (1/100, offset by
-100 + 1.98). Calibrated PM values are ``max(0, 6.6462·ln(raw) + 4.9307)`` and NO2 is clamped
at 0, as in diwise's decoder for the node; names are those the node's network-server decoder
emits (``pm10raw``, ``pm10``, ``pm25raw``, ``pm25``, ``temperature``, ``humidity``,
``sensorerror``, ``no2``).
"""

from __future__ import annotations

import math
from functools import partial

from stadsnav.codecs.base import DecodeResult, FunctionCodec

DATA_PORT = 2
REPORT_SIZE = 12
KELVIN_TENTHS = 2732


def _u16(payload: bytes, at: int) -> int:
    return int.from_bytes(payload[at : at + 2], "little")


def _calibrated_pm(raw: float) -> float:
    # ln(0) is undefined; a zero reading is simply no particles.
    return max(math.log(raw) * 6.6462 + 4.9307, 0.0) if raw > 0 else 0.0


def decode_airquality(payload: bytes) -> DecodeResult:
    """Decode one air-quality report."""
    if len(payload) < REPORT_SIZE:
        return DecodeResult(
            errors=[f"air-quality report needs {REPORT_SIZE} bytes, got {len(payload)}"]
        )
    pm10raw = _u16(payload, 0) / 10
    pm25raw = _u16(payload, 2) / 10
    return DecodeResult(
        data={
            "pm10raw": pm10raw,
            "pm10": _calibrated_pm(pm10raw),
            "pm25raw": pm25raw,
            "pm25": _calibrated_pm(pm25raw),
            "temperature": (_u16(payload, 4) - KELVIN_TENTHS) / 10,
            "humidity": _u16(payload, 6) / 10,
            "sensorerror": _u16(payload, 8),
            "no2": max(_u16(payload, 10) / 100 - 100 + 1.98, 0.0),
        }
    )


def _decode_uplink(payload: bytes, f_port: int) -> DecodeResult:
    """Only fPort 2 carries measurements."""
    if f_port != DATA_PORT:
        return DecodeResult.rejected(
            f"fPort {f_port} is not the air-quality measurement port {DATA_PORT}"
        )
    return decode_airquality(payload)


AirQualityCodec = partial(FunctionCodec, decode=_decode_uplink)
"""The custom air-quality node's decoder under a given id."""

CODECS: tuple[FunctionCodec, ...] = (AirQualityCodec("custom/airquality-node"),)
"""One codec instance for the node."""
