"""Inbox duplicate detection: held while pending, forgotten once processed, keys pruned."""

from __future__ import annotations

from datetime import UTC, datetime

from stadsnav.store.base import NewInboxMessage
from stadsnav.store.sql import SqlStore

NOW = datetime(2026, 7, 1, 12, tzinfo=UTC)


def message(message_id: str) -> NewInboxMessage:
    return NewInboxMessage("beach-sensors-tts", message_id, NOW, "application/json", b"{}")


def test_a_message_is_a_duplicate_only_while_pending(store: SqlStore) -> None:
    [first] = store.inbox_append([message("m1")])
    assert first is not None
    assert store.inbox_append([message("m1")]) == [None]
    store.commit_batch([first], [], [])
    [again] = store.inbox_append([message("m1")])
    assert again is not None
    assert again != first
    assert [m.id for m in store.inbox_fetch(10)] == [again]


def test_keys_of_processed_messages_are_pruned(store: SqlStore) -> None:
    ids: list[int] = []
    for chunk in range(11):
        appended = store.inbox_append([message(f"c{chunk}-{i}") for i in range(1000)])
        ids.extend(i for i in appended if i is not None)
    assert len(ids) == 11_000
    pending = ids[-500:]
    for start in range(0, len(ids) - 500, 1000):
        store.commit_batch(ids[start : min(start + 1000, len(ids) - 500)], [], [])
    [(keys,)] = store._query("SELECT count(*) FROM inbox_keys", ())
    assert keys < 2_000  # the pending 500 plus at most the processed ids since the last prune
    assert store.inbox_append([message("c10-999")]) == [None]  # still pending: still a duplicate
    assert [m.id for m in store.inbox_fetch(1000)] == pending
