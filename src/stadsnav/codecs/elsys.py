"""Elsys TLV payload codec (ERS, ELT, EMS families), from Elsys' published payload structure.

A payload is a sequence of frames: one type byte, then a fixed number of big-endian data bytes
for that type. Output names follow Elsys' generic decoder as shipped in the TTN device
repository (``temperature``, ``vdd``, ``externalTemperature`` ...); units are those of the
specification (°C, %RH, lux, ppm, mV, mm, hPa, dB).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

from stadsnav.codecs.base import DecodeResult, FunctionCodec

Reader = Callable[[bytes, int, dict[str, Any]], None]

SETTINGS_TYPE = 0x3E

ELSYS_MODELS: tuple[str, ...] = (
    "elt-2",
    "elt-lite",
    "elt-ultrasonic",
    "ems",
    "ems-desk",
    "ems-door",
    "ems-lite",
    "ers",
    "ers-co2",
    "ers-co2-lite",
    "ers-eye",
    "ers-lite",
    "ers-sound",
    "ers-voc",
)
"""Model ids under vendor ``elsys`` in the TTN device repository; all share one decoder."""


class Frame(NamedTuple):
    """How one type byte is read: a label for messages, its data length and its reader."""

    label: str
    size: int
    read: Reader


def _unsigned(key: str, size: int) -> Reader:
    def read(payload: bytes, at: int, data: dict[str, Any]) -> None:
        data[key] = int.from_bytes(payload[at : at + size], "big")

    return read


def _byte(key: str) -> Reader:
    def read(payload: bytes, at: int, data: dict[str, Any]) -> None:
        data[key] = payload[at]

    return read


def _signed(key: str, size: int) -> Reader:
    def read(payload: bytes, at: int, data: dict[str, Any]) -> None:
        data[key] = int.from_bytes(payload[at : at + size], "big", signed=True)

    return read


def _scaled(key: str, size: int, divisor: int, *, signed: bool) -> Reader:
    def read(payload: bytes, at: int, data: dict[str, Any]) -> None:
        data[key] = int.from_bytes(payload[at : at + size], "big", signed=signed) / divisor

    return read


def _int8(value: int) -> int:
    return value - 256 if value > 127 else value


def _read_acc(payload: bytes, at: int, data: dict[str, Any]) -> None:
    # ±63 counts is 1 g; the generic decoder reports raw counts, so do we.
    data["x"] = _int8(payload[at])
    data["y"] = _int8(payload[at + 1])
    data["z"] = _int8(payload[at + 2])


def _read_gps(payload: bytes, at: int, data: dict[str, Any]) -> None:
    # Elsys packs GPS little-endian, unlike every other frame: signed 24-bit, 1/10000 degree.
    data["lat"] = int.from_bytes(payload[at : at + 3], "little", signed=True) / 10000
    data["long"] = int.from_bytes(payload[at + 3 : at + 6], "little", signed=True) / 10000


def _read_ir_temp(payload: bytes, at: int, data: dict[str, Any]) -> None:
    data["irInternalTemperature"] = int.from_bytes(payload[at : at + 2], "big", signed=True) / 10
    data["irExternalTemperature"] = (
        int.from_bytes(payload[at + 2 : at + 4], "big", signed=True) / 10
    )


def _read_grideye(payload: bytes, at: int, data: dict[str, Any]) -> None:
    ref = payload[at]
    data["grideye"] = [ref + pixel / 10 for pixel in payload[at + 1 : at + 65]]


def _read_sound(payload: bytes, at: int, data: dict[str, Any]) -> None:
    data["soundPeak"] = payload[at]
    data["soundAvg"] = payload[at + 1]


def _read_ext_temp2(payload: bytes, at: int, data: dict[str, Any]) -> None:
    # An ELT with several probes repeats 0x19; the generic decoder then gives a list.
    value = int.from_bytes(payload[at : at + 2], "big", signed=True) / 10
    previous = data.get("externalTemperature2")
    if previous is None:
        data["externalTemperature2"] = value
    elif isinstance(previous, list):
        previous.append(value)
    else:
        data["externalTemperature2"] = [previous, value]


FRAMES: dict[int, Frame] = {
    0x01: Frame("temperature", 2, _scaled("temperature", 2, 10, signed=True)),
    0x02: Frame("humidity", 1, _byte("humidity")),
    0x03: Frame("acceleration", 3, _read_acc),
    0x04: Frame("light", 2, _unsigned("light", 2)),
    0x05: Frame("motion", 1, _byte("motion")),
    0x06: Frame("co2", 2, _unsigned("co2", 2)),
    0x07: Frame("vdd", 2, _unsigned("vdd", 2)),
    0x08: Frame("analog1", 2, _unsigned("analog1", 2)),
    0x09: Frame("gps", 6, _read_gps),
    0x0A: Frame("pulse1", 2, _unsigned("pulse1", 2)),
    0x0B: Frame("pulse1 absolute", 4, _unsigned("pulseAbs", 4)),
    0x0C: Frame("external temperature", 2, _scaled("externalTemperature", 2, 10, signed=True)),
    0x0D: Frame("digital", 1, _byte("digital")),
    0x0E: Frame("distance", 2, _unsigned("distance", 2)),
    0x0F: Frame("acc motion", 1, _byte("accMotion")),
    0x10: Frame("IR temperature", 4, _read_ir_temp),
    0x11: Frame("occupancy", 1, _byte("occupancy")),
    0x12: Frame("waterleak", 1, _byte("waterleak")),
    0x13: Frame("grideye", 65, _read_grideye),
    0x14: Frame("pressure", 4, _scaled("pressure", 4, 1000, signed=False)),
    0x15: Frame("sound", 2, _read_sound),
    0x16: Frame("pulse2", 2, _unsigned("pulse2", 2)),
    0x17: Frame("pulse2 absolute", 4, _unsigned("pulseAbs2", 4)),
    0x18: Frame("analog2", 2, _unsigned("analog2", 2)),
    0x19: Frame("external temperature 2", 2, _read_ext_temp2),
    0x1A: Frame("digital2", 1, _byte("digital2")),
    0x1B: Frame("analog uV", 4, _signed("analogUv", 4)),
    0x1C: Frame("tvoc", 2, _unsigned("tvoc", 2)),
    0x3D: Frame("debug", 4, _unsigned("debug", 4)),
}
"""Type byte → frame; data lengths and signedness from Elsys' payload structure document."""


