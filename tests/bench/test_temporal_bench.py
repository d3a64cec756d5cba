"""The temporal benchmark's requests, against the app on each store: accepted and answered."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.temporal import (  # noqa: E402
    DAYS,
    aggregation_path,
    percentile,
    readings,
    temperatures,
    temporal_entity,
)


def test_a_month_of_readings_aggregates_to_hourly_averages(client: TestClient) -> None:
    response = client.post(
        "/ngsi-ld/v1/temporal/entities",
        content=temporal_entity(7),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 201, response.text
    answer = client.get(aggregation_path(7))
    assert answer.status_code == 200, answer.text
    hourly = answer.json()["temperature"]["avg"]
    assert len(hourly) == DAYS * 24 == readings() // 6
    first_hour = temperatures(7)[:6]
    assert hourly[0][0] == pytest.approx(sum(first_hour) / 6)
    assert hourly[0][1:] == ["2026-06-01T00:00:00Z", "2026-06-01T01:00:00Z"]


def test_readings_look_like_a_beach() -> None:
    values = temperatures(3)
    assert len(values) == readings() == 4320
    assert 8.0 < min(values) < max(values) < 22.0
    assert orjson.loads(temporal_entity(3))["temperature"][1]["observedAt"] == (
        "2026-06-01T00:10:00Z"
    )


def test_percentile_is_the_nearest_rank() -> None:
    latencies = [float(i) for i in range(1, 101)]
    assert percentile(latencies, 99) == 99.0
    assert percentile(latencies, 50) == 50.0
    assert percentile([5.0], 99) == 5.0
