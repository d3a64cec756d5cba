"""LORIOT's application output: ``rx`` (and ``gw``, the same with gateway details) messages."""

from __future__ import annotations

from typing import Any

from stadsnav.connectors.envelopes_common import (
    EnvelopeError,
    Radio,
    dev_eui,
    epoch_millis,
    f_port,
    fallback_id,
    hex_bytes,
    optional_uint,
    radio,
    short,
    strongest,
)
from stadsnav.model.uplink import Uplink

LORIOT = "loriot"
_UPLINK_COMMANDS = ("rx", "gw")


def parse_loriot(doc: dict[str, Any]) -> Uplink:
    """An ``Uplink`` from a LORIOT ``rx`` or ``gw`` message (``data`` in hex)."""
    command = doc.get("cmd")
    if command not in _UPLINK_COMMANDS:
        if isinstance(command, str):
            raise EnvelopeError(f"not an uplink: LORIOT {command[:40]!r} message")
        raise EnvelopeError(f"cmd must be 'rx' or 'gw', got {short(command)}")
    if doc.get("data") is None and doc.get("encdata") is not None:
        raise EnvelopeError("data is missing: LORIOT sent encdata, as it has no application key")
    eui = dev_eui(doc, "EUI", "EUI")
    f_cnt = optional_uint(doc, "fcnt", "fcnt")
    received_at = epoch_millis(doc, "ts", "ts")
    rssi, snr, gateway_id = _radio(doc)
    return Uplink(
        network=LORIOT,
        message_id=fallback_id(eui, f_cnt, received_at),
        dev_eui=eui,
        device_id=None,
        f_port=f_port(doc, "port", "port"),
        payload=hex_bytes(doc, "data", "data"),
        received_at=received_at,
        f_cnt=f_cnt,
        rssi=rssi,
        snr=snr,
        gateway_id=gateway_id,
    )


def _radio(doc: dict[str, Any]) -> Radio:
    # A ``gw`` message lists every gateway; an ``rx`` message has the best one's signal only.
    gateway = strongest(doc.get("gws"), "rssi")
    if gateway is not None:
        return radio(gateway, "rssi", "snr", "gweui")
    return radio(doc, "rssi", "snr", "gweui")
