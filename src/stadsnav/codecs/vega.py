"""VEGA VEGAPULS Air 41 radar level sensor codec.

The first byte is VEGA's packet identifier; it fixes which fields follow, big-endian, in a fixed
order: NAMUR NE 107 state, distance (IEEE 754 float32) with its HART unit code, percent values,
remaining battery power (%), GNSS position, detail state, temperature (0.1 steps) with its unit
code, inclination (°). Layouts follow VEGA's "VEGAPULS Air LoRaWAN payload" description as
implemented by diwise/iot-agent (``decoders/vegapuls``). ``distance`` is reported in metres and
``temperature`` in °C whatever unit the device is set to; the sent value and unit are kept in
``distanceRaw``/``distanceUnit`` and ``temperatureUnit``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any

from stadsnav.codecs.base import DecodeResult, FunctionCodec

NAMUR_STATES: dict[int, str] = {
    0: "good",
    1: "function check",
    2: "maintenance required",
    3: "out of specification",
    4: "failure",
}
DISTANCE_UNITS: dict[int, tuple[str, float]] = {
    44: ("ft", 0.3048),
    45: ("m", 1.0),
    47: ("in", 0.0254),
    48: ("cm", 0.01),
    49: ("mm", 0.001),
}
TEMPERATURE_UNITS: dict[int, str] = {32: "°C", 33: "°F", 35: "K"}
UNIT_NAMES: dict[int, str] = {
    **{code: name for code, (name, _) in DISTANCE_UNITS.items()},
    **TEMPERATURE_UNITS,
    40: "gal",
    41: "l",
    43: "m³",
    57: "%",
}
WEEKDAYS = ("Su", "Mo", "Tu", "We", "Th", "Fr", "Sa")
NOT_AVAILABLE = b"\x80\x00"


class TruncatedError(Exception):
    """The payload ended before a field the packet identifier promises."""


class Reader:
    """A cursor over the payload; reading past the end raises ``TruncatedError``."""

    __slots__ = ("at", "payload")

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.at = 1

    def take(self, count: int, field: str) -> bytes:
        """The next ``count`` bytes, holding ``field``."""
        end = self.at + count
        if end > len(self.payload):
            raise TruncatedError(f"{field}: {count} bytes needed at offset {self.at}")
        chunk = self.payload[self.at : end]
        self.at = end
        return chunk

    def uint(self, count: int, field: str) -> int:
        """The next unsigned big-endian integer of ``count`` bytes."""
        return int.from_bytes(self.take(count, field), "big")

    def float32(self, field: str) -> float | None:
        """The next IEEE 754 float; NaN and infinities (no valid value) become None."""
        value: float = struct.unpack(">f", self.take(4, field))[0]
        return value if math.isfinite(value) else None

    def tenths(self, field: str, scale: int) -> float | None:
        """The next signed 16-bit fixed-point value; 0x8000 means not available."""
        raw = self.take(2, field)
        if raw == NOT_AVAILABLE:
            return None
        return int.from_bytes(raw, "big", signed=True) / scale


Field = Callable[[Reader, dict[str, Any], list[str]], None]


def _namur(reader: Reader, data: dict[str, Any], warnings: list[str]) -> None:
    state = reader.uint(1, "NAMUR state")
    data["namurState"] = state
    data["namurStatus"] = NAMUR_STATES.get(state)
    if state not in NAMUR_STATES:
        warnings.append(f"unknown NAMUR state {state}")


def _distance(reader: Reader, data: dict[str, Any], warnings: list[str]) -> None:
    value = reader.float32("distance")
    code = reader.uint(1, "distance unit")
    unit = DISTANCE_UNITS.get(code)
    data["distanceRaw"] = value
    data["distanceUnit"] = unit[0] if unit else code
    data["distance"] = value * unit[1] if unit and value is not None else None
    if unit is None:
        warnings.append(f"unknown distance unit code {code}, distance not converted")
    elif value is None:
        warnings.append("no valid distance measurement")


def _percent(reader: Reader, data: dict[str, Any], warnings: list[str]) -> None:
    data["percentValue"] = reader.tenths("percent value", 100)
    data["linPercentValue"] = reader.tenths("linearised percent value", 100)
    data["scaledValue"] = reader.float32("scaled value")
    code = reader.uint(1, "scaled value unit")
    data["scaledValueUnit"] = UNIT_NAMES.get(code, code)


def _remaining_power(reader: Reader, data: dict[str, Any], warnings: list[str]) -> None:
    data["remainingPower"] = reader.uint(1, "remaining power")


def _gnss(reader: Reader, data: dict[str, Any], warnings: list[str]) -> None:
    data["gnssLatitude"] = reader.float32("GNSS latitude")
    data["gnssLongitude"] = reader.float32("GNSS longitude")


def _detail_state(reader: Reader, data: dict[str, Any], warnings: list[str]) -> None:
    data["detailState"] = reader.uint(4, "detail state")


def _celsius(value: float, code: int) -> float:
    if code == 33:
        return round((value - 32) * 5 / 9, 2)
    if code == 35:
        return round(value - 273.15, 2)
    return value


def _temperature(reader: Reader, data: dict[str, Any], warnings: list[str]) -> None:
    value = reader.tenths("temperature", 10)
    code = reader.uint(1, "temperature unit")
    data["temperatureUnit"] = TEMPERATURE_UNITS.get(code, code)
    if code not in TEMPERATURE_UNITS:
        warnings.append(f"unknown temperature unit code {code}, temperature not converted")
        data["temperature"] = None
        return
    data["temperature"] = None if value is None else _celsius(value, code)


def _temperature_celsius(reader: Reader, data: dict[str, Any], warnings: list[str]) -> None:
    # Packets 2..5 carry no unit byte: always 0.1 °C.
    data["temperature"] = int.from_bytes(reader.take(2, "temperature"), "big", signed=True) / 10
    data["temperatureUnit"] = "°C"


def _inclination(reader: Reader, data: dict[str, Any], warnings: list[str]) -> None:
    data["inclinationDegree"] = reader.uint(1, "inclination")


def _information(reader: Reader, data: dict[str, Any], warnings: list[str]) -> None:
    data["information"] = reader.uint(1, "information")


def _dtm(reader: Reader, data: dict[str, Any], warnings: list[str]) -> None:
    data["dtmId"] = reader.uint(4, "DTM id")
    data["manufacturerId"] = reader.uint(4, "manufacturer id")


def _device(reader: Reader, data: dict[str, Any], warnings: list[str]) -> None:
    data["deviceType"] = reader.uint(4, "device type")
    data["softwareVersion"] = ".".join(str(part) for part in reader.take(4, "software version"))


def _schedule(reader: Reader, data: dict[str, Any], warnings: list[str]) -> None:
    raw = reader.take(7, "schedule")
    days = (raw[0] >> 1) & 0x7F
    data["schedule"] = {
        "days": [name for bit, name in enumerate(WEEKDAYS) if days & (1 << bit)],
        "startTimeMinutes": (raw[0] & 0x01) << 10 | raw[1] << 2 | raw[2] >> 6,
        "endTimeMinutes": (raw[2] & 0x3F) << 5 | raw[3] >> 3,
        "measureIntervalMinutes": (raw[3] & 0x07) << 8 | raw[4],
        "transmissionIntervalMinutes": (raw[5] & 0x07) << 8 | raw[6],
    }
    data["changeCounter"] = reader.uint(2, "change counter")


def _scaled_range(reader: Reader, data: dict[str, Any], warnings: list[str]) -> None:
    data["scaledMin"] = reader.float32("scaled minimum")
    data["scaledMax"] = reader.float32("scaled maximum")


def _text(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("ascii", errors="replace")


def _names(reader: Reader, data: dict[str, Any], warnings: list[str]) -> None:
    data["deviceName"] = _text(reader.take(19, "device name"))
    data["deviceTag"] = _text(reader.take(19, "device tag"))


_LEGACY = (_namur, _distance, _remaining_power, _temperature_celsius)
_MEASURE = (_distance, _remaining_power)
PACKETS: dict[int, tuple[Field, ...]] = {
    2: (*_LEGACY, _inclination),
    3: (*_LEGACY, _gnss, _inclination),
    4: (*_LEGACY, _detail_state, _inclination),
    5: (*_LEGACY, _gnss, _detail_state, _inclination),
    6: (_namur, _gnss),
    7: (_namur, _detail_state),
    8: (*_MEASURE, _temperature, _inclination),
    9: (*_MEASURE, _gnss, _temperature, _inclination),
    10: (_namur, *_MEASURE, _detail_state, _temperature, _inclination),
    11: (_namur, *_MEASURE, _gnss, _detail_state, _temperature, _inclination),
    12: (_distance, _percent, _remaining_power, _temperature, _inclination),
    13: (_distance, _percent, _remaining_power, _gnss, _temperature, _inclination),
    14: (_namur, _distance, _percent, _remaining_power, _detail_state, _temperature, _inclination),
    15: (
        _namur,
        _distance,
        _percent,
        _remaining_power,
        _gnss,
        _detail_state,
        _temperature,
        _inclination,
    ),
    16: (_information, _dtm, _device, _schedule, _scaled_range),
    17: (_names,),
    18: (*_MEASURE, _temperature, _inclination),
    19: (_namur, *_MEASURE, _inclination),
    20: (_namur, _detail_state, _temperature),
    21: (_namur, _gnss),
    22: (_namur, _percent),
    23: (_namur, _information, _dtm),
    24: (_namur, _device),
    25: (_namur, _schedule),
    26: (_namur, _scaled_range),
}
"""Packet identifier → the fields that follow it, in order."""


def decode_vegapuls(payload: bytes, f_port: int) -> DecodeResult:
    """Decode one VEGAPULS Air uplink; the packet identifier in byte 0 selects the layout."""
    if f_port == 0:
        return DecodeResult.rejected("fPort 0 carries MAC commands, not application data")
    if not payload:
        return DecodeResult.rejected("empty payload: packet identifier expected at offset 0")
    fields = PACKETS.get(payload[0])
    if fields is None:
        return DecodeResult.rejected(f"unknown packet identifier {payload[0]} at offset 0")
    reader = Reader(payload)
    data: dict[str, Any] = {"packetIdentifier": payload[0]}
    warnings: list[str] = []
    try:
        for field in fields:
            field(reader, data, warnings)
    except TruncatedError as missing:
        return DecodeResult.rejected(f"truncated packet {payload[0]}: {missing}")
    if reader.at != len(payload):
        warnings.append(
            f"{len(payload) - reader.at} trailing bytes ignored after offset {reader.at}"
        )
    return DecodeResult(data=data, warnings=warnings)


CODECS: tuple[FunctionCodec, ...] = (FunctionCodec("vega/vegapuls-air-41", decode_vegapuls),)
"""The VEGA models decoded natively."""
