"""User @contexts over HTTP: fetched from a real server once, cached, timed out, refused.

GS CIM 009 5.5.6 (LdContextNotAvailable, BadRequestData) and 6.3.5 (Link header vs
application/ld+json), against the real app and a real HTTP server serving the contexts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from fastapi.testclient import TestClient

from stadsnav.api.app import create_app
from stadsnav.api.ngsild.contexts import ContextResolver
from stadsnav.api.problems import ApiError
from stadsnav.model.context import CORE_CONTEXT_URL, JSONLD_CONTEXT_REL
from stadsnav.runtime import Runtime
from stadsnav.workspace import Workspace, load_workspace
from stadsnav.workspace.models import NgsildSettings
from support import REPO_ROOT, free_port, key_headers

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "jsonld"
PARKING = json.loads((FIXTURES / "smart-data-models-parking-context.jsonld").read_text("utf-8"))
SDM_PARKING = "https://smartdatamodels.org/dataModel.Parking/"
ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"
CONTEXTS = "/ngsi-ld/v1/jsonldContexts"
SPOT = "urn:ngsi-ld:OffStreetParking:skelleftea:kanalgatan"
ENTITY = {
    "id": SPOT,
    "type": "OffStreetParking",
    "availableSpotNumber": {"type": "Property", "value": 12},
    "name": {"type": "Property", "value": "Kanalgatan"},
}
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@dataclass
class Served:
    """What the server answers on one path."""

    body: bytes
    status: int = 200
    delay: float = 0.0


class ContextServer:
    """Serves documents on 127.0.0.1 and counts the requests for each path."""

    def __init__(self) -> None:
        self.routes: dict[str, Served] = {}
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with owner._lock:
                    owner.hits[self.path] += 1
                    served = owner.routes.get(self.path, Served(b"not found", 404))
                time.sleep(served.delay)
                with contextlib.suppress(OSError):  # the broker may have given up
                    self.send_response(served.status)
                    self.send_header("Content-Type", "application/ld+json")
                    self.send_header("Content-Length", str(len(served.body)))
                    self.end_headers()
                    self.wfile.write(served.body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def serve(self, path: str, document: Any, *, status: int = 200, delay: float = 0.0) -> str:
        """Answer ``path`` with ``document`` (bytes as they are, anything else as JSON)."""
        body = document if isinstance(document, bytes) else orjson.dumps(document)
        with self._lock:
            self.routes[path] = Served(body, status, delay)
        return self.url(path)


@pytest.fixture
def server() -> Iterator[ContextServer]:
    """A context server running in a thread for the test."""
    served = ContextServer()
    thread = threading.Thread(target=served.httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield served
    served.httpd.shutdown()
    served.httpd.server_close()


def link(url: str) -> dict[str, str]:
    """Headers naming ``url`` as the request's @context."""
    return {"Link": f'<{url}>; rel="{JSONLD_CONTEXT_REL}"; type="application/ld+json"'}


def use_settings(client: TestClient, **settings: Any) -> ContextResolver:
    """Give the app a resolver with these ``[ngsild]`` settings."""
    resolver = ContextResolver(NgsildSettings(**settings))
    client.app.state.ldcontexts = resolver  # type: ignore[attr-defined]
    return resolver


def assert_problem(response: Any, status: int, kind: str, *words: str) -> None:
    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["type"] == ERRORS + kind
    for word in words:
        assert word in problem["detail"]


def create(client: TestClient, entity: dict[str, Any], url: str) -> Any:
    return client.post("/ngsi-ld/v1/entities", json=entity, headers=link(url))


def details(client: TestClient, context_id: str) -> Any:
    return client.get(f"{CONTEXTS}/{quote(context_id, safe='')}", params={"details": "true"})


# fetched once, then cached


