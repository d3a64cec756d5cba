"""Netmore's uplink push: a JSON array of flat uplinks, hex payloads, fPort as a string."""

from __future__ import annotations

from typing import Any

from stadsnav.connectors.envelopes_common import (
    EnvelopeError,
    dev_eui,
    f_port,
    fallback_id,
    hex_bytes,
    json_type,
    optional_str,
    optional_uint,
    radio,
    strongest,
    time,
)
from stadsnav.model.uplink import Uplink

NETMORE = "netmore"


def parse_netmore(doc: Any) -> list[Uplink]:
    """Every uplink of a Netmore batch (an array), or the one uplink of a bare object."""
    if isinstance(doc, dict):
        return [_uplink(doc, "")]
    if not isinstance(doc, list):
        raise EnvelopeError(f"Netmore envelope must be an array, not {json_type(doc)}")
    if not doc:
        raise EnvelopeError("Netmore batch is an empty array")
    uplinks = []
    for index, entry in enumerate(doc):
        if not isinstance(entry, dict):
            raise EnvelopeError(f"[{index}] must be an object, not {json_type(entry)}")
        uplinks.append(_uplink(entry, f"[{index}]."))
    return uplinks


def _uplink(entry: dict[str, Any], at: str) -> Uplink:
    kind = entry.get("messageType")
    if isinstance(kind, str) and not kind.startswith("payload"):
        raise EnvelopeError(f"not an uplink: Netmore {kind[:40]!r} message")
    eui = dev_eui(entry, "devEui", f"{at}devEui")
    f_cnt = optional_uint(entry, "fCntUp", f"{at}fCntUp")
    received_at = time(entry, "timestamp", f"{at}timestamp")
    # Netmore's "payload.Payload" messages carry the bytes under a capitalised key.
    key = "Payload" if entry.get("payload") is None and "Payload" in entry else "payload"
    # Netmore writes the signal as strings, and lists every gateway besides its own pick.
    best = strongest(entry.get("gateways"), "rssi") or entry
    rssi, snr, gateway_id = radio(best, "rssi", "snr", "gatewayIdentifier")
    return Uplink(
        network=NETMORE,
        message_id=fallback_id(eui, f_cnt, received_at),
        dev_eui=eui,
        device_id=optional_str(entry, "deviceName", f"{at}deviceName"),
        f_port=f_port(entry, "fPort", f"{at}fPort"),
        payload=hex_bytes(entry, key, f"{at}{key}"),
        received_at=received_at,
        f_cnt=f_cnt,
        rssi=rssi,
        snr=snr,
        gateway_id=gateway_id,
    )
