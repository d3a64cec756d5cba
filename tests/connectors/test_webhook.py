"""The webhook answers 202 only after commit, and a clear 4xx for anything it cannot accept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from stadsnav.runtime import Runtime
from support import UplinkFactory, wait_for

URL = "/ingest/beach-sensors-tts"
ENTITY = "urn:ngsi-ld:WaterQualityObserved:skelleftea:elt2-byske-havsbad"
JSON = {"content-type": "application/json"}


def test_uplink_is_committed_then_stored(
    client: TestClient, runtime: Runtime, make_uplink: UplinkFactory
) -> None:
    response = client.post(URL, content=make_uplink(), headers=JSON)
    assert response.status_code == 202
    assert response.json() == {"status": "accepted"}
    wait_for(lambda: runtime.store.get_entity(ENTITY) is not None)
    entity = runtime.store.get_entity(ENTITY)
    assert entity is not None
    assert entity.attributes["temperature"]["value"] == 19.3


def test_a_retry_is_acknowledged_as_duplicate(
    client: TestClient, runtime: Runtime, make_uplink: UplinkFactory
) -> None:
    body = make_uplink()
    runtime.worker.stop()  # keep the first copy pending in the inbox
    assert client.post(URL, content=body, headers=JSON).json() == {"status": "accepted"}
    assert client.post(URL, content=body, headers=JSON).json() == {"status": "duplicate"}
    assert runtime.store.inbox_stats()[0] == 1


def test_bad_requests_get_problem_details(client: TestClient, make_uplink: UplinkFactory) -> None:
    cases = [
        (b'{"end_device_ids": {', JSON, 400, "invalid JSON"),
        (make_uplink(f_port=None), JSON, 400, "f_port is missing"),
        (b"", JSON, 400, "empty body"),
        (make_uplink(), {"content-type": "text/plain"}, 415, "Content-Type"),
        (b"{" + b" " * (1024 * 1024 + 10) + b"}", JSON, 413, "limit"),
    ]
    for body, headers, status, words in cases:
        response = client.post(URL, content=body, headers=headers)
        assert response.status_code == status, (words, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == status
        assert words in problem["detail"]


def test_accepted_but_unprocessable_messages_become_dead_letters(
    client: TestClient, runtime: Runtime, make_uplink: UplinkFactory
) -> None:
    future = datetime.now(UTC) + timedelta(days=365)
    bodies = [
        make_uplink(dev_eui="a81758fffe0fffff"),
        make_uplink(payload=bytes.fromhex("0c01"), f_cnt=2),
        make_uplink(received_at=future, f_cnt=3),
    ]
    for body in bodies:
        assert client.post(URL, content=body, headers=JSON).status_code == 202
    wait_for(lambda: len(runtime.store.dead_letters()) == 3)
    stages = sorted(letter.stage for letter in runtime.store.dead_letters())
    assert stages == ["decode", "device", "validate"]
    assert all(letter.reason for letter in runtime.store.dead_letters())


def test_non_uplink_chirpstack_events_are_acknowledged_and_ignored(client: TestClient) -> None:
    response = client.post(f"{URL}?event=status", content=b"{}", headers=JSON)
    assert response.status_code == 202
    assert response.json()["status"] == "ignored"


def test_unknown_integration_is_404(client: TestClient, make_uplink: UplinkFactory) -> None:
    response = client.post("/ingest/nope", content=make_uplink(), headers=JSON)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
