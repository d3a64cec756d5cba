"""Checked readers shared by the envelope parsers: each raises ``EnvelopeError`` with the path."""

from __future__ import annotations

import binascii
import math
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeGuard

DEV_EUI = re.compile(r"[0-9A-Fa-f]{16}", re.ASCII)
"""A DevEUI as the network servers write it: 16 hex digits."""
RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))?",
    re.ASCII,
)
"""An RFC 3339 time; the zone is optional here so that its absence can be named."""
RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z", re.ASCII)
"""The common form, UTC with a Z, which goes straight to fromisoformat once cut to micros."""
Radio = tuple[float | None, float | None, str | None]
"""(RSSI in dBm, SNR in dB, gateway id) of the gateway that heard an uplink best."""
NO_RADIO: Radio = (None, None, None)
MAX_ID_LENGTH = 128
"""Longest id a sender may give a message or gateway; longer ones are not used as ids."""
# Milliseconds since the epoch that datetime can hold (years 1970..9999).
_MAX_MILLIS = 253402300799999


class EnvelopeError(ValueError):
    """The bytes are not a usable uplink envelope; ``reason`` says what is wrong and where."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def fallback_id(dev_eui: str, f_cnt: int | None, received_at: datetime) -> str:
    """The dedupe id of an uplink whose network server gives it none of its own."""
    counter = "-" if f_cnt is None else str(f_cnt)
    return f"{dev_eui}:{counter}:{received_at.isoformat()}"


def usable_id(value: Any) -> TypeGuard[str]:
    """Whether a sender's id is short text without control characters, fit to store and index."""
    # PostgreSQL refuses NUL in text and JSON, and index keys over 2.7 kB; such an id would fail
    # the commit of every message that shares its transaction.
    return type(value) is str and 0 < len(value) <= MAX_ID_LENGTH and value.isprintable()


def strongest(entries: Any, rssi_key: str) -> dict[str, Any] | None:
    """The gateway entry of a list with the highest RSSI (the first on a tie); None if none."""
    if type(entries) is not list or not entries:
        return None
    if len(entries) == 1:
        # Most uplinks are heard by one gateway: nothing to compare.
        only = entries[0]
        return only if type(only) is dict else None
    best = None
    best_rssi: float = -math.inf
    for entry in entries:
        if type(entry) is not dict:
            continue
        rssi = entry.get(rssi_key)
        if type(rssi) is not int and type(rssi) is not float:
            rssi = number(rssi)
        if rssi is not None and rssi > best_rssi:
            best, best_rssi = entry, rssi
    return best


def radio(entry: dict[str, Any] | None, rssi_key: str, snr_key: str, gateway_key: str) -> Radio:
    """The radio metadata of one gateway entry; fields that are missing or malformed are None."""
    if entry is None:
        return NO_RADIO
    rssi, snr, gateway = entry.get(rssi_key), entry.get(snr_key), entry.get(gateway_key)
    return (
        rssi if type(rssi) is int or type(rssi) is float else number(rssi),
        snr if type(snr) is int or type(snr) is float else number(snr),
        gateway if usable_id(gateway) else None,
    )


def number(value: Any) -> float | None:
    """A finite number, written as a JSON number or as a numeric string; None for anything else."""
    # Radio metadata is informative: a malformed value is dropped, never fails the uplink.
    kind = type(value)
    if kind is int or kind is float:
        return float(value)
    if kind is str and len(value) <= 32:
        try:
            result = float(value)
        except ValueError:
            return None
        return result if math.isfinite(result) else None
    return None