def test_a_linked_context_is_fetched_once_and_translates_both_ways(
    client: TestClient, server: ContextServer
) -> None:
    url = server.serve("/parking/context.jsonld", PARKING)

    assert create(client, ENTITY, url).status_code == 201
    plain = client.get(f"/ngsi-ld/v1/entities/{SPOT}")
    linked = client.get(f"/ngsi-ld/v1/entities/{SPOT}", headers=link(url))

    assert SDM_PARKING + "availableSpotNumber" in plain.json()
    assert "https://smartdatamodels.org/name" in plain.json()
    assert linked.json()["availableSpotNumber"]["value"] == 12
    assert url in linked.headers["link"]
    assert server.hits["/parking/context.jsonld"] == 1
    cached = details(client, url).json()
    assert cached["kind"] == "Cached"
    assert cached["URL"] == url
    assert cached["numberOfHits"] == 2
    assert {"createdAt", "expiresAt", "lastUsage", "localId"} <= set(cached)


@SQLITE_ONLY
def test_an_inline_context_list_mixes_urls_and_objects(
    client: TestClient, server: ContextServer
) -> None:
    url = server.serve("/parking/context.jsonld", PARKING)
    context = [url, {"kanal": "https://skelleftea.se/terms/kanal"}, CORE_CONTEXT_URL]
    body = {**ENTITY, "kanal": {"type": "Property", "value": True}, "@context": context}

    created = client.post(
        "/ngsi-ld/v1/entities",
        content=orjson.dumps(body),
        headers={"Content-Type": "application/ld+json"},
    )
    stored = client.get(f"/ngsi-ld/v1/entities/{SPOT}").json()

    assert created.status_code == 201, created.text
    assert stored["https://skelleftea.se/terms/kanal"]["value"] is True
    assert SDM_PARKING + "availableSpotNumber" in stored


@SQLITE_ONLY
def test_any_core_context_version_is_answered_without_fetching(client: TestClient) -> None:
    older = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld"

    response = client.get("/ngsi-ld/v1/entities", params={"type": "Beach"}, headers=link(older))
    listed = client.get(CONTEXTS).json()

    assert response.status_code == 200
    assert response.json()
    assert listed == [CORE_CONTEXT_URL]


@SQLITE_ONLY
def test_a_context_naming_other_contexts_loads_each_once(
    client: TestClient, server: ContextServer
) -> None:
    server.serve("/parking/context.jsonld", PARKING)
    compound = server.serve(
        "/city/compound.jsonld",
        {"@context": ["../parking/context.jsonld", {"kanal": "https://skelleftea.se/kanal"}]},
    )

    created = create(client, {**ENTITY, "kanal": {"type": "Property", "value": 1}}, compound)
    assert created.status_code == 201, created.text
    stored = client.get(f"/ngsi-ld/v1/entities/{SPOT}").json()

    assert "https://skelleftea.se/kanal" in stored
    assert SDM_PARKING + "availableSpotNumber" in stored
    assert server.hits == {"/city/compound.jsonld": 1, "/parking/context.jsonld": 1}


# failures


@SQLITE_ONLY
def test_a_context_server_that_does_not_answer_in_time_is_503(
    client: TestClient, server: ContextServer
) -> None:
    use_settings(client, context_timeout=0.2)
    url = server.serve("/slow.jsonld", PARKING, delay=1.0)

    started = time.monotonic()
    response = create(client, ENTITY, url)

    assert time.monotonic() - started < 0.9
    assert_problem(response, 503, "LdContextNotAvailable", url, "0.2 s")
    assert client.get(f"/ngsi-ld/v1/entities/{SPOT}").status_code == 404


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [(404, b"gone", "HTTP 404"), (200, b"x" * 5000, "larger than 2048 bytes")],
)
def test_a_context_that_cannot_be_loaded_is_503(
    client: TestClient, server: ContextServer, status: int, body: bytes, reason: str
) -> None:
    use_settings(client, context_max_bytes=2048, context_cache_bytes=4096)
    url = server.serve("/context.jsonld", body, status=status)

    assert_problem(create(client, ENTITY, url), 503, "LdContextNotAvailable", url, reason)


