"""The temporal API's store methods (store/sql_temporal.py) on SQLite and PostgreSQL."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stadsnav.model.aggregation import Period, parse_period
from stadsnav.store.base import EntityChange, StoredEntity
from stadsnav.store.sql import SqlStore
from stadsnav.store.sql_temporal import (
    deletion_record,
    instance_id,
    instance_time,
    stored_instance_id,
)

BYSKE = "urn:ngsi-ld:WaterQualityObserved:skelleftea:byske-havsbad"
KURJOVIKEN = "urn:ngsi-ld:WaterQualityObserved:skelleftea:kurjoviken"
START = datetime(2026, 7, 1, 6, tzinfo=UTC)
STEP = timedelta(minutes=10)
HOUR = parse_period("PT1H")
SURFACE = "urn:ngsi-ld:Dataset:surface"
NULL = "urn:ngsi-ld:null"


def reading(value: Any, moment: datetime, **extra: Any) -> tuple[str, dict[str, Any]]:
    stamp = moment.isoformat().replace("+00:00", "Z")
    return "temperature", {"type": "Property", "value": value, "observedAt": stamp, **extra}


def series(values: list[Any], start: datetime = START, **extra: Any) -> list[tuple[str, dict]]:
    return [reading(value, start + i * STEP, **extra) for i, value in enumerate(values)]


def test_instance_ids_read_back_and_differ_per_dataset() -> None:
    moment = datetime(2026, 7, 1, 6, 0, 0, 123456, tzinfo=UTC)
    default = instance_id(BYSKE, "temperature", "", moment)
    surface = instance_id(BYSKE, "temperature", "urn:ngsi-ld:Dataset:surface", moment)
    assert default != surface
    assert default == instance_id(BYSKE, "temperature", "", moment)
    assert instance_time(default) == moment
    assert instance_time("urn:ngsi-ld:instance:not-one-of-ours") is None
    kept = {"instanceId": "urn:ngsi-ld:instance:kept"}
    assert stored_instance_id(BYSKE, "temperature", "", moment, kept) == "urn:ngsi-ld:instance:kept"


def test_add_instances_creates_then_adds(store: SqlStore) -> None:
    assert store.add_instances(BYSKE, "WaterQualityObserved", series([15.0, 15.5]), create=True)
    later = series([16.0], START + 2 * STEP)
    assert store.add_instances(BYSKE, None, later, create=False) is False
    assert store.add_instances(KURJOVIKEN, None, later, create=False) is None
    with pytest.raises(ValueError, match="needs a type"):
        store.add_instances(KURJOVIKEN, None, later, create=True)
    entity = store.get_entity(BYSKE)
    assert entity is not None
    assert entity.attributes["temperature"]["value"] == 16.0
    # Instances naming another type add it to the entity's (4.16).
    assert store.add_instances(BYSKE, ["Beach"], [], create=True) is False
    typed = store.get_entity(BYSKE)
    assert typed is not None
    assert typed.types == ("WaterQualityObserved", "Beach")
    instances = store.temporal_instances([BYSKE])[BYSKE]["temperature"]
    assert [i.attribute["value"] for i in instances] == [15.0, 15.5, 16.0]


def test_temporal_instances_window_and_newest_per_series(store: SqlStore) -> None:
    store.add_instances(BYSKE, "WaterQualityObserved", series([1, 2, 3, 4]), create=True)
    surface = series([10, 20, 30], datasetId="urn:ngsi-ld:Dataset:surface")
    store.add_instances(BYSKE, None, surface, create=False)
    window = store.temporal_instances([BYSKE], ["temperature"], START + STEP, START + 3 * STEP)
    assert sorted(i.attribute["value"] for i in window[BYSKE]["temperature"]) == [2, 3, 20, 30]
    newest = store.temporal_instances([BYSKE], per_series=2, newest=True)[BYSKE]["temperature"]
    assert [i.attribute["value"] for i in newest] == [20, 3, 30, 4]  # by time, then dataset
    assert {i.attribute.get("datasetId") for i in newest} == {None, "urn:ngsi-ld:Dataset:surface"}
    assert store.temporal_instances([KURJOVIKEN]) == {}


def test_hourly_aggregation_in_sql(store: SqlStore) -> None:
    values = [15.0 + (i % 7) * 0.3 for i in range(18)]
    store.add_instances(BYSKE, "WaterQualityObserved", series(values), create=True)
    store.add_instances(KURJOVIKEN, "WaterQualityObserved", series([9.0] * 6), create=True)
    buckets = store.aggregate_history([BYSKE, KURJOVIKEN], ["temperature"], START, None, HOUR)
    byske = sorted((b for b in buckets if b.entity_id == BYSKE), key=lambda b: b.start)
    assert [b.start for b in byske] == [START + timedelta(hours=h) for h in range(3)]
    assert all(b.end - b.start == timedelta(hours=1) for b in byske)
    for hour, bucket in enumerate(byske):
        chunk = values[hour * 6 : hour * 6 + 6]
        assert bucket.count == bucket.numbers == 6
        assert bucket.distinct == len(set(chunk))
        assert bucket.value("avg") == pytest.approx(statistics.fmean(chunk))
        assert bucket.value("stddev") == pytest.approx(statistics.stdev(chunk))
        assert bucket.value("sumsq") == pytest.approx(sum(v * v for v in chunk))
        assert (bucket.value("min"), bucket.value("max")) == (min(chunk), max(chunk))
    [kurjoviken] = [b for b in buckets if b.entity_id == KURJOVIKEN]
    assert kurjoviken.value("stddev") == 0.0
    no_distinct = store.aggregate_history([BYSKE], None, START, None, HOUR, distinct=False)
    assert {b.distinct for b in no_distinct} == {0}


def test_whole_window_and_origin_at_the_oldest_instance(store: SqlStore) -> None:
    first = START + timedelta(minutes=7)
    store.add_instances(BYSKE, "WaterQualityObserved", series([14, 16, 18], first), create=True)
    [whole] = store.aggregate_history([BYSKE], None, None, None, Period())
    assert (whole.start, whole.end, whole.value("avg")) == (first, first + 2 * STEP, 16.0)
    end = START + timedelta(hours=2)
    [bounded] = store.aggregate_history([BYSKE], None, START, end, Period())
    assert (bounded.start, bounded.end) == (START, end)
    twenty = store.aggregate_history([BYSKE], None, None, None, parse_period("PT20M"))
    assert sorted((b.start, b.count) for b in twenty) == [(first, 2), (first + 2 * STEP, 1)]


def test_calendar_months(store: SqlStore) -> None:
    instances = [
        reading(14.0, datetime(2026, 1, 31, 12, tzinfo=UTC)),
        reading(15.0, datetime(2026, 2, 28, 13, tzinfo=UTC)),
        reading(17.0, datetime(2026, 3, 1, tzinfo=UTC)),
    ]
    store.add_instances(BYSKE, "WaterQualityObserved", instances, create=True)
    months = store.aggregate_history([BYSKE], None, None, None, parse_period("P1M"))
    spans = sorted((b.start, b.end, b.count) for b in months)
    jan31 = datetime(2026, 1, 31, 12, tzinfo=UTC)
    feb28 = datetime(2026, 2, 28, 12, tzinfo=UTC)
    # A month after 31 January is the last day of February.
    assert spans == [(jan31, feb28, 1), (feb28, datetime(2026, 3, 31, 12, tzinfo=UTC), 2)]


def test_non_numeric_values_are_counted_not_summed(store: SqlStore) -> None:
    flags = series(["good", "good", "poor", True, {"level": 2}])
    store.add_instances(BYSKE, "WaterQualityObserved", flags, create=True)
    [bucket] = store.aggregate_history([BYSKE], None, None, None, Period())
    assert (bucket.count, bucket.distinct, bucket.numbers) == (5, 4, 0)
    assert bucket.value("avg") is None
    assert bucket.value("totalCount") == 5


def test_modify_and_delete_instances(store: SqlStore) -> None:
    store.add_instances(BYSKE, "WaterQualityObserved", series([15.0, 15.5, 16.0]), create=True)
    last = instance_id(BYSKE, "temperature", "", START + 2 * STEP)

    def warmer(previous: dict[str, Any]) -> dict[str, Any]:
        return {**previous, "value": 16.4}

    assert store.modify_instance(BYSKE, "temperature", last, warmer) is True
    entity = store.get_entity(BYSKE)
    assert entity is not None
    assert entity.attributes["temperature"]["value"] == 16.4
    assert store.modify_instance(KURJOVIKEN, "temperature", last, warmer) is None
    assert store.modify_instance(BYSKE, "salinity", last, warmer) is False
    assert store.delete_instance(BYSKE, "temperature", last) is True
    assert store.delete_instance(BYSKE, "temperature", last) is False
    entity = store.get_entity(BYSKE)
    assert entity is not None
    assert entity.attributes["temperature"]["value"] == 15.5
    assert store.delete_history(BYSKE, "temperature", None, False) is True
    assert store.delete_history(BYSKE, "temperature", None, False) is False
    assert store.delete_history(KURJOVIKEN, "temperature", None, True) is None
    assert store.temporal_instances([BYSKE]) == {}


def test_deletion_records_by_attribute_type() -> None:
    moment = datetime(2026, 7, 1, 6, 0, 0, 123456, tzinfo=UTC)
    relationship = {"type": "Relationship", "object": "urn:ngsi-ld:Beach:byske"}
    assert deletion_record("refBeach", relationship, moment) == {
        "type": "Relationship",
        "object": NULL,
        "deletedAt": "2026-07-01T06:00:00.123456Z",
    }
    name = {"type": "LanguageProperty", "languageMap": {"sv": "Byske"}, "datasetId": SURFACE}
    record = deletion_record("name", name, moment)
    assert (record["languageMap"], record["datasetId"]) == ({"@none": NULL}, SURFACE)
    assert deletion_record("scope", {"type": "Property", "value": ["/A"]}, moment)["value"] == []


def test_deleting_an_attribute_keeps_a_record_every_other_read_skips(store: SqlStore) -> None:
    store.add_instances(BYSKE, "WaterQualityObserved", series([15.0, 15.5]), create=True)
    store.add_instances(BYSKE, None, series([9.0], datasetId=SURFACE), create=False)
    before = datetime.now(UTC)

    def delete(current: StoredEntity | None) -> EntityChange:
        return EntityChange(delete=[("temperature", None), ("temperature", SURFACE)])

    store.change_entities({BYSKE: delete})
    found = store.temporal_instances([BYSKE], per_series=2, newest=True)[BYSKE]["temperature"]
    records = [i for i in found if "deletedAt" in i.attribute]
    assert [(r.attribute["value"], r.attribute.get("datasetId")) for r in records] == [
        (NULL, None),
        (NULL, SURFACE),
    ]
    assert all(r.observed_at >= before for r in records)
    # Ranked apart: the two newest instances of the default series are still there.
    assert [i.attribute["value"] for i in found if i not in records] == [15.0, 9.0, 15.5]
    assert [i.attribute["value"] for i in store.history(BYSKE)["temperature"]] == [15.0, 9.0, 15.5]
    buckets = store.aggregate_history([BYSKE], None, None, None, Period())
    assert sorted((b.dataset_id, b.count) for b in buckets) == [("", 2), (SURFACE, 1)]
    assert max(b.end for b in buckets) == START + STEP
    far = datetime(2030, 1, 1, tzinfo=UTC)
    assert store.unchanged_since(BYSKE, "temperature", 15.5, far, START) == START + STEP
    # The record never becomes the current value; it cannot be modified, only deleted.
    store.add_instances(BYSKE, None, series([16.0], START + 2 * STEP), create=False)
    newest = instance_id(BYSKE, "temperature", "", START + 2 * STEP)
    assert store.delete_instance(BYSKE, "temperature", newest) is True
    entity = store.get_entity(BYSKE)
    assert entity is not None
    assert entity.attributes["temperature"]["value"] == 15.5
    record = instance_id(BYSKE, "temperature", "", records[0].observed_at)
    assert store.modify_instance(BYSKE, "temperature", record, lambda old: old) is False
    assert store.delete_instance(BYSKE, "temperature", record) is True
    # Deleting through the temporal API takes the history, and records nothing.
    assert store.delete_history(BYSKE, "temperature", None, True) is True
    assert store.temporal_instances([BYSKE]) == {}


def test_a_check_sees_the_entity_in_the_write_transaction_and_can_refuse(store: SqlStore) -> None:
    store.add_instances(BYSKE, "WaterQualityObserved", series([15.0]), create=True)
    seen: list[tuple[str, ...] | None] = []

    def refuse(current: StoredEntity | None) -> None:
        seen.append(None if current is None else current.types)
        raise PermissionError("not this caller's to write")

    later = series([16.0], START + STEP)
    with pytest.raises(PermissionError):
        store.add_instances(BYSKE, None, later, create=False, check=refuse)
    with pytest.raises(PermissionError):
        store.delete_history(BYSKE, "temperature", None, True, refuse)
    with pytest.raises(PermissionError):
        store.add_instances(KURJOVIKEN, "WaterQualityObserved", later, create=True, check=refuse)
    assert seen == [("WaterQualityObserved",), ("WaterQualityObserved",), None]
    kept = store.temporal_instances([BYSKE])[BYSKE]["temperature"]
    assert [i.attribute["value"] for i in kept] == [15.0]
    assert store.get_entity(KURJOVIKEN) is None
