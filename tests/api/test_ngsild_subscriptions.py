"""Subscriptions over HTTP (GS CIM 009, 5.8.1-5.8.5): create, query, retrieve, update, delete."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from notify.receiver import Receiver
from stadsnav.model.context import CORE_CONTEXT_URL, JSONLD_CONTEXT_REL

SUBSCRIPTIONS = "/ngsi-ld/v1/subscriptions"
ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"
JSON_LD = "application/ld+json"
SUITE = "https://ngsi-ld-test-suite/context#"
URI = {"uri": "http://localhost:1111/notify"}
# The terms of the ETSI test suite's context that its subscription samples use.
SUITE_CONTEXT = {
    "@context": {
        "Building": f"{SUITE}Building",
        "name": f"{SUITE}name",
        "airQualityLevel": f"{SUITE}airQualityLevel",
        "subCategory": f"{SUITE}subCategory",
    }
}


def subscription(**members: Any) -> dict[str, Any]:
    """The ETSI test suite's subscription.jsonld (without its @context), with ``members``."""
    body: dict[str, Any] = {
        "id": "urn:ngsi-ld:Subscription:028-01",
        "type": "Subscription",
        "timeInterval": 5,
        "entities": [{"type": "Building"}],
        "notification": {
            "format": "keyValues",
            "endpoint": {"uri": "http://localhost:1111/notify", "accept": "application/json"},
        },
    }
    body.update(members)
    return {key: value for key, value in body.items() if value is not None}


def link(url: str) -> dict[str, str]:
    return {"Link": f'<{url}>; rel="{JSONLD_CONTEXT_REL}"; type="application/ld+json"'}


def hosted(client: TestClient, document: dict[str, Any] = SUITE_CONTEXT) -> str:
    """The URL of ``document`` hosted by the broker."""
    response = client.post("/ngsi-ld/v1/jsonldContexts", json=document)
    assert response.status_code == 201, response.text
    return f"http://testserver{response.headers['location']}"


