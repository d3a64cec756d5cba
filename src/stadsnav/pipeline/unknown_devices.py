"""Devices seen but not registered: found in the dead letters, listed for an operator to adopt."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stadsnav.connectors.envelopes import EnvelopeError, parse_uplinks
from stadsnav.store.base import DeadLetter
from stadsnav.workspace.device_csv import COLUMNS
from stadsnav.workspace.models import Workspace

DEVICE_STAGE = "device"
_UNKNOWN_REASON = re.compile(r"unknown device ([0-9a-f]{16}) \((.*?)\)")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(slots=True)
class UnknownDevice:
    """A device whose uplinks were dead-lettered because it is not in the registry."""

    dev_eui: str
    device_name: str | None
    """The network server's name for the device."""
    count: int
    first_seen: datetime
    last_seen: datetime
    integrations: list[str]
    dead_letter_ids: list[int]

    def as_json(self) -> dict[str, Any]:
        """The device as the admin API shows it."""
        return {
            "devEui": self.dev_eui,
            "deviceName": self.device_name,
            "count": self.count,
            "firstSeen": self.first_seen.isoformat(),
            "lastSeen": self.last_seen.isoformat(),
            "integrations": self.integrations,
            "deadLetterIds": self.dead_letter_ids,
        }


def unknown_devices(letters: Iterable[DeadLetter], workspace: Workspace) -> list[UnknownDevice]:
    """Devices dead-lettered at the device stage and still not registered, most seen first."""
    found: dict[str, UnknownDevice] = {}
    for letter in letters:
        if letter.stage != DEVICE_STAGE:
            continue
        for dev_eui, name in _senders(letter, workspace):
            if dev_eui not in workspace.devices:
                _count(found, letter, dev_eui, name)
    return sorted(found.values(), key=lambda d: (-d.count, d.dev_eui))


def _senders(letter: DeadLetter, workspace: Workspace) -> list[tuple[str, str | None]]:
    integration = workspace.integrations.get(letter.source)
    fmt = integration.source.format if integration is not None else "auto"
    try:
        return [(u.dev_eui, u.device_id) for u in parse_uplinks(letter.body, fmt)]
    except EnvelopeError:
        # The envelope parsed when the letter was written; the reason still names the device.
        match = _UNKNOWN_REASON.search(letter.reason)
        if match is None:
            return []
        return [(match.group(1), None if match.group(2) == "no name" else match.group(2))]


def _count(
    found: dict[str, UnknownDevice], letter: DeadLetter, dev_eui: str, name: str | None
) -> None:
    seen = letter.received_at
    device = found.get(dev_eui)
    if device is None:
        found[dev_eui] = UnknownDevice(dev_eui, name, 1, seen, seen, [letter.source], [letter.id])
        return
    device.count += 1
    device.device_name = device.device_name or name
    device.first_seen = min(device.first_seen, seen)
    device.last_seen = max(device.last_seen, seen)
    if letter.source not in device.integrations:
        device.integrations.append(letter.source)
    if letter.id not in device.dead_letter_ids:
        device.dead_letter_ids.append(letter.id)


def adoption_csv(devices: Iterable[UnknownDevice], workspace: Workspace) -> str:
    """A CSV to complete and import that registers these devices; names from the network server."""
    taken = {d.name for d in workspace.devices.values()}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for device in devices:
        name = _free_name(_slug(device.device_name) or f"device-{device.dev_eui}", device, taken)
        taken.add(name)
        writer.writerow([device.dev_eui, name, "", "", "", "", ""])
    return buffer.getvalue()


def _slug(name: str | None) -> str:
    return _NOT_SLUG.sub("-", (name or "").lower()).strip("-")


def _free_name(name: str, device: UnknownDevice, taken: Collection[str]) -> str:
    return name if name not in taken else f"{name}-{device.dev_eui[-4:]}"
