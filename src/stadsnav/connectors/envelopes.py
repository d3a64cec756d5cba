"""Lift an ``Uplink`` out of the envelope of any common LoRaWAN network server."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import orjson

from stadsnav.connectors.envelopes_chirpstack import (
    CHIRPSTACK_V3,
    CHIRPSTACK_V4,
    MILESIGHT_GATEWAY,
    parse_chirpstack_v3,
    parse_chirpstack_v3_status,
    parse_chirpstack_v4,
    parse_chirpstack_v4_status,
    parse_milesight_gateway,
)
from stadsnav.connectors.envelopes_common import EnvelopeError, json_type
from stadsnav.connectors.envelopes_loriot import LORIOT, parse_loriot
from stadsnav.connectors.envelopes_netmore import NETMORE, parse_netmore
from stadsnav.connectors.envelopes_servanet import SERVANET, parse_servanet
from stadsnav.connectors.envelopes_thingpark import THINGPARK, parse_thingpark
from stadsnav.connectors.envelopes_tts import TTS_V3, parse_tts_v3
from stadsnav.model.uplink import DeviceStatus, Uplink

__all__ = [
    "FORMATS",
    "STATUS_FORMATS",
    "EnvelopeError",
    "batch_message_id",
    "detect_format",
    "envelope_message_id",
    "parse_status",
    "parse_uplink",
    "parse_uplinks",
]

FORMATS: tuple[str, ...] = (
    TTS_V3,
    CHIRPSTACK_V4,
    CHIRPSTACK_V3,
    NETMORE,
    SERVANET,
    LORIOT,
    THINGPARK,
    MILESIGHT_GATEWAY,
    "auto",
)
"""Every value of a source's ``format``: one per envelope shape, and ``auto`` to detect it."""

STATUS_FORMATS: tuple[str, ...] = (CHIRPSTACK_V4, CHIRPSTACK_V3)
"""The envelope formats whose device ``status`` events ``parse_status`` reads."""


def reads_status(fmt: str) -> bool:
    """Whether a source of this format may deliver device ``status`` events."""
    return fmt == "auto" or fmt in STATUS_FORMATS


# Netmore is left out: its envelope is an array, which parse_netmore takes whole.
_OBJECT_PARSERS: dict[str | None, Callable[[dict[str, Any]], Uplink]] = {
    TTS_V3: parse_tts_v3,
    CHIRPSTACK_V4: parse_chirpstack_v4,
    CHIRPSTACK_V3: parse_chirpstack_v3,
    SERVANET: parse_servanet,
    LORIOT: parse_loriot,
    THINGPARK: parse_thingpark,
    MILESIGHT_GATEWAY: parse_milesight_gateway,
}


def parse_uplink(body: bytes, fmt: str = "auto") -> Uplink:
    """Parse an envelope holding one uplink; ``fmt`` is one of ``FORMATS``."""
    uplinks = parse_uplinks(body, fmt)
    if len(uplinks) != 1:
        raise EnvelopeError(f"a Netmore batch of {len(uplinks)} uplinks: use parse_uplinks")
    return uplinks[0]


def parse_uplinks(body: bytes, fmt: str = "auto") -> list[Uplink]:
    """Parse an envelope holding one uplink, or a Netmore batch of several, in their order."""
    doc = _load(body)
    if type(doc) is dict:
        parser = _OBJECT_PARSERS.get(_detect_object(doc) if fmt == "auto" else fmt)
        if parser is not None:
            return [parser(doc)]
    return _parse_other(doc, fmt)


