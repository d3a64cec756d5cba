"""Health and metrics."""

from __future__ import annotations

from fastapi.testclient import TestClient

from stadsnav.runtime import Runtime
from stadsnav.store.migrate import load_migrations
from support import UplinkFactory, wait_for

ALL_VERSIONS = [m.version for m in load_migrations("sqlite")]


def metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_healthz_reports_the_store(client: TestClient) -> None:
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["store"]["schema"] == ALL_VERSIONS[-1]
    assert {"type": "webhook", "integration": "beach-sensors-tts"} in body["connectors"]


def test_healthz_is_503_when_the_store_fails(client: TestClient, runtime: Runtime) -> None:
    runtime.store.close()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["store"]["status"] == "failing"


def test_metrics_count_messages_in_stored_and_dead(
    client: TestClient, runtime: Runtime, make_uplink: UplinkFactory
) -> None:
    json = {"content-type": "application/json"}
    client.post("/ingest/beach-sensors-tts", content=make_uplink(), headers=json)
    client.post(
        "/ingest/beach-sensors-tts", content=make_uplink(payload=b"\xff", f_cnt=2), headers=json
    )
    client.post("/ingest/beach-sensors-tts", content=b"[", headers=json)
    wait_for(lambda: metric(client.get("/metrics").text, "stadsnav_dead_letters_total") == 1)
    text = client.get("/metrics").text
    assert metric(text, "stadsnav_messages_received_total") == 2
    assert metric(text, "stadsnav_observations_stored_total") == 1
    assert metric(text, "stadsnav_messages_rejected_total") == 1
    assert metric(text, "stadsnav_inbox_pending") == 0
    assert "stadsnav_pipeline_lag_seconds" in text
