"""Entities with several types over the NGSI-LD API (GS CIM 009, 4.16, 4.17), on every store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from notify.receiver import Receiver
from stadsnav.workspace import Workspace, load_workspace

ENTITIES = "/ngsi-ld/v1/entities"
HALL = "urn:ngsi-ld:Building:skelleftea:stadshuset"
GARAGE = "urn:ngsi-ld:Building:skelleftea:kanalgaraget"
NAME = {"type": "Property", "value": "Stadshuset"}


@pytest.fixture
def workspace(workspace_dir: Path) -> Workspace:
    """The demo workspace, notifying fast: a test waits for a notification."""
    loaded = load_workspace(workspace_dir)
    loaded.settings.notifications.poll_interval = 0.05
    loaded.settings.notifications.retry_backoff = timedelta(milliseconds=100)
    return loaded


def create(client: TestClient, entity_id: str, types: Any, **attrs: Any) -> None:
    response = client.post(ENTITIES, json={"id": entity_id, "type": types, **attrs})
    assert response.status_code == 201, response.text


def types_of(client: TestClient, entity_id: str = HALL) -> Any:
    response = client.get(f"{ENTITIES}/{entity_id}")
    assert response.status_code == 200, response.text
    return response.json()["type"]


def query(client: TestClient, type: str) -> list[str]:
    response = client.get(ENTITIES, params={"type": type})
    assert response.status_code == 200, response.text
    return sorted(entity["id"] for entity in response.json())


def test_an_entity_with_several_types_is_selected_by_each_and_by_all(client: TestClient) -> None:
    create(client, HALL, ["Building", "CulturalSite"], name=NAME)
    create(client, GARAGE, "Building")
    assert types_of(client) == ["Building", "CulturalSite"]
    assert types_of(client, GARAGE) == "Building"
    assert query(client, "Building") == [GARAGE, HALL]
    assert query(client, "CulturalSite") == [HALL]
    assert query(client, "Building;CulturalSite") == [HALL]
    assert query(client, "Building;Museum") == []
    assert query(client, "(Museum|CulturalSite);Building") == [HALL]
    kv = client.get(f"{ENTITIES}/{HALL}", params={"options": "keyValues"}).json()
    assert kv == {"id": HALL, "type": ["Building", "CulturalSite"], "name": "Stadshuset"}


def test_writes_that_name_types_add_them_and_a_replace_sets_them(client: TestClient) -> None:
    create(client, HALL, "Building", name=NAME)
    # Update attributes with only a type: 204 and the type added (ETSI TP 011_06).
    added = client.patch(f"{ENTITIES}/{HALL}/attrs", json={"type": "CulturalSite"})
    assert added.status_code == 204, added.text
    assert types_of(client) == ["Building", "CulturalSite"]
    appended = client.post(f"{ENTITIES}/{HALL}/attrs", json={"type": ["Building", "Museum"]})
    assert appended.status_code == 204, appended.text
    assert types_of(client) == ["Building", "CulturalSite", "Museum"]
    merged = client.patch(f"{ENTITIES}/{HALL}", json={"type": "TouristSpot"})
    assert merged.status_code == 204, merged.text
    assert types_of(client) == ["Building", "CulturalSite", "Museum", "TouristSpot"]
    replaced = client.put(f"{ENTITIES}/{HALL}", json={"type": ["Museum"], "name": NAME})
    assert replaced.status_code == 204, replaced.text
    assert types_of(client) == "Museum"
    assert query(client, "Building") == []


def test_batch_upserts_add_types_on_update_and_set_them_on_replace(client: TestClient) -> None:
    create(client, HALL, "Building", name=NAME)
    upsert = "/ngsi-ld/v1/entityOperations/upsert"
    batch = [{"id": HALL, "type": "CulturalSite", "visitors": {"type": "Property", "value": 3}}]
    updated = client.post(upsert, params={"options": "update"}, json=batch)
    assert updated.status_code == 204, updated.text
    assert types_of(client) == ["Building", "CulturalSite"]
    replaced = client.post(upsert, json=batch)
    assert replaced.status_code == 204, replaced.text
    assert types_of(client) == "CulturalSite"


def test_discovery_counts_every_type(client: TestClient) -> None:
    create(client, HALL, ["Building", "CulturalSite"], name=NAME)
    listed = client.get("/ngsi-ld/v1/types").json()
    assert {"Building", "CulturalSite"} <= set(listed["typeList"])
    details = client.get("/ngsi-ld/v1/types/CulturalSite").json()
    assert details["entityCount"] == 1
    assert [a["attributeName"] for a in details["attributeDetails"]] == ["name"]


def test_a_subscription_to_a_further_type_is_notified(
    client: TestClient, receiver: Receiver
) -> None:
    body = {
        "type": "Subscription",
        "entities": [{"type": "CulturalSite"}],
        "notification": {"endpoint": {"uri": receiver.url()}, "format": "keyValues"},
    }
    response = client.post("/ngsi-ld/v1/subscriptions", json=body)
    assert response.status_code == 201, response.text
    create(client, GARAGE, "Building")
    create(client, HALL, ["Building", "CulturalSite"], name=NAME)
    [notification] = receiver.wait(1)
    [entity] = notification.body["data"]
    assert entity == {"id": HALL, "type": ["Building", "CulturalSite"], "name": "Stadshuset"}


@pytest.mark.parametrize("types", [[], ["Building", 7], "type", "@id"])
def test_invalid_types_are_bad_request_data(client: TestClient, types: Any) -> None:
    response = client.post(ENTITIES, json={"id": HALL, "type": types})
    assert response.status_code == 400, response.text
    assert response.json()["type"].endswith("BadRequestData")