def assert_problem(response: Any, status: int, kind: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["type"] == ERRORS + kind
    assert response.json()["title"]


def create(client: TestClient, body: dict[str, Any], **headers: str) -> str:
    response = client.post(SUBSCRIPTIONS, json=body, headers=headers)
    assert response.status_code == 201, response.text
    assert response.content == b""
    location: str = response.headers["location"]
    assert location.startswith(SUBSCRIPTIONS + "/")
    return location.rsplit("/", 1)[1]


def test_a_subscription_is_created_and_retrieved_as_given_with_its_status(
    client: TestClient,
) -> None:
    context = hosted(client)
    body = {**subscription(), "@context": [context]}

    subscription_id = create(client, body, **{"Content-Type": JSON_LD})
    response = client.get(
        f"{SUBSCRIPTIONS}/{subscription_id}", headers={"Accept": JSON_LD, **link(context)}
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == JSON_LD
    # What the ETSI suite's expectations (subscription-028-01.jsonld, 028_06) hold: no
    # jsonldContext, since notifications are rendered in the one @context URL the request named.
    assert response.json() == {
        **subscription(),
        "status": "active",
        "notificationTrigger": ["attributeCreated", "attributeUpdated"],
        "@context": context,
    }


def test_without_jsonld_context_the_subscription_shows_the_implicitly_created_one(
    client: TestClient,
) -> None:
    context = hosted(client)
    body = {**subscription(), "@context": [context, {"extra": "https://example.org/extra"}]}

    subscription_id = create(client, body, **{"Content-Type": JSON_LD})
    shown = client.get(f"{SUBSCRIPTIONS}/{subscription_id}").json()
    served = client.get(shown["jsonldContext"].removeprefix("http://testserver"))

    # 5.2.12: notifications use the subscription's @context; not one URL, it is hosted (5.13).
    assert served.status_code == 200, served.text
    assert served.json()["@context"] == [context, {"extra": "https://example.org/extra"}]


def test_names_are_answered_in_the_terms_of_each_request(client: TestClient) -> None:
    context = hosted(client)
    body = subscription(
        timeInterval=None,
        watchedAttributes=["name", "subCategory"],
        notification={"attributes": ["airQualityLevel"], "endpoint": {"uri": "http://h/n"}},
    )
    subscription_id = create(client, body, **link(context))

    mine = client.get(f"{SUBSCRIPTIONS}/{subscription_id}", headers=link(context)).json()
    core = client.get(f"{SUBSCRIPTIONS}/{subscription_id}").json()

    assert mine["entities"] == [{"type": "Building"}]
    assert mine["watchedAttributes"] == ["name", "subCategory"]
    assert mine["notification"]["attributes"] == ["airQualityLevel"]
    assert core["entities"] == [{"type": f"{SUITE}Building"}]
    assert core["watchedAttributes"] == [f"{SUITE}name", f"{SUITE}subCategory"]
    assert CORE_CONTEXT_URL in client.get(f"{SUBSCRIPTIONS}/{subscription_id}").headers["link"]


def test_an_id_is_generated_when_none_is_given_and_a_taken_one_conflicts(
    client: TestClient,
) -> None:
    generated = create(client, subscription(id=None))
    given = create(client, subscription(id="urn:ngsi-ld:Subscription:mine"))

    again = client.post(SUBSCRIPTIONS, json=subscription(id="urn:ngsi-ld:Subscription:mine"))

    assert generated.startswith("urn:ngsi-ld:Subscription:")
    assert client.get(f"{SUBSCRIPTIONS}/{generated}").status_code == 200
    assert given == "urn:ngsi-ld:Subscription:mine"
    assert_problem(again, 409, "AlreadyExists")


@pytest.mark.parametrize(
    "body",
    [
        {},
        subscription(id="invalidId"),
        subscription(entities=None),
        subscription(timeInterval=None, throttling=-3),
        subscription(throttling=30),
        subscription(timeInterval=None, q="airQualityLevel>"),
        subscription(expiresAt="2000-01-01T00:00:00Z"),
        subscription(notificationTrigger=["entityChanged"]),
        subscription(temporalQ={"timerel": "after", "timeAt": "2020-01-01T00:00:00Z"}),
        subscription(notification={"format": "keyValues", "showChanges": True, "endpoint": URI}),
        subscription(notification={"pick": ["id"], "omit": ["id"], "endpoint": URI}),
        subscription(
            notification={"endpoint": {**URI, "receiverInfo": [{"key": 5, "value": "v"}]}}
        ),
    ],
)
def test_an_invalid_subscription_is_bad_request_data(
    client: TestClient, body: dict[str, Any]
) -> None:
    assert_problem(client.post(SUBSCRIPTIONS, json=body), 400, "BadRequestData")


def test_a_body_that_is_no_json_is_an_invalid_request(client: TestClient) -> None:
    response = client.post(
        SUBSCRIPTIONS, content=b'{"type": "Subscription",', headers={"Content-Type": JSON_LD}
    )

    assert_problem(response, 400, "InvalidRequest")


def test_read_only_and_unknown_members_are_ignored(client: TestClient) -> None:
    body = subscription(status="expired", __context="http://localhost:1111/hijacked.jsonld")
    body["notification"] = {**body["notification"], "timesSent": 42}

    subscription_id = create(client, body)
    shown = client.get(f"{SUBSCRIPTIONS}/{subscription_id}")

    assert shown.json()["status"] == "active"
    assert "timesSent" not in shown.json()["notification"]
    assert "hijacked" not in shown.text


def test_an_unavailable_jsonld_context_is_refused_and_an_available_one_kept(
    client: TestClient, receiver: Receiver
) -> None:
    missing = client.post(
        SUBSCRIPTIONS, json=subscription(jsonldContext=receiver.url("/no.jsonld"))
    )
    subscription_id = create(client, subscription(jsonldContext=CORE_CONTEXT_URL))

    assert_problem(missing, 503, "LdContextNotAvailable")
    shown = client.get(f"{SUBSCRIPTIONS}/{subscription_id}").json()
    assert shown["jsonldContext"] == CORE_CONTEXT_URL


def test_subscriptions_are_queried_a_page_at_a_time_with_links_and_count(
    client: TestClient,
) -> None:
    ids = [create(client, subscription(id=f"urn:ngsi-ld:Subscription:{n}")) for n in range(3)]

    middle = client.get(
        SUBSCRIPTIONS, params={"limit": 1, "offset": 1}, headers={"Accept": JSON_LD}
    )
    counted = client.get(SUBSCRIPTIONS, params={"limit": 0, "count": "true"})
    last = client.get(SUBSCRIPTIONS, params={"limit": 1, "offset": 2}, headers={"Accept": JSON_LD})
    every = client.get(f"{SUBSCRIPTIONS}/", params={"limit": 15})

    assert [s["id"] for s in middle.json()] == ids[1:2]
    assert counted.headers["ngsild-results-count"] == "3"
    assert counted.json() == []
    # The exact form the ETSI suite compares (031_02).
    assert middle.headers["link"] == (
        f'<{SUBSCRIPTIONS}?limit=1&offset=0>;rel="prev";type="application/ld+json", '
        f'<{SUBSCRIPTIONS}?limit=1&offset=2>;rel="next";type="application/ld+json"'
    )
    assert last.headers["link"] == (
        f'<{SUBSCRIPTIONS}?limit=1&offset=1>;rel="prev";type="application/ld+json"'
    )
    assert [s["id"] for s in every.json()] == ids
    assert all(s["type"] == "Subscription" for s in every.json())
    assert_problem(client.get(SUBSCRIPTIONS, params={"limit": 5000}), 403, "TooManyResults")


def test_a_fragment_updates_members_and_the_status(client: TestClient) -> None:
    subscription_id = create(client, subscription())
    url = f"{SUBSCRIPTIONS}/{subscription_id}"
    fragment = {
        "type": "Subscription",
        "notification": {"endpoint": {"uri": "http://my.second.endpoint.org/notify"}},
        "isActive": False,
        "description": "second endpoint",
    }

    assert client.patch(url, json=fragment).status_code == 204
    paused = client.get(url).json()
    assert client.patch(url, json={"isActive": True, "description": None}).status_code == 204
    active = client.get(url).json()

    assert paused["notification"]["endpoint"] == {"uri": "http://my.second.endpoint.org/notify"}
    assert paused["notification"]["format"] == "keyValues"
    assert paused["description"] == "second endpoint"
    assert paused["status"] == "paused"
    assert active["status"] == "active"
    assert "description" not in active


def test_an_expired_subscription_is_shown_so_and_activated_by_a_later_expiry(
    client: TestClient,
) -> None:
    subscription_id = create(client, subscription())
    url = f"{SUBSCRIPTIONS}/{subscription_id}"
    soon = (datetime.now(UTC) + timedelta(milliseconds=300)).isoformat()
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()

    assert client.patch(url, json={"expiresAt": soon}).status_code == 204
    time.sleep(0.4)
    expired = client.get(url).json()["status"]
    assert client.patch(url, json={"expiresAt": later}).status_code == 204

    assert expired == "expired"
    assert client.get(url).json()["status"] == "active"


@pytest.mark.parametrize(
    "fragment",
    [
        {"expiresAt": "2000-01-01T00:00:00Z"},
        {"notification": {"endpoint": None}},
        {"notification": None},
        {"watchedAttributes": ["name"]},
        {"entities": None},
        {"unknownMember": 1},
    ],
)
def test_a_fragment_breaking_a_rule_is_bad_request_data(
    client: TestClient, fragment: dict[str, Any]
) -> None:
    subscription_id = create(client, subscription())

    response = client.patch(f"{SUBSCRIPTIONS}/{subscription_id}", json=fragment)

    assert_problem(response, 400, "BadRequestData")


def test_unknown_and_invalid_ids_are_not_found_and_bad_request(client: TestClient) -> None:
    unknown = f"{SUBSCRIPTIONS}/urn:ngsi-ld:Subscription:unknown"

    assert_problem(client.get(unknown), 404, "ResourceNotFound")
    assert_problem(client.patch(unknown, json={"description": "x"}), 404, "ResourceNotFound")
    assert_problem(client.delete(unknown), 404, "ResourceNotFound")
    assert_problem(client.get(f"{SUBSCRIPTIONS}/InvalidUri"), 400, "BadRequestData")
    assert client.patch(f"{SUBSCRIPTIONS}/", json={"description": "x"}).status_code == 405


def test_a_deleted_subscription_is_gone(client: TestClient) -> None:
    subscription_id = create(client, subscription())

    assert client.delete(f"{SUBSCRIPTIONS}/{subscription_id}").status_code == 204

    assert_problem(client.get(f"{SUBSCRIPTIONS}/{subscription_id}"), 404, "ResourceNotFound")
    assert client.get(SUBSCRIPTIONS).json() == []


def test_each_tenant_has_its_own_subscriptions(client: TestClient) -> None:
    tenant = {"NGSILD-Tenant": "kiruna"}
    subscription_id = create(client, subscription(), **tenant)

    assert client.get(f"{SUBSCRIPTIONS}/{subscription_id}", headers=tenant).status_code == 200
    assert client.get(f"{SUBSCRIPTIONS}/{subscription_id}").status_code == 404
    assert_problem(
        client.get(SUBSCRIPTIONS, headers={"NGSILD-Tenant": "nowhere"}), 404, "NonexistentTenant"
    )


def test_unknown_parameters_and_unusable_media_types_are_refused(client: TestClient) -> None:
    subscription_id = create(client, subscription())
    xml = {"Content-Type": "application/xml"}

    assert_problem(
        client.post(f"{SUBSCRIPTIONS}/", params={"invalidParams": "x"}, json=subscription()),
        400,
        "InvalidRequest",
    )
    assert_problem(
        client.get(f"{SUBSCRIPTIONS}/", params={"invalidParams": "x"}), 400, "InvalidRequest"
    )
    assert client.post(SUBSCRIPTIONS, content=b"{}", headers=xml).status_code == 415
    patched = client.patch(f"{SUBSCRIPTIONS}/{subscription_id}", content=b"{}", headers=xml)
    assert patched.status_code == 415
    unknown = f"{SUBSCRIPTIONS}/urn:ngsi-ld:Subscription:unknown"
    assert client.get(unknown, headers={"Accept": "application/xml"}).status_code == 406
