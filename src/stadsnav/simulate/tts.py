"""The Things Stack v3 uplink messages, shaped as its webhook integration sends them."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any

import orjson

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid_like(seed: str) -> str:
    """A deterministic 26-character ULID-shaped id (same seed, same id)."""
    digest = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:17], "big")
    return "".join(_CROCKFORD[(digest >> (5 * i)) & 31] for i in range(26))


def rfc3339(moment: datetime) -> str:
    """UTC time with nanosecond digits, as The Things Stack writes it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def tts_uplink(
    *,
    device_id: str,
    dev_eui: str,
    application_id: str,
    f_port: int | None,
    f_cnt: int,
    payload: bytes,
    received_at: datetime,
    gateway_id: str = "skelleftea-gw-01",
    rssi: int = -97,
    snr: float = 7.5,
) -> dict[str, Any]:
    """One uplink message; ``f_port=None`` leaves the field out (a broken sender)."""
    seed = f"{dev_eui}:{f_cnt}:{received_at.isoformat()}"
    when = rfc3339(received_at)
    uplink: dict[str, Any] = {
        "session_key_id": base64.b64encode(hashlib.md5(dev_eui.encode()).digest()).decode(),
        "f_cnt": f_cnt,
        "frm_payload": base64.b64encode(payload).decode(),
        "rx_metadata": [
            {
                "gateway_ids": {"gateway_id": gateway_id},
                "time": when,
                "rssi": rssi,
                "channel_rssi": rssi,
                "snr": snr,
                "received_at": when,
            }
        ],
        "settings": {
            "data_rate": {
                "lora": {"bandwidth": 125000, "spreading_factor": 9, "coding_rate": "4/5"}
            },
            "frequency": "867500000",
        },
        "received_at": when,
        "consumed_airtime": "0.164864s",
    }
    if f_port is not None:
        uplink["f_port"] = f_port
    return {
        "end_device_ids": {
            "device_id": device_id,
            "application_ids": {"application_id": application_id},
            "dev_eui": dev_eui.upper(),
            "join_eui": "A81758FFFE000001",
            "dev_addr": dev_eui[-8:].upper(),
        },
        "correlation_ids": [
            f"as:up:{ulid_like(seed)}",
            f"rpc:/ttn.lorawan.v3.AppAs/SimulateUplink:{ulid_like(seed + 'rpc')}",
        ],
        "received_at": when,
        "uplink_message": uplink,
    }


def encode(message: dict[str, Any]) -> bytes:
    """The JSON body."""
    return orjson.dumps(message)
