"""Plans at the gate: rate limits, quotas, request limits and usage (OWASP API4, unrestricted
resource consumption), on every API and both backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from notify.receiver import Receiver
from stadsnav.api.app import create_app
from stadsnav.cli import app as cli
from stadsnav.gateway.keys import new_key, secret_hash
from stadsnav.runtime import Runtime
from stadsnav.store.postgres import PostgresStore
from stadsnav.workspace import Workspace, load_workspace
from stadsnav.workspace.models import PlanSettings
from support import redis_url

BEACH = "/ngsi-ld/v1/entities/urn:ngsi-ld:Beach:se:skelleftea:byske-havsbad"
ENTITIES = "/ngsi-ld/v1/entities"


@pytest.fixture
def workspace(workspace_dir: Path) -> Workspace:
    loaded = load_workspace(workspace_dir)
    loaded.settings.gateway.plans |= {
        "anonymous": PlanSettings(
            rate=0.01,
            burst=3,
            max_page_size=50,
            max_body_bytes=1000,
            max_query_terms=2,
            max_geometry_vertices=4,
            max_header_bytes=2000,
        ),
        "metered": PlanSettings(daily_quota=5),
        "hasty": PlanSettings(timeout=0.000001),
    }
    return loaded


def keyed(runtime: Runtime, plan: str, notify_url: str | None = None) -> dict[str, str]:
    key, text = new_key(
        "Partner AB",
        ["read"],
        datetime.now(UTC),
        plan=plan,
        notify_url=notify_url,
        plans=runtime.workspace.settings.gateway.plans,
    )
    runtime.store.add_api_key(key, secret_hash(text))
    return {"X-API-Key": text}


def test_anonymous_callers_get_their_burst_then_429_with_when_to_come_back(
    anonymous: TestClient, client: TestClient
) -> None:
    answers = [anonymous.get(BEACH) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    first, refused = answers[0], answers[3]
    assert first.headers["RateLimit-Policy"] == '"rate";q=3;w=300'
    assert first.headers["RateLimit"] == '"rate";r=2;t=100'
    assert int(refused.headers["Retry-After"]) == 100
    assert refused.headers["RateLimit"].startswith('"rate";r=0;')
    assert refused.headers["content-type"] == "application/problem+json"
    assert "try again in 100 s" in refused.json()["detail"]
    # The fast lane's route and FastAPI's are behind the same gate.
    assert anonymous.get("/api/v1/beaches").status_code == 429
    assert anonymous.get(f"{ENTITIES}?type=Beach").status_code == 429
    # A key's plan is its own: the internal key has no rate limit and no RateLimit headers.
    keyed_answer = client.get(BEACH)
    assert keyed_answer.status_code == 200
    assert "RateLimit" not in keyed_answer.headers


def test_health_metrics_and_ingest_are_not_limited(anonymous: TestClient) -> None:
    for _ in range(5):
        assert anonymous.get("/healthz").status_code == 200
        assert anonymous.get("/metrics").status_code == 200
    assert anonymous.get(BEACH).status_code == 200


def test_a_quota_warns_at_80_percent_tells_the_owner_once_then_refuses(
    client: TestClient, runtime: Runtime, receiver: Receiver
) -> None:
    headers = keyed(runtime, "metered", receiver.url("/quota"))
    answers = [client.get(BEACH, headers=headers) for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert "Stadsnav-Quota-Warning" not in answers[2].headers
    assert (
        answers[3]
        .headers["Stadsnav-Quota-Warning"]
        .startswith("4 of the daily quota of 5 requests used")
    )
    assert answers[4].headers["RateLimit"].startswith('"daily";r=0;t=')
    [notice] = receiver.wait(1, "/quota")
    assert notice.headers["content-type"] == "application/cloudevents+json"
    assert notice.body["type"] == "se.stadsnav.gateway.quota-warning"
    assert notice.body["data"]["quota"] == "daily"
    assert notice.body["data"]["used"] == 4
    assert notice.body["data"]["owner"] == "Partner AB"
    assert "daily limit" in answers[5].json()["detail"]


def test_a_quota_survives_a_restart(runtime: Runtime) -> None:
    headers = keyed(runtime, "metered")
    with TestClient(create_app(runtime)) as first:
        for _ in range(3):
            assert first.get(BEACH, headers=headers).status_code == 200
    # A new process starts from the usage its predecessor wrote to the store as it stopped.
    store = runtime.store
    reopened = (
        PostgresStore(store.conninfo, store.schema) if isinstance(store, PostgresStore) else None
    )
    restarted = Runtime.open(runtime.workspace, store=reopened)
    with TestClient(create_app(restarted)) as second:
        codes = [second.get(BEACH, headers=headers).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


@pytest.mark.parametrize(
    ("request_args", "status", "says"),
    [
        ({"method": "GET", "url": f"{ENTITIES}?type=Beach&limit=51"}, 403, "page size of 50"),
        ({"method": "GET", "url": f"{ENTITIES}?type=Beach&q=a>1;b<2|c==3"}, 400, "3 terms"),
        (
            {
                "method": "GET",
                "url": f"{ENTITIES}?type=Beach&georel=within&geometry=Polygon"
                "&coordinates=[[[1,1],[2,2],[3,3],[4,4],[1,1]]]",
            },
            400,
            "5 positions",
        ),
        (
            {"method": "POST", "url": "/ngsi-ld/v1/entityOperations/query", "content": b"x" * 1001},
            413,
            "limit of 1000",
        ),
        (
            {
                "method": "POST",
                "url": "/ngsi-ld/v1/entityOperations/query",
                "json": {"type": "Query", "entities": [{"type": "Beach"}], "q": "a>1;b<2|c==3"},
            },
            400,
            "3 terms",
        ),
        (
            {
                "method": "POST",
                "url": "/ngsi-ld/v1/temporal/entityOperations/query",
                "json": {
                    "type": "Query",
                    "entities": [{"type": "Beach"}],
                    "geoQ": {
                        "georel": "within",
                        "geometry": "Polygon",
                        "coordinates": [[[1, 1], [2, 2], [3, 3], [4, 4], [1, 1]]],
                    },
                    "temporalQ": {"timerel": "after", "timeAt": "2026-01-01T00:00:00Z"},
                },
            },
            400,
            "5 positions",
        ),
        (
            {"method": "GET", "url": f"{ENTITIES}?type=Beach", "headers": {"X-Filler": "x" * 2000}},
            431,
            "over this plan's 2000",
        ),
    ],
)
def test_requests_over_the_plans_limits_are_refused_saying_which(
    anonymous: TestClient, request_args: dict, status: int, says: str
) -> None:
    answer = anonymous.request(**request_args)
    assert answer.status_code == status
    assert says in answer.json()["detail"]


def test_a_request_past_its_plans_timeout_is_answered_503(
    client: TestClient, runtime: Runtime
) -> None:
    answer = client.get(f"{ENTITIES}?type=Beach", headers=keyed(runtime, "hasty"))
    assert answer.status_code == 503
    assert "longer than this plan's 1e-06 s" in answer.json()["detail"]


def test_usage_is_counted_per_key_endpoint_and_dataset(
    client: TestClient, anonymous: TestClient, runtime: Runtime, admin_headers: dict[str, str]
) -> None:
    headers = keyed(runtime, "metered")
    key_id = headers["X-API-Key"].split("_")[1]
    for _ in range(2):
        client.get(BEACH, headers=headers)
    client.get("/api/v1/beaches", headers=headers)
    client.get(f"{ENTITIES}/urn:ngsi-ld:Beach:nowhere", headers=headers)
    for _ in range(4):
        anonymous.get(BEACH)
    answer = client.get(
        "/admin/usage", params={"by": "key,endpoint,dataset"}, headers=admin_headers
    )
    assert answer.status_code == 200
    rows = {(r["key"], r["endpoint"], r["dataset"]): r for r in answer.json()}

    entity = "GET /ngsi-ld/v1/entities/{entity_id}"
    assert rows[(key_id, entity, "beaches")]["requests"] == 2
    assert rows[(key_id, entity, "")]["errors"] == 1
    assert rows[(key_id, "GET /api/v1/beaches", "beaches")]["requests"] == 1
    anonymous_row = rows[("anonymous", entity, "beaches")]
    assert anonymous_row["requests"] == 3
    assert rows[("anonymous", entity, "")]["limited"] == 1
    assert anonymous_row["maxLatencyMs"] >= anonymous_row["meanLatencyMs"] > 0
    only = client.get("/admin/usage", params={"key": key_id, "by": "key"}, headers=admin_headers)
    assert only.json() == [{**only.json()[0], "key": key_id, "requests": 4}]
    bad = client.get("/admin/usage", params={"by": "colour"}, headers=admin_headers)
    assert bad.status_code == 400
    assert "cannot sum usage by colour" in bad.json()["detail"]
    assert client.get("/admin/usage").status_code == 403


def test_stadsnav_usage_shows_what_the_processes_wrote(workspace: Workspace) -> None:
    runtime = Runtime.open(workspace)  # the workspace's own store, which the CLI opens too
    headers = keyed(runtime, "metered")
    with TestClient(create_app(runtime)) as client:
        client.get(BEACH, headers=headers)
    command = ["usage", str(workspace.root), "--by", "key,dataset"]
    result = CliRunner(env={"COLUMNS": "200"}).invoke(cli, command)
    assert result.exit_code == 0, result.output
    key_id = headers["X-API-Key"].split("_")[1]
    assert key_id in result.output
    assert "beaches" in result.output
    as_json = CliRunner().invoke(cli, ["usage", str(workspace.root), "--json", "--by", "key"])
    assert [row["key"] for row in json.loads(as_json.stdout)] == [key_id]
    wrong = CliRunner().invoke(cli, ["usage", str(workspace.root), "--since", "yesterday"])
    assert wrong.exit_code == 2
    assert "not a duration" in wrong.output


def test_api_processes_sharing_redis_share_a_keys_limit(workspace: Workspace) -> None:
    workspace.settings.gateway.limits_url = redis_url()
    workspace.settings.gateway.plans["burst-of-four"] = PlanSettings(rate=0.01, burst=4)
    one, other = Runtime.open(workspace), Runtime.open(workspace)
    headers = keyed(one, "burst-of-four")
    with TestClient(create_app(one)) as first, TestClient(create_app(other)) as second:
        codes = [c.get(BEACH, headers=headers).status_code for c in (first, second) * 3]
    # The key's random id keeps test runs apart in the shared Redis.
    assert codes == [200, 200, 200, 200, 429, 429]


def test_anonymous_callers_are_counted_by_address_and_ipv6_by_its_64() -> None:
    from stadsnav.api.gatekeeper import _network

    assert _network("2001:db8::1") == _network("2001:db8::ffff:1") == "2001:db8::/64"
    assert _network("2001:db8:0:1::1") != _network("2001:db8::1")
    assert _network("10.1.2.3") == "10.1.2.3"
