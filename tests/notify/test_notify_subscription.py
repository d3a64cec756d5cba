"""The Subscription data type: checks, names as stored, fragments and how it is shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stadsnav.model.typequery import parse_types
from stadsnav.notify.subscription import (
    SubscriptionError,
    check_future,
    check_subscription,
    merge_fragment,
    show,
    status,
    translate,
    type_text,
)
from stadsnav.store.sql_subscriptions import DeliveryStatus

NOW = datetime(2026, 7, 1, 12, tzinfo=UTC)
TERMS = {"Building": "https://ngsi-ld-test-suite/context#Building", "name": "ex:name"}


def to_stored(term: str) -> str:
    return TERMS.get(term, term)


def to_request(name: str) -> str:
    return {v: k for k, v in TERMS.items()}.get(name, name)


def subscription(**members: Any) -> dict[str, Any]:
    """A valid subscription (the ETSI test suite's subscription.jsonld), with ``members``."""
    body: dict[str, Any] = {
        "id": "urn:ngsi-ld:Subscription:s1",
        "type": "Subscription",
        "entities": [{"type": "Building"}],
        "notification": {
            "format": "keyValues",
            "endpoint": {"uri": "http://localhost:1111/notify", "accept": "application/json"},
        },
    }
    body.update(members)
    return {key: value for key, value in body.items() if value is not None}


def test_a_valid_subscription_gets_the_default_triggers_and_keeps_its_members() -> None:
    checked = check_subscription(subscription(timeInterval=5))

    assert checked["notificationTrigger"] == ["attributeCreated", "attributeUpdated"]
    assert checked["timeInterval"] == 5
    assert checked["notification"]["endpoint"]["accept"] == "application/json"
    assert "status" not in checked


@pytest.mark.parametrize(
    ("members", "words"),
    [
        ({"type": "Entity"}, '"type": "Subscription"'),
        ({"entities": None}, "entities, watchedAttributes or both"),
        ({"entities": []}, "non-empty array"),
        ({"entities": [{"id": "urn:x:1"}]}, "needs a type"),
        ({"entities": [{"type": "A", "idPattern": "(("}]}, "regular expression"),
        ({"id": "invalidId"}, "URI"),
        ({"id": ""}, "URI"),
        ({"watchedAttributes": []}, "non-empty array"),
        ({"timeInterval": 5, "watchedAttributes": ["name"]}, "timeInterval and watchedAttributes"),
        ({"timeInterval": 5, "throttling": 2}, "timeInterval and throttling"),
        ({"throttling": -1}, "above 0"),
        ({"q": "temperature>"}, "q:"),
        ({"csf": "(("}, "csf:"),
        ({"geoQ": {"geometry": "Point", "coordinates": [1, 2], "georel": "near"}}, "geoQ:"),
        ({"scopeQ": "no-slash"}, "scopeQ:"),
        ({"notificationTrigger": ["entityChanged"]}, "unknown notificationTrigger"),
        ({"expiresAt": "tomorrow"}, "not a date-time"),
        ({"isActive": "yes"}, "true or false"),
        ({"datasetId": ["not a uri"]}, "datasetId"),
        ({"jsonldContext": "unknownContext"}, "jsonldContext must be a URI"),
        ({"temporalQ": {"timerel": "after"}}, "temporalQ"),
        ({"notification": None}, "needs notification"),
    ],
)
def test_a_subscription_breaking_a_rule_is_refused_saying_which(
    members: dict[str, Any], words: str
) -> None:
    body = subscription(**{k: v for k, v in members.items() if v is not None})
    for key in (k for k, v in members.items() if v is None):
        body.pop(key)

    with pytest.raises(SubscriptionError, match=words.replace("(", r"\(").replace(")", r"\)")):
        check_subscription(body)


@pytest.mark.parametrize(
    ("notification", "words"),
    [
        ({"format": "keyValues", "showChanges": True}, "showChanges"),
        ({"format": "simplified", "showChanges": True}, "showChanges"),
        ({"attributes": []}, "non-empty array"),
        ({"pick": []}, "non-empty array"),
        ({"omit": []}, "non-empty array"),
        ({"pick": ["id"], "omit": ["id"]}, "pick or omit"),
        ({"pick": ["id"], "attributes": ["name"]}, "replace attributes"),
        ({"format": "geojson"}, "unknown format"),
        ({"join": "deep"}, "join must be"),
        ({"joinLevel": 2}, "joinLevel needs join"),
        ({"endpoint": None}, "needs an endpoint"),
        ({"endpoint": {"uri": "mqtt://broker:1883/topic"}}, "http and https only"),
        ({"endpoint": {"uri": "not a uri"}}, "must be a URI"),
        ({"endpoint": {"uri": "http://h/n", "accept": "text/plain"}}, "accept must be"),
        ({"endpoint": {"uri": "http://h/n", "receiverInfo": [{"key": "K", "value": 42}]}}, "pair"),
        ({"endpoint": {"uri": "http://h/n", "notifierInfo": [{"key": "K"}]}}, "pair"),
        ({"endpoint": {"uri": "http://h/n", "timeout": 0}}, "milliseconds"),
    ],
)
def test_notification_params_breaking_a_rule_are_refused(
    notification: dict[str, Any], words: str
) -> None:
    params = {"endpoint": {"uri": "http://localhost:1111/notify"}, **notification}
    params = {key: value for key, value in params.items() if value is not None}

    with pytest.raises(SubscriptionError, match=words):
        check_subscription(subscription(notification=params))


def test_show_changes_with_normalized_and_string_pairs_are_accepted() -> None:
    endpoint = {
        "uri": "https://example.org/notify",
        "receiverInfo": [{"key": "Authorization", "value": "Bearer abc"}],
        "notifierInfo": [{"key": "Prefer", "value": "body=json"}],
        "timeout": 500,
    }
    checked = check_subscription(
        subscription(
            notification={"format": "normalized", "showChanges": True, "endpoint": endpoint}
        )
    )

    assert checked["notification"]["showChanges"] is True
    assert checked["notification"]["endpoint"] == endpoint


def test_an_expiry_in_the_past_is_refused_and_a_future_one_is_kept() -> None:
    with pytest.raises(SubscriptionError, match="not in the future"):
        check_future({"expiresAt": "2000-01-01T00:00:00Z"}, NOW)
    check_future({"expiresAt": (NOW + timedelta(seconds=5)).isoformat()}, NOW)


def test_names_are_translated_to_stored_names_and_back() -> None:
    body = subscription(
        entities=[{"type": "(Building|Tower);Site", "idPattern": "^urn:.*"}],
        watchedAttributes=["name"],
        geoQ={
            "geometry": "Point",
            "coordinates": [1, 2],
            "georel": "near;maxDistance==5",
            "geoproperty": "name",
        },
        notification={
            "attributes": ["name"],
            "endpoint": {"uri": "http://localhost:1111/notify"},
        },
        unknownMember="dropped",
        status="expired",
    )

    stored = check_subscription(translate(body, to_stored))

    assert stored["entities"] == [
        {"idPattern": "^urn:.*", "type": "(https://ngsi-ld-test-suite/context#Building|Tower);Site"}
    ]
    assert stored["watchedAttributes"] == ["ex:name"]
    assert stored["geoQ"]["geoproperty"] == "ex:name"
    assert stored["notification"]["attributes"] == ["ex:name"]
    assert "unknownMember" not in stored
    assert "status" not in stored
    shown = show(stored, to_request, DeliveryStatus(), NOW)
    assert shown["entities"][0]["type"] == "(Building|Tower);Site"
    assert shown["watchedAttributes"] == ["name"]
    assert shown["status"] == "active"


def test_pick_and_omit_are_translated_with_their_nested_members() -> None:
    notification = {"pick": ["id", "name,locatedAt{name}"], "endpoint": {"uri": "http://h/n"}}

    translated = translate(subscription(notification=notification), to_stored)

    assert translated["notification"]["pick"] == ["id", "ex:name,locatedAt{ex:name}"]


def test_type_selections_are_written_out_again_with_what_binds_them() -> None:
    for text in ("A", "A|B", "A;B", "(A|B);C", "A;(B|C);D"):
        expression = parse_types(text)
        assert expression is not None
        assert parse_types(type_text(expression)) == expression
    either = parse_types("A,B")
    assert either is not None
    assert type_text(either) == "A|B"


def test_a_fragment_replaces_members_merges_notification_and_removes_with_null() -> None:
    document = check_subscription(subscription(description="old", throttling=10))

    merged = merge_fragment(
        document,
        {
            "type": "Subscription",
            "description": None,
            "throttling": 20,
            "notification": {"format": "normalized", "attributes": ["name"]},
        },
    )

    assert "description" not in merged
    assert merged["throttling"] == 20
    assert merged["notification"]["format"] == "normalized"
    assert merged["notification"]["attributes"] == ["name"]
    assert merged["notification"]["endpoint"]["uri"] == "http://localhost:1111/notify"


@pytest.mark.parametrize(
    "fragment", [{"notification": None}, {"notification": {"format": "x", "endpoint": None}}]
)
def test_a_fragment_cannot_remove_what_is_mandatory(fragment: dict[str, Any]) -> None:
    with pytest.raises(SubscriptionError, match="cannot be removed"):
        merge_fragment(check_subscription(subscription()), fragment)


def test_status_is_expired_past_expires_at_then_paused_when_inactive() -> None:
    future = (NOW + timedelta(hours=1)).isoformat()
    past = (NOW - timedelta(hours=1)).isoformat()

    assert status({"expiresAt": future}, NOW) == "active"
    assert status({"expiresAt": future, "isActive": False}, NOW) == "paused"
    assert status({"expiresAt": past, "isActive": False}, NOW) == "expired"
    assert status({"isActive": True}, NOW) == "active"


def test_delivery_counters_appear_once_there_is_something_to_count() -> None:
    document = check_subscription(subscription())
    fresh = show(document, to_request, DeliveryStatus(), NOW)
    assert set(fresh["notification"]) == {"format", "endpoint"}

    delivered = show(
        document,
        to_request,
        DeliveryStatus(
            times_sent=3,
            times_failed=1,
            last_notification=NOW,
            last_success=NOW - timedelta(minutes=1),
            last_failure=NOW,
            last_status="failed",
        ),
        NOW,
    )
    notification = delivered["notification"]
    assert notification["status"] == "failed"
    assert notification["timesSent"] == 3
    assert notification["timesFailed"] == 1
    assert notification["lastNotification"] == "2026-07-01T12:00:00Z"
    assert notification["lastSuccess"] == "2026-07-01T11:59:00Z"
    assert notification["lastFailure"] == "2026-07-01T12:00:00Z"