@SQLITE_ONLY
def test_an_unreachable_context_server_is_503(client: TestClient) -> None:
    url = f"http://127.0.0.1:{free_port()}/context.jsonld"

    response = client.get("/ngsi-ld/v1/entities", params={"type": "Beach"}, headers=link(url))

    assert_problem(response, 503, "LdContextNotAvailable", url)


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (b"this is { not json", "not JSON"),
        ({"note": "no context member here"}, "no @context member"),
        ({"@context": 7}, "URL, an object or a list"),
        ({"@context": {"speed": {"@id": 12}}}, "must be a string"),
    ],
    ids=["not-json", "no-context", "number", "bad-term"],
)
def test_a_malformed_remote_context_is_400(
    client: TestClient, server: ContextServer, document: Any, reason: str
) -> None:
    url = server.serve("/broken.jsonld", document)

    assert_problem(create(client, ENTITY, url), 400, "BadRequestData", reason)
    assert client.get(f"/ngsi-ld/v1/entities/{SPOT}").status_code == 404


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8687http://127.0.0.1:8687/context.jsonld", "Invalid port"),
        ("http://127.0.0.1:99999/context.jsonld", "out of range"),
        ("/api/v1/context.jsonld", "not an http(s) URL"),
    ],
    ids=["doubled-host", "port-out-of-range", "relative"],
)
def test_a_context_url_that_cannot_be_fetched_is_400(
    client: TestClient, url: str, reason: str
) -> None:
    response = client.post(
        "/ngsi-ld/v1/entities",
        content=orjson.dumps({**ENTITY, "@context": url}),
        headers={"Content-Type": "application/ld+json"},
    )

    assert_problem(response, 400, "BadRequestData", url, reason)
    assert client.get(f"/ngsi-ld/v1/entities/{SPOT}").status_code == 404


@SQLITE_ONLY
def test_a_context_that_includes_itself_is_400(client: TestClient, server: ContextServer) -> None:
    url = server.serve("/loop.jsonld", {"@context": ["/loop.jsonld"]})

    assert_problem(create(client, ENTITY, url), 400, "BadRequestData", "includes itself")


# Link header or body @context


@SQLITE_ONLY
def test_json_ld_with_a_link_header_is_400(client: TestClient, server: ContextServer) -> None:
    url = server.serve("/parking/context.jsonld", PARKING)

    response = client.post(
        "/ngsi-ld/v1/entities",
        content=orjson.dumps({**ENTITY, "@context": url}),
        headers={"Content-Type": "application/ld+json", **link(url)},
    )

    assert_problem(response, 400, "BadRequestData", "Link")


@SQLITE_ONLY
def test_json_ld_without_context_is_400(client: TestClient) -> None:
    response = client.post(
        "/ngsi-ld/v1/entities",
        content=orjson.dumps(ENTITY),
        headers={"Content-Type": "application/ld+json"},
    )

    assert_problem(response, 400, "BadRequestData", "@context")


@SQLITE_ONLY
def test_plain_json_with_a_body_context_is_400(client: TestClient) -> None:
    response = client.post(
        "/ngsi-ld/v1/entities",
        content=orjson.dumps({**ENTITY, "@context": CORE_CONTEXT_URL}),
        headers={"Content-Type": "application/json"},
    )

    assert_problem(response, 400, "BadRequestData", "application/ld+json")


# contexts from workspace files


@SQLITE_ONLY
def test_workspace_contexts_are_served_from_files_without_fetching(
    workspace_dir: Path, runtime_of: Callable[[Workspace], Runtime]
) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}/parking/context.jsonld"
    (workspace_dir / "contexts").mkdir()
    (workspace_dir / "contexts" / "parking.jsonld").write_bytes(orjson.dumps(PARKING))
    settings = workspace_dir / "stadsnav.toml"
    served = f'contexts = {{ "{unreachable}" = "contexts/parking.jsonld" }}\n'
    settings.write_text(settings.read_text().replace("[ngsild]\n", f"[ngsild]\n{served}", 1))
    workspace = load_workspace(workspace_dir)
    for integration in list(workspace.integrations.values()):
        if integration.source.type in ("mqtt", "http_poll"):
            workspace.integrations.pop(integration.id)

    runtime = runtime_of(workspace)
    with TestClient(create_app(runtime), headers=key_headers(runtime.store)) as client:
        created = create(client, ENTITY, unreachable)
        linked = client.get(f"/ngsi-ld/v1/entities/{SPOT}", headers=link(unreachable))
        listed = client.get(CONTEXTS, params={"kind": "Cached"}).json()

    assert created.status_code == 201, created.text
    assert linked.json()["availableSpotNumber"]["value"] == 12
    assert unreachable in listed


