"""Back-pressure: lock the store and flood the webhook; nothing is buffered unbounded or lost.

While another connection holds the store's write lock, impatient senders post numbered uplinks
from many threads and a feed is polled. The inbox writer's queue (``stadsnav_inbox_queue`` in
``/metrics``) holds only messages whose senders still wait for an answer; once a commit has
waited longer than the inbox's ``max_wait`` every sender is answered 503 with Retry-After at
once, and the poller stops fetching (``stadsnav_poll_paused``). After the lock is lifted every
message answered 202 is stored exactly once, and the counters account for every answer.

``make test`` runs the fast variant (``FAST_COUNT`` messages); ``make soak`` calls
``flood_locked_store`` with 50,000 (``SOAK_COUNT``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from outages import MetricsWatch, RecordingSender, metric_sample, store_locked
from platform_harness import (
    POLL_ATTRIBUTE,
    POLL_ENTITY,
    WEBHOOK_DEVICE,
    FeedServer,
    Platform,
    add_poll_integration,
    dead_letter_reasons,
    duplicates,
    entity_of,
    reliability_workspace,
    wait_all_stored,
)

pytestmark = [pytest.mark.e2e]

FAST_COUNT = 3_000
SOAK_COUNT = 50_000
SENDERS = 16
LOCKED_FOR = 7.0
"""Longer than the inbox's max_wait (5 s): the stall is detected and answered at once."""
MAX_PENDING = 10_000
"""The inbox writer's bound (InboxWriter.max_pending)."""
WEBHOOK_KEY = (entity_of(WEBHOOK_DEVICE), "temperature")
POLL_KEY = (POLL_ENTITY, POLL_ATTRIBUTE)
QUEUE, PAUSED = "stadsnav_inbox_queue", "stadsnav_poll_paused"


@dataclass
class Rig:
    """A started platform with the beach webhook and a polled feed that grows."""

    platform: Platform
    feed: FeedServer


@dataclass(frozen=True)
class FloodFigures:
    """What a flood sent and what came of it."""

    sent: int
    accepted: int
    refused: int
    stored: int
    dead_lettered: int
    lost: int
    peak_queue: float
    poll_records: int
    seconds: float
    peak_rss_mb: float
    """The `stadsnav run` process's peak resident memory (0 where /proc does not tell)."""


@contextmanager
def backpressure_rig(tmp_path: Path, storage_url: str) -> Iterator[Rig]:
    """The rig, started; stopped and closed after the block."""
    workspace = reliability_workspace(tmp_path / "workspace")
    feed = FeedServer(rate=50, page_size=25)
    add_poll_integration(workspace, feed.url, interval=0.2)
    platform = Platform(workspace, storage_url)
    try:
        platform.start()
        yield Rig(platform, feed)
    finally:
        platform.close()
        feed.close()


def flood_locked_store(
    rig: Rig, count: int, senders: int = SENDERS, locked_for: float = LOCKED_FOR
) -> FloodFigures:
    """Send ``count`` uplinks from ``senders`` threads, the store locked for ``locked_for`` s.

    Checks every guarantee and fails on the first broken one; returns the figures.
    """
    platform, started = rig.platform, time.monotonic()
    sender = RecordingSender(platform.url, pause=0.01, give_up_after=locked_for + 90)
    with MetricsWatch(platform.url, [QUEUE, PAUSED]) as watch:
        with store_locked(platform.storage_url):
            pages_at_lock, samples_at_lock = rig.feed.pages_served, watch.samples
            flood = sender.start(range(count), threads=senders)
            time.sleep(locked_for)
            pages_in_lock = rig.feed.pages_served - pages_at_lock
            samples_in_lock = watch.samples - samples_at_lock
        flood()
    records = rig.feed.freeze()
    stored = wait_all_stored(
        platform, {WEBHOOK_KEY: set(range(count)), POLL_KEY: set(range(records))}, timeout=300
    )

    statuses = sender.statuses()
    accepted, refused = statuses.get(202, 0), statuses.get(503, 0)
    assert set(statuses) <= {202, 503}, f"answers other than 202 and 503: {statuses}"
    assert sender.acknowledged() == set(range(count))
    assert duplicates(stored[WEBHOOK_KEY]) == []
    assert duplicates(stored[POLL_KEY]) == []
    dead = dead_letter_reasons(platform)
    assert dead == [], f"a locked store must delay messages, not reject them: {dead[:5]}"
    assert refused > 0, "no sender was refused while the store was locked"
    refusals = [a for a in sender.attempts if a.status == 503]
    assert all(a.retry_after and int(a.retry_after) >= 1 for a in refusals)
    # Zero silent drops: the platform counted every answer it gave.
    text = httpx.get(f"{platform.url}/metrics", timeout=5).text
    webhook = {"integration": "beach-sensors-tts"}
    counted = sum(
        metric_sample(text, f"stadsnav_messages_{kind}_total", **webhook)
        for kind in ("received", "duplicate")
    )
    assert counted == accepted
    assert metric_sample(text, "stadsnav_messages_deferred_total", **webhook) == refused
    # Bounded: only messages whose senders wait (or whose commit had begun) are held.
    assert samples_in_lock > 0
    assert 0 < watch.peaks[QUEUE] <= min(2 * senders, MAX_PENDING), watch.peaks
    assert watch.peaks[PAUSED] == 1, "the poller did not pause"
    assert pages_in_lock <= 2, f"{pages_in_lock} pages fetched while the store was locked"
    return FloodFigures(
        sent=count,
        accepted=accepted,
        refused=refused,
        stored=len(stored[WEBHOOK_KEY]),
        dead_lettered=len(dead),
        lost=count - len(set(stored[WEBHOOK_KEY])),
        peak_queue=watch.peaks[QUEUE],
        poll_records=records,
        seconds=time.monotonic() - started,
        peak_rss_mb=peak_rss_mb(platform),
    )


def peak_rss_mb(platform: Platform) -> float:
    """The process's peak resident set size so far, from /proc (Linux)."""
    assert platform.process is not None
    try:
        status = Path(f"/proc/{platform.process.pid}/status").read_text()
    except OSError:
        return 0.0
    kib = next((line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")), "0")
    return int(kib) / 1024


def test_a_locked_store_refuses_senders_pauses_pollers_and_loses_nothing(
    tmp_path: Path, storage_url: str
) -> None:
    with backpressure_rig(tmp_path, storage_url) as rig:
        figures = flood_locked_store(rig, FAST_COUNT)
    assert figures.lost == 0
