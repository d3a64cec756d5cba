"""Inbox → pipeline → store on a real SQLite store: stored once, dead letters kept, restart-safe."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stadsnav.metrics import Metrics
from stadsnav.pipeline.processor import Batch, Processor
from stadsnav.pipeline.runner import BatchResult, PipelineRunner, PipelineWorker
from stadsnav.store import sql
from stadsnav.store.base import AttributeWrite, ContextStore, InboxMessage, NewInboxMessage
from stadsnav.store.sqlite import SqliteStore
from stadsnav.workspace import Workspace
from support import UplinkFactory

ENTITY = "urn:ngsi-ld:WaterQualityObserved:skelleftea:elt2-byske-havsbad"


def open_runner(workspace: Workspace, path: Path, batch_size: int = 500) -> PipelineRunner:
    store = SqliteStore(path)
    store.migrate()
    return PipelineRunner(store, Processor(workspace), Metrics(), batch_size)


def receive(store: ContextStore, bodies: list[bytes], first: int = 0) -> None:
    now = datetime.now(UTC)
    store.inbox_append(
        [
            NewInboxMessage("beach-sensors-tts", f"m{i}", now, "application/json", body)
            for i, body in enumerate(bodies, first)
        ]
    )


def test_uplinks_are_stored_and_failures_dead_lettered(
    workspace: Workspace, make_uplink: UplinkFactory, tmp_path: Path
) -> None:
    runner = open_runner(workspace, tmp_path / "db.sqlite")
    start = datetime(2026, 7, 1, 10, tzinfo=UTC)
    good = [make_uplink(received_at=start + timedelta(minutes=10 * i), f_cnt=i) for i in range(5)]
    receive(runner.store, [*good, b"not json", make_uplink(payload=b"\x01\x00")])

    result = runner.drain()

    assert (result.messages, result.stored, result.dead) == (7, 5, 2)
    assert runner.store.inbox_stats() == (0, None)
    entity = runner.store.get_entity(ENTITY)
    assert entity is not None
    assert entity.attributes["temperature"]["value"] == 19.3
    assert entity.attributes["temperature"]["observedAt"] == "2026-07-01T10:40:00Z"
    history = runner.store.history(ENTITY, ["temperature"])
    assert len(history["temperature"]) == 5
    stages = sorted(letter.stage for letter in runner.store.dead_letters())
    assert stages == ["decode", "envelope"]


def test_the_same_observation_twice_is_stored_once(
    workspace: Workspace, make_uplink: UplinkFactory, tmp_path: Path
) -> None:
    runner = open_runner(workspace, tmp_path / "db.sqlite")
    body = make_uplink(received_at=datetime(2026, 7, 1, 10, tzinfo=UTC))
    receive(runner.store, [body])
    runner.drain()
    receive(runner.store, [body])  # a network server's retry after the first was processed
    assert runner.store.inbox_stats()[0] == 0  # recognised at the inbox: the id was seen
    assert runner.drain().messages == 0
    assert len(runner.store.history(ENTITY)["temperature"]) == 1


def test_a_restart_resumes_with_what_was_not_processed(
    workspace: Workspace, make_uplink: UplinkFactory, tmp_path: Path
) -> None:
    path = tmp_path / "db.sqlite"
    first = open_runner(workspace, path, batch_size=3)
    start = datetime(2026, 7, 1, 10, tzinfo=UTC)
    receive(first.store, [make_uplink(received_at=start + timedelta(minutes=i)) for i in range(7)])
    assert first.run_batch().messages == 3
    first.store.close()

    second = open_runner(workspace, path, batch_size=3)
    assert second.drain().messages == 4
    assert len(second.store.history(ENTITY)["temperature"]) == 7


def test_replayed_dead_letters_are_processed_after_the_fix(
    workspace: Workspace, make_uplink: UplinkFactory, tmp_path: Path
) -> None:
    runner = open_runner(workspace, tmp_path / "db.sqlite")
    receive(runner.store, [make_uplink(dev_eui="a81758fffe0a0b0c")])
    assert runner.drain().dead == 1
    [letter] = runner.store.dead_letters()
    assert letter.stage == "device"

    device = workspace.devices.pop("a81758fffe05c3a1")
    workspace.devices["a81758fffe0a0b0c"] = device.model_copy(
        update={"dev_eui": "a81758fffe0a0b0c"}
    )
    fixed = PipelineRunner(runner.store, Processor(workspace), Metrics())
    replayed = runner.store.replay_dead_letters()
    assert len(replayed) == 1
    result = fixed.process(replayed)
    assert (result.messages, result.dead) == (1, 0)
    assert runner.store.dead_letters() == []


class _UnstorableValue(Processor):
    """Maps every message to a value no store can serialise (a codec bug, say)."""

    def process(self, message: InboxMessage, written: object = None) -> list[AttributeWrite]:
        value = {"type": "Property", "value": object(), "observedAt": "2026-07-01T10:00:00Z"}
        when = datetime(2026, 7, 1, 10, tzinfo=UTC)
        return [AttributeWrite("urn:ngsi-ld:X:1", "X", "v", value, when)]


def test_a_message_the_store_always_refuses_is_dead_lettered_after_its_attempts(
    workspace: Workspace,
    make_uplink: UplinkFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sql, "CLAIM_SECONDS", -1)  # every claim runs out at once
    store = SqliteStore(tmp_path / "db.sqlite")
    store.migrate()
    runner = PipelineRunner(store, _UnstorableValue(workspace), Metrics(), max_attempts=3)
    receive(store, [make_uplink()])
    for _ in range(2):
        with pytest.raises(TypeError):
            runner.run_batch()  # retried while the cause may be passing (a store outage)
    result = runner.run_batch()
    assert (result.messages, result.dead) == (1, 1)
    [letter] = store.dead_letters()
    assert (letter.stage, letter.reason) == ("store", "not stored after 3 attempts")
    assert store.inbox_stats() == (0, None)


class _CrashesOnFirstMessage(Processor):
    """Crashes on message m0 as a buggy codec would (not a ``StageError`` verdict)."""

    def process(self, message: InboxMessage, batch: Batch | None = None) -> list[AttributeWrite]:
        if message.message_id == "m0":
            raise ZeroDivisionError("division by zero in a codec")
        return super().process(message, batch)


def test_a_crashing_message_is_retried_with_backoff_then_dead_lettered(
    workspace: Workspace, make_uplink: UplinkFactory, tmp_path: Path
) -> None:
    workspace.settings.pipeline.retry_backoff = timedelta(milliseconds=200)
    store = SqliteStore(tmp_path / "db.sqlite")
    store.migrate()
    runner = PipelineRunner(store, _CrashesOnFirstMessage(workspace, store), Metrics())
    start = datetime(2026, 7, 1, 10, tzinfo=UTC)
    receive(store, [make_uplink(received_at=start + timedelta(minutes=i)) for i in range(3)])

    waits: list[float] = []
    while store.inbox_stats()[0]:
        before = datetime.now(UTC)
        result = runner.run_batch()
        if result.messages and store.inbox_stats()[0]:
            [(until,)] = store._query("SELECT claimed_until FROM inbox_attempts", ())
            waits.append((datetime.fromisoformat(until) - before).total_seconds())
        time.sleep(0.02)

    assert len(store.history(ENTITY)["temperature"]) == 2  # the others were not held back
    # Not before the doubling wait (0.2 s, then 0.4 s) from the crash, measured from before it.
    assert len(waits) == 2
    assert 0.2 <= waits[0] < 0.2 + 0.5
    assert 0.4 <= waits[1] < 0.4 + 0.5
    [letter] = store.dead_letters()
    assert (letter.stage, letter.message_id) == ("internal", "m0")
    assert letter.reason == "ZeroDivisionError: division by zero in a codec (failed 3 times)"


class _StoreGoneWhileProcessing(Processor):
    """The store goes away while a message is processed (a database restart, say)."""

    def process(self, message: InboxMessage, batch: Batch | None = None) -> list[AttributeWrite]:
        assert self.store is not None
        self.store.close()
        raise sqlite3.OperationalError("unable to open database file")


def test_a_store_failure_while_processing_is_no_attempt_of_the_message(
    workspace: Workspace, make_uplink: UplinkFactory, tmp_path: Path
) -> None:
    path = tmp_path / "db.sqlite"
    store = SqliteStore(path)
    store.migrate()
    runner = PipelineRunner(store, _StoreGoneWhileProcessing(workspace, store), Metrics())
    receive(store, [make_uplink()])
    with pytest.raises(sqlite3.OperationalError):
        runner.run_batch()  # the worker backs off; the message is not judged
    reopened = SqliteStore(path)
    assert reopened.dead_letters() == []
    assert reopened.inbox_stats()[0] == 1


def test_a_message_whose_mapping_always_fails_is_retried_then_dead_lettered(
    workspace: Workspace, make_uplink: UplinkFactory, tmp_path: Path
) -> None:
    workspace.settings.pipeline.retry_backoff = timedelta(milliseconds=100)
    runner = open_runner(workspace, tmp_path / "db.sqlite")
    start = datetime(2026, 7, 1, 10, tzinfo=UTC)
    poison = make_uplink(payload=bytes.fromhex("0100e6"), received_at=start)  # no external probe
    receive(runner.store, [poison, make_uplink(received_at=start + timedelta(minutes=1))])

    assert (runner.run_batch().stored, runner.store.dead_letters()) == (1, [])  # waits
    assert runner.run_batch().messages == 0  # not before its backoff
    attempts = 1
    while not runner.store.dead_letters():
        time.sleep(0.05)
        attempts += runner.run_batch().messages
    assert attempts == 3  # max_attempts
    [letter] = runner.store.dead_letters()
    assert letter.stage == "map"
    assert "data.externalTemperature is missing" in letter.reason
    assert runner.store.inbox_stats()[0] == 0


def test_a_verdict_on_the_data_is_dead_lettered_without_retries(
    workspace: Workspace, make_uplink: UplinkFactory, tmp_path: Path
) -> None:
    runner = open_runner(workspace, tmp_path / "db.sqlite")
    receive(runner.store, [make_uplink(received_at=datetime(2099, 1, 1, tzinfo=UTC))])
    assert runner.run_batch().dead == 1
    [letter] = runner.store.dead_letters()
    assert letter.stage == "validate"
    assert letter.reason.startswith("future_timestamp: observation time 2099-01-01T00:00:00Z")


def test_a_woken_worker_gathers_messages_arriving_close_together_into_one_batch(
    workspace: Workspace, make_uplink: UplinkFactory, tmp_path: Path
) -> None:
    runner = open_runner(workspace, tmp_path / "db.sqlite")
    sizes: list[int] = []
    run_batch = runner.run_batch

    def counted() -> BatchResult:
        result = run_batch()
        if result.messages:
            sizes.append(result.messages)
        return result

    runner.run_batch = counted  # type: ignore[method-assign]
    worker = PipelineWorker(runner, poll_interval=5.0, gather_seconds=0.3)
    start = datetime(2026, 7, 1, 10, tzinfo=UTC)
    worker.start()
    time.sleep(0.1)  # its first look finds the inbox empty; now it waits for a wake-up
    try:
        for i in range(3):
            at = start + timedelta(minutes=10 * i)
            receive(runner.store, [make_uplink(received_at=at, f_cnt=i)], first=i)
            worker.wake()
            time.sleep(0.02)
        deadline = time.monotonic() + 5
        while sum(sizes) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        worker.stop()

    assert sizes == [3]
