"""Group commit: answered only after the commit, duplicates told apart, never a hung sender."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stadsnav.pipeline.inbox import InboxFullError, InboxUnavailableError, InboxWriter
from stadsnav.store.base import Appended, NewInboxMessage
from stadsnav.store.sqlite import SqliteStore


def message(message_id: str) -> NewInboxMessage:
    return NewInboxMessage(
        "beach-sensors-tts", message_id, datetime.now(UTC), "application/json", b"{}"
    )


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    opened = SqliteStore(tmp_path / "inbox.db")
    opened.migrate()
    return opened


def test_many_senders_are_answered_after_their_commit(store: SqliteStore) -> None:
    commits: list[int] = []
    writer = InboxWriter(store, on_commit=lambda: commits.append(store.inbox_stats()[0]))
    writer.start()

    async def send() -> list[Appended]:
        return await asyncio.gather(*(writer.submit(message(f"m{i % 150}")) for i in range(200)))

    outcomes = asyncio.run(send())
    writer.stop()
    assert sum(isinstance(o, int) for o in outcomes) == 150
    assert outcomes.count("duplicate") == 50  # the repeats
    assert store.inbox_stats()[0] == 150
    assert len(commits) < 200  # grouped: fewer transactions than messages
    assert commits[-1] == 150


def test_a_full_queue_refuses_unless_asked_to_wait(store: SqliteStore) -> None:
    writer = InboxWriter(store, max_pending=0)  # not started: nothing leaves the queue
    with pytest.raises(InboxFullError):
        asyncio.run(writer.submit(message("m1")))


def test_after_stop_a_sender_is_refused_not_left_waiting(store: SqliteStore) -> None:
    writer = InboxWriter(store)
    writer.start()
    writer.stop()

    async def late() -> Appended:
        return await asyncio.wait_for(writer.submit(message("late")), 2)

    with pytest.raises(InboxUnavailableError):
        asyncio.run(late())


def test_a_failing_commit_hook_does_not_stop_the_writer(store: SqliteStore) -> None:
    def broken() -> None:
        raise RuntimeError("pipeline wake-up failed")

    writer = InboxWriter(store, on_commit=broken)
    writer.start()

    async def two() -> tuple[Appended, Appended]:
        first = await asyncio.wait_for(writer.submit(message("a")), 5)
        second = await asyncio.wait_for(writer.submit(message("b")), 5)
        return first, second

    assert all(isinstance(outcome, int) for outcome in asyncio.run(two()))
    writer.stop()
    assert store.inbox_stats()[0] == 2


def test_a_store_failure_answers_every_sender_with_unavailable(store: SqliteStore) -> None:
    writer = InboxWriter(store)
    writer.start()
    store.close()
    with pytest.raises(InboxUnavailableError, match="could not commit"):
        asyncio.run(asyncio.wait_for(writer.submit(message("x")), 5))
    writer.stop()


# back-pressure: a locked or refusing store


def lock(store: SqliteStore) -> sqlite3.Connection:
    """Another connection holding the write lock, as a backup tool or an admin's shell would."""
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def refuse_inserts(store: SqliteStore) -> sqlite3.Connection:
    """Make every inbox insert fail, as a full disk would, until the trigger is dropped."""
    admin = sqlite3.connect(store.path, isolation_level=None)
    admin.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON inbox BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    return admin


def stored_ids(store: SqliteStore) -> set[str]:
    return {m.message_id for m in store.inbox_fetch(10_000)}


def test_a_locked_store_keeps_the_queue_bounded_and_refuses_the_rest(store: SqliteStore) -> None:
    writer = InboxWriter(store, max_pending=100, max_wait=0.5)
    writer.start()
    holder = lock(store)

    async def flood() -> tuple[list[bool | BaseException], int]:
        sends = [asyncio.ensure_future(writer.submit(message(f"m{i}"))) for i in range(400)]
        peak = 0
        while not all(send.done() for send in sends):
            peak = max(peak, writer.waiting)
            await asyncio.sleep(0.01)
        # The commit under way has waited longer than max_wait: new senders hear it at once.
        stalled = writer.refusal()
        assert isinstance(stalled, InboxFullError)
        assert stalled.reason == "stalled"
        holder.rollback()
        return [s.result() if not s.exception() else s.exception() for s in sends], peak

    outcomes, peak = asyncio.run(flood())
    writer.stop()
    reasons = {f"m{i}": o.reason for i, o in enumerate(outcomes) if isinstance(o, InboxFullError)}
    assert len(reasons) == 400  # nobody was told "committed" while the store was locked
    assert 0 < peak <= 100
    assert list(reasons.values()).count("full") == 300
    # Only messages whose commit had begun are kept (their senders heard "stalled" and retry).
    stored = stored_ids(store)
    assert stored
    assert {reasons[message_id] for message_id in stored} == {"stalled"}


