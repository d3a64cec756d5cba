"""ChirpStack ``up`` events: v4, v3 (HTTP and MQTT), and the v3-derived Milesight gateway HTTP."""

from __future__ import annotations

import binascii
import re
from datetime import datetime
from typing import Any

from stadsnav.connectors.envelopes_common import (
    DEV_EUI,
    EnvelopeError,
    Radio,
    dev_eui,
    f_port,
    fallback_id,
    optional_str,
    optional_uint,
    radio,
    read_object,
    short,
    strongest,
    time,
    usable_id,
)
from stadsnav.connectors.envelopes_common import base64 as read_base64
from stadsnav.model.uplink import DeviceStatus, Uplink

CHIRPSTACK_V4 = "chirpstack_v4"
CHIRPSTACK_V3 = "chirpstack_v3"
MILESIGHT_GATEWAY = "milesight_gateway"

# Keys only a ChirpStack v4 ``up`` event carries; any of them means "this is meant as an uplink".
_V4_UP_KEYS = ("fPort", "data", "fCnt", "rxInfo", "txInfo", "dr", "adr", "confirmed")
# Keys that give away the other ChirpStack v4 event types, checked in this order.
_V4_EVENT_KEYS = (
    ("status", ("margin", "batteryLevel", "batteryLevelUnavailable", "externalPowerSource")),
    ("log", ("level", "code", "description")),
    ("ack", ("acknowledged",)),
    ("txack", ("downlinkId", "queueItemId", "fCntDown")),
    ("location", ("location",)),
    ("integration", ("integrationName", "eventType")),
    ("join", ("devAddr",)),
)
# v3 ``join`` and ``error`` events carry rxInfo, dr and fCnt too, so only these mean "uplink".
_V3_UP_KEYS = ("fPort", "data", "adr", "confirmedUplink", "object", "objectJSON")
_V3_EVENT_KEYS = (
    ("error", ("error", "type")),
    ("status", ("margin", "batteryLevel", "batteryLevelUnavailable", "externalPowerSource")),
    ("ack", ("acknowledged",)),
    ("txack", ("gatewayID",)),
    ("location", ("location", "uplinkIDs")),
    ("join", ("devAddr", "rxInfo")),
)
# Milesight's gateway example writes the date as "2020-0327"; the rest of the time is sound.
_MILESIGHT_BROKEN_DATE = re.compile(r"\d{4}-\d{4}[Tt]", re.ASCII)


def parse_chirpstack_v4(doc: dict[str, Any]) -> Uplink:
    """An ``Uplink`` from a ChirpStack v4 ``up`` event."""
    info = read_object(doc, "deviceInfo", "deviceInfo")
    if not any(key in doc for key in _V4_UP_KEYS):
        raise EnvelopeError(f"not an uplink: ChirpStack '{_event(doc, _V4_EVENT_KEYS)}' event")
    eui = dev_eui(info, "devEui", "deviceInfo.devEui")
    f_cnt = optional_uint(doc, "fCnt", "fCnt")
    received_at = _v4_received_at(doc)
    dedup_id = doc.get("deduplicationId")
    if not usable_id(dedup_id):
        dedup_id = fallback_id(eui, f_cnt, received_at)
    rssi, snr, gateway_id = radio(strongest(doc.get("rxInfo"), "rssi"), "rssi", "snr", "gatewayId")
    # Positional: keyword arguments cost a third of the frame's construction time.
    return Uplink(
        CHIRPSTACK_V4,
        dedup_id,
        eui,
        optional_str(info, "deviceName", "deviceInfo.deviceName"),
        f_port(doc, "fPort", "fPort"),
        read_base64(doc, "data", "data"),
        received_at,
        f_cnt,
        rssi,
        snr,
        gateway_id,
    )


def parse_chirpstack_v3(doc: dict[str, Any]) -> Uplink:
    """An ``Uplink`` from a ChirpStack v3 ``up`` event (JSON or protobuf-JSON marshaler)."""
    _reject_v3_other_events(doc, "ChirpStack v3")
    return _v3_uplink(doc, CHIRPSTACK_V3, _v3_received_at(doc))


