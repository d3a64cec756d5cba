"""MQTT topic layouts of the network servers' uplink (and ChirpStack's status) events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Network = Literal["tts_v3", "chirpstack_v4", "chirpstack_v3"]
Kind = Literal["up", "status"]

DEFAULT_UPLINK_TOPICS: tuple[str, ...] = (
    "v3/+/devices/+/up",
    "application/+/device/+/event/up",
    "application/+/device/+/rx",
)
"""Subscription filters that catch every uplink of The Things Stack v3 and ChirpStack v3/v4."""


DEFAULT_STATUS_TOPICS: tuple[str, ...] = (
    "application/+/device/+/event/status",
    "application/+/device/+/status",
)
"""Subscription filters that catch every device status event of ChirpStack v4 and v3."""


@dataclass(frozen=True, slots=True)
class TopicMatch:
    """What an uplink topic says about where the message came from."""

    network: Network
    application: str
    tenant: str | None
    device: str
    """The Things Stack's device id, or ChirpStack's DevEUI, as written in the topic."""
    kind: Kind = "up"
    """``up`` for an uplink, ``status`` for a device status event."""


def match_uplink_topic(topic: str) -> TopicMatch | None:
    """Match a published topic against the uplink layouts; None for any other topic."""
    levels = topic.split("/")
    if not all(_is_name(level) for level in levels):
        return None
    match levels:
        case ["v3", app_and_tenant, "devices", device, "up"]:
            return _tts_v3(app_and_tenant, device)
        case ["application", application, "device", dev_eui, "event", "up"]:
            # Later ChirpStack v3 releases publish here too; the envelope tells the two apart.
            return TopicMatch("chirpstack_v4", application, None, dev_eui)
        case ["application", application, "device", dev_eui, "rx"]:
            return TopicMatch("chirpstack_v3", application, None, dev_eui)
    return None


def match_status_topic(topic: str) -> TopicMatch | None:
    """Match a published topic against ChirpStack's status-event layouts; None for any other."""
    levels = topic.split("/")
    if not all(_is_name(level) for level in levels):
        return None
    match levels:
        case ["application", application, "device", dev_eui, "event", "status"]:
            return TopicMatch("chirpstack_v4", application, None, dev_eui, "status")
        case ["application", application, "device", dev_eui, "status"]:
            return TopicMatch("chirpstack_v3", application, None, dev_eui, "status")
    return None


def match_topic(topic: str) -> TopicMatch | None:
    """Match a published topic against the uplink and the status layouts."""
    return match_uplink_topic(topic) or match_status_topic(topic)


def is_other_event_topic(topic: str) -> bool:
    """A The Things Stack or ChirpStack topic of an event that is neither uplink nor status.

    (joins, acknowledgements, downlinks ...): acknowledged and not ingested. A topic in no
    known layout (another network server's bridge) is ingested as uplinks instead.
    """
    return match_topic(topic) is None and topic.startswith(("v3/", "application/"))


def _tts_v3(app_and_tenant: str, device: str) -> TopicMatch | None:
    application, at, tenant = app_and_tenant.partition("@")
    if (at and not (application and tenant)) or "@" in tenant:
        return None
    return TopicMatch("tts_v3", application, tenant or None, device)


def _is_name(level: str) -> bool:
    # Wildcards belong in filters, never in the topic of a published message.
    return bool(level) and "+" not in level and "#" not in level
