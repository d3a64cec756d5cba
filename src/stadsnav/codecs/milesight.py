"""Milesight channel codecs (EM300, EM400, EM500, AM307, WS301, WS52x) from Milesight tables.

A payload is a sequence of channels: a channel-id byte, a channel-type byte, then a fixed number
of little-endian data bytes for that pair (``03 67`` temperature int16/10, ``04 68`` humidity
uint8/2 ...). History channels (``20 ce``) carry a uint32 Unix timestamp and a past reading and
are collected under ``history``. Output names and units follow the decoders in the TTN device
repository (vendor ``milesight-iot``); where that decoder lacks a channel, Milesight's own
SensorDecoders tables name it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, NamedTuple

from stadsnav.codecs.base import DecodeResult, FunctionCodec

Reader = Callable[[bytes, int, dict[str, Any]], None]
Layout = Callable[[bytes, int], dict[str, Any]]

LORAWAN_CLASSES = ("Class A", "Class B", "Class C", "Class CtoB")


class Frame(NamedTuple):
    """How one channel is read: a label for messages, its data length and its reader."""

    label: str
    size: int
    read: Reader


def _u8(payload: bytes, at: int) -> int:
    return payload[at]


def _u16(payload: bytes, at: int) -> int:
    return int.from_bytes(payload[at : at + 2], "little")


def _i16(payload: bytes, at: int) -> int:
    return int.from_bytes(payload[at : at + 2], "little", signed=True)


def _u32(payload: bytes, at: int) -> int:
    return int.from_bytes(payload[at : at + 4], "little")


def _i32(payload: bytes, at: int) -> int:
    return int.from_bytes(payload[at : at + 4], "little", signed=True)


def _value(key: str, convert: Callable[[bytes, int], Any]) -> Reader:
    def read(payload: bytes, at: int, data: dict[str, Any]) -> None:
        data[key] = convert(payload, at)

    return read


def _temperature(payload: bytes, at: int) -> float:
    return _i16(payload, at) / 10


def _humidity(payload: bytes, at: int) -> float:
    return payload[at] / 2


def _choice(off: str, on: str) -> Callable[[bytes, int], str]:
    """Byte 0 → ``off``, anything else → ``on``, as Milesight's decoders map two-state bytes."""

    def convert(payload: bytes, at: int) -> str:
        return off if payload[at] == 0 else on

    return convert


def _history(layout: Layout) -> Reader:
    def read(payload: bytes, at: int, data: dict[str, Any]) -> None:
        point = {"timestamp": _u32(payload, at)}
        point.update(layout(payload, at + 4))
        data.setdefault("history", []).append(point)

    return read


def _alarm(value_key: str, flag_key: str, convert: Callable[[bytes, int], Any]) -> Reader:
    """A reading followed by a status byte, 1 when the reading crossed its alarm threshold."""

    def read(payload: bytes, at: int, data: dict[str, Any]) -> None:
        data[value_key] = convert(payload, at)
        data[flag_key] = payload[at + 2] != 0

    return read


def _version(payload: bytes, at: int) -> str:
    return f"v{payload[at]}.{payload[at + 1]}"


def _hardware_version(payload: bytes, at: int) -> str:
    return f"v{payload[at]}.{payload[at + 1] >> 4}"


def _ipso_version(payload: bytes, at: int) -> str:
    return f"v{payload[at] >> 4}.{payload[at] & 0x0F}"


def _serial(payload: bytes, at: int) -> str:
    return payload[at : at + 8].hex()


def _lorawan_class(payload: bytes, at: int) -> str:
    index = payload[at]
    return LORAWAN_CLASSES[index] if index < len(LORAWAN_CLASSES) else f"unknown ({index})"


ATTRIBUTES: dict[tuple[int, int], Frame] = {
    (0xFF, 0x01): Frame("ipso version", 1, _value("ipso_version", _ipso_version)),
    (0xFF, 0x09): Frame("hardware version", 2, _value("hardware_version", _hardware_version)),
    (0xFF, 0x0A): Frame("firmware version", 2, _value("firmware_version", _version)),
    (0xFF, 0x0B): Frame("device status", 1, _value("device_status", lambda p, a: "on")),
    (0xFF, 0x0F): Frame("lorawan class", 1, _value("lorawan_class", _lorawan_class)),
    (0xFF, 0x16): Frame("serial number", 8, _value("sn", _serial)),
    (0xFF, 0xFF): Frame("tsl version", 2, _value("tsl_version", _version)),
}
"""Device-information channels every Milesight sensor sends after joining."""

