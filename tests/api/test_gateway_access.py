"""Authorisation by dataset on every API (OWASP API1 object level, API5 function level).

The demo's datasets are open; this workspace adds an internal one (energy) and a personal one
(care), as a city would for its buildings' meters and its elderly-care sensors.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from notify.receiver import Receiver
from stadsnav.notify.owners import LOOK_AGAIN_SECONDS
from stadsnav.runtime import Runtime
from stadsnav.workspace import Workspace, load_workspace
from stadsnav.workspace.models import Dataset, Owner
from support import key_headers, wait_for

ENTITIES = "/ngsi-ld/v1/entities"
BEACH = "urn:ngsi-ld:Beach:skelleftea:byske"
METER = "urn:ngsi-ld:EnergyMeter:skelleftea:stadshuset"
SENSOR = "urn:ngsi-ld:HomeSensor:care:fridge-17"
OWNER = Owner(name="Skellefteå kommun", email="it@skelleftea.se")
IDENTIFYING = {"energy": ["caretaker"], "care": ["residentName", "address"]}


@pytest.fixture
def workspace(workspace_dir: Path) -> Workspace:
    loaded = load_workspace(workspace_dir)
    for dataset_id, classification, entity_type in [
        ("energy", "internal", "EnergyMeter"),
        ("care", "personal", "HomeSensor"),
    ]:
        loaded.datasets[dataset_id] = Dataset(
            id=dataset_id,
            title=dataset_id,
            owner=OWNER,
            classification=classification,  # type: ignore[arg-type]
            entity_types=[entity_type],
            identifying=IDENTIFYING[dataset_id],
        )
    loaded.settings.notifications.poll_interval = 0.05
    loaded.settings.notifications.retry_backoff = timedelta(milliseconds=100)
    return loaded


def entity(entity_id: str, entity_type: str, value: Any = 1) -> dict[str, Any]:
    return {"id": entity_id, "type": entity_type, "reading": {"type": "Property", "value": value}}


def keyed(client: TestClient, runtime: Runtime, *scopes: str, purpose: str | None = None) -> dict:
    headers = key_headers(runtime.store, *scopes)
    if purpose is not None:
        from stadsnav.gateway.keys import new_key, secret_hash

        key, text = new_key("a carer's app", list(scopes), key_created(), purpose=purpose)
        runtime.store.add_api_key(key, secret_hash(text))
        headers = {"X-API-Key": text}
    return headers


def key_created() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


@pytest.fixture
def city(client: TestClient, runtime: Runtime) -> TestClient:
    """A beach (open), a meter (internal) and a home sensor (personal), written with keys."""
    for body in (entity(BEACH, "Beach"), entity(METER, "EnergyMeter", 42.0)):
        assert client.post(ENTITIES, json=body).status_code == 201
    carer = keyed(client, runtime, "write:care")
    created = client.post(ENTITIES, json=entity(SENSOR, "HomeSensor", "open"), headers=carer)
    assert created.status_code == 201, created.text
    return client


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(item["id"] for item in response.json())


def test_anyone_reads_open_data_and_learns_of_nothing_else(
    city: TestClient, anonymous: TestClient
) -> None:
    assert anonymous.get(f"{ENTITIES}/{BEACH}").status_code == 200
    for hidden in (METER, SENSOR):
        answer = anonymous.get(f"{ENTITIES}/{hidden}")
        assert answer.status_code == 404, answer.text
        assert anonymous.get(f"/ngsi-ld/v1/temporal/entities/{hidden}").status_code == 404
    assert ids(anonymous.get(ENTITIES, params={"type": "EnergyMeter"})) == []
    wide = anonymous.get(ENTITIES, params={"attrs": "reading", "count": "true"})
    assert ids(wide) == [BEACH]
    assert wide.headers["ngsild-results-count"] == "1"
    posted = anonymous.post(
        "/ngsi-ld/v1/entityOperations/query",
        json={"type": "Query", "entities": [{"type": "EnergyMeter"}, {"type": "Beach"}]},
    )
    assert BEACH in ids(posted)
    assert METER not in ids(posted)
    types = anonymous.get("/ngsi-ld/v1/types").json()["typeList"]
    assert "Beach" in types
    assert not {"EnergyMeter", "HomeSensor"} & set(types)
    assert anonymous.get("/ngsi-ld/v1/types/EnergyMeter").status_code == 404
    attributes = anonymous.get("/ngsi-ld/v1/attributes", params={"details": "true"}).json()
    assert all(set(a["typeNames"]) <= set(types) for a in attributes)


def test_anyone_writing_is_asked_for_a_key(anonymous: TestClient) -> None:
    for response in (
        anonymous.post(ENTITIES, json=entity(BEACH, "Beach")),
        anonymous.patch(f"{ENTITIES}/{BEACH}/attrs", json={"reading": 2}),
        anonymous.delete(f"{ENTITIES}/{BEACH}"),
        anonymous.post("/ngsi-ld/v1/entityOperations/upsert", json=[entity(BEACH, "Beach")]),
        anonymous.post("/ngsi-ld/v1/temporal/entities", json=entity(BEACH, "Beach")),
        anonymous.post("/ngsi-ld/v1/jsonldContexts", json={"@context": {"a": "urn:a"}}),
        anonymous.get("/ngsi-ld/v1/subscriptions"),
    ):
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_key_reads_and_writes_its_own_dataset_only(
    city: TestClient, anonymous: TestClient, runtime: Runtime
) -> None:
    energy = keyed(city, runtime, "read:energy", "write:energy")
    assert anonymous.get(f"{ENTITIES}/{METER}", headers=energy).status_code == 200
    other = "urn:ngsi-ld:EnergyMeter:skelleftea:badhuset"
    made = anonymous.post(ENTITIES, json=entity(other, "EnergyMeter"), headers=energy)
    assert made.status_code == 201, made.text
    # Object level: a readable entity of another dataset is 403, an unreadable one 404.
    patched = anonymous.patch(f"{ENTITIES}/{BEACH}/attrs", json={"reading": 9}, headers=energy)
    assert patched.status_code == 403, patched.text
    assert anonymous.delete(f"{ENTITIES}/{SENSOR}", headers=energy).status_code == 404
    retyped = anonymous.post(f"{ENTITIES}/{METER}/attrs", json={"type": "Beach"}, headers=energy)
    assert retyped.status_code == 403, retyped.text
    assert (
        anonymous.post(ENTITIES, json=entity("urn:x:b", "Beach"), headers=energy).status_code == 403
    )
    batch = anonymous.post(
        "/ngsi-ld/v1/entityOperations/upsert",
        json=[entity(METER, "EnergyMeter", 43.0), entity(BEACH, "Beach", 7)],
        headers=energy,
    )
    assert batch.status_code == 207, batch.text
    assert batch.json()["success"] == [METER]
    assert [e["entityId"] for e in batch.json()["errors"]] == [BEACH]
    assert city.get(f"{ENTITIES}/{BEACH}").json()["reading"]["value"] == 1
    # Function level: a key that reads may not write.
    reader = keyed(city, runtime, "read")
    refused = anonymous.delete(f"{ENTITIES}/{METER}", headers=reader)
    assert refused.status_code == 403, refused.text
    temporal = anonymous.post(
        "/ngsi-ld/v1/temporal/entities", json=entity(BEACH, "Beach"), headers=energy
    )
    assert temporal.status_code == 403, temporal.text


def test_personal_data_needs_its_scope_and_a_purpose(
    city: TestClient, anonymous: TestClient, runtime: Runtime
) -> None:
    assert city.get(f"{ENTITIES}/{SENSOR}").status_code == 404  # read and write do not open it
    assert ids(city.get(ENTITIES, params={"type": "HomeSensor"})) == []
    no_purpose = keyed(city, runtime, "read:care")
    assert anonymous.get(f"{ENTITIES}/{SENSOR}", headers=no_purpose).status_code == 404
    carer = keyed(city, runtime, "read:care", purpose="alerting relatives of deviations")
    assert anonymous.get(f"{ENTITIES}/{SENSOR}", headers=carer).status_code == 200
    assert ids(anonymous.get(ENTITIES, params={"type": "HomeSensor"}, headers=carer)) == [SENSOR]


def test_a_subscription_is_its_keys_and_notifies_what_that_key_may_read(
    client: TestClient,
    anonymous: TestClient,
    runtime: Runtime,
    receiver: Receiver,
    admin_headers: dict[str, str],
) -> None:
    subscriptions = "/ngsi-ld/v1/subscriptions"

    def subscribe(headers: dict[str, str] | None, path: str) -> Any:
        body = subscribe_body(receiver.url(path))
        return anonymous.post(subscriptions, json=body, headers=headers)

    assert subscribe(None, "/anyone").status_code == 401
    partner = keyed(client, runtime, "read:parking")
    theirs = subscribe(partner, "/partner")
    assert theirs.status_code == 201
    ours = client.post(subscriptions, json=subscribe_body(receiver.url("/city")))
    assert ours.status_code == 201
    # Another key's subscription is not there for a key; an admin key sees every one.
    assert client.get(theirs.headers["Location"]).status_code == 404
    assert client.delete(theirs.headers["Location"]).status_code == 404
    assert [s["id"] for s in client.get(subscriptions).json()] == [
        ours.headers["Location"].rsplit("/", 1)[1]
    ]
    assert anonymous.get(theirs.headers["Location"], headers=partner).status_code == 200
    assert len(anonymous.get(subscriptions, headers=admin_headers).json()) == 2

    carer = keyed(client, runtime, "write:care")
    assert (
        client.post(ENTITIES, json=entity(SENSOR, "HomeSensor"), headers=carer).status_code == 201
    )
    assert client.post(ENTITIES, json=entity(METER, "EnergyMeter")).status_code == 201
    assert client.post(ENTITIES, json=entity(BEACH, "Beach")).status_code == 201

    def notified(path: str) -> list[str]:
        return sorted(e["id"] for n in receiver.received(path) for e in n.body["data"])

    wait_for(lambda: notified("/city") == sorted([METER, BEACH]))
    wait_for(lambda: notified("/partner") == [BEACH])  # an open dataset's: no meter
    time.sleep(0.3)  # a notification of the sensor would have come with or after the others
    assert notified("/city") == sorted([METER, BEACH])
    assert notified("/partner") == [BEACH]

    # A revoked key's subscriptions go silent.
    runtime.store.revoke_api_key(partner["X-API-Key"].split("_")[1], datetime.now(UTC))
    time.sleep(LOOK_AGAIN_SECONDS + 0.1)
    assert client.post(ENTITIES, json=entity(BEACH + "2", "Beach")).status_code == 201
    wait_for(lambda: BEACH + "2" in notified("/city"))
    time.sleep(0.3)
    assert notified("/partner") == [BEACH]


def subscribe_body(uri: str) -> dict[str, Any]:
    return {
        "type": "Subscription",
        "entities": [{"type": "HomeSensor"}, {"type": "Beach"}, {"type": "EnergyMeter"}],
        "notification": {"endpoint": {"uri": uri}, "format": "keyValues"},
    }


def test_a_product_of_an_internal_dataset_needs_its_scope(
    anonymous: TestClient, runtime: Runtime
) -> None:
    assert anonymous.get("/api/v1/beaches").status_code == 200
    runtime.workspace.datasets["beaches"].classification = "internal"
    # A workspace is read once, at start: the app works out each grant's access once too.
    anonymous.app.state.accesses.clear()  # type: ignore[attr-defined]
    assert anonymous.get("/api/v1/beaches").status_code == 401
    other = key_headers(runtime.store, "read:parking")
    assert anonymous.get("/api/v1/beaches", headers=other).status_code == 403
    beaches = key_headers(runtime.store, "read:beaches")
    assert anonymous.get("/api/v1/beaches", headers=beaches).status_code == 200


def test_a_join_shows_no_linked_entity_the_caller_may_not_read(
    city: TestClient, anonymous: TestClient
) -> None:
    link = {"metered": {"type": "Relationship", "object": METER}}
    assert city.post(f"{ENTITIES}/{BEACH}/attrs", json=link).status_code == 204
    joined = city.get(f"{ENTITIES}/{BEACH}", params={"join": "inline"}).json()
    assert joined["metered"]["entity"]["id"] == METER  # a reader of every dataset sees it
    inline = anonymous.get(f"{ENTITIES}/{BEACH}", params={"join": "inline"})
    assert inline.status_code == 200, inline.text
    assert inline.json()["metered"] == link["metered"]  # the link, not the meter
    flat = anonymous.get(f"{ENTITIES}/{BEACH}", params={"join": "flat"})
    assert flat.json()["id"] == BEACH  # only the beach: one entity, not a list with the meter
    listed = anonymous.get(ENTITIES, params={"type": "Beach", "join": "flat"})
    assert METER not in [item["id"] for item in listed.json()]
    assert "42.0" not in listed.text


def test_an_admin_key_cannot_mint_a_key_to_personal_data(
    client: TestClient, anonymous: TestClient, admin_headers: dict[str, str]
) -> None:
    body = {"owner": "me", "scopes": ["read:care"], "purpose": "curiosity"}
    refused = anonymous.post("/admin/keys", json=body, headers=admin_headers)
    assert refused.status_code == 403, refused.text
    assert "stadsnav keys create" in refused.json()["detail"]
    issued = anonymous.post(
        "/admin/keys", json={"owner": "me", "scopes": ["read:energy"]}, headers=admin_headers
    )
    assert issued.status_code == 201
    assert issued.headers["cache-control"] == "no-store"
    shown = anonymous.get(issued.headers["location"], headers=admin_headers)
    assert shown.status_code == 200
    assert shown.json()["scopes"] == ["read:energy"]
    assert "key" not in shown.json()
    assert anonymous.get("/admin/keys/nosuchid", headers=admin_headers).status_code == 404


def test_discovery_counts_no_entity_with_a_type_the_caller_may_not_read(
    city: TestClient, anonymous: TestClient
) -> None:
    before = anonymous.get("/ngsi-ld/v1/types/Beach").json()["entityCount"]
    mixed = {"id": "urn:ngsi-ld:Beach:meter", "type": ["Beach", "EnergyMeter"]}
    mixed["meterSecret"] = {"type": "Property", "value": "s3cret"}
    assert city.post(ENTITIES, json=mixed).status_code == 201
    assert city.get("/ngsi-ld/v1/types/Beach").json()["entityCount"] == before + 1
    assert anonymous.get("/ngsi-ld/v1/types/Beach").json()["entityCount"] == before
    assert "meterSecret" not in anonymous.get("/ngsi-ld/v1/attributes").text
    assert "meterSecret" not in anonymous.get("/ngsi-ld/v1/types", params={"details": "true"}).text
    assert anonymous.get("/ngsi-ld/v1/attributes/meterSecret").status_code == 404
    assert city.get("/ngsi-ld/v1/attributes/meterSecret").status_code == 200


def test_a_product_lists_no_entity_that_has_another_type_too(
    client: TestClient, anonymous: TestClient
) -> None:
    listed = anonymous.get("/api/v1/beaches").json()
    mixed = {"id": "urn:ngsi-ld:Beach:se:skelleftea:meter", "type": ["Beach", "EnergyMeter"]}
    mixed["name"] = {"type": "Property", "value": "Mätarbadet"}
    assert client.post(ENTITIES, json=mixed).status_code == 201
    after = anonymous.get("/api/v1/beaches")
    assert after.status_code == 200
    assert "Mätarbadet" not in after.text
    assert len(after.json()["data"]) == len(listed["data"])
    assert anonymous.get("/api/v1/beaches/meter").status_code == 404


# The audit trail (OWASP API9: every look at personal data and every refusal is recorded)


def audit(runtime: Runtime, **wanted: str) -> list[dict[str, Any]]:
    return [record.as_json() for record in runtime.store.audit_records(**wanted)]


def test_every_read_of_personal_data_is_recorded_with_who_why_whose_and_from_where(
    city: TestClient, anonymous: TestClient, runtime: Runtime
) -> None:
    carer = keyed(city, runtime, "read:care", purpose="alerting relatives of deviations")
    carer_id = carer["X-API-Key"].split("_")[1]
    observed = {"type": "Property", "value": "closed", "observedAt": "2026-11-27T07:00:00Z"}
    writer = keyed(city, runtime, "write:care")
    appended = city.post(f"{ENTITIES}/{SENSOR}/attrs", json={"door": observed}, headers=writer)
    assert appended.status_code == 204, appended.text
    reads = [
        f"{ENTITIES}/{SENSOR}",  # the fast lane
        f"{ENTITIES}/{SENSOR}?options=keyValues",
        f"{ENTITIES}?type=HomeSensor",
        f"/ngsi-ld/v1/temporal/entities/{SENSOR}",
        "/ngsi-ld/v1/temporal/entities?type=HomeSensor&timerel=after&timeAt=2000-01-01T00:00:00Z",
    ]
    for path in reads:
        answer = anonymous.get(path, headers=carer)
        assert answer.status_code == 200, path
        assert SENSOR in answer.text, path
    assert anonymous.get(f"{ENTITIES}?type=Beach", headers=carer).status_code == 200
    records = audit(runtime, action="read-personal")
    assert [r["target"].split("?")[0] for r in records] == [
        f"GET {ENTITIES}/{SENSOR}",
        f"GET {ENTITIES}/{SENSOR}",
        f"GET {ENTITIES}",
        f"GET /ngsi-ld/v1/temporal/entities/{SENSOR}",
        "GET /ngsi-ld/v1/temporal/entities",
    ]
    for record in records:
        assert record["actor"] == carer_id
        assert record["subject"] == SENSOR
        assert record["dataset"] == "care"
        assert record["purpose"] == "alerting relatives of deviations"
        assert record["client"] == "testclient"
        assert "closed" not in str(record.values())  # the sensor's value: no payload is kept


def test_refusals_admin_requests_and_key_actions_are_recorded(
    city: TestClient,
    anonymous: TestClient,
    runtime: Runtime,
    admin_headers: dict[str, str],
) -> None:
    no_purpose = keyed(city, runtime, "read:care")
    assert anonymous.get(f"{ENTITIES}/{SENSOR}", headers=no_purpose).status_code == 404
    assert anonymous.get(f"{ENTITIES}/urn:ngsi-ld:HomeSensor:nobody").status_code == 404
    reader = keyed(city, runtime, "read")
    assert (
        anonymous.post(
            ENTITIES, json=entity(METER + "2", "EnergyMeter"), headers=reader
        ).status_code
        == 403
    )
    forged = "snk_abcdefgh_" + "x" * 43
    assert (
        anonymous.get(ENTITIES, params={"type": "Beach"}, headers={"X-API-Key": forged}).status_code
        == 401
    )
    issued = anonymous.post(
        "/admin/keys", json={"owner": "Partner AB", "scopes": ["read"]}, headers=admin_headers
    )
    assert issued.status_code == 201
    denied = audit(runtime, action="denied")
    assert [(r["actor"], r["target"], r["status"]) for r in denied] == [
        (no_purpose["X-API-Key"].split("_")[1], f"GET {ENTITIES}/{SENSOR}", 404),
        (reader["X-API-Key"].split("_")[1], f"POST {ENTITIES}", 403),
        ("abcdefgh (not valid)", f"GET {ENTITIES}", 401),
    ]
    admin_id = admin_headers["X-API-Key"].split("_")[1]
    assert [(r["actor"], r["target"]) for r in audit(runtime, action="key-created")] == [
        (admin_id, issued.json()["id"])
    ]
    [admin] = audit(runtime, action="admin")
    assert (admin["actor"], admin["target"], admin["status"]) == (admin_id, "POST /admin/keys", 201)
    shown = anonymous.get("/admin/audit", params={"action": "denied"}, headers=admin_headers)
    assert [r["seq"] for r in shown.json()] == [r["seq"] for r in denied]
    assert anonymous.get("/admin/audit", headers=reader).status_code == 403


# Personal data under pseudonyms (OWASP API3, object property level)


def test_names_and_addresses_are_shown_only_to_keys_that_identify(
    city: TestClient, anonymous: TestClient, runtime: Runtime
) -> None:
    writer = keyed(city, runtime, "write:care")
    identifying = {
        "residentName": {"type": "Property", "value": "Anna Andersson"},
        "address": {"type": "Property", "value": "Storgatan 1, Skellefteå"},
        "door": {"type": "Property", "value": "closed", "observedAt": "2026-11-27T07:00:00Z"},
    }
    appended = city.post(f"{ENTITIES}/{SENSOR}/attrs", json=identifying, headers=writer)
    assert appended.status_code == 204, appended.text
    named = {"type": "Property", "value": "Anna A.", "observedAt": "2026-11-27T08:00:00Z"}
    city.patch(f"{ENTITIES}/{SENSOR}/attrs", json={"residentName": named}, headers=writer)
    carer = keyed(city, runtime, "read:care", purpose="alerting relatives of deviations")
    reads = [
        f"{ENTITIES}/{SENSOR}",
        f"{ENTITIES}/{SENSOR}?options=keyValues",
        f"{ENTITIES}?type=HomeSensor",
        f"/ngsi-ld/v1/temporal/entities/{SENSOR}",
        f"/ngsi-ld/v1/temporal/entities/{SENSOR}?options=aggregatedValues&aggrMethods=totalCount",
        "/ngsi-ld/v1/temporal/entities?type=HomeSensor&timerel=after&timeAt=2000-01-01T00:00:00Z",
    ]
    for path in reads:
        answer = anonymous.get(path, headers=carer)
        assert answer.status_code == 200, (path, answer.text)
        assert "door" in answer.text, path
        for hidden in ("residentName", "address", "Anna", "Storgatan"):
            assert hidden not in answer.text, (path, hidden)
    # Nor can a query find out a name or an address.
    for query in ({"q": 'residentName=="Anna Andersson"'}, {"attrs": "address"}):
        probed = anonymous.get(ENTITIES, params={"type": "HomeSensor", **query}, headers=carer)
        assert probed.status_code == 403, probed.text
        assert "identify a person" in probed.json()["detail"]
    temporal = anonymous.get(
        "/ngsi-ld/v1/temporal/entities",
        params={
            "type": "HomeSensor",
            "q": 'address=="x"',
            "timerel": "after",
            "timeAt": "2000-01-01T00:00:00Z",
        },
        headers=carer,
    )
    assert temporal.status_code == 403
    # A query on another type's name is no probe: beaches have names anyone reads.
    assert (
        anonymous.get(
            ENTITIES, params={"type": "Beach", "q": 'name=="x"'}, headers=carer
        ).status_code
        == 200
    )
    # identify:care shows them.
    identifier = keyed(city, runtime, "read:care", "identify:care", purpose="home visits")
    shown = anonymous.get(f"{ENTITIES}/{SENSOR}", headers=identifier)
    assert "Anna A." in shown.text
    assert "Storgatan" in shown.text
    found = anonymous.get(
        ENTITIES, params={"type": "HomeSensor", "q": 'residentName=="Anna A."'}, headers=identifier
    )
    assert ids(found) == [SENSOR]


def test_what_identifies_a_person_stays_hidden_from_read_keys_and_from_attrs(
    city: TestClient, anonymous: TestClient, runtime: Runtime
) -> None:
    caretaker = {"type": "Property", "value": "Bo Berg, 070-123 45 67"}
    assert city.post(f"{ENTITIES}/{METER}/attrs", json={"caretaker": caretaker}).status_code == 204
    # An internal dataset's identifying attribute: the read and write key does not see it.
    for path in (f"{ENTITIES}/{METER}", f"{ENTITIES}?type=EnergyMeter"):
        answer = city.get(path)
        assert answer.status_code == 200
        assert "Bo Berg" not in answer.text
        assert "caretaker" not in answer.text
    assert city.get(f"{ENTITIES}/{METER}", params={"attrs": "caretaker"}).status_code == 404
    writer = keyed(city, runtime, "write:care")
    named = {"type": "Property", "value": "Anna", "observedAt": "2026-11-27T08:00:00Z"}
    door = {"type": "Property", "value": "open", "observedAt": "2026-11-27T08:00:00Z"}
    city.post(
        f"{ENTITIES}/{SENSOR}/attrs", json={"residentName": named, "door": door}, headers=writer
    )
    carer = keyed(city, runtime, "read:care", purpose="alerting relatives of deviations")
    # attrs naming a hidden attribute reveals neither its values nor whether it is there.
    assert (
        anonymous.get(
            f"{ENTITIES}/{SENSOR}", params={"attrs": "residentName"}, headers=carer
        ).status_code
        == 404
    )
    aggregated = anonymous.get(
        f"/ngsi-ld/v1/temporal/entities/{SENSOR}",
        params={
            "attrs": "door,residentName",
            "options": "aggregatedValues",
            "aggrMethods": "totalCount",
        },
        headers=carer,
    )
    assert aggregated.status_code == 200, aggregated.text
    assert "door" in aggregated.text
    assert "residentName" not in aggregated.text
    # A page size written another way is read as the routes read it.
    assert anonymous.get(ENTITIES, params={"type": "Beach", "limit": "+1000"}).status_code == 403


def test_an_admin_keys_subscription_is_its_own_and_a_narrowed_token_cannot_subscribe(
    client: TestClient, anonymous: TestClient, runtime: Runtime, admin_headers: dict[str, str]
) -> None:
    body = subscribe_body("http://127.0.0.1:9/notify")
    created = anonymous.post("/ngsi-ld/v1/subscriptions", json=body, headers=admin_headers)
    assert created.status_code == 201
    [record] = runtime.store.list_subscriptions()[1]
    assert record.owner == admin_headers["X-API-Key"].split("_")[1]
    key_id, text = issue_key(runtime, "read", "write")
    token = anonymous.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "read"},
        auth=(key_id, text),
    ).json()["access_token"]
    narrowed = anonymous.post(
        "/ngsi-ld/v1/subscriptions", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert narrowed.status_code == 403
    assert "some of its key's scopes" in narrowed.json()["detail"]


def issue_key(runtime: Runtime, *scopes: str) -> tuple[str, str]:
    from stadsnav.gateway.keys import new_key, secret_hash

    key, text = new_key("a partner", list(scopes), datetime.now(UTC))
    runtime.store.add_api_key(key, secret_hash(text))
    return key.id, text


def test_a_subscription_may_not_test_what_its_key_does_not_see(client: TestClient) -> None:
    def subscribe(entity_type: str, **members: Any) -> int:
        body = {**subscribe_body("http://127.0.0.1:9/notify"), **members}
        body["entities"] = [{"type": entity_type}]
        return client.post("/ngsi-ld/v1/subscriptions", json=body).status_code

    assert subscribe("EnergyMeter", q='caretaker=="Bo Berg"') == 403
    assert subscribe("EnergyMeter", watchedAttributes=["caretaker"]) == 403
    assert subscribe("EnergyMeter", q="kWh>10") == 201
    assert subscribe("Beach", q='caretaker=="x"') == 201  # beaches have no hidden caretaker
