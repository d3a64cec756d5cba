"""Actility ThingPark (Wireless and Enterprise) ``DevEUI_uplink`` reports."""

from __future__ import annotations

from typing import Any

from stadsnav.connectors.envelopes_common import (
    EnvelopeError,
    dev_eui,
    f_port,
    fallback_id,
    hex_bytes,
    optional_uint,
    radio,
    read_object,
    time,
)
from stadsnav.model.uplink import Uplink

THINGPARK = "thingpark"


def parse_thingpark(doc: dict[str, Any]) -> Uplink:
    """An ``Uplink`` from a ThingPark ``DevEUI_uplink`` report (``payload_hex``)."""
    if doc.get("DevEUI_uplink") is None:
        _reject_other_report(doc)
    report = read_object(doc, "DevEUI_uplink", "DevEUI_uplink")
    eui = dev_eui(report, "DevEUI", "DevEUI_uplink.DevEUI")
    f_cnt = optional_uint(report, "FCntUp", "DevEUI_uplink.FCntUp")
    received_at = time(report, "Time", "DevEUI_uplink.Time")
    # ThingPark reports its best LRR (base station) at the top; Lrrs lists every one.
    rssi, snr, gateway_id = radio(report, "LrrRSSI", "LrrSNR", "Lrrid")
    return Uplink(
        network=THINGPARK,
        message_id=fallback_id(eui, f_cnt, received_at),
        dev_eui=eui,
        device_id=None,
        f_port=f_port(report, "FPort", "DevEUI_uplink.FPort"),
        payload=hex_bytes(report, "payload_hex", "DevEUI_uplink.payload_hex"),
        received_at=received_at,
        f_cnt=f_cnt,
        rssi=rssi,
        snr=snr,
        gateway_id=gateway_id,
    )


def _reject_other_report(doc: dict[str, Any]) -> None:
    # ThingPark names every report DevEUI_<kind>: location, notification, downlink_Sent ...
    for key in doc:
        if key.startswith("DevEUI_"):
            raise EnvelopeError(f"not an uplink: ThingPark {key[:40]!r} report")
