"""``/admin/devices/unknown``: devices seen but not registered."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from stadsnav.runtime import Runtime
from stadsnav.store.base import NewInboxMessage
from support import BYSKE_SENSOR, UplinkFactory, process_inbox

UNKNOWN = "a81758fffe0a0b0c"


@pytest.fixture
def admin(client: TestClient, admin_headers: dict[str, str]) -> TestClient:
    """The app's client, sending a key of the admin scope."""
    client.headers.update(admin_headers)
    return client


def inbox(runtime: Runtime, make_uplink: UplinkFactory, *dev_euis: str) -> None:
    received = datetime(2026, 6, 1, 12, tzinfo=UTC)
    runtime.store.inbox_append(
        [
            NewInboxMessage(
                "beach-sensors-tts",
                f"m{n}",
                received,
                "application/json",
                make_uplink(dev_eui=dev_eui, f_cnt=n, received_at=received),
            )
            for n, dev_eui in enumerate(dev_euis, start=1)
        ]
    )
    process_inbox(runtime)


def test_no_unknown_devices(admin: TestClient) -> None:
    response = admin.get("/admin/devices/unknown")
    assert response.status_code == 200
    assert response.json() == []


def test_unknown_devices_are_grouped_by_dev_eui(
    admin: TestClient, runtime: Runtime, make_uplink: UplinkFactory
) -> None:
    inbox(runtime, make_uplink, UNKNOWN, BYSKE_SENSOR, UNKNOWN)
    response = admin.get("/admin/devices/unknown")
    assert response.status_code == 200
    [device] = response.json()
    ids = device.pop("deadLetterIds")
    assert len(ids) == 2
    assert device == {
        "devEui": UNKNOWN,
        "deviceName": "elt2-byske-havsbad",  # the name the network server gave it
        "count": 2,
        "firstSeen": "2026-06-01T12:00:00+00:00",
        "lastSeen": "2026-06-01T12:00:00+00:00",
        "integrations": ["beach-sensors-tts"],
    }


def test_scan_is_bounded(admin: TestClient) -> None:
    response = admin.get("/admin/devices/unknown", params={"scan": 0})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