def test_a_sender_that_gave_up_is_not_committed_later(store: SqliteStore) -> None:
    writer = InboxWriter(store, max_wait=0.3)
    writer.start()
    holder = lock(store)

    async def two() -> list[BaseException | None]:
        first = asyncio.ensure_future(writer.submit(message("in-commit")))
        while writer.waiting == 0 or writer._queue:
            await asyncio.sleep(0.005)  # the first message's commit has begun
        second = asyncio.ensure_future(writer.submit(message("queued")))
        await asyncio.wait([first, second])
        return [first.exception(), second.exception()]

    errors = asyncio.run(two())
    assert all(isinstance(e, InboxFullError) and e.reason == "stalled" for e in errors)
    assert writer.waiting == 1  # the withdrawn message left the queue
    holder.rollback()
    writer.stop()
    # At least once: the message whose commit had begun is kept, and its sender will retry.
    assert stored_ids(store) == {"in-commit"}


def test_a_waiting_sender_waits_out_a_locked_store(store: SqliteStore) -> None:
    writer = InboxWriter(store, max_wait=0.2)
    writer.start()
    holder = lock(store)

    async def patient() -> Appended:
        send = asyncio.ensure_future(writer.submit(message("mqtt-1"), wait=True))
        await asyncio.sleep(0.5)
        assert not send.done()
        holder.rollback()
        return await asyncio.wait_for(send, 15)

    assert isinstance(asyncio.run(patient()), int)
    writer.stop()
    assert stored_ids(store) == {"mqtt-1"}


def test_a_failed_commit_refuses_for_a_while_then_recovers(store: SqliteStore) -> None:
    writer = InboxWriter(store, retry_delay=0.3, max_retry_delay=0.6)
    writer.start()
    admin = refuse_inserts(store)

    async def outage() -> None:
        with pytest.raises(InboxUnavailableError, match="could not commit") as first:
            await writer.submit(message("a"))
        assert first.value.reason == "failed"
        assert first.value.retry_after == pytest.approx(0.3)
        assert first.value.retry_after_header == "1"
        # Refused without a commit attempt until the delay has passed, then tried again.
        with pytest.raises(InboxUnavailableError):
            await writer.submit(message("b"))
        await asyncio.sleep(0.35)
        with pytest.raises(InboxUnavailableError) as again:
            await writer.submit(message("c"))
        assert again.value.retry_after == pytest.approx(0.6)  # doubled while it fails
        admin.execute("DROP TRIGGER refuse")
        await asyncio.sleep(0.65)
        assert writer.refusal() is None
        assert isinstance(await writer.submit(message("d")), int)

    asyncio.run(outage())
    writer.stop()
    assert stored_ids(store) == {"d"}


def test_a_failed_commit_answers_every_queued_sender_at_once(store: SqliteStore) -> None:
    writer = InboxWriter(store, max_group=10)
    writer.start()
    refuse_inserts(store)

    async def many() -> list[BaseException | None]:
        sends = [asyncio.ensure_future(writer.submit(message(f"m{i}"))) for i in range(100)]
        done, _ = await asyncio.wait(sends, timeout=3)
        return [send.exception() for send in done]

    errors = asyncio.run(many())
    writer.stop()
    assert len(errors) == 100
    assert all(isinstance(e, InboxUnavailableError) for e in errors)


def test_the_byte_bound_refuses_big_messages(store: SqliteStore) -> None:
    writer = InboxWriter(store, max_pending_bytes=1000)
    writer.start()
    holder = lock(store)
    big = NewInboxMessage("src", "big", datetime.now(UTC), "application/json", b"1" * 1000)

    async def two() -> None:
        sent = asyncio.ensure_future(writer.submit(big))
        await asyncio.sleep(0.05)
        with pytest.raises(InboxFullError, match="1000 bytes") as full:
            await writer.submit(message("small"))
        assert full.value.reason == "full"
        holder.rollback()
        assert isinstance(await sent, int)

    asyncio.run(two())
    writer.stop()


def test_a_long_outage_does_not_overflow_the_refusal_delay(store: SqliteStore) -> None:
    writer = InboxWriter(store, max_retry_delay=5.0)
    writer._failures = 5_000  # the store has refused commits for hours
    writer._fail([], RuntimeError("connection refused"))
    refusal = writer.refusal()
    assert refusal is not None
    assert refusal.reason == "failed"
    assert 4.0 < refusal.retry_after <= 5.0