def parse_status(body: bytes, fmt: str = "auto") -> DeviceStatus:
    """Parse a ChirpStack v4 or v3 device ``status`` event; ``fmt`` is one of those or ``auto``."""
    doc = _load(body)
    if type(doc) is not dict:
        raise EnvelopeError(f"status event is not a JSON object but {json_type(doc)}")
    network = _detect_object(doc) if fmt == "auto" else fmt
    # Neither version gives v3 events an id, and a v3 status event need not have a time.
    body_id = "sha256:" + hashlib.sha256(body).hexdigest()[:32]
    if network == CHIRPSTACK_V4:
        return parse_chirpstack_v4_status(doc, body_id)
    if network == CHIRPSTACK_V3:
        return parse_chirpstack_v3_status(doc, body_id)
    formats = " or ".join(STATUS_FORMATS)
    raise EnvelopeError(f"status events are read from {formats} only, not {network or 'this'}")


def batch_message_id(uplinks: list[Uplink]) -> str:
    """The inbox id of an envelope: its uplink's own id, or one derived from a batch's ids."""
    if len(uplinks) == 1:
        return uplinks[0].message_id
    joined = "\n".join(uplink.message_id for uplink in uplinks)
    return f"batch:{len(uplinks)}:{hashlib.sha256(joined.encode()).hexdigest()[:32]}"


def envelope_message_id(body: bytes, fmt: str, kind: str = "up") -> str:
    """The inbox id of an uplink envelope (or batch) or a status event; ``EnvelopeError`` if not."""
    if kind == "status":
        return parse_status(body, fmt).message_id
    return batch_message_id(parse_uplinks(body, fmt))


def detect_format(doc: Any) -> str | None:
    """Which envelope format a decoded JSON document is in, from its keys; None if unknown."""
    if type(doc) is dict:
        return _detect_object(doc)
    if type(doc) is list and doc and type(doc[0]) is dict and "devEui" in doc[0]:
        return NETMORE
    return None


def _detect_object(doc: dict[str, Any]) -> str | None:
    if "end_device_ids" in doc or "uplink_message" in doc:
        return TTS_V3
    if "deviceInfo" in doc:
        return CHIRPSTACK_V4
    if "devEUI" in doc or "applicationID" in doc:
        return _detect_chirpstack_v3_like(doc)
    if "devEui" in doc:
        if "data" in doc:
            return SERVANET
        return NETMORE if "payload" in doc or "Payload" in doc else None
    if "cmd" in doc:
        return LORIOT
    if any(key.startswith("DevEUI_") for key in doc):
        return THINGPARK
    return None


def _detect_chirpstack_v3_like(doc: dict[str, Any]) -> str | None:
    if isinstance(doc.get("payload"), dict):
        return None  # a diwise internal event, named by _unknown_shape
    # ChirpStack v3 writes the (int64) application id as a string and has no top-level time.
    if type(doc.get("applicationID")) is int or "time" in doc:
        return MILESIGHT_GATEWAY
    return CHIRPSTACK_V3


def _load(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise EnvelopeError(f"invalid JSON: {exc}") from None


def _parse_other(doc: Any, fmt: str) -> list[Uplink]:
    network = detect_format(doc) if fmt == "auto" else fmt
    if network == NETMORE:
        return parse_netmore(doc)
    if fmt not in FORMATS:
        choices = ", ".join(FORMATS)
        raise EnvelopeError(f"unknown envelope format {fmt!r}: use one of {choices}")
    if isinstance(doc, dict):
        raise EnvelopeError(_unknown_shape(doc))
    raise EnvelopeError(f"envelope is not a JSON object but {json_type(doc)}")


def _unknown_shape(doc: dict[str, Any]) -> str:
    if "devEUI" in doc and isinstance(doc.get("payload"), dict):
        return (
            "unknown envelope shape: a diwise internal event (payload.data, payload.fPort), "
            "not a network server's envelope"
        )
    if "devEui" in doc:
        return "unknown envelope shape: devEui but neither data (Servanet) nor payload (Netmore)"
    keys = ", ".join(sorted(doc)[:8]) or "none"
    return (
        "unknown envelope shape: not The Things Stack v3, ChirpStack v3 or v4, Netmore, "
        f"Servanet, LORIOT, ThingPark or a Milesight gateway; top-level keys: {keys}"
    )
