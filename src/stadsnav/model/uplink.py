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
    rssi: float | None = None
    """Received signal strength at the best gateway, in dBm."""
    snr: float | None = None
    """Signal-to-noise ratio at the best gateway, in dB."""
    gateway_id: str | None = None
    """The gateway that heard the frame best (highest RSSI), as the network server names it."""


@dataclass(slots=True)
class DeviceStatus:
    """A device's status report (battery, link margin), as a network server forwards it."""

    network: str
    message_id: str
    """Stable id of this report: the network server's own, or one derived from the body."""
    dev_eui: str
    device_id: str | None
    received_at: datetime | None
    """When the network server sent it, if the envelope says (ChirpStack v3's does not)."""
    battery_level: float | None
    """Battery level from 0.0 (empty) to 1.0 (full); None when unknown or externally powered."""
    battery_unavailable: bool = False
    """The device could not measure its battery level."""
    external_power: bool = False
    """The device runs on an external power source, so it has no battery level."""
    margin: int | None = None
    """Demodulation margin of the device's last ``DevStatusReq`` answer, in dB."""
