"""Lift an ``Uplink`` out of a network server's envelope: The Things Stack v3, ChirpStack v4."""

from __future__ import annotations

import binascii
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson

from stadsnav.model.uplink import Uplink

TTS_V3 = "tts_v3"
CHIRPSTACK_V4 = "chirpstack_v4"

_DEV_EUI = re.compile(r"[0-9A-Fa-f]{16}", re.ASCII)
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))?",
    re.ASCII,
)
# The common form, UTC with a Z, goes straight to fromisoformat once cut to microseconds.
_RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z", re.ASCII)
# The Things Stack sends these instead of ``uplink_message`` for other application-layer events.
_TTS_OTHER_MESSAGES = (
    "join_accept",
    "downlink_ack",
    "downlink_nack",
    "downlink_sent",
    "downlink_failed",
    "downlink_queued",
    "downlink_queue_invalidated",
    "location_solved",
    "service_data",
)
# Keys only a ChirpStack v4 ``up`` event carries; any of them means "this is meant as an uplink".
_CHIRPSTACK_UP_KEYS = ("fPort", "data", "fCnt", "rxInfo", "txInfo", "dr", "adr", "confirmed")
# Keys that give away the other ChirpStack v4 event types, checked in this order.
_CHIRPSTACK_EVENT_KEYS = (
    ("status", ("margin", "batteryLevel", "batteryLevelUnavailable", "externalPowerSource")),
    ("log", ("level", "code", "description")),
    ("ack", ("acknowledged",)),
    ("txack", ("downlinkId", "queueItemId", "fCntDown")),
    ("location", ("location",)),
    ("integration", ("integrationName", "eventType")),
    ("join", ("devAddr",)),
)


