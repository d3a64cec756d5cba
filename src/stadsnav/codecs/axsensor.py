"""AX Sensor level-sensor codec (not in the TTN device repository; id ``axsensor/ax-sensor``).

A port-2 payload is a sequence of items: one id byte whose range fixes the data length
(``< 0x40``: none, ``< 0x80``: 1 byte, ``< 0xc0``: 2 bytes, else 4 bytes), then little-endian
data. Known items: ``0x80`` distance (int16, 0.1 mm), ``0xa1`` pressure (uint16, hPa), ``0xa2``
temperature (int16, 0.1 °C), ``0xa3`` humidity (uint16, 1/1024 of 100 %RH) and ``0xa4`` battery
voltage (uint16, mV). Items with other ids are skipped with a warning: their length is known
from the id, so the rest of the payload stays readable. Layout as decoded by diwise.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from stadsnav.codecs.base import DecodeResult, FunctionCodec

DATA_PORT = 2
Reader = Callable[[bytes], tuple[str, Any]]


def _item_size(item_id: int) -> int:
    if item_id < 0x40:
        return 0
    if item_id < 0x80:
        return 1
    if item_id < 0xC0:
        return 2
    return 4


def _distance(data: bytes) -> tuple[str, Any]:
    return "distance", int.from_bytes(data, "little", signed=True) / 10


def _pressure(data: bytes) -> tuple[str, Any]:
    return "pressure", int.from_bytes(data, "little")


def _temperature(data: bytes) -> tuple[str, Any]:
    return "temperature", int.from_bytes(data, "little", signed=True) / 10


def _humidity(data: bytes) -> tuple[str, Any]:
    return "humidity", int.from_bytes(data, "little") * 100 / 1024


def _battery_voltage(data: bytes) -> tuple[str, Any]:
    return "batteryVoltage", int.from_bytes(data, "little")


ITEMS: dict[int, Reader] = {
    0x80: _distance,
    0xA1: _pressure,
    0xA2: _temperature,
    0xA3: _humidity,
    0xA4: _battery_voltage,
}
"""Item id → reader giving (field name, value): mm, hPa, °C, %RH, mV."""


def decode_ax(payload: bytes) -> DecodeResult:
    """Decode one AX Sensor item sequence."""
    if not payload:
        return DecodeResult.rejected("empty payload")
    data: dict[str, Any] = {}
    warnings: list[str] = []
    at = 0
    while at < len(payload):
        item_id = payload[at]
        size = _item_size(item_id)
        end = at + 1 + size
        if end > len(payload):
            return DecodeResult(
                errors=[
                    f"truncated item 0x{item_id:02x} at byte {at}: needs {size} data bytes, "
                    f"only {len(payload) - at - 1} remain"
                ]
            )
        reader = ITEMS.get(item_id)
        if reader is None:
            warnings.append(f"item 0x{item_id:02x} at byte {at} has no known meaning; skipped")
        else:
            key, value = reader(payload[at + 1 : end])
            data[key] = value
        at = end
    return DecodeResult(data=data, warnings=warnings)


def _decode_uplink(payload: bytes, f_port: int) -> DecodeResult:
    """Only fPort 2 carries measurements."""
    if f_port != DATA_PORT:
        return DecodeResult.rejected(
            f"fPort {f_port} is not the AX Sensor measurement port {DATA_PORT}"
        )
    return decode_ax(payload)


AxSensorCodec = partial(FunctionCodec, decode=_decode_uplink)
"""The AX Sensor decoder under a given id."""

CODECS: tuple[FunctionCodec, ...] = (AxSensorCodec("axsensor/ax-sensor"),)
"""One codec instance per AX Sensor model id."""
