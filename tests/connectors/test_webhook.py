"""The webhook answers 202 only after commit, and a clear 4xx for anything it cannot accept."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql as pgsql

from stadsnav.api.app import create_app
from stadsnav.connectors.webhook import WebhookConnector
from stadsnav.runtime import Runtime
from stadsnav.store.base import ContextStore
from stadsnav.store.postgres import PostgresStore
from stadsnav.store.sqlite import SqliteStore
from stadsnav.workspace import Workspace
from support import BYSKE_SENSOR, SHARED_DATA, UplinkFactory, key_headers, wait_for

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


def test_the_same_id_with_other_content_is_answered_and_counted_as_a_conflict(
    client: TestClient, runtime: Runtime, make_uplink: UplinkFactory
) -> None:
    first = make_uplink(payload=bytes.fromhex("0c00c1"))
    other = first.replace(b'"frm_payload":"DADB"', b'"frm_payload":"DADC"')
    assert other != first
    assert client.post(URL, content=first, headers=JSON).json() == {"status": "accepted"}
    assert client.post(URL, content=other, headers=JSON).json() == {"status": "conflict"}
    [letter] = runtime.store.dead_letters()
    assert (letter.stage, letter.body) == ("conflict", other)
    metrics = client.get("/metrics").text
    assert 'stadsnav_dead_letters_total{stage="conflict"} 1.0' in metrics


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


def webhook(runtime: Runtime) -> WebhookConnector:
    """The demo's webhook connector for The Things Stack."""
    [connector] = [
        c
        for c in runtime.connectors
        if isinstance(c, WebhookConnector) and c.integration.id == "beach-sensors-tts"
    ]
    return connector


def test_a_token_is_required_when_configured(
    client: TestClient,
    runtime: Runtime,
    make_uplink: UplinkFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connector = webhook(runtime)
    source = connector.integration.source.model_copy(update={"token_env": "BEACH_TOKEN"})
    monkeypatch.setattr(connector.integration, "source", source)
    monkeypatch.setenv("BEACH_TOKEN", "s3cret")
    refused = client.post(URL, content=make_uplink(), headers=JSON)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    assert refused.headers["content-type"] == "application/problem+json"
    wrong = client.post(URL, content=make_uplink(), headers={**JSON, "authorization": "Bearer x"})
    assert wrong.status_code == 401
    bearer = {**JSON, "authorization": "Bearer s3cret"}
    assert client.post(URL, content=make_uplink(), headers=bearer).status_code == 202


def test_a_full_inbox_is_503_with_retry_after(
    client: TestClient, runtime: Runtime, make_uplink: UplinkFactory
) -> None:
    runtime.inbox.max_pending = 0
    response = client.post(URL, content=make_uplink(), headers=JSON)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["status"] == 503
    assert deferred(runtime, "full") == 1


def test_a_refusing_store_is_503_with_retry_after_until_it_commits_again(
    client: TestClient, runtime: Runtime, make_uplink: UplinkFactory
) -> None:
    runtime.inbox.retry_delay = 0.5
    allow = refuse_inbox_inserts(runtime.store)
    first = client.post(URL, content=make_uplink(f_cnt=1), headers=JSON)
    assert first.status_code == 503
    assert first.headers["retry-after"] == "1"
    assert "could not commit" in first.json()["detail"]
    assert "disk full" not in first.json()["detail"]  # the store's own words stay in the log
    # Refused at once while the store is known to fail: no sender waits on a commit attempt.
    assert client.post(URL, content=make_uplink(f_cnt=2), headers=JSON).status_code == 503
    assert deferred(runtime, "failed") == 2
    allow()
    time.sleep(0.6)
    assert client.post(URL, content=make_uplink(f_cnt=3), headers=JSON).status_code == 202
    wait_for(lambda: runtime.store.get_entity(ENTITY) is not None)
    assert len(runtime.store.history(ENTITY, ["temperature"])["temperature"]) == 1


def deferred(runtime: Runtime, reason: str) -> float:
    labels = {"integration": "beach-sensors-tts", "reason": reason}
    return (
        runtime.metrics.registry.get_sample_value("stadsnav_messages_deferred_total", labels) or 0
    )


def refuse_inbox_inserts(store: ContextStore) -> Callable[[], None]:
    """Make every inbox insert fail, as a full disk would; returns what lifts it."""
    if isinstance(store, SqliteStore):
        lite = sqlite3.connect(store.path, isolation_level=None)
        lite.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON inbox "
            "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )

        def allow_sqlite() -> None:
            lite.execute("DROP TRIGGER refuse")
            lite.close()

        return allow_sqlite
    assert isinstance(store, PostgresStore)
    assert store.schema is not None
    pg = psycopg.connect(store.conninfo, autocommit=True)
    pg.execute(pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(store.schema)))
    pg.execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql "
        "AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$"
    )
    pg.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON inbox FOR EACH ROW EXECUTE FUNCTION refuse()"
    )

    def allow_postgres() -> None:
        pg.execute("DROP TRIGGER refuse ON inbox")
        pg.close()

    return allow_postgres


