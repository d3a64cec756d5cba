"""Sensative Strips codec (Comfort, Guard, Drip, Presence): the Strips TLV report format.

fPort 1 is a report: a 2-byte history sequence number, then frames of one type byte and
fixed-size big-endian data; a type with bit 7 set is a value also stored in history. fPort 2
answers a history request: a start sequence number, then records of seconds-ago (4 bytes), a
type byte and its data. Names and nesting follow Sensative's decoder in the TTN device repository
(``temperature: {"value": °C}``, ``battery`` in %, ``closeProximityAlarm: {"value": bool}`` ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from stadsnav.codecs.base import DecodeResult, FunctionCodec

Reader = Callable[[bytes, int, dict[str, Any]], None]

DISINFECT_STATES = {0: "dirty", 1: "occupied", 2: "cleaning", 3: "clean"}


class Frame(NamedTuple):
    """How one report type is read: a label for messages, its data length and its reader."""

    label: str
    size: int
    read: Reader


def _tenths(payload: bytes, at: int) -> float:
    return int.from_bytes(payload[at : at + 2], "big", signed=True) / 10


def _u16(payload: bytes, at: int) -> int:
    return int.from_bytes(payload[at : at + 2], "big")


def _flag(key: str) -> Reader:
    def read(payload: bytes, at: int, data: dict[str, Any]) -> None:
        data[key] = {"value": bool(payload[at])}

    return read


def _count(key: str) -> Reader:
    def read(payload: bytes, at: int, data: dict[str, Any]) -> None:
        data[key] = {"value": _u16(payload, at)}

    return read


def _temperature(key: str) -> Reader:
    def read(payload: bytes, at: int, data: dict[str, Any]) -> None:
        data[key] = {"value": _tenths(payload, at)}

    return read


def _alarm_pair(key: str) -> Reader:
    def read(payload: bytes, at: int, data: dict[str, Any]) -> None:
        data[key] = {"highAlarm": bool(payload[at] & 0x01), "lowAlarm": bool(payload[at] & 0x02)}

    return read


def _empty(payload: bytes, at: int, data: dict[str, Any]) -> None:
    data["emptyFrame"] = {}


def _battery(payload: bytes, at: int, data: dict[str, Any]) -> None:
    data["battery"] = payload[at]


def _humidity(payload: bytes, at: int, data: dict[str, Any]) -> None:
    data["humidity"] = {"value": payload[at] / 2}


def _flood(payload: bytes, at: int, data: dict[str, Any]) -> None:
    data["flood"] = {"value": payload[at]}


def _oil(payload: bytes, at: int, data: dict[str, Any]) -> None:
    data["oilAlarm"] = {"value": payload[at]}
    # Older Strips called this the foil alarm; the TTN decoder reports both names.
    data["foilAlarm"] = {"value": bool(payload[at])}


def _disinfect(payload: bytes, at: int, data: dict[str, Any]) -> None:
    value = payload[at]
    data["disinfectAlarm"] = {"value": value, "state": DISINFECT_STATES.get(value)}


def _humidity_temperature(key: str) -> Reader:
    def read(payload: bytes, at: int, data: dict[str, Any]) -> None:
        data["humidity"] = {"value": payload[at] / 2}
        data[key] = {"value": _tenths(payload, at + 1)}

    return read


def _door_temperature(payload: bytes, at: int, data: dict[str, Any]) -> None:
    data["door"] = {"value": bool(payload[at])}
    data["temperature"] = {"value": _tenths(payload, at + 1)}


def _build_id(payload: bytes, at: int, data: dict[str, Any]) -> None:
    # A check-in: firmware build id (bit 31 marks a modified build), then four health counters.
    build = int.from_bytes(payload[at : at + 4], "big")
    data["buildId"] = {"id": build & 0x7FFFFFFF, "modified": bool(build >> 31)}
    data["startUpCount"] = {"value": payload[at + 4]}
    data["watchdogCount"] = {"value": payload[at + 5]}
    data["stackTxFailRebootCount"] = {"value": payload[at + 6]}
    data["badConditionsCounter"] = {"value": payload[at + 7]}


FRAMES: dict[int, Frame] = {
    0: Frame("empty", 0, _empty),
    1: Frame("battery", 1, _battery),
    2: Frame("temperature", 2, _temperature("temperature")),
    3: Frame("temperature alarm", 1, _alarm_pair("tempAlarm")),
    4: Frame("average temperature", 2, _temperature("averageTemperature")),
    5: Frame("average temperature alarm", 1, _alarm_pair("avgTempAlarm")),
    6: Frame("humidity", 1, _humidity),
    7: Frame("lux", 2, _count("lux")),
    8: Frame("lux2", 2, _count("lux2")),
    9: Frame("door", 1, _flag("door")),
    10: Frame("door alarm", 1, _flag("doorAlarm")),
    11: Frame("tamper report", 1, _flag("tamperReport")),
    12: Frame("tamper alarm", 1, _flag("tamperAlarm")),
    13: Frame("flood", 1, _flood),
    14: Frame("flood alarm", 1, _flag("floodAlarm")),
    15: Frame("oil alarm", 1, _oil),
    16: Frame("user switch alarm", 1, _flag("userSwitch1Alarm")),
    17: Frame("door count", 2, _count("doorCount")),
    18: Frame("presence", 1, _flag("presence")),
    19: Frame("IR proximity", 2, _count("IRproximity")),
    20: Frame("IR close proximity", 2, _count("IRcloseproximity")),
    21: Frame("close proximity alarm", 1, _flag("closeProximityAlarm")),
    22: Frame("disinfect alarm", 1, _disinfect),
    80: Frame("humidity and temperature", 3, _humidity_temperature("temperature")),
    81: Frame("humidity and average temperature", 3, _humidity_temperature("averageTemperature")),
    82: Frame("door and temperature", 3, _door_temperature),
    110: Frame("check-in", 8, _build_id),
    112: Frame("flood capacitance", 2, _count("capacitanceFlood")),
    113: Frame("pad capacitance", 2, _count("capacitancePad")),
    114: Frame("end capacitance", 2, _count("capacitanceEnd")),
}
"""Report type (bit 7 cleared) → frame, from Sensative's Strips LoRa protocol."""

