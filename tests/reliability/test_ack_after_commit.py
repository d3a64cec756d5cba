"""Ack after commit: while the store takes no writes, no sender is told its message is kept.

SQLite: another connection holds the write lock (a chmod would be no outage: the process keeps
its open file, and root ignores the mode). PostgreSQL: the process reaches the server through a
proxy that the test cuts, so its connections break and new ones are refused, as when the server
stops, while the server other tests use runs on. Webhook senders must get 503 with Retry-After
and never 202 for an uncommitted message. MQTT messages published meanwhile must not be
acknowledged to the broker: the process is SIGKILLed while they wait for the store, so only the
broker's redelivery of what was never acknowledged can bring them in after the restart (a
connector that acknowledged on receipt and held them in memory would lose them). After recovery
every message is stored once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from outages import RecordingSender, proxied_postgres, store_locked
from platform_harness import (
    MQTT,
    MQTT_KEY,
    WEBHOOK_KEY,
    Platform,
    dead_letter_reasons,
    duplicates,
    forget_mqtt_session,
    mqtt_body,
    mqtt_publisher,
    pending_sequences,
    publish_all,
    reliability_workspace,
    stored_sequences,
    wait_all_stored,
    wait_mqtt_subscribed,
)
from stadsnav.store.factory import open_store
from support import require_broker

pytestmark = [pytest.mark.e2e, pytest.mark.mqtt]

OUTAGE_SECONDS = 7.0
"""Longer than the inbox's max_wait (5 s), so senders see both kinds of 503: a stalled commit
and, once it is known, a store that takes nothing."""
BEFORE, DURING, AFTER = range(0, 40), range(40, 240), range(240, 280)
"""Sequence numbers sent before, across and after the outage."""


@dataclass
class Outage:
    """How the process reaches its store, and how the test takes the store away and back."""

    url: str
    take_away: Callable[[], None]
    give_back: Callable[[], None]


@contextmanager
def outage_of(storage_url: str) -> Iterator[Outage]:
    """A lock held from outside (SQLite), or a cut connection to the server (PostgreSQL)."""
    if storage_url.startswith("sqlite:///"):
        with ExitStack() as held:
            yield Outage(
                storage_url,
                lambda: held.enter_context(store_locked(storage_url)),
                held.close,
            )
        return
    with proxied_postgres(storage_url) as (url, proxy):
        yield Outage(url, proxy.cut, proxy.restore)


def test_no_sender_is_acknowledged_before_its_commit_while_the_store_is_down(
    tmp_path: Path, storage_url: str
) -> None:
    require_broker()
    topic = f"stadsnav-reliability/{uuid.uuid4().hex}/up"
    workspace = reliability_workspace(tmp_path / "workspace", mqtt_topic=topic)
    with outage_of(storage_url) as outage:
        platform = Platform(workspace, outage.url)
        publisher = mqtt_publisher()
        try:
            platform.start()
            wait_mqtt_subscribed(platform)
            run_outage(platform, outage, storage_url, topic, publisher)
        finally:
            publisher.loop_stop()
            publisher.disconnect()
            platform.close()
            forget_mqtt_session(workspace)


def run_outage(
    platform: Platform, outage: Outage, storage_url: str, topic: str, publisher: paho.Client
) -> None:
    """Send before, across and after an outage, killed in it; check every answer and the store."""
    sender = RecordingSender(platform.url, give_up_after=45)
    sender.send_all(BEFORE)
    publish_all(publisher, topic, [mqtt_body(n) for n in BEFORE])
    wait_all_stored(platform, {MQTT_KEY: set(BEFORE)})

    outage.take_away()
    down = time.monotonic()
    flood = sender.start(DURING, connections=4)
    publish_all(publisher, topic, [mqtt_body(n) for n in DURING])
    time.sleep(OUTAGE_SECONDS)
    # Read around the proxy; a SQLite write lock lets readers in.
    committed = held_sequences(storage_url, MQTT, MQTT_KEY)
    assert not committed & set(DURING), "an MQTT message was committed while the store was down"
    # What the process holds of the outage's MQTT messages now dies with it.
    killed = time.monotonic()
    platform.kill()
    outage.give_back()
    platform.start()
    wait_mqtt_subscribed(platform)
    flood()
    sender.send_all(AFTER)
    publish_all(publisher, topic, [mqtt_body(n) for n in AFTER])

    everything = {*BEFORE, *DURING, *AFTER}
    stored = wait_all_stored(platform, {WEBHOOK_KEY: everything, MQTT_KEY: everything})
    assert duplicates(stored[WEBHOOK_KEY]) == []
    assert duplicates(stored[MQTT_KEY]) == []
    dead = dead_letter_reasons(platform)
    assert dead == [], f"an outage must delay messages, not reject them: {dead[:5]}"

    during = [a for a in sender.attempts if a.sent > down and a.answered < killed]
    assert during, f"no webhook attempt fell inside the outage: {sender.attempts[-5:]}"
    assert {a.status for a in during} == {503}, [a for a in during if a.status != 503][:3]
    assert all(a.retry_after and int(a.retry_after) >= 1 for a in during)
    # No answer (0) only from the process killed or not yet restarted.
    answered = {a.status for a in sender.attempts if a.answered < killed}
    assert answered <= {202, 503}, sender.statuses()
    assert set(sender.statuses()) <= {0, 202, 503}, sender.statuses()


def held_sequences(storage_url: str, source: str, key: tuple[str, str]) -> set[int]:
    """Sequence numbers of ``source`` in the store, read with the test's own connection."""
    store = open_store(storage_url)
    try:
        stored = set(stored_sequences(store, *key))
    finally:
        store.close()
    return stored | pending_sequences(storage_url, source)