def parse_milesight_gateway(doc: dict[str, Any]) -> Uplink:
    """An ``Uplink`` from a Milesight gateway's HTTP(S) application integration."""
    _reject_v3_other_events(doc, "Milesight gateway")
    return _v3_uplink(doc, MILESIGHT_GATEWAY, _milesight_received_at(doc))


def _milesight_received_at(doc: dict[str, Any]) -> datetime:
    value = doc.get("time")
    if value is None:
        return _v3_received_at(doc)
    if isinstance(value, str) and _MILESIGHT_BROKEN_DATE.match(value) is not None:
        return time({"time": f"{value[:7]}-{value[7:]}"}, "time", "time")
    return time(doc, "time", "time")


def _reject_v3_other_events(doc: dict[str, Any], server: str) -> None:
    if not any(key in doc for key in _V3_UP_KEYS):
        raise EnvelopeError(f"not an uplink: {server} '{_event(doc, _V3_EVENT_KEYS)}' event")


def _v3_uplink(doc: dict[str, Any], network: str, received_at: datetime) -> Uplink:
    eui = _v3_dev_eui(doc)
    f_cnt = optional_uint(doc, "fCnt", "fCnt")
    rssi, snr, gateway_id = _v3_radio(doc, network)
    return Uplink(
        network=network,
        message_id=fallback_id(eui, f_cnt, received_at),
        dev_eui=eui,
        device_id=optional_str(doc, "deviceName", "deviceName"),
        f_port=f_port(doc, "fPort", "fPort"),
        payload=read_base64(doc, "data", "data"),
        received_at=received_at,
        f_cnt=f_cnt,
        rssi=rssi,
        snr=snr,
        gateway_id=gateway_id,
    )


def _v3_radio(doc: dict[str, Any], network: str) -> Radio:
    # The Milesight gateway names itself by its MAC; ChirpStack v3 has a gateway id.
    key = "mac" if network == MILESIGHT_GATEWAY else "gatewayID"
    rssi, snr, gateway = radio(strongest(doc.get("rxInfo"), "rssi"), "rssi", "loRaSNR", key)
    return rssi, snr, None if gateway is None else _v3_gateway_id(gateway)


def _v3_gateway_id(value: str) -> str:
    if DEV_EUI.fullmatch(value) is not None:
        return value.lower()
    # The protobuf-JSON marshaler writes the gateway id, 8 bytes, in base64 as well.
    raw = _eight_bytes(value)
    return value if raw is None else raw.hex()


def _eight_bytes(value: str) -> bytes | None:
    if len(value) != 12:
        return None
    try:
        raw = binascii.a2b_base64(value, strict_mode=True)
    except ValueError:
        return None
    return raw if len(raw) == 8 else None


def _v3_dev_eui(doc: dict[str, Any]) -> str:
    value = doc.get("devEUI")
    if type(value) is str and DEV_EUI.fullmatch(value) is not None:
        return value.lower()
    # The protobuf-JSON marshaler writes byte fields, the DevEUI among them, in base64.
    raw = _eight_bytes(value) if type(value) is str else None
    if raw is not None:
        return raw.hex()
    if value is None or type(value) is not str:
        dev_eui(doc, "devEUI", "devEUI")  # words the error
    raise EnvelopeError(f"devEUI must be 16 hex digits or 8 bytes in base64, got {short(value)}")


def _v3_received_at(doc: dict[str, Any]) -> datetime:
    if doc.get("publishedAt") is not None:
        return time(doc, "publishedAt", "publishedAt")
    # Order-independent, so that a retry with the gateways listed otherwise keeps its id.
    times = [
        time(rx, "time", f"rxInfo[{index}].time")
        for index, rx in _entries(doc.get("rxInfo"))
        if rx.get("time") is not None
    ]
    if not times:
        raise EnvelopeError("publishedAt is missing, and no rxInfo[] entry has time")
    return min(times)