def read_object(parent: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    """``parent[key]``, which must be a JSON object."""
    value = required(parent, key, path)
    if not isinstance(value, dict):
        raise EnvelopeError(f"{path} must be an object, not {json_type(value)}")
    return value


def required(parent: dict[str, Any], key: str, path: str) -> Any:
    """``parent[key]``, which must be present and not null."""
    value = parent.get(key)
    if value is None:
        raise EnvelopeError(f"{path} is missing")
    return value


def read_str(parent: dict[str, Any], key: str, path: str) -> str:
    """``parent[key]``, which must be a string."""
    value = required(parent, key, path)
    if not isinstance(value, str):
        raise EnvelopeError(f"{path} must be a string, not {json_type(value)}")
    return value


def optional_str(parent: dict[str, Any], key: str, path: str) -> str | None:
    """``parent[key]`` if it is there, which must then be a string; None if it is unprintable."""
    if parent.get(key) is None:
        return None
    value = read_str(parent, key, path)
    # A device's name is informative (the DevEUI names it): one no store can keep is dropped.
    return value if value.isprintable() else None


def dev_eui(parent: dict[str, Any], key: str, path: str) -> str:
    """A DevEUI of 16 hex digits, lower-cased."""
    value = read_str(parent, key, path)
    if DEV_EUI.fullmatch(value) is None:
        raise EnvelopeError(f"{path} must be 16 hex digits, got {value!r:.40}")
    return value.lower()


def uint(value: Any, path: str) -> int:
    """A non-negative integer, written as a number or as a string of digits."""
    # Protobuf JSON may render integers as strings, and some servers send fPort as "85".
    if isinstance(value, str) and len(value) <= 20 and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise EnvelopeError(f"{path} must be a non-negative integer, got {short(value)}")


def optional_uint(parent: dict[str, Any], key: str, path: str) -> int | None:
    """``parent[key]`` as a non-negative integer, or None if it is not there."""
    value = parent.get(key)
    return None if value is None else uint(value, path)


def f_port(parent: dict[str, Any], key: str, path: str) -> int:
    """An application port, 1..255."""
    port = uint(required(parent, key, path), path)
    if port == 0:
        raise EnvelopeError(f"{path} is 0: a MAC-command frame, not application data")
    if port > 255:
        raise EnvelopeError(f"{path} is {port}, outside 1..255")
    return port


def base64(parent: dict[str, Any], key: str, path: str) -> bytes:
    """Bytes written in strict base64."""
    value = read_str(parent, key, path)
    try:
        return binascii.a2b_base64(value, strict_mode=True)
    except ValueError:
        raise EnvelopeError(f"{path} is not valid base64: {value!r:.40}") from None


def hex_bytes(parent: dict[str, Any], key: str, path: str) -> bytes:
    """Bytes written as hex digits, without separators."""
    value = read_str(parent, key, path)
    try:
        return binascii.a2b_hex(value)
    except ValueError:
        raise EnvelopeError(f"{path} is not valid hex: {value!r:.40}") from None


def time(parent: dict[str, Any], key: str, path: str) -> datetime:
    """An RFC 3339 time with a zone, in UTC."""
    value = read_str(parent, key, path)
    if RFC3339_UTC.fullmatch(value) is not None:
        try:
            return utc_time(value)
        except ValueError:
            raise EnvelopeError(f"{path} is not a valid time: {value!r:.40}") from None
    match = RFC3339.fullmatch(value)
    if match is None:
        raise EnvelopeError(f"{path} is not an RFC 3339 time: {value!r:.40}")
    if match[8] is None and match[9] is None:
        raise EnvelopeError(f"{path}: receive time has no time zone: {value!r:.40}")
    try:
        return _datetime(match).astimezone(UTC)
    except (ValueError, OverflowError):
        raise EnvelopeError(f"{path} is not a valid time: {value!r:.40}") from None


def epoch_millis(parent: dict[str, Any], key: str, path: str) -> datetime:
    """A time written as milliseconds since the Unix epoch, in UTC."""
    value = required(parent, key, path)
    if type(value) is not int or not 0 <= value <= _MAX_MILLIS:
        raise EnvelopeError(f"{path} must be milliseconds since 1970, got {short(value)}")
    seconds, millis = divmod(value, 1000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=millis * 1000)


def utc_time(value: str) -> datetime:
    """A time that matches ``RFC3339_UTC``; ValueError if it does not exist."""
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


def json_type(value: Any) -> str:
    """How a JSON value's type is named in error messages."""
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


def short(value: Any) -> str:
    """A value as quoted in an error message: scalars shortened, containers by type."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return json_type(value)
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
