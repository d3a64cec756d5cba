"""Plain routes: documented like any route, served by the fast lane with the same answers."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import APIRouter, Query, Request
from fastapi.testclient import TestClient
from starlette.responses import Response

from stadsnav.api.plain import PlainRoute
from stadsnav.runtime import Runtime
from support import UplinkFactory, wait_for

ENTITY = "urn:ngsi-ld:WaterQualityObserved:skelleftea:elt2-byske-havsbad"
JSON = {"content-type": "application/json"}


def test_plain_routes_keep_their_parameters_in_openapi(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    entity = paths["/ngsi-ld/v1/entities/{entity_id}"]["get"]
    names = {p["name"]: p["in"] for p in entity["parameters"]}
    query = ("attrs", "options", "format", "type", "lang", "pick", "omit", "join", "joinLevel")
    query += ("datasetId", "geometryProperty", "local")
    assert names == {"entity_id": "path"} | dict.fromkeys(query, "query")
    ingest = paths["/ingest/beach-sensors-tts"]["post"]
    assert set(ingest["responses"]) >= {"202", "400", "401", "413", "415", "503"}


def test_lane_errors_are_ngsild_problem_details(client: TestClient) -> None:
    missing = client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Thing:nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["type"].endswith("/ResourceNotFound")
    assert missing.json()["instance"] == "/ngsi-ld/v1/entities/urn:ngsi-ld:Thing:nope"
    bad = client.get(f"/ngsi-ld/v1/entities/{ENTITY}?options=fancy")
    assert bad.status_code == 400
    assert "fancy" in bad.json()["detail"]


def test_lane_leaves_other_methods_to_the_router(client: TestClient) -> None:
    deleted = client.delete(f"/ngsi-ld/v1/entities/{ENTITY}")
    assert deleted.status_code == 404  # the router's DELETE answered: no such entity
    assert client.post(f"/ngsi-ld/v1/entities/{ENTITY}").status_code == 405


def test_plain_route_refuses_parameters_it_cannot_read_unvalidated() -> None:
    async def paged(request: Request, limit: Annotated[int, Query()] = 20) -> Response:
        return Response(str(limit))

    router = APIRouter()
    with pytest.raises(TypeError, match="limit"):
        router.add_api_route("/paged", paged, route_class_override=PlainRoute)


def test_stored_json_shortcut_answers_as_the_endpoint_does(
    client: TestClient, runtime: Runtime, make_uplink: UplinkFactory
) -> None:
    response = client.post("/ingest/beach-sensors-tts", content=make_uplink(), headers=JSON)
    assert response.status_code == 202
    wait_for(lambda: runtime.store.get_entity(ENTITY) is not None)
    url = f"/ngsi-ld/v1/entities/{ENTITY}"
    for accept in ("application/json", "application/ld+json"):
        spliced = client.get(url, headers={"accept": accept})
        rendered = client.get(f"{url}?options=normalized", headers={"accept": accept})
        assert spliced.status_code == rendered.status_code == 200
        assert spliced.json() == rendered.json()
        assert spliced.json()["temperature"]["value"] == 19.3
        assert spliced.headers["content-type"] == rendered.headers["content-type"] == accept
        assert spliced.headers.get("link") == rendered.headers.get("link")
    refused = client.get(url, headers={"accept": "text/csv"})
    assert refused.status_code == 406
    assert refused.headers["content-type"] == "application/problem+json"
    not_a_uri = client.get("/ngsi-ld/v1/entities/nope")
    assert not_a_uri.status_code == 400


def test_lane_answers_an_unexpected_error_with_a_500_problem(
    client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(entity_id: str) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(runtime.store, "get_entity", broken)
    quiet = TestClient(client.app, raise_server_exceptions=False)
    response = quiet.get(f"/ngsi-ld/v1/entities/{ENTITY}?options=keyValues")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "disk on fire" not in response.text
    with pytest.raises(RuntimeError, match="disk on fire"):
        client.get(f"/ngsi-ld/v1/entities/{ENTITY}?options=keyValues")
