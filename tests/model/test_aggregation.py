"""Aggregation methods, ISO 8601 periods and the aggregated representation (GS CIM 009, 4.5.19)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stadsnav.model.aggregation import (
    AggregationError,
    Bucket,
    Period,
    add_months,
    aggregated_attributes,
    parse_methods,
    parse_period,
)
from stadsnav.model.render import format_time

START = datetime(2026, 7, 1, 6, tzinfo=UTC)
BYSKE = "urn:ngsi-ld:WaterQualityObserved:skelleftea:byske-havsbad"


def test_methods_come_in_answer_order() -> None:
    assert parse_methods("max, avg,max") == ("avg", "max")
    assert parse_methods(["stddev", "totalCount"]) == ("totalCount", "stddev")
    with pytest.raises(AggregationError, match="median"):
        parse_methods("avg,median")
    with pytest.raises(AggregationError, match="at least one"):
        parse_methods(" , ")


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("PT1H", Period(0, 3_600_000_000)),
        ("PT0.5S", Period(0, 500_000)),
        ("P1DT12H", Period(0, 129_600_000_000)),
        ("P1W", Period(0, 604_800_000_000)),
        ("P1Y2M", Period(14, 0)),
        ("P0D", Period()),
        ("PT0S", Period()),
    ],
)
def test_periods(text: str, period: Period) -> None:
    assert parse_period(text) == period


@pytest.mark.parametrize("text", ["", "P", "PT", "1H", "PT1.5H", "hourly", "P-1D"])
def test_invalid_periods(text: str) -> None:
    with pytest.raises(AggregationError, match="aggrPeriodDuration"):
        parse_period(text)


def test_calendar_months_keep_the_day_where_they_can() -> None:
    jan31 = datetime(2026, 1, 31, 12, tzinfo=UTC)
    assert add_months(jan31, 1) == datetime(2026, 2, 28, 12, tzinfo=UTC)
    assert add_months(jan31, 13) == datetime(2027, 2, 28, 12, tzinfo=UTC)
    assert Period(1, 0).boundary(jan31, 2) == datetime(2026, 3, 31, 12, tzinfo=UTC)


def bucket(start: datetime, dataset: str = "", total: float = 48.0, numbers: int = 3) -> Bucket:
    """Three readings of 15, 16 and 17 °C (or, with ``numbers=0``, three words)."""
    numeric = numbers > 0
    return Bucket(
        entity_id=BYSKE,
        name="temperature",
        dataset_id=dataset,
        start=start,
        end=start + timedelta(hours=1),
        count=3,
        distinct=2,
        numbers=numbers,
        total=total if numeric else None,
        squares=770.0 if numeric else None,
        minimum=15.0 if numeric else None,
        maximum=17.0 if numeric else None,
    )


def test_bucket_figures() -> None:
    one = bucket(START)
    assert one.value("avg") == 16.0
    assert one.value("stddev") == pytest.approx(1.0)
    assert one.value("sum") == 48.0
    words = bucket(START, numbers=0)
    assert words.value("avg") is None
    assert words.value("distinctCount") == 2


def test_aggregated_representation_per_dataset() -> None:
    buckets = [
        bucket(START + timedelta(hours=1)),
        bucket(START),
        bucket(START, dataset="urn:ngsi-ld:Dataset:surface", total=51.0),
    ]
    body = aggregated_attributes(
        buckets, ("avg",), format_time, str.upper, {"temperature": "Property"}
    )
    default, surface = body["TEMPERATURE"]
    assert default == {
        "type": "Property",
        "avg": [
            [16.0, "2026-07-01T06:00:00Z", "2026-07-01T07:00:00Z"],
            [16.0, "2026-07-01T07:00:00Z", "2026-07-01T08:00:00Z"],
        ],
    }
    assert surface["datasetId"] == "urn:ngsi-ld:Dataset:surface"
    assert surface["avg"][0][0] == 17.0


@pytest.mark.parametrize("text", ["P9999999999D", "P99999Y", "PT99999999999999999999S"])
def test_absurd_periods_are_refused_not_a_crash(text: str) -> None:
    with pytest.raises(AggregationError, match="1000 years"):
        parse_period(text)
