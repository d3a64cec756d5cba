"""Poll state contract: saved with a page's inbox message in one transaction, on every backend."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from stadsnav.store.base import NewDeadLetter, NewInboxMessage
from stadsnav.store.sql import SqlStore
from support import SHARED_DATA

OpenStore = Callable[[], SqlStore]
AACHEN = SHARED_DATA / "parking" / "parkapi" / "aachen-realtime.xml"
URL = "http://127.0.0.1:8091/datex/status.xml"
T0 = datetime(2025, 5, 9, 19, 41, 58, tzinfo=UTC)


def page(url: str = URL, body: bytes | None = None) -> NewInboxMessage:
    """One fetched page of the real Aachen DATEX II status publication."""
    return NewInboxMessage(
        "aachen-status",
        f"{url}#page",
        T0,
        "application/xml",
        AACHEN.read_bytes() if body is None else body,
        url,
    )


def state(next_url: str | None, failures: int = 0) -> dict[str, object]:
    return {
        "next_url": next_url,
        "etag": '"v1"',
        "seen": [URL],
        "last_success": T0.isoformat(),
        "consecutive_failures": failures,
    }


def test_unknown_key_has_no_state(store: SqlStore) -> None:
    assert store.poll_state("aachen-status") is None


def test_page_and_state_are_committed_together(store: SqlStore) -> None:
    ids = store.poll_commit("aachen-status", state(URL + "?page=2"), [page()])

    assert len(ids) == 1
    assert ids[0] is not None
    assert store.poll_state("aachen-status") == state(URL + "?page=2")
    [message] = store.inbox_fetch(10)
    assert (message.id, message.topic, message.body) == (ids[0], URL, AACHEN.read_bytes())


def test_state_is_replaced_and_kept_per_key(store: SqlStore) -> None:
    store.poll_commit("aachen-status", state(URL + "?page=2"))
    store.poll_commit("bondorf-status", state(None, failures=3))
    store.poll_commit("aachen-status", state(None))

    assert store.poll_state("aachen-status") == state(None)
    assert store.poll_state("bondorf-status") == state(None, failures=3)
    assert store.inbox_stats()[0] == 0


def test_a_pending_duplicate_is_not_appended_but_the_state_is_saved(store: SqlStore) -> None:
    store.poll_commit("aachen-status", state(URL + "?page=2"), [page()])
    ids = store.poll_commit("aachen-status", state(None, failures=1), [page()])

    assert ids == ["duplicate"]
    assert store.inbox_stats()[0] == 1
    assert store.poll_state("aachen-status") == state(None, failures=1)


def test_dead_letters_are_committed_with_the_state(store: SqlStore) -> None:
    prefix = AACHEN.read_bytes()[:1024]
    letter = NewDeadLetter(
        "aachen-status",
        f"{URL}#prefix",
        T0,
        "application/xml",
        prefix,
        URL,
        "fetch",
        "response larger than 1000 bytes (source.max_bytes)",
    )
    store.poll_commit("aachen-status", state(None, failures=1), (), [letter])

    [stored] = store.dead_letters(source="aachen-status")
    assert (stored.stage, stored.body, stored.topic) == ("fetch", prefix, URL)
    assert stored.reason == letter.reason
    assert store.poll_state("aachen-status") == state(None, failures=1)


def test_a_failed_commit_keeps_neither_message_nor_state(store: SqlStore) -> None:
    store.poll_commit("aachen-status", state(URL + "?page=2"), [page()])
    broken = replace(page(URL + "?page=2"), content_type=None)  # type: ignore[arg-type]

    with pytest.raises(Exception, match=r"(?i)null"):
        store.poll_commit("aachen-status", state(URL + "?page=3"), [broken])

    assert store.poll_state("aachen-status") == state(URL + "?page=2")
    assert store.inbox_stats()[0] == 1


def test_state_outlives_the_store_instance(open_store: OpenStore) -> None:
    first = open_store()
    first.migrate()
    first.poll_commit("aachen-status", state(URL + "?page=3"), [page()])
    first.close()

    again = open_store()
    assert again.poll_state("aachen-status") == state(URL + "?page=3")
    assert again.inbox_stats()[0] == 1