def test_a_streamed_body_is_joined_and_capped_without_content_length(
    client: TestClient, runtime: Runtime, make_uplink: UplinkFactory
) -> None:
    body = make_uplink()
    half = len(body) // 2
    response = client.post(URL, content=iter([body[:half], body[half:]]), headers=JSON)
    assert response.status_code == 202
    assert response.json() == {"status": "accepted"}
    limit = runtime.workspace.settings.server.max_body_bytes
    chunks = iter([b"{" + b" " * limit, b"}"])
    too_large = client.post(URL, content=chunks, headers=JSON)
    assert too_large.status_code == 413
    assert "over the limit" in too_large.json()["detail"]


# --- ChirpStack's HTTP integration: status events are kept, on the device's own entity -------

DEVICE = "urn:ngsi-ld:Device:elt2-byske-havsbad"


@pytest.fixture
def chirpstack(workspace: Workspace) -> Iterator[tuple[TestClient, Runtime]]:
    """The demo's webhook integration, reading ChirpStack v4 events."""
    workspace.integrations.pop("beach-sensors-mqtt")
    workspace.integrations["beach-sensors-tts"].source.format = "chirpstack_v4"
    runtime = Runtime.open(workspace)
    with TestClient(create_app(runtime), headers=key_headers(runtime.store)) as test_client:
        yield test_client, runtime


def chirpstack_event(name: str, dev_eui: str = BYSKE_SENSOR) -> bytes:
    event = orjson.loads((SHARED_DATA / "envelopes" / name).read_bytes())
    event["deviceInfo"]["devEui"] = dev_eui
    return orjson.dumps(event)


def test_a_status_event_is_committed_and_sets_the_battery_level(
    chirpstack: tuple[TestClient, Runtime],
) -> None:
    client, runtime = chirpstack
    body = chirpstack_event("chirpstack_v4_status_docs_example.json")
    response = client.post(f"{URL}?event=status", content=body, headers=JSON)
    assert (response.status_code, response.json()) == (202, {"status": "accepted"})

    def battery() -> object:
        entity = runtime.store.get_entity(DEVICE)
        return None if entity is None else entity.attributes.get("batteryLevel", {}).get("value")

    wait_for(lambda: battery() is not None)
    assert battery() == 0.883
    entity = runtime.store.get_entity(DEVICE)
    assert entity is not None
    assert entity.type == "Device"


def test_a_retried_status_event_is_a_duplicate(chirpstack: tuple[TestClient, Runtime]) -> None:
    client, runtime = chirpstack
    runtime.worker.stop()  # keep the first copy pending in the inbox
    body = chirpstack_event("chirpstack_v4_status_docs_example.json")
    first = client.post(f"{URL}?event=status", content=body, headers=JSON)
    second = client.post(f"{URL}?event=status", content=body, headers=JSON)
    assert (first.json(), second.json()) == ({"status": "accepted"}, {"status": "duplicate"})
    [pending] = runtime.store.inbox_fetch(10)
    assert pending.message_id == "bf2a9746-1c8b-49be-a92e-f0b89c8534e4"  # its deduplicationId


def test_a_status_event_from_an_unknown_device_is_a_dead_letter(
    chirpstack: tuple[TestClient, Runtime],
) -> None:
    client, runtime = chirpstack
    body = chirpstack_event("chirpstack_v4_status_docs_example.json", "a81758fffe0fffff")
    assert client.post(f"{URL}?event=status", content=body, headers=JSON).status_code == 202
    wait_for(lambda: len(runtime.store.dead_letters()) == 1)
    [letter] = runtime.store.dead_letters()
    assert letter.stage == "device"
    assert "unknown device a81758fffe0fffff" in letter.reason


def test_a_status_query_on_an_uplink_is_refused(chirpstack: tuple[TestClient, Runtime]) -> None:
    client, _ = chirpstack
    body = chirpstack_event("chirpstack_v4_up_docs_example.json")
    response = client.post(f"{URL}?event=status", content=body, headers=JSON)
    assert response.status_code == 400
    assert response.json()["detail"] == "not a status event: ChirpStack 'up' event"


def test_other_chirpstack_events_are_still_ignored(chirpstack: tuple[TestClient, Runtime]) -> None:
    client, _ = chirpstack
    response = client.post(f"{URL}?event=join", content=b"{}", headers=JSON)
    assert response.json()["status"] == "ignored"
