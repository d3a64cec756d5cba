"""NGSI-LD batch operations over HTTP (GS CIM 009, 5.6.7-5.6.10, 5.6.20), on every store."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.testclient import TestClient

from stadsnav.api.ngsild.batch import MAX_BATCH
from stadsnav.model.context import CORE_CONTEXT_URL
from support import SHARED_DATA

OPS = "/ngsi-ld/v1/entityOperations"
ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"
SPOT_EXAMPLE = SHARED_DATA / "smart-data-models" / "ParkingSpot" / "example-normalized.jsonld"


def spot(number: int, status: str = "free") -> dict[str, Any]:
    """The Smart Data Models ParkingSpot example as bay ``number`` on Storgatan."""
    entity: dict[str, Any] = orjson.loads(SPOT_EXAMPLE.read_bytes())
    entity.pop("@context", None)
    entity["id"] = f"urn:ngsi-ld:ParkingSpot:skelleftea:storgatan:{number}"
    entity["status"] = {"type": "Property", "value": status}
    return entity


def ids(*numbers: int) -> list[str]:
    return [f"urn:ngsi-ld:ParkingSpot:skelleftea:storgatan:{n}" for n in numbers]


def status_of(client: TestClient, entity_id: str) -> Any:
    response = client.get(f"/ngsi-ld/v1/entities/{entity_id}")
    return response.json()["status"]["value"] if response.status_code == 200 else None


def test_create_gives_201_with_the_ids(client: TestClient) -> None:
    response = client.post(f"{OPS}/create", json=[spot(1), spot(2)])
    assert response.status_code == 201, response.text
    assert response.json() == ids(1, 2)
    assert status_of(client, ids(2)[0]) == "free"


def test_create_reports_each_failure_and_creates_the_rest(client: TestClient) -> None:
    client.post(f"{OPS}/create", json=[spot(1)])
    broken = spot(3)
    broken["status"] = {"type": "Property"}
    response = client.post(f"{OPS}/create", json=[spot(1), spot(2), broken])
    assert response.status_code == 207
    body = response.json()
    assert body["success"] == ids(2)
    errors = {error["entityId"]: error["error"] for error in body["errors"]}
    assert errors[ids(1)[0]]["type"] == ERRORS + "AlreadyExists"
    assert errors[ids(3)[0]]["type"] == ERRORS + "BadRequestData"
    assert "status" in errors[ids(3)[0]]["detail"]
    assert status_of(client, ids(3)[0]) is None


def test_upsert_creates_then_replaces(client: TestClient) -> None:
    created = client.post(f"{OPS}/upsert", json=[spot(1), spot(2)])
    assert created.status_code == 201
    assert created.json() == ids(1, 2)
    slim = {"id": ids(1)[0], "type": "ParkingSpot", "status": "occupied"}
    replaced = client.post(f"{OPS}/upsert", json=[slim])
    assert replaced.status_code == 204
    stored = client.get(f"/ngsi-ld/v1/entities/{ids(1)[0]}").json()
    assert set(stored) == {"id", "type", "status"}
    mixed = client.post(f"{OPS}/upsert", json=[spot(2, "occupied"), spot(3)])
    assert mixed.status_code == 201
    assert mixed.json() == ids(3)


def test_upsert_in_update_mode_keeps_other_attributes(client: TestClient) -> None:
    client.post(f"{OPS}/create", json=[spot(1)])
    update = {"id": ids(1)[0], "type": "ParkingSpot", "status": "occupied"}
    response = client.post(f"{OPS}/upsert?options=update", json=[update])
    assert response.status_code == 204, response.text
    stored = client.get(f"/ngsi-ld/v1/entities/{ids(1)[0]}").json()
    assert stored["status"]["value"] == "occupied"
    assert "location" in stored
    assert "category" in stored


def test_update_needs_existing_entities_and_honours_no_overwrite(client: TestClient) -> None:
    client.post(f"{OPS}/create", json=[spot(1)])
    response = client.post(
        f"{OPS}/update",
        json=[{"id": ids(1)[0], "status": "occupied"}, {"id": ids(9)[0], "status": "free"}],
    )
    assert response.status_code == 207
    assert response.json()["success"] == ids(1)
    assert response.json()["errors"][0]["error"]["type"] == ERRORS + "ResourceNotFound"
    assert status_of(client, ids(1)[0]) == "occupied"
    # An attribute noOverwrite keeps makes the entity a partial failure (5.6.9, ETSI TP 005_02).
    kept = client.post(
        f"{OPS}/update?options=noOverwrite",
        json=[{"id": ids(1)[0], "status": "free", "note": "snow"}],
    )
    assert kept.status_code == 207, kept.text
    assert kept.json()["success"] == []
    [error] = kept.json()["errors"]
    assert error["entityId"] == ids(1)[0]
    assert error["error"]["type"] == ERRORS + "BadRequestData"
    assert "status" in error["error"]["detail"]
    assert status_of(client, ids(1)[0]) == "occupied"
    entity = client.get(f"/ngsi-ld/v1/entities/{ids(1)[0]}").json()
    assert entity["note"]["value"] == "snow"


def test_merge_deletes_with_ngsi_ld_null(client: TestClient) -> None:
    client.post(f"{OPS}/create", json=[spot(1), spot(2)])
    response = client.post(
        f"{OPS}/merge",
        json=[
            {"id": ids(1)[0], "status": "occupied", "name": "urn:ngsi-ld:null"},
            {"id": ids(2)[0], "status": {"value": "closed", "reason": "snow clearing"}},
        ],
    )
    assert response.status_code == 204, response.text
    first = client.get(f"/ngsi-ld/v1/entities/{ids(1)[0]}").json()
    assert first["status"]["value"] == "occupied"
    assert "name" not in first
    second = client.get(f"/ngsi-ld/v1/entities/{ids(2)[0]}").json()
    assert second["status"]["reason"] == {"type": "Property", "value": "snow clearing"}


def test_delete_reports_the_missing(client: TestClient) -> None:
    client.post(f"{OPS}/create", json=[spot(1), spot(2)])
    assert client.post(f"{OPS}/delete", json=ids(1, 2)).status_code == 204
    assert status_of(client, ids(1)[0]) is None
    response = client.post(f"{OPS}/delete", json=[*ids(2), "not a uri"])
    assert response.status_code == 207
    kinds = [error["error"]["type"] for error in response.json()["errors"]]
    assert kinds == [ERRORS + "ResourceNotFound", ERRORS + "BadRequestData"]


def test_json_ld_batches_need_a_context_per_entity(client: TestClient) -> None:
    with_context = {**spot(1), "@context": CORE_CONTEXT_URL}
    response = client.post(
        f"{OPS}/create",
        content=orjson.dumps([with_context, spot(2)]),
        headers={"content-type": "application/ld+json"},
    )
    assert response.status_code == 207
    assert response.json()["success"] == ids(1)
    assert "@context" in response.json()["errors"][0]["error"]["detail"]


def test_the_same_id_twice_in_one_upsert_applies_both_in_order(client: TestClient) -> None:
    first = spot(1, "free")
    second = {"id": ids(1)[0], "type": "ParkingSpot", "status": "occupied"}
    response = client.post(f"{OPS}/upsert?options=update", json=[first, second])
    assert response.status_code == 201
    assert status_of(client, ids(1)[0]) == "occupied"


def test_batch_bounds(client: TestClient) -> None:
    empty = client.post(f"{OPS}/create", json=[])
    assert empty.status_code == 400
    not_array = client.post(f"{OPS}/create", json=spot(1))
    assert not_array.status_code == 400
    too_many = client.post(f"{OPS}/delete", json=ids(*range(MAX_BATCH + 1)))
    assert too_many.status_code == 413
    assert str(MAX_BATCH) in too_many.json()["detail"]
    unknown = client.post(f"{OPS}/upsert?options=merge", json=[spot(1)])
    assert unknown.status_code == 400


def test_a_thousand_entities_in_one_batch(client: TestClient) -> None:
    response = client.post(f"{OPS}/upsert", json=[spot(n) for n in range(MAX_BATCH)])
    assert response.status_code == 201
    assert len(response.json()) == MAX_BATCH
    assert status_of(client, ids(MAX_BATCH - 1)[0]) == "free"


def test_plain_json_batches_refuse_entities_with_a_context(client: TestClient) -> None:
    response = client.post(
        f"{OPS}/create", json=[{**spot(1), "@context": CORE_CONTEXT_URL}, spot(2)]
    )
    assert response.status_code == 207
    assert response.json()["success"] == ids(2)
    assert "application/ld+json" in response.json()["errors"][0]["error"]["detail"]


def test_a_null_item_fails_the_whole_batch(client: TestClient) -> None:
    for operation in ("create", "upsert", "update", "merge", "delete"):
        items: list[Any] = [ids(1)[0] if operation == "delete" else spot(1), None]
        response = client.post(f"{OPS}/{operation}", json=items)
        assert response.status_code == 400, operation
        assert response.json()["type"] == ERRORS + "BadRequestData"
    assert status_of(client, ids(1)[0]) is None
