"""The /ngsi-ld/v1/jsonldContexts API: add, list, serve and delete @contexts (GS CIM 009, 5.13)."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from stadsnav.api.ngsild.jsonld_contexts import implicit_context
from stadsnav.model.context import CORE_CONTEXT_URL, JSONLD_CONTEXT_REL, core_context

CONTEXTS = "/ngsi-ld/v1/jsonldContexts"
ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"
OLDER_CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld"
# The ETSI test suite's own minimal context (data/jsonldContext/@context-minimal-valid.json).
MINIMAL = {
    "@context": {
        "A1": "urn:ngsi-ld:attributes:A1",
        "A2": "urn:ngsi-ld:attributes:A2",
        "A3": "urn:ngsi-ld:attributes:A3",
    }
}
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def link(url: str) -> dict[str, str]:
    """Headers naming ``url`` as the request's @context."""
    return {"Link": f'<{url}>; rel="{JSONLD_CONTEXT_REL}"; type="application/ld+json"'}


def assert_problem(response: Any, status: int, kind: str, *words: str) -> None:
    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["type"] == ERRORS + kind
    assert problem["title"]
    assert problem["detail"] != problem["title"]
    for word in words:
        assert word in problem["detail"]


def add(client: TestClient, document: Any = MINIMAL, **headers: str) -> str:
    """Host ``document``; its local id."""
    response = client.post(CONTEXTS, json=document, headers=headers)
    assert response.status_code == 201, response.text
    assert response.content == b""
    location: str = response.headers["location"]
    assert location.startswith(CONTEXTS + "/")
    return location.removeprefix(CONTEXTS + "/")


def test_a_hosted_context_is_added_served_listed_and_deleted(client: TestClient) -> None:
    local_id = add(client)

    served = client.get(f"{CONTEXTS}/{local_id}")
    described = client.get(f"{CONTEXTS}/{local_id}", params={"details": "true"}).json()
    listed = client.get(CONTEXTS).json()
    hosted = client.get(CONTEXTS, params={"kind": "Hosted", "details": "true"}).json()

    assert served.status_code == 200
    assert served.headers["content-type"] == "application/json"
    assert served.json() == MINIMAL
    assert described["kind"] == "Hosted"
    assert described["localId"] == local_id
    assert described["URL"] == f"http://testserver{CONTEXTS}/{local_id}"
    assert described["createdAt"].endswith("Z")
    assert described["numberOfHits"] == 1  # the serve above
    assert set(described) <= {"URL", "localId", "kind", "createdAt", "lastUsage", "numberOfHits"}
    assert listed == [CORE_CONTEXT_URL, described["URL"]]
    assert [entry["localId"] for entry in hosted] == [local_id]

    assert client.delete(f"{CONTEXTS}/{local_id}").status_code == 204
    assert_problem(client.get(f"{CONTEXTS}/{local_id}"), 404, "ResourceNotFound", local_id)
    assert client.get(CONTEXTS, params={"kind": "Hosted"}).json() == []


@SQLITE_ONLY
def test_a_hosted_context_is_served_as_json_ld_when_asked(client: TestClient) -> None:
    local_id = add(client)

    served = client.get(f"{CONTEXTS}/{local_id}", headers={"Accept": "application/ld+json"})

    assert served.headers["content-type"] == "application/ld+json"
    assert served.json() == MINIMAL


def test_a_hosted_context_is_used_by_its_url_and_counts_its_hits(client: TestClient) -> None:
    local_id = add(client)
    path = f"{CONTEXTS}/{local_id}"
    entity = {
        "id": "urn:ngsi-ld:Testing:1",
        "type": "Testing",
        "A1": {"type": "Property", "value": 1},
    }

    created = client.post("/ngsi-ld/v1/entities", json=entity, headers=link(path))
    absolute = client.get(
        f"/ngsi-ld/v1/entities/{entity['id']}", headers=link(f"http://testserver{path}")
    )
    stored = client.get(f"/ngsi-ld/v1/entities/{entity['id']}").json()

    assert created.status_code == 201, created.text
    assert absolute.json()["A1"]["value"] == 1
    assert stored["urn:ngsi-ld:attributes:A1"]["value"] == 1
    described = client.get(path, params={"details": "true"}).json()
    assert described["numberOfHits"] == 2
    assert "lastUsage" in described


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("body", "content_type", "status", "kind", "reason"),
    [
        (b'{"A1": "urn:a" "A2": "urn:b"}', "application/json", 400, "InvalidRequest", "not JSON"),
        (orjson.dumps(MINIMAL["@context"]), "application/json", 400, "InvalidRequest", "@context"),
        (b'{"@context": 7}', "application/json", 400, "BadRequestData", "URL, an object"),
        (b'{"@context": true}', "application/json", 400, "BadRequestData", "URL, an object"),
        (
            b'{"@context": ["https://e.org/c", 7]}',
            "application/ld+json",
            400,
            "BadRequestData",
            "7",
        ),
        (b'{"@context": {"A1": {"@id": 1}}}', "application/json", 400, "BadRequestData", "A1"),
        (orjson.dumps(MINIMAL), "text/plain", 415, "UnsupportedMediaType", "text/plain"),
    ],
    ids=["bad-json", "no-context", "number", "boolean", "list-item", "bad-term", "media-type"],
)
def test_an_invalid_context_is_not_added(
    client: TestClient, body: bytes, content_type: str, status: int, kind: str, reason: str
) -> None:
    response = client.post(CONTEXTS, content=body, headers={"Content-Type": content_type})

    assert_problem(response, status, kind, reason)
    assert "location" not in response.headers
    assert client.get(CONTEXTS, params={"kind": "Hosted"}).json() == []