def _settings(payload: bytes, at: int, data: dict[str, Any]) -> DecodeResult:
    """A 0x3E frame: a length byte, then that many bytes of settings, which we do not decode."""
    if at + 1 >= len(payload):
        return DecodeResult.rejected(
            f"truncated frame at byte {at}: type 0x3e (settings) has no length byte"
        )
    length = payload[at + 1]
    remaining = len(payload) - at - 2
    if length > remaining:
        return DecodeResult.rejected(
            f"truncated frame at byte {at}: type 0x3e (settings) needs {length} data bytes, "
            f"only {remaining} remain"
        )
    return DecodeResult(
        data=data, warnings=[f"settings frame at byte {at} ({length} bytes) not decoded"]
    )


def decode_elsys(payload: bytes) -> DecodeResult:
    """Decode an Elsys TLV payload; any truncated or unknown frame rejects the whole payload."""
    end = len(payload)
    if end == 0:
        return DecodeResult.rejected("empty payload")
    data: dict[str, Any] = {}
    at = 0
    while at < end:
        kind = payload[at]
        frame = FRAMES.get(kind)
        if frame is None:
            if kind == SETTINGS_TYPE:
                return _settings(payload, at, data)
            return DecodeResult.rejected(f"unknown type byte 0x{kind:02x} at byte {at}")
        start = at + 1
        at = start + frame.size
        if at > end:
            return DecodeResult.rejected(
                f"truncated frame at byte {start - 1}: type 0x{kind:02x} ({frame.label}) "
                f"needs {frame.size} data bytes, only {end - start} remain"
            )
        frame.read(payload, start, data)
    return DecodeResult(data=data)


def _decode_uplink(payload: bytes, f_port: int) -> DecodeResult:
    """Elsys frames are the same on every fPort, so the port is unused."""
    return decode_elsys(payload)


ElsysCodec = partial(FunctionCodec, decode=_decode_uplink)
"""The Elsys TLV decoder under a given id (``elsys/<model>``), also for plugin packages."""

CODECS: tuple[FunctionCodec, ...] = tuple(ElsysCodec(f"elsys/{model}") for model in ELSYS_MODELS)
"""One codec instance per Elsys model id."""
