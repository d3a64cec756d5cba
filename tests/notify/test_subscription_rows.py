"""The store side of subscriptions: documents, status, the notifier's cursor, feed and outbox."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stadsnav.store.base import AttributeWrite, EntityChange
from stadsnav.store.postgres import PostgresStore
from stadsnav.store.sql import SqlStore
from stadsnav.store.sql_subscriptions import SubscriptionRecord

T0 = datetime(2026, 7, 1, 8, tzinfo=UTC)
ROOM = "urn:ngsi-ld:Room:1"
DOCUMENT: dict[str, Any] = {
    "id": "urn:ngsi-ld:Subscription:s1",
    "type": "Subscription",
    "entities": [{"type": "Room"}],
    "notification": {"endpoint": {"uri": "http://localhost:1111/notify"}},
}


def record(
    subscription_id: str = "urn:ngsi-ld:Subscription:s1", at: datetime = T0
) -> SubscriptionRecord:
    document = {**DOCUMENT, "id": subscription_id}
    context = ["https://example.org/context.jsonld"]
    return SubscriptionRecord(subscription_id, document, context, context[0], at, at)


def put(store: SqlStore, entity_id: str, value: int, entity_type: str = "Room") -> None:
    attribute = {"type": "Property", "value": value}
    store.change_entities(
        {entity_id: lambda _: EntityChange(type=entity_type, put=[("t", attribute)])}
    )


def test_a_subscription_is_added_once_read_listed_changed_and_deleted(store: SqlStore) -> None:
    version = store.subscriptions_version()
    put(store, ROOM, 1)

    added = store.add_subscription(record())

    assert added is not None
    assert added.created_version == store.entity_feed(0).version
    assert store.add_subscription(record()) is None
    stored = store.get_subscription(added.id)
    assert stored is not None
    assert stored.document == DOCUMENT
    assert stored.context == ["https://example.org/context.jsonld"]
    assert stored.created_at == T0
    assert stored.status.times_sent == 0
    assert stored.status.last_status is None
    assert store.subscriptions_version() == version + 1

    changed = {**DOCUMENT, "isActive": False}
    assert store.update_subscription(added.id, changed, None, "urn:x", T0 + timedelta(hours=1))
    stored = store.get_subscription(added.id)
    assert stored is not None
    assert stored.document["isActive"] is False
    assert stored.jsonld_context == "urn:x"
    assert stored.context is None
    assert stored.modified_at == T0 + timedelta(hours=1)
    assert not store.update_subscription("urn:x:unknown", changed, None, "urn:x", T0)

    assert store.delete_subscription(added.id)
    assert not store.delete_subscription(added.id)
    assert store.get_subscription(added.id) is None
    assert store.subscriptions_version() == version + 3


def test_subscriptions_are_listed_oldest_first_a_page_at_a_time(store: SqlStore) -> None:
    for index in range(5):
        store.add_subscription(record(f"urn:ngsi-ld:Subscription:{index}", T0 + timedelta(index)))

    total, page = store.list_subscriptions(2, 1)
    _, rest = store.list_subscriptions(None, 3)
    _, every = store.list_subscriptions()

    assert total == 5
    assert [r.id for r in page] == ["urn:ngsi-ld:Subscription:1", "urn:ngsi-ld:Subscription:2"]
    assert [r.id for r in rest] == ["urn:ngsi-ld:Subscription:3", "urn:ngsi-ld:Subscription:4"]
    assert len(every) == 5


def test_the_feed_gives_changes_of_every_type_and_deletions(store: SqlStore) -> None:
    put(store, ROOM, 1)
    cursor = store.entity_feed(0).version
    put(store, ROOM, 2)
    put(store, "urn:ngsi-ld:Lamp:1", 1, "Lamp")
    store.commit_batch(
        [],
        [AttributeWrite("urn:ngsi-ld:Beach:1", "Beach", "t", {"type": "Property", "value": 3})],
        [],
    )
    store.change_entities({ROOM: lambda _: EntityChange(delete_entity=True)})

    feed = store.entity_feed(cursor)
    rooms_only = store.entity_feed(cursor, ["Room"])

    assert feed.version == cursor + 4
    assert [e.id for e in feed.changed] == ["urn:ngsi-ld:Beach:1", "urn:ngsi-ld:Lamp:1"]
    assert feed.removed == [(ROOM, "Room")]
    assert rooms_only.changed == []
    assert rooms_only.removed == [(ROOM, "Room")]
    assert store.entity_feed(feed.version).changed == []


def test_entities_as_of_a_version_leave_out_those_changed_since(store: SqlStore) -> None:
    put(store, ROOM, 1)
    put(store, "urn:ngsi-ld:Room:2", 1)
    put(store, "urn:ngsi-ld:Lamp:1", 1, "Lamp")
    version = store.entity_feed(0).version
    put(store, "urn:ngsi-ld:Room:2", 2)

    entities, later = store.entities_as_of(version, ["Room"])
    every, _ = store.entities_as_of(version)

    assert [e.id for e in entities] == [ROOM]
    assert later == ["urn:ngsi-ld:Room:2"]
    assert [e.id for e in every] == ["urn:ngsi-ld:Lamp:1", ROOM]


def test_the_cursor_is_saved_with_the_notifications_it_queued(store: SqlStore) -> None:
    assert store.notifier_cursor() is None
    store.add_subscription(record())
    data = [{"id": ROOM, "type": "Room"}]

    store.queue_notifications(
        [(DOCUMENT["id"], data), ("urn:ngsi-ld:Subscription:gone", data)], T0, 7
    )
    store.save_notifier_cursor(9)

    assert store.notifier_cursor() == 9
    assert store.pending_counts() == {DOCUMENT["id"]: 1}
    [pending] = store.pending_notifications(DOCUMENT["id"], 10)
    assert pending.data == data
    assert pending.created_at == T0
    assert pending.attempts == 0


def test_a_delivery_clears_the_outbox_and_counts_in_the_status(store: SqlStore) -> None:
    store.add_subscription(record())
    store.queue_notifications([(DOCUMENT["id"], [{"id": ROOM}])] * 2, T0)
    ids = [p.id for p in store.pending_notifications(DOCUMENT["id"], 10)]

    assert store.start_notifications(DOCUMENT["id"], T0 + timedelta(seconds=1))
    store.finish_notifications(DOCUMENT["id"], ids[:1], T0 + timedelta(seconds=1), True, 3)

    stored = store.get_subscription(DOCUMENT["id"])
    assert stored is not None
    assert stored.status.times_sent == 1
    assert stored.status.last_status == "ok"
    assert (
        stored.status.last_success == stored.status.last_notification == T0 + timedelta(seconds=1)
    )
    assert [p.id for p in store.pending_notifications(DOCUMENT["id"], 10)] == ids[1:]


def test_a_notification_counts_as_sent_before_its_outcome_is_known(store: SqlStore) -> None:
    store.add_subscription(record())
    store.queue_notifications([(DOCUMENT["id"], [{"id": ROOM}])], T0)
    [pending] = store.pending_notifications(DOCUMENT["id"], 10)
    sent = T0 + timedelta(seconds=1)

    assert store.start_notifications(DOCUMENT["id"], sent)

    # Sent, no answer yet: counted, no outcome, still in the outbox.
    stored = store.get_subscription(DOCUMENT["id"])
    assert stored is not None
    assert (stored.status.times_sent, stored.status.last_notification) == (1, sent)
    assert stored.status.last_status is stored.status.last_success is None
    assert store.pending_notifications(DOCUMENT["id"], 10) == [pending]

    store.finish_notifications(DOCUMENT["id"], [pending.id], sent, True, 3)

    stored = store.get_subscription(DOCUMENT["id"])
    assert stored is not None
    assert (stored.status.times_sent, stored.status.times_failed) == (1, 0)
    assert stored.status.last_success == stored.status.last_notification == sent
    assert stored.status.last_status == "ok"
    assert not store.start_notifications("urn:ngsi-ld:Subscription:gone", sent)


def test_failed_attempts_are_counted_until_the_notification_is_given_up(store: SqlStore) -> None:
    store.add_subscription(record())
    store.queue_notifications([(DOCUMENT["id"], [{"id": ROOM}])], T0)
    [pending] = store.pending_notifications(DOCUMENT["id"], 10)

    for attempt in range(1, 3):
        store.start_notifications(DOCUMENT["id"], T0 + timedelta(attempt))
        store.finish_notifications(DOCUMENT["id"], [pending.id], T0 + timedelta(attempt), False, 3)
        [again] = store.pending_notifications(DOCUMENT["id"], 10)
        assert again.attempts == attempt
    store.start_notifications(DOCUMENT["id"], T0 + timedelta(3))
    store.finish_notifications(DOCUMENT["id"], [pending.id], T0 + timedelta(3), False, 3)

    assert store.pending_notifications(DOCUMENT["id"], 10) == []
    stored = store.get_subscription(DOCUMENT["id"])
    assert stored is not None
    assert (stored.status.times_sent, stored.status.times_failed) == (3, 3)
    assert stored.status.last_status == "failed"
    assert stored.status.last_failure == T0 + timedelta(3)
    assert stored.status.last_success is None


def test_dropping_pausing_and_deleting_empty_the_outbox(store: SqlStore) -> None:
    for name in ("a", "b", "c"):
        store.add_subscription(record(f"urn:ngsi-ld:Subscription:{name}"))
        store.queue_notifications([(f"urn:ngsi-ld:Subscription:{name}", [{"id": ROOM}])], T0)

    assert store.drop_notifications("urn:ngsi-ld:Subscription:a") == 1
    store.update_subscription(
        "urn:ngsi-ld:Subscription:b", DOCUMENT, None, "urn:x", T0, drop_pending=True
    )
    store.delete_subscription("urn:ngsi-ld:Subscription:c")

    assert store.pending_counts() == {}


def test_a_delivery_locks_the_subscription_before_its_outbox_rows(store: SqlStore) -> None:
    """Deleting a subscription locks its row, then (cascading) its outbox rows. Recording a
    delivery must take them in the same order, or the two deadlock on PostgreSQL."""
    if not isinstance(store, PostgresStore):
        pytest.skip("SQLite has one writer at a time: no row locks to order")
    import psycopg

    store.add_subscription(record())
    store.queue_notifications([(DOCUMENT["id"], [{"id": ROOM}])], T0)
    ids = [p.id for p in store.pending_notifications(DOCUMENT["id"], 10)]
    options = f"-c search_path={store.schema}"
    with psycopg.connect(store.conninfo, options=options) as deleter:
        # A delete under way: it holds the subscription row.
        deleter.execute("SELECT id FROM subscriptions WHERE id = %s FOR UPDATE", (DOCUMENT["id"],))
        finishing = threading.Thread(
            target=store.finish_notifications, args=(DOCUMENT["id"], ids, T0, True, 3)
        )
        finishing.start()
        time.sleep(0.5)  # the delivery is now waiting for the subscription row
        assert finishing.is_alive()
        with psycopg.connect(store.conninfo, options=options, autocommit=True) as probe:
            # It waits holding no outbox row, so the cascade of the delete can take them all.
            probe.execute(
                "SELECT id FROM notification_outbox WHERE subscription_id = %s FOR UPDATE NOWAIT",
                (DOCUMENT["id"],),
            )
        deleter.execute("DELETE FROM subscriptions WHERE id = %s", (DOCUMENT["id"],))
        deleter.commit()
    finishing.join(10)
    assert not finishing.is_alive()
    assert store.get_subscription(DOCUMENT["id"]) is None


def test_subscriptions_are_listed_by_the_key_that_owns_them(store: SqlStore) -> None:
    from dataclasses import replace

    from stadsnav.store.sql_subscriptions import EVERYONE

    for subscription_id, owner in (("urn:a", "key1"), ("urn:b", None), ("urn:c", "key1")):
        added = store.add_subscription(replace(record(subscription_id), owner=owner))
        assert added is not None
        assert added.owner == owner
    assert [r.id for r in store.list_subscriptions(owner="key1")[1]] == ["urn:a", "urn:c"]
    assert store.list_subscriptions(owner="key1")[0] == 2
    assert [r.id for r in store.list_subscriptions(owner=None)[1]] == ["urn:b"]
    assert store.list_subscriptions(owner="key2") == (0, [])
    assert len(store.list_subscriptions(owner=EVERYONE)[1]) == 3
    assert store.get_subscription("urn:c").owner == "key1"
