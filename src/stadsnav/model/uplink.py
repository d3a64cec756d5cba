"""A LoRaWAN uplink as the platform sees it, lifted out of any network server's envelope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


# Not frozen: a frozen __init__ costs three times as much, and one is built per uplink.
@dataclass(slots=True)
class Uplink:
    """One uplink frame from one device, independent of the network server that carried it."""

    network: str
    """Envelope format it came in (``tts_v3``, ``chirpstack_v4``, ``netmore`` ...)."""
    message_id: str
    """Stable id of this uplink at the network server; the same retry carries the same id."""
    dev_eui: str
    """Device EUI, 16 lower-case hex digits."""
    device_id: str | None
    """The network server's own name for the device, if it has one."""
    f_port: int
    payload: bytes
    received_at: datetime
    """When the network server received the frame (time-zone aware, UTC)."""
    f_cnt: int | None = None