def test_a_missing_workspace_context_file_stops_the_start(tmp_path: Path) -> None:
    settings = NgsildSettings(contexts={"https://example.org/c.jsonld": "contexts/none.jsonld"})

    with pytest.raises(ValueError, match=r"contexts/none\.jsonld"):
        ContextResolver(settings, tmp_path)


# the /jsonldContexts API on cached contexts


@SQLITE_ONLY
def test_a_cached_context_is_listed_and_described_but_not_served(
    client: TestClient, server: ContextServer
) -> None:
    url = server.serve("/parking/context.jsonld", PARKING)
    create(client, ENTITY, url)

    local_id = details(client, url).json()["localId"]
    by_id = client.get(f"{CONTEXTS}/{local_id}", params={"details": "true"})
    served = client.get(f"{CONTEXTS}/{quote(url, safe='')}")

    assert by_id.json()["URL"] == url
    assert url in client.get(CONTEXTS, params={"kind": "Cached"}).json()
    assert url not in client.get(CONTEXTS, params={"kind": "Hosted"}).json()
    assert_problem(served, 422, "OperationNotSupported", "cached")


@SQLITE_ONLY
def test_reloading_a_cached_context_fetches_it_again(
    client: TestClient, server: ContextServer
) -> None:
    url = server.serve("/speed.jsonld", {"@context": {"speed": "https://example.org/v1/speed"}})
    create(client, {"id": SPOT, "type": "OffStreetParking"}, url)
    server.serve("/speed.jsonld", {"@context": {"speed": "https://example.org/v2/speed"}})

    reloaded = client.delete(f"{CONTEXTS}/{quote(url, safe='')}", params={"reload": "true"})
    create(client, {**ENTITY, "id": SPOT + ":2", "speed": {"type": "Property", "value": 3}}, url)

    assert reloaded.status_code == 204
    assert server.hits["/speed.jsonld"] == 2
    stored = client.get(f"/ngsi-ld/v1/entities/{SPOT}:2").json()
    assert "https://example.org/v2/speed" in stored


@SQLITE_ONLY
def test_a_failed_reload_keeps_the_cached_context(
    client: TestClient, server: ContextServer
) -> None:
    url = server.serve("/parking/context.jsonld", PARKING)
    create(client, ENTITY, url)
    server.serve("/parking/context.jsonld", b"down", status=502)
    path = f"{CONTEXTS}/{quote(url, safe='')}"

    failed = client.delete(path, params={"reload": "true"})
    kept = details(client, url)
    deleted = client.delete(path)

    assert_problem(failed, 503, "LdContextNotAvailable", url, "HTTP 502")
    assert kept.json()["kind"] == "Cached"
    assert deleted.status_code == 204
    assert_problem(details(client, url), 404, "ResourceNotFound")


@SQLITE_ONLY
def test_the_contexts_a_hosted_context_names_become_cached(
    client: TestClient, server: ContextServer
) -> None:
    parking = server.serve("/parking/context.jsonld", PARKING)
    extra = server.serve("/extra.jsonld", {"@context": {"kanal": "https://skelleftea.se/kanal"}})
    location = client.post(CONTEXTS, json={"@context": [parking, extra]}).headers["location"]
    assert not client.get(CONTEXTS, params={"kind": "Cached"}).json()[1:]

    created = create(client, {**ENTITY, "kanal": {"type": "Property", "value": 1}}, location)

    assert created.status_code == 201, created.text
    cached = client.get(CONTEXTS, params={"kind": "Cached", "details": "true"}).json()
    assert {entry["URL"]: entry["numberOfHits"] for entry in cached[1:]} == {parking: 1, extra: 1}
    hosted = client.get(location, params={"details": "true"}).json()
    assert (hosted["kind"], hosted["numberOfHits"]) == ("Hosted", 1)


