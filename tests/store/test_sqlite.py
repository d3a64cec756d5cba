"""SQLite specifics: a group commit inserts many rows a statement and still knows their ids."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from stadsnav.store.base import NewInboxMessage
from stadsnav.store.sqlite import SqliteStore

NOW = datetime(2026, 7, 1, 12, tzinfo=UTC)


def _message(message_id: str) -> NewInboxMessage:
    body = b'{"end_device_ids":{"device_id":"elt2-byske-havsbad"},"n":"%s"}' % message_id.encode()
    return NewInboxMessage("beach-sensors-tts", message_id, NOW, "application/json", body)


def test_group_ids_span_statements_and_follow_deleted_rows(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "inbox.db")
    store.migrate()
    [first] = store.inbox_append([_message("first")])
    assert first is not None
    store.commit_batch([first], [], [])  # the newest row is gone; AUTOINCREMENT skips its id
    names = [f"m{n}" for n in range(2_500)]
    ids = store.inbox_append([_message(name) for name in [*names, "m7"]])
    assert ids[-1] == "duplicate"  # repeated within the group
    assert ids[:-1] == list(range(first + 1, first + 2_501))
    fetched = store.inbox_fetch(3_000)
    assert [(m.id, m.message_id) for m in fetched] == list(zip(ids[:-1], names, strict=True))
    assert fetched[42].body == _message("m42").body
    store.close()
