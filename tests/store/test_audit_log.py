"""The audit log in the store, on every backend: one chain, append-only, also under concurrency."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from stadsnav.gateway.audit import AuditEvent, first_break
from stadsnav.gateway.keys import new_key, secret_hash
from stadsnav.store.sql import SqlStore

NOON = datetime(2026, 11, 27, 11, tzinfo=UTC)


def event(n: int, actor: str = "rq2i74np", subject: str | None = None) -> AuditEvent:
    return AuditEvent(
        NOON + timedelta(minutes=n), actor, "read-personal", f"GET /x/{n}", subject=subject
    )


def test_appends_form_one_chain_read_back_in_order(store: SqlStore) -> None:
    first = store.append_audit([event(0), event(1)])
    second = store.append_audit([event(2)])
    assert [r.seq for r in first + second] == [1, 2, 3]
    records = store.audit_records()
    assert records == first + second
    assert first_break(records) is None
    assert store.append_audit([]) == []


def test_records_are_filtered_and_paged(store: SqlStore) -> None:
    store.append_audit([event(0, subject="a"), event(1, "anonymous"), event(2, subject="a")])
    assert [r.seq for r in store.audit_records(subject="a")] == [1, 3]
    assert [r.seq for r in store.audit_records(actor="anonymous")] == [2]
    assert [r.seq for r in store.audit_records(since=NOON + timedelta(minutes=1))] == [2, 3]
    assert [r.seq for r in store.audit_records(until=NOON + timedelta(minutes=1))] == [1]
    assert [r.seq for r in store.audit_records(after=1, limit=1)] == [2]


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log WHERE seq = 1"],
)
def test_the_log_refuses_changes_and_removals(store: SqlStore, statement: str) -> None:
    store.append_audit([event(0)])
    with pytest.raises(Exception, match="append-only"), store._write() as cursor:
        cursor.execute(statement)
    assert store.audit_records()[0].event.actor == "rq2i74np"


def test_key_actions_are_recorded_with_the_key_change(store: SqlStore) -> None:
    key, text = new_key("Partner AB", ["read:parking"], NOON)
    store.add_api_key(key, secret_hash(text), AuditEvent(NOON, "cli:root", "key-created", key.id))
    store.revoke_api_key(key.id, NOON, AuditEvent(NOON, "cli:root", "key-revoked", key.id))
    store.revoke_api_key("nosuchid", NOON, AuditEvent(NOON, "cli:root", "key-revoked", "nosuchid"))
    assert [(r.event.action, r.event.target) for r in store.audit_records()] == [
        ("key-created", key.id),
        ("key-revoked", key.id),
    ]


def test_concurrent_appends_keep_one_chain(store: SqlStore) -> None:
    def append(worker: int) -> None:
        for n in range(15):
            store.append_audit([event(n, actor=f"worker-{worker}")])

    threads = [threading.Thread(target=append, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = store.audit_records()
    assert len(records) == 60
    assert first_break(records) is None
