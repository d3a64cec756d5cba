"""The beaches data product: latest temperature, staleness, near, formats, time series."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from stadsnav.runtime import Runtime
from stadsnav.store.base import NewInboxMessage
from support import UplinkFactory, process_inbox

BYSKE = "urn:ngsi-ld:Beach:se:skelleftea:byske-havsbad"
BYSKE_HARBOUR = "21.2300,64.9500"


def ingest_at(runtime: Runtime, make_uplink: UplinkFactory, moments: list[datetime]) -> None:
    """One Sundsvall payload (19.3 °C) from Byske at each moment, through the pipeline."""
    runtime.store.inbox_append(
        [
            NewInboxMessage(
                "beach-sensors-tts",
                f"p{i}",
                moment,
                "application/json",
                make_uplink(received_at=moment, f_cnt=i),
            )
            for i, moment in enumerate(moments)
        ]
    )
    process_inbox(runtime)


def beach(items: list[dict[str, object]], beach_id: str = BYSKE) -> dict[str, object]:
    return next(item for item in items if item["id"] == beach_id)


def test_fresh_temperature_is_current(
    client: TestClient, runtime: Runtime, make_uplink: UplinkFactory
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    ingest_at(runtime, make_uplink, [now - timedelta(minutes=30)])
    body = client.get("/api/v1/beaches").json()
    byske = beach(body["data"])
    assert byske["name"] == "Byske havsbad"
    assert byske["waterTemperature"] == 19.3
    assert byske["stale"] is False
    assert byske["location"]["type"] == "Point"
    assert byske["sensor"] == "urn:ngsi-ld:WaterQualityObserved:skelleftea:elt2-byske-havsbad"
    assert body["meta"]["units"] == {"waterTemperature": "CEL"}
    assert body["meta"]["licence"] == "CC0-1.0"
    assert body["meta"]["staleAfterSeconds"] == 7200
    others = [item for item in body["data"] if item["id"] != BYSKE]
    assert others
    assert all(item["waterTemperature"] is None and item["stale"] for item in others)


def test_old_temperature_is_marked_stale(
    client: TestClient, runtime: Runtime, make_uplink: UplinkFactory
) -> None:
    ingest_at(runtime, make_uplink, [datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)])
    byske = client.get("/api/v1/beaches/byske-havsbad").json()["data"]
    assert byske["id"] == BYSKE
    assert byske["waterTemperature"] == 19.3
    assert byske["stale"] is True


def test_near_sorts_by_distance_and_filters_by_radius(client: TestClient) -> None:
    items = client.get("/api/v1/beaches", params={"near": BYSKE_HARBOUR}).json()["data"]
    distances = [item["distance"] for item in items]
    assert distances == sorted(distances)
    assert items[0]["id"] == BYSKE
    close = client.get("/api/v1/beaches", params={"near": BYSKE_HARBOUR, "radius": 2000}).json()
    assert [item["id"] for item in close["data"]] == [BYSKE]


def test_geojson_and_csv(client: TestClient) -> None:
    geo = client.get("/api/v1/beaches", params={"format": "geojson"})
    assert geo.headers["content-type"] == "application/geo+json"
    collection = geo.json()
    assert collection["type"] == "FeatureCollection"
    feature = next(f for f in collection["features"] if f["id"] == BYSKE)
    assert feature["geometry"]["type"] == "Point"
    assert feature["properties"]["name"] == "Byske havsbad"

    text = client.get("/api/v1/beaches", headers={"accept": "text/csv"})
    assert text.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text.text)))
    byske = next(row for row in rows if row["id"] == BYSKE)
    assert byske["name"] == "Byske havsbad"
    assert float(byske["longitude"]) > 21
    assert byske["stale"] == "true"  # no reading yet


def test_temperature_series_in_a_window(
    client: TestClient, runtime: Runtime, make_uplink: UplinkFactory
) -> None:
    start = datetime(2026, 7, 1, 6, tzinfo=UTC)
    ingest_at(runtime, make_uplink, [start + timedelta(hours=h) for h in range(6)])
    response = client.get(
        "/api/v1/beaches/byske-havsbad/temperatures",
        params={"from": "2026-07-01T07:00:00Z", "to": "2026-07-01T10:00:00Z"},
    )
    series = response.json()
    assert [row["observedAt"] for row in series["data"]] == [
        "2026-07-01T07:00:00Z",
        "2026-07-01T08:00:00Z",
        "2026-07-01T09:00:00Z",
    ]
    assert all(row["waterTemperature"] == 19.3 for row in series["data"])
    as_csv = client.get(
        "/api/v1/beaches/byske-havsbad/temperatures",
        params={"from": "2026-07-01T00:00:00Z", "to": "2026-07-02T00:00:00Z", "format": "csv"},
    )
    assert as_csv.text.splitlines()[0] == "observedAt,waterTemperature,sensor"
    assert len(as_csv.text.splitlines()) == 7


def test_product_errors(client: TestClient) -> None:
    cases = [
        ("/api/v1/beaches/no-such-beach", 404),
        ("/api/v1/beaches?near=north", 400),
        ("/api/v1/beaches?near=200,95", 400),
        ("/api/v1/beaches?radius=10", 400),
        ("/api/v1/beaches?format=xml", 400),
        (
            "/api/v1/beaches/byske-havsbad/temperatures?from=2026-07-02T00:00:00Z&to=2026-07-01T00:00:00Z",
            400,
        ),
        ("/api/v1/beaches/byske-havsbad/temperatures?from=yesterday", 400),
    ]
    for url, status in cases:
        response = client.get(url)
        assert response.status_code == status, url
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"]


def test_openapi_31_and_local_docs(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    for path in (
        "/api/v1/beaches",
        "/api/v1/beaches/{item_id}",
        "/api/v1/beaches/{item_id}/temperatures",
        "/ngsi-ld/v1/entities",
        "/ngsi-ld/v1/entities/{entity_id}",
        "/ngsi-ld/v1/temporal/entities/{entity_id}",
        "/ingest/beach-sensors-tts",
    ):
        assert path in spec["paths"], path
    docs = client.get("/docs").text
    assert "cdn" not in docs.lower()
    script = next(part.split('"')[1] for part in docs.split("src=")[1:] if part.startswith('"'))
    assert script.startswith("/")
    assert client.get(script).status_code == 200


def test_beach_items_keep_their_shape(client: TestClient) -> None:
    byske = client.get("/api/v1/beaches/byske-havsbad").json()["data"]
    assert list(byske) == [
        "id",
        "name",
        "description",
        "location",
        "waterTemperature",
        "observedAt",
        "stale",
        "sensor",
    ]
    listing = client.get("/openapi.json").json()["paths"]["/api/v1/beaches"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"near", "radius", "format"}