HISTORY_FLAG = 0x80


class FrameError(ValueError):
    """A report frame that cannot be read."""


def _read_frame(payload: bytes, at: int, target: dict[str, Any]) -> int:
    """Read the frame whose type byte is at ``at`` into ``target``; return the next offset."""
    kind = payload[at]
    frame = FRAMES.get(kind & 0x7F)
    if frame is None:
        raise FrameError(f"unknown report type 0x{kind:02x} at byte {at}")
    start = at + 1
    end = start + frame.size
    if end > len(payload):
        raise FrameError(
            f"truncated frame at byte {at}: type 0x{kind:02x} ({frame.label}) needs "
            f"{frame.size} data bytes, only {len(payload) - start} remain"
        )
    frame.read(payload, start, target)
    return end


def _report(payload: bytes) -> dict[str, Any]:
    sequence = _u16(payload, 0)
    data: dict[str, Any] = {"historySeqNr": sequence, "prevHistSeqNr": sequence}
    at = 2
    while at < len(payload):
        if payload[at] & HISTORY_FLAG:
            data["prevHistSeqNr"] -= 1
        at = _read_frame(payload, at, data)
    return data


def _history(payload: bytes) -> dict[str, Any]:
    sequence = _u16(payload, 0)
    records: list[dict[str, Any]] = []
    at = 2
    while at < len(payload):
        if at + 5 > len(payload):
            raise FrameError(
                f"truncated history record at byte {at}: needs 4 time bytes and a type byte, "
                f"only {len(payload) - at} remain"
            )
        record: dict[str, Any] = {
            "seqNr": sequence + len(records),
            "secondsAgo": int.from_bytes(payload[at : at + 4], "big"),
        }
        at = _read_frame(payload, at + 4, record)
        records.append(record)
    return {"historySeqNr": sequence, "history": records}


PORTS: dict[int, Callable[[bytes], dict[str, Any]]] = {1: _report, 2: _history}


def decode_strips(payload: bytes, f_port: int) -> DecodeResult:
    """Decode one Strips uplink: a report on fPort 1, a history answer on fPort 2."""
    decode = PORTS.get(f_port)
    if decode is None:
        return DecodeResult.rejected(f"unsupported fPort {f_port}")
    if len(payload) < 2:
        return DecodeResult(
            errors=[f"payload of {len(payload)} bytes has no 2-byte history sequence number"]
        )
    try:
        return DecodeResult(data=decode(payload))
    except FrameError as error:
        return DecodeResult.rejected(str(error))


CODECS: tuple[FunctionCodec, ...] = (FunctionCodec("sensative/strips", decode_strips),)
"""All Strips variants share one id and one protocol in the TTN device repository."""