# the resolver's cache


def test_concurrent_requests_share_one_fetch(server: ContextServer) -> None:
    url = server.serve("/slow.jsonld", PARKING, delay=0.3)
    resolver = ContextResolver()

    async def together() -> list[Any]:
        return await asyncio.gather(*(resolver.resolve(url) for _ in range(5)))

    results = asyncio.run(together())

    assert server.hits["/slow.jsonld"] == 1
    assert all(result is results[0] for result in results)


def test_a_failed_fetch_is_told_to_every_waiter_and_tried_again_later(
    server: ContextServer,
) -> None:
    url = server.serve("/flaky.jsonld", b"down", status=500, delay=0.1)
    resolver = ContextResolver()

    async def together() -> list[Any]:
        return await asyncio.gather(
            *(resolver.resolve(url) for _ in range(3)), return_exceptions=True
        )

    failures = asyncio.run(together())
    server.serve("/flaky.jsonld", PARKING)
    active = asyncio.run(resolver.resolve(url))

    assert all(isinstance(failure, ApiError) and failure.status == 503 for failure in failures)
    assert active.expand("occupancy") == SDM_PARKING + "occupancy"
    assert server.hits["/flaky.jsonld"] == 2


def test_a_context_is_fetched_again_after_its_ttl(server: ContextServer) -> None:
    url = server.serve("/ttl.jsonld", {"@context": {"speed": "https://example.org/v1/speed"}})
    resolver = ContextResolver(NgsildSettings(context_ttl=timedelta(milliseconds=200)))

    first = asyncio.run(resolver.resolve(url)).expand("speed")
    server.serve("/ttl.jsonld", {"@context": {"speed": "https://example.org/v2/speed"}})
    cached = asyncio.run(resolver.resolve(url)).expand("speed")
    time.sleep(0.3)
    refreshed = asyncio.run(resolver.resolve(url)).expand("speed")

    assert (first, cached) == ("https://example.org/v1/speed",) * 2
    assert refreshed == "https://example.org/v2/speed"
    assert server.hits["/ttl.jsonld"] == 2


def test_an_expired_context_is_kept_while_its_server_fails(server: ContextServer) -> None:
    url = server.serve("/ttl.jsonld", PARKING)
    resolver = ContextResolver(NgsildSettings(context_ttl=timedelta(milliseconds=100)))
    asyncio.run(resolver.resolve(url))
    server.serve("/ttl.jsonld", b"broken", status=500)
    time.sleep(0.2)

    active = asyncio.run(resolver.resolve(url))
    again = asyncio.run(resolver.resolve(url))

    assert active.expand("occupancy") == again.expand("occupancy") == SDM_PARKING + "occupancy"
    assert server.hits["/ttl.jsonld"] == 2  # the retry waits; requests do not each try


def test_the_cache_drops_the_least_recently_used_past_its_entries(server: ContextServer) -> None:
    urls = [
        server.serve(f"/{i}.jsonld", {"@context": {f"t{i}": f"https://e.org/{i}"}})
        for i in range(3)
    ]
    resolver = ContextResolver(NgsildSettings(context_cache_entries=2))

    for url in [urls[0], urls[1], urls[0], urls[2]]:
        asyncio.run(resolver.resolve(url))

    assert [entry.url for entry in resolver.cached_contexts()] == [urls[0], urls[2]]


def test_the_cache_drops_the_least_recently_used_past_its_bytes(server: ContextServer) -> None:
    padding = {f"term{i:04d}": f"https://example.org/{i}" for i in range(60)}  # about 2.5 kB
    urls = [server.serve(f"/{i}.jsonld", {"@context": padding}) for i in range(3)]
    resolver = ContextResolver(NgsildSettings(context_max_bytes=4096, context_cache_bytes=6000))

    for url in urls:
        asyncio.run(resolver.resolve(url))

    assert [entry.url for entry in resolver.cached_contexts()] == urls[1:]
    assert sum(entry.size for entry in resolver.cached_contexts()) <= 6000
