"""Hard kills, clean stops and a power cut of `stadsnav run` while webhook, MQTT and poll ingest."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from platform_harness import (
    MQTT,
    MQTT_KEY,
    POLL_INTEGRATION,
    POLL_KEY,
    WEBHOOK,
    WEBHOOK_KEY,
    FeedServer,
    Ingest,
    Platform,
    add_poll_integration,
    committed_sequences,
    dead_letter_reasons,
    duplicates,
    eventually,
    forget_mqtt_session,
    poll_cursor,
    reliability_workspace,
    wait_all_stored,
    wait_mqtt_subscribed,
)
from support import require_broker

pytestmark = pytest.mark.e2e

KILLS = 5
ROUND = {"webhook": 100, "mqtt": 100, "pages": 10}
"""Ingest between two kills: webhook messages acknowledged, MQTT messages received and feed
pages served, counted from when the round begins (about a second's worth on an idle machine)."""
BURST = 200
"""Webhook messages acknowledged before the power cut."""


@dataclass
class Rig:
    """A platform with three sources: the beach webhook, an MQTT topic and a polled feed."""

    platform: Platform
    feed: FeedServer
    topic: str

    def start(self) -> None:
        """Start the platform; return once its MQTT subscription stands."""
        self.platform.start()
        wait_mqtt_subscribed(self.platform)

    def ingest(self) -> Ingest:
        """Webhook and MQTT senders, started."""
        return Ingest(self.platform.url, self.topic, pause=0.002).start()

    def wait_round(self, ingest: Ingest) -> None:
        """Wait until the process has taken ``ROUND`` from each source since now."""
        start = self.progress(ingest)

        def done() -> bool | None:
            now = self.progress(ingest)
            return all(now[key] - start[key] >= ROUND[key] for key in ROUND) or None

        eventually(done, f"{ROUND} ingested", timeout=60)

    def progress(self, ingest: Ingest) -> dict[str, float]:
        """What each source has delivered to the process so far."""
        return {
            "webhook": len(ingest.acknowledged()),
            "mqtt": self.platform.metric("stadsnav_messages_received_total", integration=MQTT),
            "pages": self.feed.pages_served,
        }


@pytest.fixture
def rig(tmp_path: Path, storage_url: str) -> Iterator[Rig]:
    """The rig on each backend (the platform not started yet)."""
    require_broker()
    topic = f"stadsnav-reliability/{uuid.uuid4().hex}/up"
    workspace = reliability_workspace(tmp_path / "workspace", mqtt_topic=topic)
    # Many slow pages and a short interval: a poll is nearly always under way at a kill.
    feed = FeedServer(backlog=100, rate=30, page_size=10, page_delay=0.02)
    add_poll_integration(workspace, feed.url, interval=0.2)
    platform = Platform(workspace, storage_url)
    try:
        yield Rig(platform, feed, topic)
    finally:
        platform.close()
        feed.close()
        forget_mqtt_session(workspace)


def assert_committed(platform: Platform, acknowledged: set[int]) -> int:
    """Every acknowledged webhook and every record the poll cursor passed is in the store.

    Returns the poll cursor (0 when no poll was under way).
    """
    held = committed_sequences(platform, WEBHOOK, *WEBHOOK_KEY)
    lost = acknowledged - held
    assert not lost, f"{len(lost)} acknowledged webhooks not in the store: {sorted(lost)[:10]}"
    store = platform.store()
    try:
        cursor = poll_cursor(store)
    finally:
        store.close()
    held = committed_sequences(platform, POLL_INTEGRATION, *POLL_KEY)
    ahead = set(range(cursor)) - held
    assert not ahead, f"poll cursor at {cursor}, records not committed: {sorted(ahead)[:10]}"
    return cursor


def assert_all_stored_once(rig: Rig, ingest: Ingest) -> None:
    """Every message sent, published and released is stored once; nothing is dead-lettered."""
    sent = set(range(ingest.webhook_sent()))
    assert ingest.acknowledged() == sent
    assert ingest.published, "no MQTT message was published"
    rows = wait_all_stored(
        rig.platform,
        {WEBHOOK_KEY: sent, MQTT_KEY: ingest.published, POLL_KEY: set(range(rig.feed.freeze()))},
    )
    for (entity, _), found in rows.items():
        assert not duplicates(found), f"duplicate history rows of {entity}: {duplicates(found)}"
    assert dead_letter_reasons(rig.platform) == []


@pytest.mark.mqtt
def test_hard_kills_lose_and_duplicate_nothing(rig: Rig) -> None:
    """SIGKILL five times during ingest: nothing acknowledged lost, nothing stored twice."""
    rig.start()
    ingest = rig.ingest()
    cursors = []
    try:
        for _ in range(KILLS):
            rig.wait_round(ingest)
            rig.platform.kill()
            cursors.append(assert_committed(rig.platform, ingest.acknowledged()))
            rig.start()
        rig.wait_round(ingest)
        ingest.stop()
    finally:
        ingest.close()
    assert_all_stored_once(rig, ingest)
    assert any(cursors), f"no kill fell in a poll: the cursor check proved nothing ({cursors})"


@pytest.mark.mqtt
def test_clean_stop_loses_nothing_and_exits_in_time(rig: Rig) -> None:
    """SIGTERM during ingest: exit 0 within 10 s; after a restart everything is stored once."""
    rig.start()
    ingest = rig.ingest()
    try:
        rig.wait_round(ingest)
        assert rig.platform.stop(timeout=10) < 10
        assert_committed(rig.platform, ingest.acknowledged())
        rig.start()
        ingest.stop()
    finally:
        ingest.close()
    assert_all_stored_once(rig, ingest)


def test_sqlite_survives_a_power_cut(tmp_path: Path) -> None:
    """A kill in a write burst leaves a sound SQLite file holding every acknowledged message."""
    db = tmp_path / "stadsnav.db"
    platform = Platform(reliability_workspace(tmp_path / "workspace"), f"sqlite:///{db}")
    platform.start()
    ingest = Ingest(platform.url, webhook_threads=4).start()
    try:
        eventually(lambda: len(ingest.acknowledged()) >= BURST or None, f"{BURST} acknowledged", 60)
        platform.kill()
        acknowledged = ingest.acknowledged()
        connection = sqlite3.connect(db)
        try:
            assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        finally:
            connection.close()
        lost = acknowledged - committed_sequences(platform, WEBHOOK, *WEBHOOK_KEY)
        assert not lost, f"{len(lost)} acknowledged messages lost: {sorted(lost)[:10]}"
        platform.start()  # the file opens and the senders still under way get their answer
        ingest.stop()
    finally:
        ingest.close()
        platform.close()