BATTERY = {(0x01, 0x75): Frame("battery", 1, _value("battery", _u8))}
TEMPERATURE = {(0x03, 0x67): Frame("temperature", 2, _value("temperature", _temperature))}
HUMIDITY = {(0x04, 0x68): Frame("humidity", 1, _value("humidity", _humidity))}


def _th_point(extra: str | None, convert: Callable[[bytes, int], Any]) -> Layout:
    """EM300 history: temperature, humidity, then one byte (reserved on the EM300-TH)."""

    def layout(payload: bytes, at: int) -> dict[str, Any]:
        point = {"temperature": _temperature(payload, at), "humidity": _humidity(payload, at + 2)}
        if extra is not None:
            point[extra] = convert(payload, at + 3)
        return point

    return layout


def _em300(extra: dict[tuple[int, int], Frame], history: Layout) -> dict[tuple[int, int], Frame]:
    return {
        **ATTRIBUTES,
        **BATTERY,
        **TEMPERATURE,
        **HUMIDITY,
        **extra,
        (0x20, 0xCE): Frame("history", 8, _history(history)),
    }


def _di_point(payload: bytes, at: int) -> dict[str, Any]:
    # EM300-DI history: gpio_type 1 carries the gpio level, 2 the pulse counter.
    point: dict[str, Any] = {
        "temperature": _temperature(payload, at),
        "humidity": _humidity(payload, at + 2),
    }
    mode = payload[at + 3]
    if mode == 1:
        point["gpio"] = payload[at + 4]
    elif mode == 2:
        point["pulse"] = _u32(payload, at + 5)
    return point


def _am307_point(payload: bytes, at: int) -> dict[str, Any]:
    # AM307 history humidity is uint16/2, unlike the live channel's uint8/2.
    return {
        "temperature": _temperature(payload, at),
        "humidity": _u16(payload, at + 2) / 2,
        "pir": "trigger" if payload[at + 4] == 1 else "idle",
        "light_level": payload[at + 5],
        "co2": _u16(payload, at + 6),
        "tvoc": _u16(payload, at + 8),
        "pressure": _u16(payload, at + 10) / 10,
    }


def _one(key: str, convert: Callable[[bytes, int], Any]) -> Layout:
    def layout(payload: bytes, at: int) -> dict[str, Any]:
        return {key: convert(payload, at)}

    return layout


def _metres(payload: bytes, at: int) -> float:
    return _i16(payload, at) / 1000


def _scaled16(divisor: int) -> Callable[[bytes, int], float]:
    def convert(payload: bytes, at: int) -> float:
        return _u16(payload, at) / divisor

    return convert


EM300_TH = _em300({}, _th_point(None, _u8))
EM300_MCS = _em300(
    {(0x06, 0x00): Frame("magnet", 1, _value("magnet", _u8))}, _th_point("magnet", _u8)
)
_LEAK = _choice("normal", "leak")
EM300_SLD = _em300(
    {(0x05, 0x00): Frame("water leak", 1, _value("water_leak", _LEAK))},
    _th_point("water_leak", _LEAK),
)
EM300_DI = {
    **ATTRIBUTES,
    **BATTERY,
    **TEMPERATURE,
    **HUMIDITY,
    (0x05, 0x00): Frame("gpio", 1, _value("gpio", _u8)),
    (0x05, 0xC8): Frame("pulse counter", 4, _value("pulse", _u32)),
    (0x20, 0xCE): Frame("history", 13, _history(_di_point)),
}
EM400 = {
    **ATTRIBUTES,
    **BATTERY,
    **TEMPERATURE,
    (0x04, 0x82): Frame("distance", 2, _value("distance", _u16)),
    (0x05, 0x00): Frame("position", 1, _value("position", _choice("normal", "tilt"))),
    (0x83, 0x67): Frame(
        "temperature abnormal", 3, _alarm("temperature", "temperature_abnormal", _temperature)
    ),
    (0x84, 0x82): Frame("distance alarm", 3, _alarm("distance", "distance_alarming", _u16)),
}
EM500_PT100 = {
    **ATTRIBUTES,
    **BATTERY,
    **TEMPERATURE,
    (0x20, 0xCE): Frame("history", 6, _history(_one("temperature", _temperature))),
}
EM500_SWL = {
    **ATTRIBUTES,
    **BATTERY,
    (0x03, 0x77): Frame("water level", 2, _value("level", _u16)),
    (0x20, 0xCE): Frame("history", 6, _history(_one("level", _u16))),
}
EM500_UDL = {
    **ATTRIBUTES,
    **BATTERY,
    (0x03, 0x82): Frame("distance", 2, _value("distance", _metres)),
    (0x20, 0xCE): Frame("history", 6, _history(_one("distance", _metres))),
}
AM307 = {
    **ATTRIBUTES,
    **BATTERY,
    **TEMPERATURE,
    **HUMIDITY,
    (0x05, 0x00): Frame("pir", 1, _value("pir", _choice("idle", "trigger"))),
    (0x06, 0xCB): Frame("light level", 1, _value("light_level", _u8)),
    (0x07, 0x7D): Frame("co2", 2, _value("co2", _u16)),
    (0x08, 0x7D): Frame("tvoc", 2, _value("tvoc", _u16)),
    (0x09, 0x73): Frame("pressure", 2, _value("pressure", _scaled16(10))),
    (0x0A, 0x7D): Frame("hcho", 2, _value("hcho", _scaled16(100))),
    (0x0B, 0x7D): Frame("pm2.5", 2, _value("pm2_5", _u16)),
    (0x0C, 0x7D): Frame("pm10", 2, _value("pm10", _u16)),
    (0x0D, 0x7D): Frame("o3", 2, _value("o3", _scaled16(100))),
    (0x0E, 0x01): Frame("beep", 1, _value("beep", lambda p, a: "yes" if p[a] == 1 else "no")),
    (0x20, 0xCE): Frame("history", 16, _history(_am307_point)),
}
WS301 = {
    **ATTRIBUTES,
    **BATTERY,
    (0x03, 0x00): Frame("door", 1, _value("door", _choice("close", "open"))),
    (0x04, 0x00): Frame("install", 1, _value("install", _choice("yes", "no"))),
}
WS52X = {
    **ATTRIBUTES,
    (0x03, 0x74): Frame("voltage", 2, _value("voltage", _scaled16(10))),
    (0x04, 0x80): Frame("active power", 4, _value("active_power", _i32)),
    (0x05, 0x81): Frame("power factor", 1, _value("power", _u8)),
    (0x06, 0x83): Frame("energy", 4, _value("energy", _u32)),
    (0x07, 0xC9): Frame("current", 2, _value("current", _u16)),
    (0x08, 0x70): Frame("socket state", 1, _value("button", _choice("close", "open"))),
}

