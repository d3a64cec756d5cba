"""Servanet's flat uplink form: ChirpStack v4 field names without the ``deviceInfo`` object."""

from __future__ import annotations

from typing import Any

from stadsnav.connectors.envelopes_common import (
    base64,
    dev_eui,
    f_port,
    fallback_id,
    optional_str,
    optional_uint,
    radio,
    strongest,
    time,
)
from stadsnav.model.uplink import Uplink

SERVANET = "servanet"


def parse_servanet(doc: dict[str, Any]) -> Uplink:
    """An ``Uplink`` from Servanet's flat form (``devEui``, ``fPort``, ``data``, ``timestamp``)."""
    eui = dev_eui(doc, "devEui", "devEui")
    f_cnt = optional_uint(doc, "fCnt", "fCnt")
    received_at = time(doc, "timestamp", "timestamp")
    rssi, snr, gateway_id = radio(strongest(doc.get("rxInfo"), "rssi"), "rssi", "snr", "gatewayId")
    return Uplink(
        network=SERVANET,
        message_id=fallback_id(eui, f_cnt, received_at),
        dev_eui=eui,
        device_id=optional_str(doc, "deviceName", "deviceName"),
        f_port=f_port(doc, "fPort", "fPort"),
        payload=base64(doc, "data", "data"),
        received_at=received_at,
        f_cnt=f_cnt,
        rssi=rssi,
        snr=snr,
        gateway_id=gateway_id,
    )
