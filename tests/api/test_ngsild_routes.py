"""Every NGSI-LD operation refuses undefined query parameters and takes merge-patch on PATCH."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

ENTITY = "urn:ngsi-ld:Building:routes"
SAMPLE_PATH_VALUES = {"entity_id": ENTITY, "attr": "name", "attr_id": "name"}


def ngsild_operations(client: TestClient) -> list[tuple[str, str]]:
    """(method, path with sample values) of every NGSI-LD operation in the OpenAPI document."""
    operations = []
    for template, methods in client.get("/openapi.json").json()["paths"].items():
        if not template.startswith("/ngsi-ld/v1"):
            continue
        path = re.sub(r"\{(\w+)\}", lambda m: SAMPLE_PATH_VALUES.get(m[1], "urn:x:y"), template)
        operations.extend((method.upper(), path) for method in methods)
    return operations


def test_every_operation_answers_an_undefined_parameter_with_invalid_request(
    client: TestClient,
) -> None:
    operations = ngsild_operations(client)
    assert len(operations) > 35  # every router is covered, not just one
    for method, path in operations:
        # The body is not an NGSI-LD document either: the parameter is what gets reported.
        response = client.request(
            method,
            path,
            params={"invalidParams": "invalidValue"},
            content=b'"not an object"',
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 400, (method, path, response.text)
        problem = response.json()
        assert problem["type"] == "https://uri.etsi.org/ngsi-ld/errors/InvalidRequest", (
            method,
            path,
        )
        assert "invalidParams" in problem["detail"]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/ngsi-ld/v1/types", {"details": "true"}),
        ("/ngsi-ld/v1/attributes", {"details": "true"}),
        ("/ngsi-ld/v1/entities", {"type": "Building", "limit": "5", "count": "true"}),
        (f"/ngsi-ld/v1/entities/{ENTITY}", {"options": "keyValues"}),
        ("/ngsi-ld/v1/subscriptions", {"limit": "5", "offset": "0"}),
    ],
)
def test_defined_parameters_are_accepted(
    client: TestClient, path: str, params: dict[str, str]
) -> None:
    client.post("/ngsi-ld/v1/entities", json={"id": ENTITY, "type": "Building"})
    assert client.get(path, params=params).status_code == 200


def test_the_fast_lane_refuses_an_undefined_parameter_too(client: TestClient) -> None:
    client.post("/ngsi-ld/v1/entities", json={"id": ENTITY, "type": "Building"})
    response = client.get(f"/ngsi-ld/v1/entities/{ENTITY}", params={"invalidParams": "x"})
    assert response.status_code == 400
    assert "this operation takes" in response.json()["detail"]


def test_merge_patch_json_is_taken_by_attribute_and_subscription_patches(
    client: TestClient,
) -> None:
    merge_patch = {"content-type": "application/merge-patch+json"}
    entity = {"id": ENTITY, "type": "Building", "name": {"type": "Property", "value": "Old"}}
    assert client.post("/ngsi-ld/v1/entities", json=entity).status_code == 201
    attribute = client.patch(
        f"/ngsi-ld/v1/entities/{ENTITY}/attrs/name",
        content=b'{"value": "New"}',
        headers=merge_patch,
    )
    assert attribute.status_code == 204, attribute.text
    assert client.get(f"/ngsi-ld/v1/entities/{ENTITY}").json()["name"]["value"] == "New"

    subscription = {
        "type": "Subscription",
        "entities": [{"type": "Building"}],
        "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}},
    }
    created = client.post("/ngsi-ld/v1/subscriptions", json=subscription)
    location = created.headers["location"]
    patched = client.patch(location, content=b'{"isActive": false}', headers=merge_patch)
    assert patched.status_code == 204, patched.text
    assert client.get(location).json()["isActive"] is False
    # Only PATCH takes it: a POST with merge-patch is still an unsupported media type.
    posted = client.post("/ngsi-ld/v1/entities", content=b"{}", headers=merge_patch)
    assert posted.status_code == 415


def test_a_body_without_content_length_is_answered_with_just_411(client: TestClient) -> None:
    body = b'{"id": "urn:ngsi-ld:Building:411", "type": "Building"}'
    for method, path in [
        ("POST", "/ngsi-ld/v1/entities"),
        ("PATCH", f"/ngsi-ld/v1/entities/{ENTITY}/attrs"),
        ("PUT", f"/ngsi-ld/v1/entities/{ENTITY}"),
        ("POST", "/ngsi-ld/v1/entityOperations/upsert"),
    ]:
        response = client.request(
            method,
            path,
            content=iter([body]),  # an iterable body is sent chunked, without Content-Length
            headers={"content-type": "application/json", "NGSILD-Tenant": "nowhere"},
        )
        # Before the tenant is looked up (it does not exist): the precondition comes first.
        assert response.status_code == 411, (method, path)
        assert response.content == b""
    # A GET is outside the precondition.
    assert client.get("/ngsi-ld/v1/entities", params={"type": "Building"}).status_code == 200


def test_an_empty_path_segment_is_bad_request_data_on_every_operation(client: TestClient) -> None:
    # ETSI TP 010_02_01 … 017_02_05: an id or a name left out of the path is the client's error.
    emptied = []
    for method, path in ngsild_operations(client):
        variants = [path.replace(ENTITY, "", 1), path.replace("/attrs/name/", "/attrs//", 1)]
        emptied += [(method, v) for v in variants if "//" in v and v != path]
    assert len(emptied) > 10
    for method, path in emptied:
        response = client.request(method, path, json={})
        assert response.status_code == 400, (method, path, response.text)
        assert response.json()["type"].endswith("/BadRequestData")
    # A path with no empty segment that names nothing known is still 404.
    assert client.get("/ngsi-ld/v1/nothing-here").status_code == 404
