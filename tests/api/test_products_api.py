"""The beaches data product: latest temperature, staleness, near, formats, time series."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from stadsnav.api.products.view import ProductView
from stadsnav.runtime import Runtime
from stadsnav.store.base import NewInboxMessage
from stadsnav.workspace import Workspace
from support import SUNDSVALL_BEACH_PAYLOAD, UplinkFactory, process_inbox

BYSKE = "urn:ngsi-ld:Beach:se:skelleftea:byske-havsbad"
BYSKE_HARBOUR = "21.2300,64.9500"
BYSKE_SENSOR = "urn:ngsi-ld:WaterQualityObserved:skelleftea:elt2-byske-havsbad"


def ingest_at(
    runtime: Runtime,
    make_uplink: UplinkFactory,
    moments: list[datetime],
    payload: bytes = SUNDSVALL_BEACH_PAYLOAD,
    first: int = 0,
) -> None:
    """One payload (by default Sundsvall's, 19.3 °C) from Byske at each moment, processed."""
    runtime.store.inbox_append(
        [
            NewInboxMessage(
                "beach-sensors-tts",
                f"p{payload.hex()}-{i}",
                moment,
                "application/json",
                make_uplink(received_at=moment, f_cnt=i, payload=payload),
            )
            for i, moment in enumerate(moments, first)
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
    assert byske["sensor"] == BYSKE_SENSOR
    assert body["meta"]["units"] == {"waterTemperature": "CEL"}
    assert body["meta"]["licence"] == "CC0-1.0"
    assert body["meta"]["staleAfterSeconds"] == 2400  # twice the sensors' 20-minute interval
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


def test_silent_for_more_than_twice_the_20_minute_interval_is_stale(
    workspace: Workspace, runtime: Runtime, make_uplink: UplinkFactory
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    ingest_at(runtime, make_uplink, [now])
    clock = [now + timedelta(minutes=39)]
    view = ProductView(workspace.products["beaches"], workspace, clock=lambda: clock[0])
    assert beach(view.items(runtime.store))["stale"] is False
    # No message arrives meanwhile: the item ages at the time it is asked for.
    clock[0] = now + timedelta(minutes=41)
    assert beach(view.items(runtime.store))["stale"] is True


def test_a_reading_unchanged_for_a_day_is_suspect_until_it_changes(
    client: TestClient, runtime: Runtime, make_uplink: UplinkFactory
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    day = [now - timedelta(minutes=20 * n) for n in range(75, -1, -1)]  # 25 h, every 20 min
    ingest_at(runtime, make_uplink, day[:-3])
    # The last hour in batches of its own: they are judged against the stored history.
    ingest_at(runtime, make_uplink, day[-3:], first=len(day) - 3)
    byske = client.get("/api/v1/beaches/byske-havsbad").json()["data"]
    assert (byske["waterTemperature"], byske["stale"], byske["suspect"]) == (19.3, False, True)
    issues = client.get(f"/ngsi-ld/v1/entities/{BYSKE_SENSOR}").json()["qualityIssues"]["value"]
    assert issues == ["temperature = 19.3 has not changed for longer than P1D: a stuck sensor?"]
    ingest_at(runtime, make_uplink, [now + timedelta(seconds=1)], bytes.fromhex("0c00c2"))
    byske = client.get("/api/v1/beaches/byske-havsbad").json()["data"]
    assert (byske["waterTemperature"], byske["suspect"]) == (19.4, False)
    entity = client.get(f"/ngsi-ld/v1/entities/{BYSKE_SENSOR}").json()
    assert entity["qualityIssues"]["value"] == []


def test_a_reading_unchanged_for_less_than_a_day_is_not_suspect(
    client: TestClient, runtime: Runtime, make_uplink: UplinkFactory
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    ingest_at(runtime, make_uplink, [now - timedelta(minutes=20 * n) for n in range(71, -1, -1)])
    assert client.get("/api/v1/beaches/byske-havsbad").json()["data"]["suspect"] is False


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
        "suspect",
        "sensor",
    ]
    listing = client.get("/openapi.json").json()["paths"]["/api/v1/beaches"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"near", "radius", "format"}
