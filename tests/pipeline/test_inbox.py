"""Group commit: answered only after the commit, duplicates told apart, never a hung sender."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stadsnav.pipeline.inbox import InboxFullError, InboxUnavailableError, InboxWriter
from stadsnav.store.base import NewInboxMessage
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

    async def send() -> list[bool]:
        return await asyncio.gather(*(writer.submit(message(f"m{i % 150}")) for i in range(200)))

    outcomes = asyncio.run(send())
    writer.stop()
    assert outcomes.count(True) == 150  # the 50 repeats are duplicates of pending messages
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

    async def late() -> bool:
        return await asyncio.wait_for(writer.submit(message("late")), 2)

    with pytest.raises(InboxUnavailableError):
        asyncio.run(late())


def test_a_failing_commit_hook_does_not_stop_the_writer(store: SqliteStore) -> None:
    def broken() -> None:
        raise RuntimeError("pipeline wake-up failed")

    writer = InboxWriter(store, on_commit=broken)
    writer.start()

    async def two() -> tuple[bool, bool]:
        first = await asyncio.wait_for(writer.submit(message("a")), 5)
        second = await asyncio.wait_for(writer.submit(message("b")), 5)
        return first, second

    assert asyncio.run(two()) == (True, True)
    writer.stop()
    assert store.inbox_stats()[0] == 2


def test_a_store_failure_answers_every_sender_with_unavailable(store: SqliteStore) -> None:
    writer = InboxWriter(store)
    writer.start()
    store.close()
    with pytest.raises(InboxUnavailableError, match="could not commit"):
        asyncio.run(asyncio.wait_for(writer.submit(message("x")), 5))
    writer.stop()
