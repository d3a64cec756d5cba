"""ChirpStack v4 ``up`` events, shaped as its HTTP and MQTT integrations send them."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any

from stadsnav.simulate.tts import rfc3339


def chirpstack_up(
    *,
    device_id: str,
    dev_eui: str,
    application_id: str,
    f_port: int,
    f_cnt: int,
    payload: bytes,
    received_at: datetime,
    gateway_id: str = "0016c001f153a14c",
    rssi: int = -97,
    snr: float = 7.5,
) -> dict[str, Any]:
    """One ``up`` event; the deduplication id is derived from device, counter and time."""
    when = rfc3339(received_at)
    dedup = uuid.uuid5(uuid.NAMESPACE_URL, f"{dev_eui}:{f_cnt}:{when}")
    return {
        "deduplicationId": str(dedup),
        "time": when,
        "deviceInfo": {
            "tenantName": "Skellefteå kommun",
            "applicationId": application_id,
            "applicationName": "Badplatser",
            "deviceProfileName": "water temperature",
            "deviceName": device_id,
            "devEui": dev_eui,
        },
        "devAddr": dev_eui[-8:],
        "adr": True,
        "dr": 5,
        "fCnt": f_cnt,
        "fPort": f_port,
        "confirmed": False,
        "data": base64.b64encode(payload).decode(),
        "rxInfo": [
            {
                "gatewayId": gateway_id,
                "uplinkId": dedup.int & 0xFFFFFFFF,
                "nsTime": when,
                "rssi": rssi,
                "snr": snr,
                "context": "AAAAAA==",
            }
        ],
        "txInfo": {
            "frequency": 867500000,
            "modulation": {
                "lora": {"bandwidth": 125000, "spreadingFactor": 7, "codeRate": "CR_4_5"}
            },
        },
    }
