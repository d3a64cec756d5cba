"""The NGSI-LD first slice: entity retrieval, queries, temporal, @context and ProblemDetails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from stadsnav.model.context import CORE_CONTEXT_URL
from stadsnav.runtime import Runtime
from support import UplinkFactory, process_inbox

ENTITY = "urn:ngsi-ld:WaterQualityObserved:skelleftea:elt2-byske-havsbad"
BYSKE = "urn:ngsi-ld:Beach:se:skelleftea:byske-havsbad"
START = datetime(2026, 7, 1, 8, tzinfo=UTC)


def ingest(runtime: Runtime, make_uplink: UplinkFactory, temperatures: list[float]) -> None:
    """Store one uplink per temperature, ten minutes apart from START, through the pipeline."""
    from stadsnav.store.base import NewInboxMessage

    messages = []
    for i, celsius in enumerate(temperatures):
        payload = b"\x0c" + round(celsius * 10).to_bytes(2, "big", signed=True)
        body = make_uplink(payload=payload, f_cnt=i, received_at=START + timedelta(minutes=10 * i))
        messages.append(
            NewInboxMessage("beach-sensors-tts", f"t{i}", START, "application/json", body)
        )
    runtime.store.inbox_append(messages)
    process_inbox(runtime)


def test_retrieve_entity_normalized_with_link_header(
    client: TestClient, runtime: Runtime, make_uplink: UplinkFactory
) -> None:
    ingest(runtime, make_uplink, [17.5, 18.0])
    response = client.get(f"/ngsi-ld/v1/entities/{ENTITY}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert CORE_CONTEXT_URL in response.headers["link"]
    entity = response.json()
    assert entity["id"] == ENTITY
    assert entity["type"] == "WaterQualityObserved"
    temperature = entity["temperature"]
    assert temperature["value"] == 18.0
    assert temperature["unitCode"] == "CEL"
    assert temperature["observedAt"] == "2026-07-01T08:10:00Z"
    assert temperature["provenance"]["value"]["integration"] == "beach-sensors-tts"
    assert entity["refPointOfInterest"]["type"] == "Relationship"
    assert entity["refPointOfInterest"]["object"] == BYSKE


def test_json_ld_puts_context_in_the_body(client: TestClient) -> None:
    response = client.get(
        f"/ngsi-ld/v1/entities/{BYSKE}", headers={"accept": "application/ld+json"}
    )
    assert response.headers["content-type"] == "application/ld+json"
    assert response.json()["@context"] == CORE_CONTEXT_URL
    assert "link" not in response.headers


def test_key_values_and_query_filters(
    client: TestClient, runtime: Runtime, make_uplink: UplinkFactory
) -> None:
    ingest(runtime, make_uplink, [21.0])
    response = client.get(
        "/ngsi-ld/v1/entities",
        params={"type": "WaterQualityObserved", "q": "temperature>20", "options": "keyValues"},
    )
    [entity] = response.json()
    assert entity["temperature"] == 21.0
    assert entity["refPointOfInterest"] == BYSKE
    none = client.get(
        "/ngsi-ld/v1/entities", params={"type": "WaterQualityObserved", "q": "temperature>25"}
    )
    assert none.json() == []


def test_near_query_count_and_paging(client: TestClient) -> None:
    byske_harbour = "[21.2300,64.9500]"
    response = client.get(
        "/ngsi-ld/v1/entities",
        params={
            "type": "Beach",
            "georel": "near;maxDistance==2000",
            "geometry": "Point",
            "coordinates": byske_harbour,
            "count": "true",
        },
    )
    assert response.headers["ngsild-results-count"] == "1"
    assert [e["id"] for e in response.json()] == [BYSKE]
    every = client.get(
        "/ngsi-ld/v1/entities", params={"type": "Beach", "count": "true", "limit": 2}
    )
    total = int(every.headers["ngsild-results-count"])
    assert total >= 6
    assert len(every.json()) == 2
    rest = client.get("/ngsi-ld/v1/entities", params={"type": "Beach", "limit": 100, "offset": 2})
    assert len(rest.json()) == total - 2


def test_id_pattern_and_attrs(client: TestClient) -> None:
    response = client.get(
        "/ngsi-ld/v1/entities", params={"idPattern": ".*:byske-.*", "attrs": "name"}
    )
    [entity] = response.json()
    assert entity["id"] == BYSKE
    assert set(entity) == {"id", "type", "name"}


def test_temporal_window_and_last_n(
    client: TestClient, runtime: Runtime, make_uplink: UplinkFactory
) -> None:
    ingest(runtime, make_uplink, [15.0, 15.5, 16.0, 16.5])
    url = f"/ngsi-ld/v1/temporal/entities/{ENTITY}"
    window = client.get(
        url,
        params={
            "timerel": "between",
            "timeAt": "2026-07-01T08:05:00Z",
            "endTimeAt": "2026-07-01T08:30:00Z",
        },
    ).json()
    assert [i["value"] for i in window["temperature"]] == [15.5, 16.0]
    last = client.get(url, params={"lastN": 1}).json()
    assert [i["value"] for i in last["temperature"]] == [16.5]
    values = client.get(url, params={"options": "temporalValues"}).json()
    assert values["temperature"]["values"][0] == [15.0, "2026-07-01T08:00:00Z"]


def test_errors_are_ngsild_problem_details(client: TestClient) -> None:
    cases = [
        ("/ngsi-ld/v1/entities/urn:ngsi-ld:Beach:nowhere", 404, "ResourceNotFound"),
        ("/ngsi-ld/v1/entities/not-a-uri", 400, "BadRequestData"),
        ("/ngsi-ld/v1/entities", 400, "BadRequestData"),
        ("/ngsi-ld/v1/entities?type=Beach&q=temperature>>", 400, "BadRequestData"),
        (
            "/ngsi-ld/v1/entities?type=Beach&georel=near&geometry=Point&coordinates=[1]",
            400,
            "BadRequestData",
        ),
        ("/ngsi-ld/v1/entities?type=Beach&limit=-1", 400, "BadRequestData"),
        (
            f"/ngsi-ld/v1/temporal/entities/{ENTITY}?timerel=between&timeAt=2026-07-01T00:00:00Z",
            400,
            "BadRequestData",
        ),
        (
            f"/ngsi-ld/v1/temporal/entities/{ENTITY}?timerel=after&timeAt=yesterday",
            400,
            "BadRequestData",
        ),
    ]
    for url, status, kind in cases:
        response = client.get(url)
        assert response.status_code == status, url
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == f"https://uri.etsi.org/ngsi-ld/errors/{kind}", url
    not_acceptable = client.get(f"/ngsi-ld/v1/entities/{BYSKE}", headers={"accept": "text/html"})
    assert not_acceptable.status_code == 406
