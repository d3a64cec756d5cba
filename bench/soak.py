"""``python -m bench soak [--minutes N] [--storage sqlite|postgres]``: the reliability suite's
hard-kill and back-pressure scenarios, one after the other at full ingest rate until N minutes
have passed; prints messages sent, stored, dead-lettered and lost (which must be 0), and the
peak memory of ``stadsnav run``. Exits 1 if anything was lost, stored twice or a check failed.
"""

from __future__ import annotations

import argparse
import random
import socket
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import REPO_ROOT, progress

# The scenarios are the reliability suite's own: the soak proves what the tests prove, longer.
sys.path[:0] = [str(REPO_ROOT / "tests"), str(REPO_ROOT / "tests" / "reliability")]

from outages import SOAK_COUNT, backpressure_rig, flood_locked_store  # noqa: E402
from platform_harness import (  # noqa: E402
    BROKER,
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
    body_sequences,
    forget_mqtt_session,
    fresh_store,
    peak_rss_mb,
    reliability_workspace,
    stored_sequences,
    wait_mqtt_subscribed,
)

LABELS = {WEBHOOK: "webhook", MQTT: "mqtt", POLL_INTEGRATION: "poll"}
KILL_PHASE = 60.0
"""Seconds of ingest in one hard-kill phase."""
KILL_EVERY = (3.0, 10.0)
"""A kill comes after a random wait in this range (seconds)."""
WEBHOOK_THREADS = 8
MQTT_PAUSE = 0.004
"""Between MQTT publishes: Mosquitto keeps at most 1,000 messages (max_queued_messages) for a
session whose client is down, so faster than ~250/s it drops some while the platform restarts."""
SETTLE_SECONDS = 300.0
"""Longest wait, after ingest stops, for the backlog to be stored."""


@dataclass
class Tally:
    """One source in one scenario: what was sent and what became of it."""

    sent: int = 0
    stored: int = 0
    dead: int = 0
    duplicates: int = 0

    @property
    def lost(self) -> int:
        """Sent, but neither stored nor dead-lettered."""
        return self.sent - self.stored - self.dead

    def add(self, other: Tally) -> None:
        """Add another phase's figures."""
        self.sent += other.sent
        self.stored += other.stored
        self.dead += other.dead
        self.duplicates += other.duplicates


@dataclass
class Soak:
    """The figures of a whole run."""

    tallies: dict[str, Tally] = field(default_factory=dict)
    kills: int = 0
    floods: int = 0
    peak_mb: float = 0.0
    failures: list[str] = field(default_factory=list)

    def add(self, name: str, tally: Tally) -> None:
        """Add a phase's figures for one source."""
        self.tallies.setdefault(name, Tally()).add(tally)

    def lines(self, minutes: float, storage: str) -> list[str]:
        """The report."""
        total = Tally()
        rows = [f"{'source':<18} {'sent':>9} {'stored':>9} {'dead':>7} {'lost':>6} {'dups':>6}"]
        for name, tally in self.tallies.items():
            total.add(tally)
            rows.append(_row(name, tally))
        rows.append(_row("total", total))
        verdict = "ok" if self.ok else "FAILED"
        return [
            f"Stadsnav soak: {minutes:.1f} min on {storage}; hard kills: {self.kills}, "
            f"floods of a locked store: {self.floods}",
            *rows,
            f"peak memory of stadsnav run (VmHWM): {self.peak_mb:.0f} MB",
            *(f"failed: {failure}" for failure in self.failures),
            f"lost: {total.lost}, duplicates: {total.duplicates} — {verdict}",
        ]

    @property
    def ok(self) -> bool:
        """Nothing lost, nothing stored twice, no check failed."""
        return not self.failures and all(
            t.lost == 0 and t.duplicates == 0 for t in self.tallies.values()
        )


def _row(name: str, tally: Tally) -> str:
    return (
        f"{name:<18} {tally.sent:>9,} {tally.stored:>9,} {tally.dead:>7,} "
        f"{tally.lost:>6,} {tally.duplicates:>6,}"
    )


