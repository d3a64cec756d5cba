"""The Things Stack v3 application-layer ``up`` messages (webhook and MQTT)."""

from __future__ import annotations

import binascii
from datetime import datetime
from typing import Any

from stadsnav.connectors.envelopes_common import (
    DEV_EUI,
    NO_RADIO,
    RFC3339_UTC,
    EnvelopeError,
    Radio,
    dev_eui,
    f_port,
    fallback_id,
    number,
    optional_str,
    optional_uint,
    read_object,
    strongest,
    time,
    usable_id,
    utc_time,
)
from stadsnav.connectors.envelopes_common import base64 as read_base64
from stadsnav.model.uplink import Uplink

TTS_V3 = "tts_v3"
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


def parse_tts_v3(doc: dict[str, Any]) -> Uplink:
    """An ``Uplink`` from a The Things Stack v3 ``uplink_message``."""
    # Well-formed fields are taken directly; anything else goes through the checked readers,
    # which raise the precise error.
    ids = doc.get("end_device_ids")
    message = doc.get("uplink_message")
    if type(ids) is not dict or type(message) is not dict:
        ids, message = _tts_parts(doc)
    eui = ids.get("dev_eui")
    if type(eui) is str and DEV_EUI.fullmatch(eui) is not None:
        eui = eui.lower()
    else:
        eui = dev_eui(ids, "dev_eui", "end_device_ids.dev_eui")
    f_cnt = message.get("f_cnt")
    if type(f_cnt) is not int or f_cnt < 0:
        f_cnt = optional_uint(message, "f_cnt", "uplink_message.f_cnt")
    received_at = _tts_received_at(doc, message)
    message_id = _tts_correlation_id(doc, message) or fallback_id(eui, f_cnt, received_at)
    device_id = ids.get("device_id")
    if type(device_id) is not str or not device_id.isprintable():
        device_id = optional_str(ids, "device_id", "end_device_ids.device_id")
    port = message.get("f_port")
    if type(port) is not int or not 0 < port <= 255:
        port = f_port(message, "f_port", "uplink_message.f_port")
    payload: Any = message.get("frm_payload")
    try:
        payload = binascii.a2b_base64(payload, strict_mode=True)
    except (TypeError, ValueError):
        payload = read_base64(message, "frm_payload", "uplink_message.frm_payload")
    rssi, snr, gateway_id = _tts_radio(message)
    # Positional: keyword arguments cost a third of the frame's construction time.
    return Uplink(
        TTS_V3, message_id, eui, device_id, port, payload, received_at, f_cnt, rssi, snr, gateway_id
    )


def _tts_radio(message: dict[str, Any]) -> Radio:
    entries = message.get("rx_metadata")
    # Most uplinks are heard by one gateway: then there is nothing to compare.
    rx = entries[0] if type(entries) is list and len(entries) == 1 else strongest(entries, "rssi")
    if type(rx) is not dict:
        return NO_RADIO
    rssi, snr, ids = rx.get("rssi"), rx.get("snr"), rx.get("gateway_ids")
    gateway = ids.get("gateway_id") if type(ids) is dict else None
    return (
        rssi if type(rssi) is int or type(rssi) is float else number(rssi),
        snr if type(snr) is int or type(snr) is float else number(snr),
        gateway if usable_id(gateway) else None,
    )


def _tts_parts(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    ids = read_object(doc, "end_device_ids", "end_device_ids")
    if doc.get("uplink_message") is None:
        _reject_other_tts_message(doc)
    return ids, read_object(doc, "uplink_message", "uplink_message")


def _reject_other_tts_message(doc: dict[str, Any]) -> None:
    for key in _TTS_OTHER_MESSAGES:
        if key in doc:
            raise EnvelopeError(f"not an uplink: The Things Stack '{key}' message")


def _tts_received_at(doc: dict[str, Any], message: dict[str, Any]) -> datetime:
    value = message.get("received_at")
    if type(value) is str and RFC3339_UTC.fullmatch(value) is not None:
        try:
            return utc_time(value)
        except ValueError:
            pass  # time() below words the error
    if value is not None:
        return time(message, "received_at", "uplink_message.received_at")
    if doc.get("received_at") is not None:
        return time(doc, "received_at", "received_at")
    raise EnvelopeError("uplink_message.received_at is missing, and so is received_at")


def _tts_correlation_id(doc: dict[str, Any], message: dict[str, Any]) -> str | None:
    for ids in (doc.get("correlation_ids"), message.get("correlation_ids")):
        if isinstance(ids, list):
            for entry in ids:
                if usable_id(entry) and entry.startswith("as:up:"):
                    return entry
    return None
