"""API usage in the store, on every backend: counts from several processes add up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from stadsnav.gateway.usage import UsageCount, UsageKey, usage_report
from stadsnav.store.sql import SqlStore

NINE = datetime(2026, 11, 27, 9, tzinfo=UTC)
ENTITY = "GET /ngsi-ld/v1/entities/{entity_id}"
BEACHES = "GET /api/v1/beaches"


def count(requests: int, errors: int = 0, limited: int = 0, latency: float = 0.01) -> UsageCount:
    return UsageCount(requests, errors, limited, latency * requests, latency)


def test_counts_of_two_processes_add_up(store: SqlStore) -> None:
    key = UsageKey(NINE, "abcdefgh", ENTITY, "parking")
    store.add_usage({key: count(10, errors=1, latency=0.02)})
    store.add_usage({key: count(5, limited=2, latency=0.05)})
    [(groups, total)] = store.usage(NINE, NINE + timedelta(hours=1), ["key", "endpoint"])
    assert groups == {"key": "abcdefgh", "endpoint": ENTITY}
    assert (total.requests, total.errors, total.limited) == (15, 1, 2)
    assert abs(total.latency_sum - 0.45) < 1e-9
    assert total.latency_max == 0.05


def test_usage_is_summed_by_what_is_asked_within_the_time_asked(store: SqlStore) -> None:
    store.add_usage(
        {
            UsageKey(NINE, "", BEACHES, "beach-water-temperature"): count(7),
            UsageKey(NINE, "abcdefgh", ENTITY, "parking"): count(3),
            UsageKey(NINE + timedelta(hours=1), "abcdefgh", ENTITY, "parking"): count(4),
            UsageKey(NINE + timedelta(hours=2), "abcdefgh", BEACHES, ""): count(100),
        }
    )
    window = (NINE, NINE + timedelta(hours=2))
    by_key = store.usage(*window, ["key"])
    assert [(g["key"], c.requests) for g, c in by_key] == [("", 7), ("abcdefgh", 7)]
    by_hour = store.usage(*window, ["hour"], key_id="abcdefgh")
    assert [(g["hour"], c.requests) for g, c in by_hour] == [
        (NINE, 3),
        (NINE + timedelta(hours=1), 4),
    ]
    assert [c.requests for _, c in store.usage(*window, [], dataset="parking")] == [7]
    assert store.usage(NINE - timedelta(hours=5), NINE, ["key"]) == []


def test_admitted_requests_leave_out_the_refused(store: SqlStore) -> None:
    store.add_usage(
        {
            UsageKey(NINE, "abcdefgh", ENTITY, ""): count(10, limited=4),
            UsageKey(NINE + timedelta(hours=3), "abcdefgh", BEACHES, ""): count(5, errors=5),
            UsageKey(NINE, "otherkey", ENTITY, ""): count(50),
        }
    )
    assert store.admitted_requests("abcdefgh", NINE) == 11
    assert store.admitted_requests("abcdefgh", NINE + timedelta(hours=1)) == 5
    assert store.admitted_requests("nosuchky", NINE) == 0


def test_a_report_sums_hours_into_local_days_and_names_anonymous_callers(store: SqlStore) -> None:
    late = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)  # 00:30 on the 28th in Stockholm
    store.add_usage(
        {
            UsageKey(NINE, "", BEACHES, ""): count(2, latency=0.004),
            UsageKey(late.replace(minute=0), "", BEACHES, ""): count(3, errors=1, latency=0.010),
        }
    )
    rows = usage_report(
        store, NINE, late + timedelta(hours=1), ["day", "key"], ZoneInfo("Europe/Stockholm")
    )
    assert rows == [
        {
            "day": "2026-11-27",
            "key": "anonymous",
            "requests": 2,
            "errors": 0,
            "limited": 0,
            "meanLatencyMs": 4.0,
            "maxLatencyMs": 4.0,
        },
        {
            "day": "2026-11-28",
            "key": "anonymous",
            "requests": 3,
            "errors": 1,
            "limited": 0,
            "meanLatencyMs": 10.0,
            "maxLatencyMs": 10.0,
        },
    ]
