"""Fixtures of the reliability suite: a store URL per backend, platforms on workspace copies."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from platform_harness import (
    MQTT_DEVICE,
    ParkingFeed,
    Platform,
    forget_mqtt_session,
    fresh_store,
    mqtt_publisher,
    polling_platform_on,
    reliability_workspace,
    wait_mqtt_subscribed,
)
from support import require_broker


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store URL on each backend: a SQLite file, or a fresh PostgreSQL schema (dropped after)."""
    with fresh_store(tmp_path, request.param) as url:
        yield url


@pytest.fixture
def platform(tmp_path: Path, storage_url: str) -> Iterator[Platform]:
    """The demo's beach webhook on a `stadsnav run` process (not started yet)."""
    running = Platform(reliability_workspace(tmp_path / "workspace"), storage_url)
    yield running
    running.close()


@pytest.fixture
def feed() -> Iterator[ParkingFeed]:
    """A parking feed to poll."""
    serving = ParkingFeed()
    yield serving
    serving.close()


@pytest.fixture
def polling_platform(tmp_path: Path, storage_url: str, feed: ParkingFeed) -> Iterator[Platform]:
    """``polling_platform_on`` as a fixture (not started yet)."""
    running = polling_platform_on(tmp_path, storage_url, feed)
    yield running
    running.close()


@pytest.fixture
def mqtt_platform(tmp_path: Path, storage_url: str) -> Iterator[tuple[Platform, str]]:
    """A started platform subscribed to MQTT topics of this test only (its broker session
    ended after); and the topic of the Bovik sensor's uplinks."""
    require_broker()
    tag = f"rel-{uuid.uuid4().hex[:8]}"
    workspace = reliability_workspace(
        tmp_path / "workspace", mqtt_topic=f"application/{tag}/device/+/event/up"
    )
    running = Platform(workspace, storage_url)
    try:
        running.start()
        wait_mqtt_subscribed(running)
        yield running, f"application/{tag}/device/{MQTT_DEVICE[1]}/event/up"
    finally:
        running.close()
        forget_mqtt_session(workspace)


@pytest.fixture
def publisher() -> Iterator[paho.Client]:
    """A connected QoS 1 MQTT publisher."""
    require_broker()
    client = mqtt_publisher()
    yield client
    client.loop_stop()
    client.disconnect()