MODELS: dict[str, Mapping[tuple[int, int], Frame]] = {
    "am307": AM307,
    "em300-di": EM300_DI,
    "em300-mcs": EM300_MCS,
    "em300-sld": EM300_SLD,
    "em300-th": EM300_TH,
    "em300-zld": EM300_SLD,
    "em400-tld": EM400,
    "em400-udl": EM400,
    "em500-pt100": EM500_PT100,
    "em500-swl": EM500_SWL,
    "em500-udl": EM500_UDL,
    "ws301": WS301,
    "ws52x": WS52X,
}
"""TTN model id (vendor ``milesight-iot``) → its channel table."""


def decode_milesight(payload: bytes, frames: Mapping[tuple[int, int], Frame]) -> DecodeResult:
    """Decode channel frames with one model's table; any bad channel rejects the whole payload."""
    end = len(payload)
    if end == 0:
        return DecodeResult.rejected("empty payload")
    data: dict[str, Any] = {}
    at = 0
    while at < end:
        if at + 2 > end:
            return DecodeResult.rejected(
                f"truncated channel at byte {at}: need channel id and type, 1 byte left"
            )
        channel, kind = payload[at], payload[at + 1]
        frame = frames.get((channel, kind))
        if frame is None:
            return DecodeResult.rejected(
                f"unknown channel 0x{channel:02x} type 0x{kind:02x} at byte {at}"
            )
        start = at + 2
        at = start + frame.size
        if at > end:
            return DecodeResult.rejected(
                f"truncated channel at byte {start - 2}: {channel:02x} {kind:02x} ({frame.label}) "
                f"needs {frame.size} data bytes, only {end - start} remain"
            )
        frame.read(payload, start, data)
    return DecodeResult(data=data)


def decode_channels(
    frames: Mapping[tuple[int, int], Frame], payload: bytes, f_port: int
) -> DecodeResult:
    """Decode one uplink with ``frames``; Milesight uses fPort 85, but any port but 0 is read."""
    if f_port == 0:
        return DecodeResult.rejected("fPort 0 carries MAC commands, not a Milesight payload")
    return decode_milesight(payload, frames)


def milesight_codecs(
    models: Mapping[str, Mapping[tuple[int, int], Frame]],
) -> tuple[FunctionCodec, ...]:
    """One codec per model with its channel table, under its TTN id (``milesight-iot/<model>``)."""
    return tuple(
        FunctionCodec(f"milesight-iot/{model}", partial(decode_channels, frames))
        for model, frames in models.items()
    )


CODECS: tuple[FunctionCodec, ...] = milesight_codecs(MODELS)
"""One codec instance per Milesight model id."""