@SQLITE_ONLY
def test_a_context_larger_than_the_limit_is_413(client: TestClient) -> None:
    huge = {"@context": {f"t{i}": f"https://example.org/{i}" for i in range(40_000)}}

    assert_problem(client.post(CONTEXTS, json=huge), 413, "RequestEntityTooLarge", "1048576")


@SQLITE_ONLY
def test_a_context_that_names_remote_contexts_is_added_without_fetching_them(
    client: TestClient,
) -> None:
    # The ETSI suite's @context-cached-valid.json: both URLs are fetched only when used.
    document = {
        "@context": [
            "http://smartdatamodels.org/context.jsonld",
            "https://fiware.github.io/data-models/context.jsonld",
        ]
    }

    local_id = add(client, document)

    assert client.get(f"{CONTEXTS}/{local_id}").json() == document


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("params", "reason"),
    [({"kind": "other"}, "kind"), ({"details": "other"}, "details"), ({"details": "1"}, "details")],
)
def test_listing_with_wrong_parameters_is_400(
    client: TestClient, params: dict[str, str], reason: str
) -> None:
    assert_problem(client.get(CONTEXTS, params=params), 400, "BadRequestData", reason)


@SQLITE_ONLY
def test_the_core_context_is_listed_served_and_cannot_be_deleted(client: TestClient) -> None:
    for context_id in (CORE_CONTEXT_URL, OLDER_CORE, "ngsi-ld-core-context-v1.8"):
        path = f"{CONTEXTS}/{quote(context_id, safe='')}"
        assert client.get(path).json() == core_context()
        assert client.get(path, params={"details": "true"}).json()["kind"] == "Cached"

    path = f"{CONTEXTS}/{quote(OLDER_CORE, safe='')}"
    assert_problem(client.delete(path), 400, "BadRequestData", "core")
    assert_problem(client.delete(path, params={"reload": "false"}), 400, "BadRequestData")
    assert client.delete(path, params={"reload": "true"}).status_code == 204
    assert client.get(CONTEXTS, params={"kind": "Cached"}).json() == [CORE_CONTEXT_URL]


@SQLITE_ONLY
def test_delete_errors(client: TestClient) -> None:
    local_id = add(client)

    assert_problem(client.delete(f"{CONTEXTS}/5501739"), 404, "ResourceNotFound")
    assert_problem(
        client.delete(f"{CONTEXTS}/5501739", params={"reload": "false"}), 404, "ResourceNotFound"
    )
    assert_problem(
        client.delete(f"{CONTEXTS}/5501739", params={"reload": "true"}), 400, "BadRequestData"
    )
    assert_problem(
        client.delete(f"{CONTEXTS}/5501739", params={"reload": "xxx"}), 400, "BadRequestData"
    )
    assert_problem(
        client.delete(f"{CONTEXTS}/{local_id}", params={"reload": "true"}),
        400,
        "BadRequestData",
        "Hosted",
    )
    assert client.get(f"{CONTEXTS}/{local_id}").status_code == 200


def test_a_hosted_context_belongs_to_its_tenant(client: TestClient) -> None:
    private = {"@context": {"TenantPrivateTerm": "urn:ngsi-ld:attributes:TenantPrivateTerm"}}
    local_id = add(client, private, **{"NGSILD-Tenant": "city-a"})
    as_a = {"NGSILD-Tenant": "city-a"}
    as_b = {"NGSILD-Tenant": "city-b"}

    assert client.get(f"{CONTEXTS}/{local_id}", headers=as_b).status_code == 404
    assert client.get(f"{CONTEXTS}/{local_id}").status_code == 404
    assert local_id not in client.get(CONTEXTS, headers=as_b, params={"details": "true"}).text
    assert local_id not in client.get(CONTEXTS).text
    assert client.delete(f"{CONTEXTS}/{local_id}", headers=as_b).status_code == 404
    assert client.get(f"{CONTEXTS}/{local_id}", headers=as_a).json() == private
    assert local_id in client.get(CONTEXTS, headers=as_a).text
    assert client.delete(f"{CONTEXTS}/{local_id}", headers=as_a).status_code == 204


def test_implicitly_created_contexts_are_reused_and_listed(client: TestClient) -> None:
    context = [
        "https://fiware.github.io/NGSI-LD_TestSuite/ldContext/testContext.jsonld",
        "http://smartdatamodels.org/context.jsonld",
    ]
    request = Request(
        {
            "type": "http",
            "app": client.app,
            "method": "POST",
            "scheme": "http",
            "server": ("testserver", 80),
            "root_path": "",
            "path": "/ngsi-ld/v1/subscriptions",
            "query_string": b"",
            "headers": [],
        }
    )

    first = asyncio.run(implicit_context(request, context))
    second = asyncio.run(implicit_context(request, context))
    other = asyncio.run(implicit_context(request, {"A1": "urn:ngsi-ld:attributes:A1"}))
    local_id = first.rsplit("/", 1)[1]

    assert first == second != other
    assert first.startswith(f"http://testserver{CONTEXTS}/")
    assert client.get(f"{CONTEXTS}/{local_id}").json() == {"@context": context}
    implicit = client.get(CONTEXTS, params={"kind": "ImplicitlyCreated"}).json()
    assert sorted(implicit) == sorted([first, other])
    assert client.get(CONTEXTS, params={"kind": "Hosted"}).json() == []
    assert_problem(
        client.delete(f"{CONTEXTS}/{local_id}", params={"reload": "true"}),
        400,
        "BadRequestData",
        "ImplicitlyCreated",
    )
    assert client.delete(f"{CONTEXTS}/{local_id}").status_code == 204
