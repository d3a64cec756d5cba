"""Since when an attribute has kept its value, from its history: how a stuck sensor is found."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stadsnav.store.base import AttributeWrite
from stadsnav.store.sql import SqlStore

T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
PROBE = "urn:ngsi-ld:WaterQualityObserved:se:testby:norrstrand"
STEP = timedelta(minutes=10)


def readings(store: SqlStore, values: list[object], name: str = "temperature") -> None:
    """One reading every 10 minutes from T0, committed."""
    writes = [
        AttributeWrite(
            PROBE,
            "WaterQualityObserved",
            name,
            {"type": "Property", "value": value, "observedAt": (T0 + i * STEP).isoformat()},
            T0 + i * STEP,
        )
        for i, value in enumerate(values)
    ]
    store.commit_batch([], writes, [])


def test_the_run_of_the_newest_value_starts_after_the_last_other_value(store: SqlStore) -> None:
    readings(store, [14.1, 14.2, 14.1, 14.1, 14.1])
    after = T0 + 5 * STEP
    assert store.unchanged_since(PROBE, "temperature", 14.1, after, T0) == T0 + 2 * STEP
    # Asked about an earlier time, only what was observed before it counts.
    assert store.unchanged_since(PROBE, "temperature", 14.2, T0 + 2 * STEP, T0) == T0 + STEP
    assert store.unchanged_since(PROBE, "temperature", 14.1, T0 + STEP, T0) == T0


def test_no_run_when_the_newest_value_differs_or_nothing_is_stored(store: SqlStore) -> None:
    readings(store, [14.1, 14.2])
    assert store.unchanged_since(PROBE, "temperature", 14.1, T0 + 2 * STEP, T0) is None
    assert store.unchanged_since(PROBE, "salinity", 14.1, T0 + 2 * STEP, T0) is None
    assert store.unchanged_since("urn:ngsi-ld:Thing:none", "temperature", 1, T0, T0) is None


def test_a_long_run_is_followed_back_only_past_the_horizon(store: SqlStore) -> None:
    # Two days of the same reading, in pages: the answer stops at the first one before horizon.
    readings(store, [3.5] * 288)
    end = T0 + 288 * STEP
    horizon = end - timedelta(days=1)
    since = store.unchanged_since(PROBE, "temperature", 3.5, end, horizon)
    assert since == horizon - STEP
    assert store.unchanged_since(PROBE, "temperature", 3.5, end, T0) == T0


def test_values_of_any_kind_compare_by_equality(store: SqlStore) -> None:
    readings(store, ["closed", "open", "open"], name="doorState")
    assert store.unchanged_since(PROBE, "doorState", "open", T0 + 3 * STEP, T0) == T0 + STEP
    readings(store, [{"a": 1}, {"a": 1}], name="shape")
    assert store.unchanged_since(PROBE, "shape", {"a": 1}, T0 + 2 * STEP, T0) == T0