class EnvelopeError(ValueError):
    """The bytes are not a usable uplink envelope; ``reason`` says what is wrong and where."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_uplink(body: bytes, fmt: str = "auto") -> Uplink:
    """Parse one uplink envelope; ``fmt`` is ``tts_v3``, ``chirpstack_v4`` or ``auto``."""
    doc = _load_object(body)
    network = _resolve_format(doc, fmt)
    if network == TTS_V3:
        return _parse_tts_v3(doc)
    return _parse_chirpstack_v4(doc)


def detect_format(doc: dict[str, Any]) -> str | None:
    """Which envelope format a decoded JSON object is in, from its keys; None if unknown."""
    if "end_device_ids" in doc or "uplink_message" in doc:
        return TTS_V3
    if "deviceInfo" in doc:
        return CHIRPSTACK_V4
    return None


def _load_object(body: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise EnvelopeError(f"invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise EnvelopeError(f"envelope is not a JSON object but {_json_type(doc)}")
    return doc


def _resolve_format(doc: dict[str, Any], fmt: str) -> str:
    if fmt in (TTS_V3, CHIRPSTACK_V4):
        return fmt
    if fmt != "auto":
        raise EnvelopeError(f"unknown envelope format {fmt!r}: use tts_v3, chirpstack_v4 or auto")
    network = detect_format(doc)
    if network is None:
        raise EnvelopeError(_unknown_shape(doc))
    return network


def _unknown_shape(doc: dict[str, Any]) -> str:
    if "devEUI" in doc and "applicationID" in doc:
        return "unknown envelope shape: looks like ChirpStack v3, which is not supported"
    keys = ", ".join(sorted(doc)[:8]) or "none"
    return (
        "unknown envelope shape: neither The Things Stack v3 (end_device_ids, uplink_message) "
        f"nor ChirpStack v4 (deviceInfo); top-level keys: {keys}"
    )


def _parse_tts_v3(doc: dict[str, Any]) -> Uplink:
    # Well-formed fields are taken directly; anything else goes through the checked readers,
    # which raise the precise error.
    ids = doc.get("end_device_ids")
    message = doc.get("uplink_message")
    if type(ids) is not dict or type(message) is not dict:
        ids, message = _tts_parts(doc)
    dev_eui = ids.get("dev_eui")
    if type(dev_eui) is str and _DEV_EUI.fullmatch(dev_eui) is not None:
        dev_eui = dev_eui.lower()
    else:
        dev_eui = _dev_eui(ids, "dev_eui", "end_device_ids.dev_eui")
    f_cnt = message.get("f_cnt")
    if type(f_cnt) is not int or f_cnt < 0:
        f_cnt = _optional_uint(message, "f_cnt", "uplink_message.f_cnt")
    received_at = _tts_received_at(doc, message)
    message_id = _tts_correlation_id(doc, message) or _fallback_id(dev_eui, f_cnt, received_at)
    device_id = ids.get("device_id")
    if type(device_id) is not str:
        device_id = _optional_str(ids, "device_id", "end_device_ids.device_id")
    f_port = message.get("f_port")
    if type(f_port) is not int or not 0 < f_port <= 255:
        f_port = _f_port(message, "f_port", "uplink_message.f_port")
    payload: Any = message.get("frm_payload")
    try:
        payload = binascii.a2b_base64(payload, strict_mode=True)
    except (TypeError, ValueError):
        payload = _base64(message, "frm_payload", "uplink_message.frm_payload")
    return Uplink(
        network=TTS_V3,
        message_id=message_id,
        dev_eui=dev_eui,
        device_id=device_id,
        f_port=f_port,
        payload=payload,
        received_at=received_at,
        f_cnt=f_cnt,
    )


def _tts_parts(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    ids = _object(doc, "end_device_ids", "end_device_ids")
    if doc.get("uplink_message") is None:
        _reject_other_tts_message(doc)
    return ids, _object(doc, "uplink_message", "uplink_message")


def _reject_other_tts_message(doc: dict[str, Any]) -> None:
    for key in _TTS_OTHER_MESSAGES:
        if key in doc:
            raise EnvelopeError(f"not an uplink: The Things Stack '{key}' message")


def _tts_received_at(doc: dict[str, Any], message: dict[str, Any]) -> datetime:
    value = message.get("received_at")
    if type(value) is str and _RFC3339_UTC.fullmatch(value) is not None:
        try:
            return _utc_time(value)
        except ValueError:
            pass  # _time below words the error
    if value is not None:
        return _time(message, "received_at", "uplink_message.received_at")
    if doc.get("received_at") is not None:
        return _time(doc, "received_at", "received_at")
    raise EnvelopeError("uplink_message.received_at is missing, and so is received_at")


def _tts_correlation_id(doc: dict[str, Any], message: dict[str, Any]) -> str | None:
    for ids in (doc.get("correlation_ids"), message.get("correlation_ids")):
        if isinstance(ids, list):
            for entry in ids:
                if isinstance(entry, str) and entry.startswith("as:up:"):
                    return entry
    return None


def _parse_chirpstack_v4(doc: dict[str, Any]) -> Uplink:
    info = _object(doc, "deviceInfo", "deviceInfo")
    if not any(key in doc for key in _CHIRPSTACK_UP_KEYS):
        raise EnvelopeError(f"not an uplink: ChirpStack '{_chirpstack_event(doc)}' event")
    dev_eui = _dev_eui(info, "devEui", "deviceInfo.devEui")
    f_cnt = _optional_uint(doc, "fCnt", "fCnt")
    received_at = _chirpstack_received_at(doc)
    dedup_id = doc.get("deduplicationId")
    if not isinstance(dedup_id, str) or not dedup_id:
        dedup_id = _fallback_id(dev_eui, f_cnt, received_at)
    return Uplink(
        network=CHIRPSTACK_V4,
        message_id=dedup_id,
        dev_eui=dev_eui,
        device_id=_optional_str(info, "deviceName", "deviceInfo.deviceName"),
        f_port=_f_port(doc, "fPort", "fPort"),
        payload=_base64(doc, "data", "data"),
        received_at=received_at,
        f_cnt=f_cnt,
    )


def _chirpstack_event(doc: dict[str, Any]) -> str:
    for event, keys in _CHIRPSTACK_EVENT_KEYS:
        if any(key in doc for key in keys):
            return event
    return "unknown"


def _chirpstack_received_at(doc: dict[str, Any]) -> datetime:
    if doc.get("time") is not None:
        return _time(doc, "time", "time")
    rx_info = doc.get("rxInfo")
    if isinstance(rx_info, list):
        for index, rx in enumerate(rx_info):
            if not isinstance(rx, dict):
                continue
            # ChirpStack 4.0 still called the gateway's time ``time``; later 4.x say ``gwTime``.
            for key in ("nsTime", "gwTime", "time"):
                if rx.get(key) is not None:
                    return _time(rx, key, f"rxInfo[{index}].{key}")
    raise EnvelopeError("time is missing, and no rxInfo[] entry has nsTime or gwTime")


def _fallback_id(dev_eui: str, f_cnt: int | None, received_at: datetime) -> str:
    counter = "-" if f_cnt is None else str(f_cnt)
    return f"{dev_eui}:{counter}:{received_at.isoformat()}"


def _object(parent: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    value = _required(parent, key, path)
    if not isinstance(value, dict):
        raise EnvelopeError(f"{path} must be an object, not {_json_type(value)}")
    return value


def _required(parent: dict[str, Any], key: str, path: str) -> Any:
    value = parent.get(key)
    if value is None:
        raise EnvelopeError(f"{path} is missing")
    return value


def _string(parent: dict[str, Any], key: str, path: str) -> str:
    value = _required(parent, key, path)
    if not isinstance(value, str):
        raise EnvelopeError(f"{path} must be a string, not {_json_type(value)}")
    return value


def _optional_str(parent: dict[str, Any], key: str, path: str) -> str | None:
    if parent.get(key) is None:
        return None
    return _string(parent, key, path)


def _dev_eui(parent: dict[str, Any], key: str, path: str) -> str:
    value = _string(parent, key, path)
    if _DEV_EUI.fullmatch(value) is None:
        raise EnvelopeError(f"{path} must be 16 hex digits, got {value!r:.40}")
    return value.lower()


def _uint(value: Any, path: str) -> int:
    # Protobuf JSON may render integers as strings, and some servers send fPort as "85".
    if isinstance(value, str) and len(value) <= 20 and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise EnvelopeError(f"{path} must be a non-negative integer, got {_short(value)}")


def _optional_uint(parent: dict[str, Any], key: str, path: str) -> int | None:
    value = parent.get(key)
    return None if value is None else _uint(value, path)


def _f_port(parent: dict[str, Any], key: str, path: str) -> int:
    f_port = _uint(_required(parent, key, path), path)
    if f_port == 0:
        raise EnvelopeError(f"{path} is 0: a MAC-command frame, not application data")
    if f_port > 255:
        raise EnvelopeError(f"{path} is {f_port}, outside 1..255")
    return f_port


def _base64(parent: dict[str, Any], key: str, path: str) -> bytes:
    value = _string(parent, key, path)
    try:
        return binascii.a2b_base64(value, strict_mode=True)
    except ValueError:
        raise EnvelopeError(f"{path} is not valid base64: {value!r:.40}") from None


def _time(parent: dict[str, Any], key: str, path: str) -> datetime:
    value = _string(parent, key, path)
    if _RFC3339_UTC.fullmatch(value) is not None:
        try:
            return _utc_time(value)
        except ValueError:
            raise EnvelopeError(f"{path} is not a valid time: {value!r:.40}") from None
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise EnvelopeError(f"{path} is not an RFC 3339 time: {value!r:.40}")
    if match[8] is None and match[9] is None:
        raise EnvelopeError(f"{path}: receive time has no time zone: {value!r:.40}")
    try:
        return _datetime(match).astimezone(UTC)
    except (ValueError, OverflowError):
        raise EnvelopeError(f"{path} is not a valid time: {value!r:.40}") from None


def _utc_time(value: str) -> datetime:
    """A time that matches ``_RFC3339_UTC``; ValueError if it does not exist."""
    # Python keeps microseconds; the nanosecond digits the servers send are cut off.
    return datetime.fromisoformat(value if len(value) <= 27 else value[:26] + "Z")


def _datetime(match: re.Match[str]) -> datetime:
    zone = UTC
    if match[9] is not None:
        offset = timedelta(hours=int(match[10]), minutes=int(match[11]))
        zone = timezone(-offset if match[9] == "-" else offset)
    # Python keeps microseconds; the nanosecond digits the servers send are cut off.
    micros = int((match[7] or "0")[:6].ljust(6, "0"))
    year, month, day, hour, minute, second = (int(match[i]) for i in range(1, 7))
    return datetime(year, month, day, hour, minute, second, micros, tzinfo=zone)


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def _short(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return _json_type(value)
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
