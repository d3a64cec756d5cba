"""Which changes a subscription notifies, and the entities it sends (GS CIM 009, 5.8.6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from stadsnav.api.ngsild.jsonld import core_vocabulary
from stadsnav.model.entity import StoredEntity
from stadsnav.notify import changes
from stadsnav.notify.delivery import merge
from stadsnav.notify.matching import Matcher, compile_subscription
from stadsnav.notify.subscription import check_subscription
from stadsnav.store.sql import SqlStore
from stadsnav.store.sql_subscriptions import PendingNotification, SubscriptionRecord

T0 = datetime(2026, 7, 1, 8, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
ROOM = "urn:ngsi-ld:Room:1"


def matcher(**members: Any) -> Matcher:
    notification = {"endpoint": {"uri": "http://localhost:1111/notify"}}
    notification.update(members.pop("notification", {}))
    document = check_subscription(
        {"type": "Subscription", "entities": [{"type": "Room"}], "notification": notification}
        | members
    )
    record = SubscriptionRecord("urn:ngsi-ld:Subscription:s", document, None, "", T0, T0)
    return compile_subscription(record, core_vocabulary(), core_vocabulary())


def room(**attributes: Any) -> StoredEntity:
    values = {name: {"type": "Property", "value": value} for name, value in attributes.items()}
    stamped = {
        name: {**attribute, "createdAt": "2026-07-01T08:00:00Z"}
        for name, attribute in values.items()
    }
    return StoredEntity(ROOM, "Room", stamped, T0, T0 + timedelta(minutes=1))


def test_entity_created_notifies_creations_only(store: SqlStore) -> None:
    created_only = matcher(notificationTrigger=["entityCreated"])
    warmer = changes.updated(room(temperature=20), room(temperature=21))
    assert warmer is not None

    assert created_only.data(changes.created(room(temperature=20)), store, NOW)
    assert created_only.data(warmer, store, NOW) is None


def test_default_triggers_notify_created_and_updated_attributes_not_deleted_ones(
    store: SqlStore,
) -> None:
    default = matcher(notification={"format": "keyValues"})
    full = room(temperature=20, humidity=40)
    dropped = changes.updated(full, room(temperature=20))
    warmer = changes.updated(full, room(temperature=21, humidity=40))
    assert dropped is not None
    assert warmer is not None

    assert default.data(changes.created(full), store, NOW) == [
        {"id": ROOM, "type": "Room", "temperature": 20, "humidity": 40}
    ]
    assert default.data(warmer, store, NOW) == [
        {"id": ROOM, "type": "Room", "temperature": 21, "humidity": 40}
    ]
    assert default.data(dropped, store, NOW) is None


def test_watched_attributes_limit_what_notifies(store: SqlStore) -> None:
    watching = matcher(
        watchedAttributes=["temperature"], notificationTrigger=["entityUpdated", "attributeCreated"]
    )
    before = room(temperature=20, humidity=40)
    unwatched = changes.updated(before, room(temperature=20, humidity=41))
    watched = changes.updated(before, room(temperature=22, humidity=40))
    assert unwatched is not None
    assert watched is not None

    assert watching.data(unwatched, store, NOW) is None
    assert watching.data(watched, store, NOW)
    assert watching.data(changes.created(room(humidity=40)), store, NOW) is None


def test_a_deleted_attribute_is_null_and_other_attributes_are_current(store: SqlStore) -> None:
    deleted = matcher(
        notificationTrigger=["attributeDeleted"], notification={"format": "keyValues"}
    )
    change = changes.updated(room(temperature=20, name="A"), room(temperature=20))
    assert change is not None

    assert deleted.data(change, store, NOW) == [
        {"id": ROOM, "type": "Room", "temperature": 20, "name": "urn:ngsi-ld:null"}
    ]


def test_deleting_every_instance_of_an_attribute_notifies_one_null(store: SqlStore) -> None:
    deleted = matcher(notificationTrigger=["attributeDeleted"])
    french = {"type": "Property", "value": "Salle", "datasetId": "urn:ngsi-ld:Dataset:fr"}
    full = room(temperature=20, name="Room")
    full.datasets["name"] = {"urn:ngsi-ld:Dataset:fr": french}
    some = room(temperature=20, name="Room")
    every = changes.updated(full, room(temperature=20))
    one = changes.updated(full, some)
    assert every is not None
    assert one is not None

    [entity] = deleted.data(every, store, NOW) or []
    [partly] = deleted.data(one, store, NOW) or []

    # deleteAll (5.6.5): the attribute is gone, not one dataset of it.
    assert entity["name"] == {"type": "Property", "value": "urn:ngsi-ld:null"}
    assert partly["name"][1] == {
        "type": "Property",
        "value": "urn:ngsi-ld:null",
        "datasetId": "urn:ngsi-ld:Dataset:fr",
    }


def test_a_deleted_entity_with_sys_attrs_shows_when_it_was_made_and_deleted(
    store: SqlStore,
) -> None:
    deleted = matcher(
        notificationTrigger=["entityDeleted"],
        notification={"sysAttrs": True, "showChanges": True},
    )
    before = room(name="A")

    [entity] = deleted.data(changes.deleted(ROOM, "Room", before), store, NOW) or []

    assert entity == {
        "id": ROOM,
        "type": "Room",
        "createdAt": "2026-07-01T08:00:00Z",
        "modifiedAt": "2026-07-01T08:01:00Z",
        "deletedAt": "2026-07-01T09:00:00Z",
        "name": {
            "type": "Property",
            "value": "urn:ngsi-ld:null",
            "previousValue": "A",
            "createdAt": "2026-07-01T08:00:00Z",
            "deletedAt": "2026-07-01T09:00:00Z",
        },
    }
    unknown = deleted.data(changes.deleted(ROOM, "Room", None), store, NOW)
    assert unknown == [{"id": ROOM, "type": "Room", "deletedAt": "2026-07-01T09:00:00Z"}]


def test_other_types_q_and_inactive_subscriptions_are_left_out(store: SqlStore) -> None:
    lamp = StoredEntity("urn:ngsi-ld:Lamp:1", "Lamp", {}, T0, T0)
    warm = matcher(q="temperature>25")
    paused = matcher(isActive=False, expiresAt="2000-01-01T00:00:00Z")

    assert matcher().data(changes.created(lamp), store, NOW) is None
    assert warm.data(changes.created(room(temperature=20)), store, NOW) is None
    assert warm.data(changes.created(room(temperature=30)), store, NOW)
    assert paused.status(NOW) == "expired"


def test_waiting_notifications_merge_into_the_newest_state_of_each_entity() -> None:
    def row(number: int, *data: dict[str, Any]) -> PendingNotification:
        return PendingNotification(number, "s", T0, list(data), 0)

    rows = [
        row(1, {"id": "a", "v": 1}, {"id": "b", "v": 1}),
        row(2, {"id": "a", "v": 2}),
        row(3, {"id": "c", "v": 1}, {"id": "d", "v": 1}),
    ]

    assert merge(rows, 3) == ([1, 2], [{"id": "a", "v": 2}, {"id": "b", "v": 1}])
    assert merge(rows[2:], 1) == ([3], [{"id": "c", "v": 1}, {"id": "d", "v": 1}])