def kill_phase(folder: Path, storage_url: str, seconds: float, soak: Soak) -> None:
    """Ingest from three sources for ``seconds``, SIGKILL and restart now and then; tally."""
    topic = f"stadsnav-soak/{uuid.uuid4().hex}/up"
    workspace = reliability_workspace(folder / "workspace", mqtt_topic=topic)
    feed = FeedServer(backlog=100, rate=50, page_size=100, page_delay=0.005)
    add_poll_integration(workspace, feed.url, interval=0.5)
    platform = Platform(workspace, storage_url)
    rng = random.Random()
    try:
        platform.start()
        wait_mqtt_subscribed(platform)
        ingest = Ingest(
            platform.url, topic, webhook_threads=WEBHOOK_THREADS, mqtt_pause=MQTT_PAUSE
        ).start()
        try:
            end = time.monotonic() + seconds
            while (left := end - time.monotonic()) > 0:
                time.sleep(min(left, rng.uniform(*KILL_EVERY)))
                soak.peak_mb = max(soak.peak_mb, peak_rss_mb(platform))
                platform.kill()
                soak.kills += 1
                platform.start()
                wait_mqtt_subscribed(platform)
            ingest.stop()
        finally:
            ingest.close()
        expected = {
            WEBHOOK: (WEBHOOK_KEY, ingest.webhook_sent()),
            MQTT: (MQTT_KEY, len(ingest.published)),
            POLL_INTEGRATION: (POLL_KEY, feed.freeze()),
        }
        progress("soak", f"kill phase: {soak.kills} kills so far; waiting for the backlog")
        for source, tally in settle(platform, expected).items():
            soak.add(f"{LABELS[source]} (kills)", tally)
        soak.peak_mb = max(soak.peak_mb, peak_rss_mb(platform))
    finally:
        platform.close()
        feed.close()
        forget_mqtt_session(workspace)


def settle(
    platform: Platform, expected: dict[str, tuple[tuple[str, str], int]]
) -> dict[str, Tally]:
    """Wait until each source's numbers 0 … n-1 are stored or dead-lettered (or time is up)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        tallies = count(platform, expected)
        if all(t.lost <= 0 for t in tallies.values()) or time.monotonic() > deadline:
            return tallies
        time.sleep(1)


def count(platform: Platform, expected: dict[str, tuple[tuple[str, str], int]]) -> dict[str, Tally]:
    """Per source: sent, stored (distinct), dead-lettered (distinct, not stored), duplicates."""
    store = platform.store()
    try:
        tallies = {}
        for source, (key, sent) in expected.items():
            rows = stored_sequences(store, *key)
            stored = set(rows) & set(range(sent))
            dead = {
                n
                for letter in store.dead_letters(1_000_000, source)
                for n in _sequences(letter.body)
            }
            dead = (dead & set(range(sent))) - stored
            tallies[source] = Tally(sent, len(stored), len(dead), len(rows) - len(set(rows)))
        return tallies
    finally:
        store.close()


def _sequences(body: bytes) -> list[int]:
    try:
        return body_sequences(body)
    except (ValueError, KeyError, TypeError):
        return []  # not one of ours: counted by no source


def flood_phase(folder: Path, storage_url: str, soak: Soak) -> None:
    """The back-pressure scenario: 50,000 uplinks while the store is locked; tally."""
    with backpressure_rig(folder, storage_url) as rig:
        figures = flood_locked_store(rig, SOAK_COUNT)
        store = rig.platform.store()
        try:
            dead = len(store.dead_letters(1_000_000, WEBHOOK))
        finally:
            store.close()
    soak.floods += 1
    soak.peak_mb = max(soak.peak_mb, figures.peak_rss_mb)
    soak.add("webhook (flood)", Tally(figures.sent, figures.stored, dead))
    soak.add("poll (flood)", Tally(figures.poll_records, figures.poll_records))


def run(minutes: float, storage: str, kill_seconds: float = KILL_PHASE) -> Soak:
    """Alternate the two scenarios until ``minutes`` have passed (the last one is finished)."""
    soak = Soak()
    deadline = time.monotonic() + minutes * 60
    phases: list[tuple[str, Callable[[Path, str], None]]] = [
        ("hard kills", lambda f, url: kill_phase(f, url, kill_seconds, soak)),
        ("locked-store flood", lambda f, url: flood_phase(f, url, soak)),
    ]
    number = 0
    while time.monotonic() < deadline or number < len(phases):
        name, phase = phases[number % len(phases)]
        number += 1
        left = max(0.0, deadline - time.monotonic()) / 60
        progress("soak", f"phase {number}: {name} ({left:.1f} min left)")
        with tempfile.TemporaryDirectory(prefix="stadsnav-soak-") as tmp:
            folder = Path(tmp)
            try:
                with fresh_store(folder, storage) as url:
                    phase(folder, url)
            except AssertionError as error:
                soak.failures.append(f"phase {number} ({name}): {error}")
                traceback.print_exc()
    return soak


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print the figures; 0 if nothing was lost."""
    parser = argparse.ArgumentParser(prog="python -m bench soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long (default 10)")
    parser.add_argument("--storage", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--kill-phase", type=float, default=KILL_PHASE, help="seconds of ingest per kill phase"
    )
    args = parser.parse_args(argv)
    try:
        socket.create_connection(BROKER, timeout=2).close()
    except OSError as error:
        print(f"soak: Mosquitto not reachable at {BROKER[0]}:{BROKER[1]}: {error}")
        return 2
    started = time.monotonic()
    soak = run(args.minutes, args.storage, args.kill_phase)
    print()
    print("\n".join(soak.lines((time.monotonic() - started) / 60, args.storage)))
    return 0 if soak.ok else 1


if __name__ == "__main__":
    sys.exit(main())
