"""Duplicate and conflict detection at the inbox: message ids remembered within a window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stadsnav.store.base import NewInboxMessage
from stadsnav.store.sql import SqlStore

NOW = datetime(2026, 7, 1, 12, tzinfo=UTC)


def message(message_id: str, body: bytes = b"{}") -> NewInboxMessage:
    return NewInboxMessage("beach-sensors-tts", message_id, NOW, "application/json", body)


def test_a_redelivery_is_a_duplicate_also_after_processing(store: SqlStore) -> None:
    [first] = store.inbox_append([message("m1")])
    assert first is not None
    assert store.inbox_append([message("m1")]) == ["duplicate"]
    store.commit_batch([first], [], [])
    assert store.inbox_append([message("m1"), message("m1")]) == ["duplicate", "duplicate"]
    assert store.inbox_stats()[0] == 0
    assert store.dead_letters() == []


def test_the_same_id_with_other_content_is_a_conflict_dead_letter(store: SqlStore) -> None:
    [first] = store.inbox_append([message("m1", b'{"v": 1}')])
    assert first is not None
    store.commit_batch([first], [], [])

    assert store.inbox_append([message("m1", b'{"v": 2}'), message("m2")])[0] == "conflict"

    [letter] = store.dead_letters()
    assert (letter.stage, letter.message_id, letter.body) == ("conflict", "m1", b'{"v": 2}')
    assert letter.reason.startswith("conflict: message id m1 was first received at ")
    assert [m.message_id for m in store.inbox_fetch(10)] == ["m2"]


def test_conflicts_within_one_append_are_found_too(store: SqlStore) -> None:
    ids = store.inbox_append([message("m1", b"a"), message("m1", b"b"), message("m1", b"a")])
    assert ids[0] is not None
    assert ids[1:] == ["conflict", "duplicate"]
    assert [d.body for d in store.dead_letters()] == [b"b"]


def test_forgotten_ids_are_accepted_again(store: SqlStore) -> None:
    [first] = store.inbox_append([message("m1")])
    assert first is not None
    store.commit_batch([first], [], [])
    assert store.forget_messages(NOW - timedelta(minutes=1)) == 0  # seen at its receive time
    assert store.forget_messages(NOW + timedelta(seconds=1)) == 1
    [again] = store.inbox_append([message("m1", b"other content, no longer a conflict")])
    assert again is not None
    assert store.dead_letters() == []


def test_a_replayed_dead_letter_bypasses_duplicate_detection(store: SqlStore) -> None:
    [first] = store.inbox_append([message("m1", b"a")])
    assert first is not None
    store.commit_batch([first], [], [])
    store.inbox_append([message("m1", b"b")])  # a conflict

    [replayed] = store.replay_dead_letters()
    assert replayed.body == b"b"
    assert store.inbox_fetch(10) == []  # claimed by the replay, not by any worker
