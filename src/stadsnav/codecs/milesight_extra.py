"""Milesight AM103, AM308 and WS101 channel tables, on the frame machinery of ``milesight``.

AM103 (TTN ``milesight-iot/am103``): battery, temperature, humidity, CO2 (``07 7d``, ppm) and
history records (``20 ce``: timestamp, temperature, humidity, CO2), per Milesight's AM100
series table. WS101 (``milesight-iot/ws101``): battery and the button press (``ff 2e``:
1 short, 2 long, 3 double), named ``button`` as in the TTN decoder. AM308
(``milesight-iot/am308``): the AM307 channels, but 20-byte history records that add PM2.5 and
PM10 (Milesight SensorDecoders, AM_Series/AM300 README).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stadsnav.codecs.base import FunctionCodec
from stadsnav.codecs.milesight import (
    AM307,
    ATTRIBUTES,
    BATTERY,
    HUMIDITY,
    TEMPERATURE,
    Frame,
    _am307_point,
    _history,
    _humidity,
    _temperature,
    _u16,
    _value,
    milesight_codecs,
)

PRESSES = {1: "short", 2: "long", 3: "double"}


def _am103_point(payload: bytes, at: int) -> dict[str, Any]:
    return {
        "temperature": _temperature(payload, at),
        "humidity": _humidity(payload, at + 2),
        "co2": _u16(payload, at + 3),
    }


def _am308_point(payload: bytes, at: int) -> dict[str, Any]:
    point = _am307_point(payload, at)
    point["pm2_5"] = _u16(payload, at + 12)
    point["pm10"] = _u16(payload, at + 14)
    return point


def _press(payload: bytes, at: int) -> str:
    return PRESSES.get(payload[at], f"unknown ({payload[at]})")


AM103: Mapping[tuple[int, int], Frame] = {
    **ATTRIBUTES,
    **BATTERY,
    **TEMPERATURE,
    **HUMIDITY,
    (0x07, 0x7D): Frame("co2", 2, _value("co2", _u16)),
    (0x20, 0xCE): Frame("history", 9, _history(_am103_point)),
}
AM308: Mapping[tuple[int, int], Frame] = {
    **AM307,
    (0x20, 0xCE): Frame("history", 20, _history(_am308_point)),
}
WS101: Mapping[tuple[int, int], Frame] = {
    **ATTRIBUTES,
    **BATTERY,
    (0xFF, 0x2E): Frame("button press", 1, _value("button", _press)),
}

CODECS: tuple[FunctionCodec, ...] = milesight_codecs(
    {"am103": AM103, "am308": AM308, "ws101": WS101}
)
"""One codec instance per Milesight model id."""
