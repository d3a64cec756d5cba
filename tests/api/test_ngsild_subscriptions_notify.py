"""Notifications (GS CIM 009, 5.8.6): entity changes over the API and the pipeline reach a real
local HTTP endpoint as the subscription asks; failures are retried and recorded; a restart
loses nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from notify.receiver import Received, Receiver
from stadsnav.api.app import create_app
from stadsnav.model.context import CORE_CONTEXT_URL, JSONLD_CONTEXT_REL
from stadsnav.runtime import Runtime
from stadsnav.store.base import EntityChange, NewInboxMessage
from stadsnav.store.postgres import PostgresStore
from stadsnav.workspace import Workspace, load_workspace
from support import (
    UplinkFactory,
    drop_schema,
    fresh_schema,
    key_headers,
    postgres_url,
    process_inbox,
    wait_for,
)

SUBSCRIPTIONS = "/ngsi-ld/v1/subscriptions"
ENTITIES = "/ngsi-ld/v1/entities"
ROOM = "urn:ngsi-ld:Room:kiruna:1"
NULL = "urn:ngsi-ld:null"
JSON_LD = "application/ld+json"
WATER = "urn:ngsi-ld:WaterQualityObserved:skelleftea:elt2-byske-havsbad"


@pytest.fixture
def workspace(workspace_dir: Path) -> Workspace:
    """The demo workspace, notifying fast: tests wait for notifications."""
    loaded = load_workspace(workspace_dir)
    settings = loaded.settings.notifications
    settings.poll_interval = 0.05
    settings.timeout = 1.0
    settings.max_attempts = 3
    settings.retry_backoff = timedelta(milliseconds=100)
    return loaded


def subscribe(
    client: TestClient, url: str, headers: dict[str, str] | None = None, **members: Any
) -> str:
    """Subscribe ``url`` to rooms (unless ``entities`` says otherwise); the subscription id."""
    notification = {"endpoint": {"uri": url}, **members.pop("notification", {})}
    body = {"type": "Subscription", "entities": [{"type": "Room"}], **members}
    body["notification"] = notification
    response = client.post(SUBSCRIPTIONS, json=body, headers=headers or {})
    assert response.status_code == 201, response.text
    return str(response.headers["location"].rsplit("/", 1)[1])


def create_room(client: TestClient, headers: dict[str, str] | None = None, **attrs: Any) -> None:
    attributes = attrs or {"temperature": {"type": "Property", "value": 20, "unitCode": "CEL"}}
    entity = {"id": ROOM, "type": "Room", **attributes}
    response = client.post(ENTITIES, json=entity, headers=headers or {})
    assert response.status_code == 201, response.text


def update(client: TestClient, **attrs: Any) -> None:
    response = client.patch(f"{ENTITIES}/{ROOM}/attrs", json=attrs)
    assert response.status_code == 204, response.text


def temperature(value: float) -> dict[str, Any]:
    return {"type": "Property", "value": value, "unitCode": "CEL"}


def status(client: TestClient, subscription_id: str, **headers: str) -> dict[str, Any]:
    response = client.get(f"{SUBSCRIPTIONS}/{subscription_id}", headers=headers)
    assert response.status_code == 200, response.text
    shown: dict[str, Any] = response.json()
    return shown


def recorded(client: TestClient, subscription_id: str, times: int) -> dict[str, Any]:
    """The notification status, once ``times`` attempts are sent and the outcome of the last
    one is recorded (just after its answer)."""

    def answered() -> bool:
        shown = status(client, subscription_id)["notification"]
        last = shown.get("lastNotification")
        outcome = (shown.get("lastSuccess"), shown.get("lastFailure"))
        return shown.get("timesSent", 0) >= times and last is not None and last in outcome

    wait_for(answered)
    shown: dict[str, Any] = status(client, subscription_id)["notification"]
    return shown


def link(url: str) -> dict[str, str]:
    return {"Link": f'<{url}>; rel="{JSONLD_CONTEXT_REL}"; type="application/ld+json"'}


def only(received: list[Received]) -> dict[str, Any]:
    """The one entity of the one notification."""
    [notification] = received
    [entity] = notification.body["data"]
    entity_data: dict[str, Any] = entity
    return entity_data


def settle() -> None:
    """Time for anything that should not come to arrive (many notifier rounds)."""
    time.sleep(0.4)


def test_a_change_is_notified_as_normalized_json_with_the_link_header(
    client: TestClient, receiver: Receiver
) -> None:
    create_room(client)
    subscription_id = subscribe(client, receiver.url())
    settle()
    update(client, temperature=temperature(21.5))

    [notification] = receiver.wait(1)

    # No notification for what existed before the subscription (5.8.1 sends none on creation).
    assert notification.headers["content-type"] == "application/json"
    assert notification.headers["link"] == (
        f'<{CORE_CONTEXT_URL}>; rel="{JSONLD_CONTEXT_REL}"; type="application/ld+json"'
    )
    body = notification.body
    assert body["id"].startswith("urn:ngsi-ld:Notification:")
    assert body["type"] == "Notification"
    assert body["subscriptionId"] == subscription_id
    assert datetime.fromisoformat(body["notifiedAt"]) <= datetime.now(UTC)
    assert body["data"] == [{"id": ROOM, "type": "Room", "temperature": temperature(21.5)}]
    shown = recorded(client, subscription_id, 1)
    assert shown["status"] == "ok"
    assert shown["timesSent"] == 1
    assert shown["lastNotification"] == shown["lastSuccess"]
    assert "timesFailed" not in shown


def test_a_notification_is_counted_as_sent_when_the_subscriber_receives_it(
    client: TestClient, receiver: Receiver
) -> None:
    # Still handling it while we look, past the half second a read waits for the outcome
    # (the notification timeout is 1 s).
    receiver.delay["/notify"] = 0.9
    create_room(client)
    subscription_id = subscribe(client, receiver.url())
    update(client, temperature=temperature(21.5))

    [notification] = receiver.wait(1)
    while_received = status(client, subscription_id)["notification"]

    # 5.2.14: timesSent and lastNotification say what was sent (ETSI 046_11); the outcome
    # comes with the answer.
    assert while_received["timesSent"] == 1
    assert while_received["lastNotification"] == notification.body["notifiedAt"]
    assert {"status", "lastSuccess", "lastFailure"}.isdisjoint(while_received)
    answered = recorded(client, subscription_id, 1)
    assert answered["status"] == "ok"
    assert answered["timesSent"] == 1
    assert answered["lastSuccess"] == notification.body["notifiedAt"]


def test_a_subscriber_that_answered_reads_the_outcome_recorded(
    client: TestClient, receiver: Receiver
) -> None:
    receiver.delay["/notify"] = 0.2  # answered while our read waits for the outcome
    create_room(client)
    subscription_id = subscribe(client, receiver.url())
    update(client, temperature=temperature(21.5))

    [notification] = receiver.wait(1)
    read = status(client, subscription_id)["notification"]

    # 5.2.14 (ETSI 046_12): a read while the notification is under way waits for its outcome.
    assert read["status"] == "ok"
    assert read["lastSuccess"] == notification.body["notifiedAt"]


def test_each_subscription_gets_the_format_and_attributes_it_asked_for(
    client: TestClient, receiver: Receiver
) -> None:
    key_values = {"format": "keyValues", "attributes": ["temperature"]}
    subscribe(client, receiver.url("/kv"), notification=key_values)
    subscribe(client, receiver.url("/concise"), notification={"format": "concise"})
    subscribe(client, receiver.url("/sys"), notification={"sysAttrs": True})

    create_room(client, name={"type": "Property", "value": "Aulan"}, temperature=temperature(20))

    assert only(receiver.wait(1, "/kv")) == {"id": ROOM, "type": "Room", "temperature": 20}
    assert only(receiver.wait(1, "/concise")) == {
        "id": ROOM,
        "type": "Room",
        "name": "Aulan",
        "temperature": {"value": 20, "unitCode": "CEL"},
    }
    system = only(receiver.wait(1, "/sys"))
    assert {"createdAt", "modifiedAt"} <= system.keys()
    assert {"createdAt", "modifiedAt"} <= system["temperature"].keys()


def test_json_ld_notifications_carry_the_subscribers_context_and_terms(
    client: TestClient, receiver: Receiver
) -> None:
    hosting = client.post(
        "/ngsi-ld/v1/jsonldContexts",
        json={"@context": {"Room": "https://example.org/Room", "temp": "https://example.org/t"}},
    )
    context = f"http://testserver{hosting.headers['location']}"
    endpoint = {"uri": receiver.url("/ld"), "accept": JSON_LD}
    subscribe(client, endpoint["uri"], headers=link(context), notification={"endpoint": endpoint})
    subscribe(client, receiver.url("/core"), headers=link(context), jsonldContext=CORE_CONTEXT_URL)

    response = client.post(
        ENTITIES,
        json={"id": ROOM, "type": "Room", "temp": {"type": "Property", "value": 7}},
        headers=link(context),
    )
    assert response.status_code == 201, response.text

    [ld] = receiver.wait(1, "/ld")
    assert ld.headers["content-type"] == JSON_LD
    assert "link" not in ld.headers
    assert ld.body["@context"] == context
    assert ld.body["data"] == [
        {"id": ROOM, "type": "Room", "temp": {"type": "Property", "value": 7}, "@context": context}
    ]
    core = only(receiver.wait(1, "/core"))
    assert core["type"] == "https://example.org/Room"
    assert core["https://example.org/t"] == {"type": "Property", "value": 7}


def test_only_a_change_of_a_watched_attribute_matching_q_is_notified(
    client: TestClient, receiver: Receiver
) -> None:
    subscribe(
        client,
        receiver.url(),
        watchedAttributes=["temperature"],
        q="temperature>25",
        notification={"format": "keyValues"},
    )
    create_room(client, temperature=temperature(20), humidity=temperature(40))

    update(client, humidity=temperature(45))
    update(client, temperature=temperature(21))
    update(client, temperature=temperature(30))

    # Notifications of one subscription come in order: anything sent before would come first.
    entity = only(receiver.wait(1))
    assert entity["temperature"] == 30
    settle()
    assert len(receiver.received()) == 1


def test_deleted_attributes_and_entities_are_notified_as_null(
    client: TestClient, receiver: Receiver
) -> None:
    triggers = ["attributeDeleted", "entityDeleted"]
    subscribe(
        client,
        receiver.url("/changes"),
        notificationTrigger=triggers,
        notification={"showChanges": True},
    )
    subscribe(
        client,
        receiver.url("/gone"),
        notificationTrigger=["entityDeleted"],
        notification={"format": "keyValues"},
    )
    create_room(client, name={"type": "Property", "value": "Aulan"}, temperature=temperature(20))
    settle()  # changes between two looks at the feed come as one

    assert client.delete(f"{ENTITIES}/{ROOM}/attrs/name").status_code == 204
    attribute = only(receiver.wait(1, "/changes"))
    assert client.delete(f"{ENTITIES}/{ROOM}").status_code == 204
    entity = receiver.wait(2, "/changes")[1].body["data"][0]

    assert attribute["name"] == {"type": "Property", "value": NULL, "previousValue": "Aulan"}
    assert attribute["temperature"] == temperature(20)
    assert entity["id"] == ROOM
    assert datetime.fromisoformat(entity["deletedAt"]) <= datetime.now(UTC)
    assert entity["temperature"] == {"type": "Property", "value": NULL, "previousValue": 20}
    gone = only(receiver.wait(1, "/gone"))
    assert set(gone) == {"id", "type", "deletedAt"}


def test_a_change_right_after_subscribing_is_compared_with_the_entity_before_it(
    client: TestClient, receiver: Receiver, workspace: Workspace
) -> None:
    create_room(client, name={"type": "Property", "value": "Aulan"}, temperature=temperature(20))
    # Rounds 3 s apart: none comes between the subscription and the change, so only the
    # subscription request itself can have read the entity as it was.
    workspace.settings.notifications.poll_interval = 3.0
    triggers = ["attributeDeleted", "attributeUpdated"]
    subscribe(
        client, receiver.url(), notificationTrigger=triggers, notification={"showChanges": True}
    )
    # No pause: the subscription holds from its 201 on, not from the notifier's next round.
    assert client.delete(f"{ENTITIES}/{ROOM}/attrs/name").status_code == 204

    entity = only(receiver.wait(1))

    assert entity["name"] == {"type": "Property", "value": NULL, "previousValue": "Aulan"}
    assert entity["temperature"] == temperature(20)


def test_show_changes_adds_the_previous_value_of_what_changed(
    client: TestClient, receiver: Receiver
) -> None:
    subscribe(client, receiver.url(), notification={"showChanges": True})
    create_room(client, name={"type": "Property", "value": "Aulan"}, temperature=temperature(20))
    receiver.wait(1)
    update(client, temperature=temperature(22))

    created, updated = receiver.wait(2)

    assert "previousValue" not in str(created.body)
    [entity] = updated.body["data"]
    assert entity["temperature"] == {**temperature(22), "previousValue": 20}
    assert entity["name"] == {"type": "Property", "value": "Aulan"}


def test_a_linked_entity_is_joined_flat(client: TestClient, receiver: Receiver) -> None:
    city = {
        "id": "urn:ngsi-ld:City:Kiruna",
        "type": "City",
        "name": {"type": "Property", "value": "Kiruna"},
    }
    assert client.post(ENTITIES, json=city).status_code == 201
    subscribe(
        client,
        receiver.url(),
        notification={"join": "flat", "joinLevel": 1, "attributes": ["locatedAt"]},
    )

    create_room(client, locatedAt={"type": "Relationship", "object": city["id"]})

    [notification] = receiver.wait(1)
    assert notification.body["data"] == [
        {"id": ROOM, "type": "Room", "locatedAt": {"type": "Relationship", "object": city["id"]}},
        city,
    ]


def test_pipeline_writes_are_notified(
    client: TestClient, runtime: Runtime, receiver: Receiver, make_uplink: UplinkFactory
) -> None:
    subscribe(
        client,
        receiver.url(),
        entities=[{"type": "WaterQualityObserved"}],
        watchedAttributes=["temperature"],
        notification={"format": "keyValues", "attributes": ["temperature"]},
    )
    start = datetime(2026, 7, 1, 8, tzinfo=UTC)
    body = make_uplink(payload=b"\x0c\x00\xc3", f_cnt=7, received_at=start)
    message = NewInboxMessage("beach-sensors-tts", "n1", start, "application/json", body)

    runtime.store.inbox_append([message])
    process_inbox(runtime)

    assert only(receiver.wait(1)) == {
        "id": WATER,
        "type": "WaterQualityObserved",
        "temperature": 19.5,
    }


def test_throttling_spaces_notifications_and_sends_the_newest_state(
    client: TestClient, receiver: Receiver
) -> None:
    subscribe(client, receiver.url(), throttling=1, notification={"format": "keyValues"})
    create_room(client)
    receiver.wait(1)

    update(client, temperature=temperature(21))
    update(client, temperature=temperature(22))

    first, second = receiver.wait(2, timeout=5)
    sent = [datetime.fromisoformat(n.body["notifiedAt"]) for n in (first, second)]
    assert sent[1] - sent[0] >= timedelta(seconds=0.95)
    assert second.body["data"] == [{"id": ROOM, "type": "Room", "temperature": 22}]
    settle()
    assert len(receiver.received()) == 2


def test_a_time_interval_notifies_the_current_entities_periodically(
    client: TestClient, receiver: Receiver
) -> None:
    create_room(client)
    created = time.monotonic()
    subscribe(client, receiver.url(), timeInterval=1, notification={"format": "keyValues"})

    first, second = receiver.wait(2, timeout=5)

    assert first.at - created >= 0.9
    sent = [datetime.fromisoformat(n.body["notifiedAt"]) for n in (first, second)]
    assert sent[1] - sent[0] >= timedelta(seconds=0.9)
    for notification in (first, second):
        assert notification.body["data"] == [{"id": ROOM, "type": "Room", "temperature": 20}]


def test_paused_and_expired_subscriptions_notify_nothing_until_resumed(
    client: TestClient, receiver: Receiver
) -> None:
    create_room(client)
    paused = subscribe(client, receiver.url("/paused"), isActive=False)
    soon = (datetime.now(UTC) + timedelta(milliseconds=300)).isoformat()
    expiring = subscribe(client, receiver.url("/expired"), expiresAt=soon)
    subscribe(client, receiver.url("/active"))
    time.sleep(0.4)

    update(client, temperature=temperature(21))
    receiver.wait(1, "/active")
    settle()
    assert receiver.received("/paused") == receiver.received("/expired") == []
    assert status(client, paused)["status"] == "paused"
    assert status(client, expiring)["status"] == "expired"

    assert client.patch(f"{SUBSCRIPTIONS}/{paused}", json={"isActive": True}).status_code == 204
    update(client, temperature=temperature(22))
    assert only(receiver.wait(1, "/paused"))["temperature"]["value"] == 22


def test_a_failing_endpoint_is_retried_recorded_and_holds_up_no_one(
    client: TestClient, receiver: Receiver
) -> None:
    receiver.status["/fail"] = 500
    for path in ("/slow", "/hanging"):
        receiver.delay[path] = 3.0
    failing = subscribe(client, receiver.url("/fail"))
    # Its own endpoint timeout, 300 ms; the other one waits the configured second.
    slow = subscribe(
        client,
        receiver.url("/slow"),
        notification={"endpoint": {"uri": receiver.url("/slow"), "timeout": 300}},
    )
    subscribe(client, receiver.url("/hanging"))
    subscribe(client, receiver.url("/ok"))

    changed = time.monotonic()
    create_room(client)

    # Sent one after the other, /ok would wait for /hanging to time out (1 s).
    assert receiver.wait(1, "/ok")[0].at - changed < 0.8
    attempts = receiver.wait(3, "/fail", timeout=5)
    sent = [datetime.fromisoformat(n.body["notifiedAt"]) for n in attempts]
    assert sent[1] - sent[0] >= timedelta(seconds=0.095)
    assert sent[2] - sent[1] >= timedelta(seconds=0.195)  # the wait doubles
    settle()
    assert len(receiver.received("/fail")) == 3  # max_attempts, then given up
    shown = recorded(client, failing, 3)
    assert shown["status"] == "failed"
    assert shown["timesSent"] == shown["timesFailed"] == 3
    assert shown["lastFailure"] == shown["lastNotification"]
    assert "lastSuccess" not in shown
    timed_out = recorded(client, slow, 1)
    assert timed_out["status"] == "failed"


def test_a_restart_keeps_the_status_and_loses_no_notification(
    workspace: Workspace, backend: str, receiver: Receiver
) -> None:
    workspace.settings.notifications.max_attempts = 100
    receiver.status["/down"] = 503
    open_runtime, cleanup = reopenable(workspace, backend)
    other = "urn:ngsi-ld:Room:kiruna:2"
    try:
        first = open_runtime()
        headers = key_headers(first.store)  # the subscriber's key: it owns its subscriptions
        with TestClient(create_app(first), headers=headers) as client:
            down = subscribe(client, receiver.url("/down"), notification={"format": "keyValues"})
            subscribe(client, receiver.url("/up"), notification={"format": "keyValues"})
            create_room(client)
            receiver.wait(1, "/up")
            receiver.wait(2, "/down")
            before = recorded(client, down, 2)

        # A room created while no notifier runs; then the endpoint comes back.
        runtime = open_runtime()
        warm = [("temperature", temperature(25))]
        runtime.store.change_entities({other: lambda _: EntityChange(type="Room", put=warm)})
        receiver.status["/down"] = 200
        failures = len(receiver.received("/down"))
        with TestClient(create_app(runtime), headers=headers) as client:
            receiver.wait(failures + 1, "/down", timeout=5)
            receiver.wait(2, "/up")
            settle()
            after = recorded(client, down, failures + 1)
    finally:
        cleanup()

    delivered = receiver.received("/down")[failures:]
    rooms = {e["id"]: e["temperature"] for n in delivered for e in n.body["data"]}
    assert rooms == {ROOM: 20, other: 25}
    assert before["status"] == "failed"
    assert after["status"] == "ok"
    assert after["timesFailed"] >= before["timesFailed"] >= 2
    assert after["timesSent"] == after["timesFailed"] + len(delivered)
    # The first room, notified before the restart, is not notified again.
    ups = [n.body["data"] for n in receiver.received("/up")]
    assert ups == [
        [{"id": ROOM, "type": "Room", "temperature": 20}],
        [{"id": other, "type": "Room", "temperature": 25}],
    ]


def reopenable(
    workspace: Workspace, backend: str
) -> tuple[Callable[[], Runtime], Callable[[], None]]:
    """Opens runtimes of the workspace on one database, again and again; and its cleanup."""
    if backend == "sqlite":
        return lambda: Runtime.open(workspace), lambda: None
    url, schema = postgres_url(), fresh_schema()
    return (
        lambda: Runtime.open(workspace, store=PostgresStore(url, schema=schema)),
        lambda: drop_schema(url, schema),
    )


def test_each_tenant_is_notified_of_its_own_entities(
    client: TestClient, receiver: Receiver
) -> None:
    tenant = {"NGSILD-Tenant": "kiruna"}
    subscribe(client, receiver.url("/tenant"), headers=tenant)
    subscribe(client, receiver.url("/default"))

    create_room(client)
    receiver.wait(1, "/default")
    create_room(client, headers=tenant, temperature=temperature(5))

    [notification] = receiver.wait(1, "/tenant")
    assert notification.headers["ngsild-tenant"] == "kiruna"
    assert notification.body["data"][0]["temperature"]["value"] == 5
    settle()
    assert len(receiver.received("/default")) == 1


def test_a_deleted_attribute_is_notified_with_the_null_of_its_type(
    client: TestClient, receiver: Receiver
) -> None:
    street = {"type": "LanguageProperty", "languageMap": {"sv": "Storgatan", "en": "Main St"}}
    places = {"type": "ListProperty", "valueList": ["hall", "gym"]}
    create_room(client, street=street, places=places, temperature=temperature(20))
    subscribe(client, receiver.url(), notificationTrigger=["attributeDeleted"])

    assert client.delete(f"{ENTITIES}/{ROOM}/attrs/street").status_code == 204
    street_gone = only(receiver.wait(1))
    assert client.delete(f"{ENTITIES}/{ROOM}/attrs/places").status_code == 204
    places_gone = receiver.wait(2)[1].body["data"][0]

    assert street_gone["street"] == {"type": "LanguageProperty", "languageMap": {"@none": NULL}}
    assert places_gone["places"] == {"type": "ListProperty", "valueList": [NULL]}