def _v4_received_at(doc: dict[str, Any]) -> datetime:
    if doc.get("time") is not None:
        return time(doc, "time", "time")
    for index, rx in _entries(doc.get("rxInfo")):
        # ChirpStack 4.0 still called the gateway's time ``time``; later 4.x say ``gwTime``.
        for key in ("nsTime", "gwTime", "time"):
            if rx.get(key) is not None:
                return time(rx, key, f"rxInfo[{index}].{key}")
    raise EnvelopeError("time is missing, and no rxInfo[] entry has nsTime or gwTime")


def _entries(rx_info: Any) -> list[tuple[int, dict[str, Any]]]:
    if not isinstance(rx_info, list):
        return []
    return [(index, rx) for index, rx in enumerate(rx_info) if isinstance(rx, dict)]


def _event(doc: dict[str, Any], table: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    for event, keys in table:
        if any(key in doc for key in keys):
            return event
    return "unknown"


def parse_chirpstack_v4_status(doc: dict[str, Any], body_id: str) -> DeviceStatus:
    """A ``DeviceStatus`` from a ChirpStack v4 ``status`` event."""
    info = read_object(doc, "deviceInfo", "deviceInfo")
    _require_status(doc, _V4_UP_KEYS, _V4_EVENT_KEYS, "ChirpStack")
    eui = dev_eui(info, "devEui", "deviceInfo.devEui")
    dedup_id = doc.get("deduplicationId")
    return _status(
        doc,
        CHIRPSTACK_V4,
        dedup_id if usable_id(dedup_id) else body_id,
        eui,
        optional_str(info, "deviceName", "deviceInfo.deviceName"),
        None if doc.get("time") is None else time(doc, "time", "time"),
    )


def parse_chirpstack_v3_status(doc: dict[str, Any], body_id: str) -> DeviceStatus:
    """A ``DeviceStatus`` from a ChirpStack v3 ``status`` event (which may carry no time)."""
    _require_status(doc, _V3_UP_KEYS, _V3_EVENT_KEYS, "ChirpStack v3")
    received_at = None
    if doc.get("publishedAt") is not None:
        received_at = time(doc, "publishedAt", "publishedAt")
    return _status(
        doc,
        CHIRPSTACK_V3,
        body_id,
        _v3_dev_eui(doc),
        optional_str(doc, "deviceName", "deviceName"),
        received_at,
    )


def _require_status(
    doc: dict[str, Any],
    up_keys: tuple[str, ...],
    table: tuple[tuple[str, tuple[str, ...]], ...],
    server: str,
) -> None:
    event = "up" if any(key in doc for key in up_keys) else _event(doc, table)
    if event != "status":
        raise EnvelopeError(f"not a status event: {server} '{event}' event")


def _status(
    doc: dict[str, Any],
    network: str,
    message_id: str,
    eui: str,
    device_id: str | None,
    received_at: datetime | None,
) -> DeviceStatus:
    unavailable = _flag(doc, "batteryLevelUnavailable")
    external = _flag(doc, "externalPowerSource")
    level = None
    if not (unavailable or external) and doc.get("batteryLevel") is not None:
        level = _battery_level(doc.get("batteryLevel"))
    margin = doc.get("margin")
    if margin is not None and (type(margin) is not int or not -32 <= margin <= 31):
        raise EnvelopeError(f"margin must be an integer in -32..31 dB, got {short(margin)}")
    return DeviceStatus(
        network, message_id, eui, device_id, received_at, level, unavailable, external, margin
    )


def _battery_level(value: Any) -> float:
    # ChirpStack gives a percentage; Smart Data Models' batteryLevel runs from 0.0 to 1.0.
    if type(value) not in (int, float) or not 0 <= value <= 100:
        raise EnvelopeError(f"batteryLevel must be a percentage 0..100, got {short(value)}")
    return round(float(value) / 100, 4)


def _flag(doc: dict[str, Any], key: str) -> bool:
    value = doc.get(key, False)
    if type(value) is not bool:
        raise EnvelopeError(f"{key} must be true or false, got {short(value)}")
    return value
