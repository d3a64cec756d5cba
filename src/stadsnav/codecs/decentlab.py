"""Decentlab protocol-v2 payload codec (DL-DS18, DL-CTD10, DL-PR36CTD, DL-SMTP, DL-TP).

Every Decentlab device sends the same frame: version byte ``0x02``, a big-endian uint16 device id,
a uint16 of flags (bit *i* set: sensor group *i* follows), then each present group as big-endian
uint16 words, the battery group last. Per-device formulas, names and units are those of
Decentlab's published decoders as shipped in the TTN device repository; values are given flat
(``{"temperature": 21.875}``), not as that decoder's ``{displayName, value, unit}`` objects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stadsnav.codecs.base import DecodeResult

PROTOCOL_VERSION = 2
HEADER_SIZE = 5
OFFSET = 32768
"""Decentlab's signed values are uint16 words with 32768 as zero."""

Convert = Callable[[Sequence[int]], float]


@dataclass(frozen=True, slots=True)
class Value:
    """One decoded quantity: its output name, unit and formula over the group's words."""

    name: str
    unit: str | None
    convert: Convert


@dataclass(frozen=True, slots=True)
class SensorGroup:
    """A flag bit's worth of data: ``length`` uint16 words and the values computed from them."""

    length: int
    values: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class DecentlabDevice:
    """A Decentlab model: its name and its sensor groups in flag-bit order."""

    model: str
    groups: tuple[SensorGroup, ...]


def _linear(
    name: str, index: int, *, offset: int = 0, divisor: int = 1, unit: str | None = None
) -> Value:
    def convert(words: Sequence[int]) -> float:
        raw = words[index] - offset
        # Integer-valued quantities (depth in mm, flags) stay ints, as in Decentlab's decoder.
        return raw if divisor == 1 else raw / divisor

    return Value(name, unit, convert)


BATTERY = SensorGroup(1, (_linear("battery_voltage", 0, divisor=1000, unit="V"),))


def _levels(name: str, count: int, divisor: int, unit: str) -> SensorGroup:
    values = tuple(
        _linear(f"{name}_{level}", level, offset=OFFSET, divisor=divisor, unit=unit)
        for level in range(count)
    )
    return SensorGroup(count, values)


def _soil_profile(depths: int) -> SensorGroup:
    values: list[Value] = []
    for depth in range(depths):
        values.append(
            _linear(f"soil_moisture_at_depth_{depth}", 2 * depth, offset=2500, divisor=500)
        )
        values.append(
            _linear(
                f"soil_temperature_at_depth_{depth}",
                2 * depth + 1,
                offset=OFFSET,
                divisor=100,
                unit="°C",
            )
        )
    return SensorGroup(2 * depths, tuple(values))


DS18 = DecentlabDevice(
    "DL-DS18",
    (
        SensorGroup(1, (_linear("temperature", 0, offset=OFFSET, divisor=16, unit="°C"),)),
        BATTERY,
    ),
)
CTD10 = DecentlabDevice(
    "DL-CTD10",
    (
        SensorGroup(
            4,
            (
                _linear("water_depth", 0, offset=OFFSET, unit="mm"),
                _linear("temperature", 1, offset=OFFSET, divisor=10, unit="°C"),
                _linear("electrical_conductivity", 2, unit="µS⋅cm⁻¹"),
                _linear("freezing_flag", 3),
            ),
        ),
        BATTERY,
    ),
)
# The TTN profile of DL-PR36CTD uses Decentlab's decoder with kp = 8192 (dl-pr36ctd-8192).
PR36CTD = DecentlabDevice(
    "DL-PR36CTD",
    (
        SensorGroup(
            4,
            (
                _linear("pressure", 0, offset=OFFSET, divisor=8192, unit="bar"),
                _linear("temperature_electronics", 1, offset=OFFSET, divisor=256, unit="°C"),
                _linear("temperature_pt1000", 2, offset=OFFSET, divisor=256, unit="°C"),
                _linear("electrical_conductivity", 3, offset=OFFSET, divisor=1024, unit="mS⋅cm⁻¹"),
            ),
        ),
        BATTERY,
    ),
)
SMTP = DecentlabDevice("DL-SMTP", (_soil_profile(8), BATTERY))
TP = DecentlabDevice("DL-TP", (_levels("temperature_at_level", 16, 100, "°C"), BATTERY))

DECENTLAB_DEVICES: dict[str, DecentlabDevice] = {
    "dl-ctd10": CTD10,
    "dl-ds18": DS18,
    "dl-pr36ctd": PR36CTD,
    "dl-smtp": SMTP,
    "dl-tp": TP,
}
"""TTN device-repository model id → device description."""


def _header_error(device: DecentlabDevice, payload: bytes) -> str | None:
    if len(payload) < HEADER_SIZE:
        return (
            f"truncated header: {device.model} frames start with {HEADER_SIZE} bytes "
            f"(version, device id, flags), got {len(payload)}"
        )
    if payload[0] != PROTOCOL_VERSION:
        return f"protocol version {payload[0]} at byte 0, expected {PROTOCOL_VERSION}"
    flags = int.from_bytes(payload[3:5], "big")
    unknown = flags >> len(device.groups)
    if unknown:
        return (
            f"flags 0x{flags:04x} announce sensor groups {device.model} does not have "
            f"(it has {len(device.groups)})"
        )
    return None


def decode_decentlab(device: DecentlabDevice, payload: bytes) -> DecodeResult:
    """Decode one protocol-v2 frame for ``device``; any malformed frame is rejected whole."""
    problem = _header_error(device, payload)
    if problem:
        return DecodeResult.rejected(problem)
    flags = int.from_bytes(payload[3:5], "big")
    data: dict[str, Any] = {
        "protocol_version": PROTOCOL_VERSION,
        "device_id": int.from_bytes(payload[1:3], "big"),
    }
    at = HEADER_SIZE
    end = len(payload)
    for bit, group in enumerate(device.groups):
        if not flags >> bit & 1:
            continue
        stop = at + 2 * group.length
        if stop > end:
            return DecodeResult.rejected(
                f"truncated sensor group {bit} at byte {at}: needs {2 * group.length} bytes, "
                f"only {end - at} remain"
            )
        words = [int.from_bytes(payload[i : i + 2], "big") for i in range(at, stop, 2)]
        for value in group.values:
            data[value.name] = value.convert(words)
        at = stop
    if at != end:
        return DecodeResult.rejected(
            f"{end - at} unexpected bytes after the last sensor group, at byte {at}"
        )
    return DecodeResult(data=data)


@dataclass(frozen=True, slots=True)
class DecentlabCodec:
    """The Decentlab decoder for one model, under its TTN id (``decentlab/<model>``)."""

    id: str
    device: DecentlabDevice

    def decode_uplink(
        self, payload: bytes, f_port: int, recv_time: datetime | None = None
    ) -> DecodeResult:
        """Decode one uplink; the frame describes itself, so the fPort is not consulted."""
        return decode_decentlab(self.device, bytes(payload))


CODECS: tuple[DecentlabCodec, ...] = tuple(
    DecentlabCodec(f"decentlab/{model}", device) for model, device in DECENTLAB_DEVICES.items()
)
"""One codec instance per Decentlab model id."""
