"""One contract suite for every ContextStore implementation (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from stadsnav.store.base import (
    Appended,
    AttributeWrite,
    NewDeadLetter,
    NewInboxMessage,
    Provenance,
)
from stadsnav.store.migrate import load_migrations
from stadsnav.store.sql import SqlStore

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
ENVELOPE = DATA / "envelopes" / "diwise_servanet_chirpstack_v3_elsys_beach_water_temperature.json"
WATER_QUALITY = DATA / "smart-data-models" / "WaterQualityObserved" / "example-normalized.jsonld"

BEACH = "urn:ngsi-ld:Beach:Slädaviken"
SENSOR = "urn:ngsi-ld:WaterQualityObserved:sk-elt-temp-16"
T0 = datetime(2022, 3, 28, 12, 40, 40, 653515, tzinfo=UTC)
STOCKHOLM = ZoneInfo("Europe/Stockholm")

OpenStore = Callable[[], SqlStore]

ALL_VERSIONS = [m.version for m in load_migrations("sqlite")]


def uplink(message_id: str, body: bytes | None = None, source: str = "servanet") -> NewInboxMessage:
    """An inbox message carrying the real Servanet ChirpStack v3 beach-temperature uplink."""
    return NewInboxMessage(
        source=source,
        message_id=message_id,
        received_at=T0,
        content_type="application/json",
        body=ENVELOPE.read_bytes() if body is None else body,
        topic="application/8/device/sk-elt-temp-16/event/up",
    )


def temperature(value: float, observed_at: datetime, message_id: str = "10301") -> AttributeWrite:
    """The decoded water temperature as an NGSI-LD property with provenance."""
    return AttributeWrite(
        entity_id=SENSOR,
        entity_type="WaterQualityObserved",
        name="temperature",
        attribute={
            "type": "Property",
            "value": value,
            "unitCode": "CEL",
            "observedAt": observed_at.isoformat().replace("+00:00", "Z"),
        },
        observed_at=observed_at,
        provenance=Provenance("servanet", message_id, observed_at + timedelta(seconds=1)),
    )


def seed(name: str, attribute: dict[str, Any], entity_id: str = BEACH) -> AttributeWrite:
    """A write without observation time, like a beach's name from seed data."""
    return AttributeWrite(entity_id, "Beach", name, attribute)


def dead_letter(message_id: str, stage: str = "decode", source: str = "servanet") -> NewDeadLetter:
    """A dead letter for the real uplink."""
    message = uplink(message_id, source=source)
    return NewDeadLetter(
        source=message.source,
        message_id=message.message_id,
        received_at=message.received_at,
        content_type=message.content_type,
        body=message.body,
        topic=message.topic,
        stage=stage,
        reason="Elsys frame truncated: 0x0c needs 2 bytes, 1 left",
    )


# schema


def test_migrate_applies_once_and_sets_the_schema_version(empty_store: SqlStore) -> None:
    assert empty_store.schema_version() is None
    assert empty_store.migrate() == ALL_VERSIONS
    assert empty_store.migrate() == []
    assert empty_store.schema_version() == ALL_VERSIONS[-1]


def test_two_stores_migrating_at_once_apply_each_migration_once(open_store: OpenStore) -> None:
    stores = [open_store() for _ in range(4)]
    results: list[list[str]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(stores))

    def run(store: SqlStore) -> None:
        barrier.wait()
        try:
            results.append(store.migrate())
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # Each migration is applied exactly once, though not necessarily all by the same store.
    assert sorted(version for applied in results for version in applied) == ALL_VERSIONS
    assert stores[0].schema_version() == ALL_VERSIONS[-1]


def test_ping_succeeds_and_leaves_nothing_behind(store: SqlStore) -> None:
    store.ping()
    store.ping()
    assert store.schema_version() == ALL_VERSIONS[-1]


def test_a_closed_store_refuses_work(store: SqlStore) -> None:
    store.ping()
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.inbox_stats()


# inbox


def test_inbox_append_returns_ids_and_duplicate_for_repeats(store: SqlStore) -> None:
    first = store.inbox_append([uplink("10301"), uplink("10302"), uplink("10301")])
    assert isinstance(first[0], int)
    assert isinstance(first[1], int)
    assert first[0] < first[1]
    assert first[2] == "duplicate"
    again = store.inbox_append(
        [uplink("10302"), uplink("10303"), uplink("10302", source="netmore")]
    )
    assert again[0] == "duplicate"
    assert isinstance(again[1], int)
    assert isinstance(again[2], int)
    assert store.inbox_append([]) == []


def test_inbox_append_commits_before_returning(open_store: OpenStore) -> None:
    writer, reader = open_store(), open_store()
    writer.migrate()
    writer.inbox_append([uplink("10301")])
    assert reader.inbox_stats() == (1, T0)


def test_inbox_round_trips_the_real_uplink(store: SqlStore) -> None:
    local = datetime(2022, 3, 28, 14, 40, 40, 653515, tzinfo=STOCKHOLM)
    message = NewInboxMessage(
        "servanet", "10301", local, "application/json", ENVELOPE.read_bytes(), None
    )
    [message_id] = store.inbox_append([message])
    [fetched] = store.inbox_fetch(10)
    assert fetched.id == message_id
    assert fetched.body == ENVELOPE.read_bytes()
    assert json.loads(fetched.body)["data"] == "Bw2KDADB"
    assert fetched.received_at == T0
    assert fetched.received_at.tzinfo is UTC
    assert fetched.topic is None
    assert fetched.content_type == "application/json"


def test_inbox_fetch_claims_oldest_first_and_counts_attempts(store: SqlStore) -> None:
    ids = store.inbox_append([uplink(str(n)) for n in range(5)])
    first = store.inbox_fetch(3)
    assert [m.id for m in first] == ids[:3]
    assert [m.attempts for m in first] == [1, 1, 1]
    assert [m.message_id for m in first] == ["0", "1", "2"]
    # A second worker gets only what the first has not claimed.
    assert [m.id for m in store.inbox_fetch(10)] == ids[3:]
    assert store.inbox_fetch(10) == []
    # Once the claims run out (the worker died), the messages are fetched again.
    with store._write() as cursor:
        cursor.execute(
            store.sql("UPDATE inbox_attempts SET claimed_until = ?"), (store.time_in(T0),)
        )
    assert [m.attempts for m in store.inbox_fetch(10)] == [2, 2, 2, 2, 2]


def test_two_workers_fetching_at_once_never_get_the_same_message(open_store: OpenStore) -> None:
    stores = [open_store() for _ in range(4)]
    stores[0].migrate()
    stores[0].inbox_append([uplink(str(n)) for n in range(400)])
    fetched: list[list[int]] = []
    barrier = threading.Barrier(len(stores))

    def fetch(store: SqlStore) -> None:
        barrier.wait()
        mine: list[int] = []
        while batch := store.inbox_fetch(25):
            mine += [m.id for m in batch]
        fetched.append(mine)

    threads = [threading.Thread(target=fetch, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [i for mine in fetched for i in mine]
    assert len(every) == 400
    assert len(set(every)) == 400


def test_inbox_stats_counts_pending_and_finds_the_oldest(store: SqlStore) -> None:
    assert store.inbox_stats() == (0, None)
    later = NewInboxMessage("servanet", "b", T0 + timedelta(hours=1), "text/plain", b"", None)
    store.inbox_append([later, uplink("a")])
    count, oldest = store.inbox_stats()
    assert count == 2
    assert oldest == T0
    assert oldest is not None
    assert oldest.tzinfo is UTC


def test_concurrent_inbox_append_from_threads(store: SqlStore) -> None:
    results: list[list[Appended]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def append(thread: int) -> None:
        barrier.wait()
        try:
            for chunk in range(10):
                # Every thread also sends message ids shared with the others: duplicates race.
                own = [uplink(f"t{thread}-{chunk}-{n}") for n in range(5)]
                results.append(store.inbox_append([*own, uplink(f"shared-{chunk}")]))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=append, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    ids = [i for result in results for i in result if isinstance(i, int)]
    assert len(ids) == len(set(ids)) == 8 * 10 * 5 + 10
    assert store.inbox_stats()[0] == 410


def test_naive_datetimes_are_refused(store: SqlStore) -> None:
    naive = NewInboxMessage("servanet", "1", datetime(2022, 3, 28, 12), "text/plain", b"")
    with pytest.raises(ValueError, match="naive"):
        store.inbox_append([naive])


# commit_batch


def test_commit_batch_stores_writes_and_removes_done(store: SqlStore) -> None:
    ids = [i for i in store.inbox_append([uplink("10301"), uplink("10302")]) if isinstance(i, int)]
    added = store.commit_batch(
        ids[:1],
        [temperature(19.3, T0), seed("name", {"type": "Property", "value": "Slädaviken"})],
        [],
    )
    assert added == 1
    assert [m.message_id for m in store.inbox_fetch(10)] == ["10302"]
    entity = store.get_entity(SENSOR)
    assert entity is not None
    assert entity.type == "WaterQualityObserved"
    assert entity.attributes["temperature"]["value"] == 19.3
    assert entity.attributes["temperature"]["unitCode"] == "CEL"
    beach = store.get_entity(BEACH)
    assert beach is not None
    assert beach.attributes == {"name": {"type": "Property", "value": "Slädaviken"}}
    assert beach.created_at.tzinfo is UTC
    assert store.get_entity("urn:ngsi-ld:Beach:Vangen") is None


def test_provenance_is_stored_as_a_sub_property(store: SqlStore) -> None:
    store.commit_batch([], [temperature(19.3, T0, message_id="10301")], [])
    entity = store.get_entity(SENSOR)
    assert entity is not None
    assert entity.attributes["temperature"]["provenance"] == {
        "type": "Property",
        "value": {
            "integration": "servanet",
            "sourceMessageId": "10301",
            "receivedAt": "2022-03-28T12:40:41.653Z",  # as every API time: milliseconds
        },
    }
    [instance] = store.history(SENSOR)["temperature"]
    assert instance.provenance == Provenance("servanet", "10301", T0 + timedelta(seconds=1))
    assert instance.attribute["provenance"]["value"]["sourceMessageId"] == "10301"


def test_the_same_observation_twice_is_stored_once(store: SqlStore) -> None:
    assert store.commit_batch([], [temperature(19.3, T0)], []) == 1
    assert store.commit_batch([], [temperature(19.3, T0)], []) == 0
    assert store.commit_batch([], [temperature(19.3, T0), temperature(19.3, T0)], []) == 0
    assert len(store.history(SENSOR)["temperature"]) == 1


def test_a_late_observation_goes_to_history_but_not_to_latest(store: SqlStore) -> None:
    store.commit_batch([], [temperature(19.3, T0)], [])
    before = store.get_entity(SENSOR)
    assert store.commit_batch([], [temperature(18.1, T0 - timedelta(minutes=10))], []) == 1
    after = store.get_entity(SENSOR)
    assert before is not None
    assert after is not None
    assert after.attributes["temperature"]["value"] == 19.3
    assert after.modified_at == before.modified_at
    values = [i.attribute["value"] for i in store.history(SENSOR)["temperature"]]
    assert values == [18.1, 19.3]


def test_a_latest_only_reading_keeps_the_newest_and_no_history(store: SqlStore) -> None:
    def rssi(value: float, observed_at: datetime) -> AttributeWrite:
        return replace(temperature(value, observed_at), name="rssi", history=False)

    assert store.commit_batch([], [rssi(-97, T0)], []) == 0
    store.commit_batch([], [rssi(-120, T0 - timedelta(minutes=5))], [])  # a late uplink
    entity = store.get_entity(SENSOR)
    assert entity is not None
    assert entity.attributes["rssi"]["value"] == -97
    store.commit_batch([], [rssi(-88, T0 + timedelta(minutes=5))], [])
    entity = store.get_entity(SENSOR)
    assert entity is not None
    assert entity.attributes["rssi"]["value"] == -88
    assert "rssi" not in store.history(SENSOR)


def test_a_newer_observation_replaces_latest_and_modified_at(store: SqlStore) -> None:
    store.commit_batch([], [temperature(19.3, T0)], [])
    before = store.get_entity(SENSOR)
    store.commit_batch([], [temperature(19.7, T0 + timedelta(minutes=10))], [])
    after = store.get_entity(SENSOR)
    assert before is not None
    assert after is not None
    assert after.attributes["temperature"]["value"] == 19.7
    assert after.created_at == before.created_at
    assert after.modified_at > before.modified_at


def test_writes_of_one_attribute_in_one_batch_collapse_to_the_newest(store: SqlStore) -> None:
    writes = [
        temperature(19.9, T0 + timedelta(minutes=20)),
        temperature(19.3, T0),
        temperature(19.7, T0 + timedelta(minutes=10)),
    ]
    assert store.commit_batch([], writes, []) == 3
    entity = store.get_entity(SENSOR)
    assert entity is not None
    assert entity.attributes["temperature"]["value"] == 19.9


def test_seed_writes_always_replace_and_have_no_history(store: SqlStore) -> None:
    store.commit_batch([], [seed("name", {"type": "Property", "value": "Slädaviken"})], [])
    store.commit_batch([], [seed("name", {"type": "Property", "value": "Sländaviken"})], [])
    entity = store.get_entity(BEACH)
    assert entity is not None
    assert entity.attributes["name"]["value"] == "Sländaviken"
    assert store.history(BEACH) == {}


def test_a_seed_write_replaces_an_observed_value_and_back(store: SqlStore) -> None:
    store.commit_batch([], [temperature(19.3, T0)], [])
    manual = AttributeWrite(
        SENSOR, "WaterQualityObserved", "temperature", {"type": "Property", "value": 4.0}
    )
    store.commit_batch([], [manual], [])
    entity = store.get_entity(SENSOR)
    assert entity is not None
    assert entity.attributes["temperature"] == {"type": "Property", "value": 4.0}
    store.commit_batch([], [temperature(18.0, T0 - timedelta(days=1))], [])
    entity = store.get_entity(SENSOR)
    assert entity is not None
    assert entity.attributes["temperature"]["value"] == 18.0


def test_real_smart_data_model_entity_round_trips(store: SqlStore) -> None:
    example = json.loads(WATER_QUALITY.read_text(encoding="utf-8"))
    attributes = {k: v for k, v in example.items() if k not in ("id", "type", "@context")}
    writes = [
        AttributeWrite(example["id"], example["type"], name, attribute)
        for name, attribute in attributes.items()
    ]
    assert store.commit_batch([], writes, []) == 0
    entity = store.get_entity(example["id"])
    assert entity is not None
    assert entity.type == "WaterQualityObserved"
    assert entity.attributes == attributes


def test_a_failing_batch_rolls_back_everything(store: SqlStore) -> None:
    ids = [i for i in store.inbox_append([uplink("10301")]) if isinstance(i, int)]
    broken = NewDeadLetter("servanet", "10301", T0, "application/json", b"", None, "decode", None)  # type: ignore[arg-type]
    with pytest.raises(Exception, match=r"(?i)null|not-null|NOT NULL"):
        store.commit_batch(ids, [temperature(19.3, T0)], [broken])
    assert [m.message_id for m in store.inbox_fetch(10)] == ["10301"]
    assert store.get_entity(SENSOR) is None
    assert store.history(SENSOR) == {}
    assert store.dead_letters() == []
    assert store.commit_batch(ids, [temperature(19.3, T0)], []) == 1


# dead letters


def test_dead_letters_round_trip_newest_first(store: SqlStore) -> None:
    store.commit_batch([], [], [dead_letter("1")])
    store.commit_batch([], [], [dead_letter("2", stage="map"), dead_letter("3", source="netmore")])
    letters = store.dead_letters()
    assert [d.message_id for d in letters] == ["3", "2", "1"]
    first = letters[-1]
    assert first.body == ENVELOPE.read_bytes()
    assert first.stage == "decode"
    assert first.reason.startswith("Elsys frame truncated")
    assert first.received_at == T0
    assert first.topic == "application/8/device/sk-elt-temp-16/event/up"
    assert first.failed_at.tzinfo is UTC
    assert first.failed_at <= letters[0].failed_at
    assert [d.message_id for d in store.dead_letters(source="servanet")] == ["2", "1"]
    assert [d.message_id for d in store.dead_letters(limit=1)] == ["3"]


def test_replay_moves_dead_letters_back_into_the_inbox_claimed(store: SqlStore) -> None:
    ids = [i for i in store.inbox_append([uplink(n) for n in "123"]) if isinstance(i, int)]
    store.commit_batch(ids, [], [dead_letter("1"), dead_letter("2"), dead_letter("3")])
    assert store.inbox_stats() == (0, None)
    chosen = [d.id for d in store.dead_letters() if d.message_id != "3"]
    replayed = store.replay_dead_letters(chosen)
    assert sorted(m.message_id for m in replayed) == ["1", "2"]
    assert all(m.body == ENVELOPE.read_bytes() and m.attempts == 1 for m in replayed)
    assert all(m.id not in ids for m in replayed)
    assert store.inbox_stats()[0] == 2
    assert store.inbox_fetch(10) == []  # the replay holds them; its claim runs out if it dies
    assert [d.message_id for d in store.dead_letters()] == ["3"]
    assert [m.message_id for m in store.replay_dead_letters(source="servanet")] == ["3"]
    assert store.dead_letters() == []
    assert store.replay_dead_letters() == []
    assert store.replay_dead_letters([]) == []


def test_replay_of_a_message_still_pending_queues_it_again(store: SqlStore) -> None:
    # A conflict's dead letter while the first is pending: both are processed; the history
    # keeps the first value for each observation time.
    store.inbox_append([uplink("10301")])
    store.commit_batch([], [], [dead_letter("10301")])
    assert len(store.replay_dead_letters()) == 1
    assert store.inbox_stats()[0] == 2
    assert store.dead_letters() == []


# history


def test_history_ranges_are_half_open_and_oldest_first(store: SqlStore) -> None:
    times = [T0 + timedelta(minutes=10 * n) for n in range(6)]
    battery = AttributeWrite(
        SENSOR,
        "WaterQualityObserved",
        "batteryVoltage",
        {"type": "Property", "value": 3.466, "unitCode": "VLT"},
        times[0],
    )
    writes = [temperature(19.0 + n / 10, t) for n, t in enumerate(reversed(times))]
    store.commit_batch([], [*writes, battery], [])
    everything = store.history(SENSOR)
    assert set(everything) == {"temperature", "batteryVoltage"}
    assert [i.observed_at for i in everything["temperature"]] == times
    assert everything["batteryVoltage"][0].provenance is None
    ranged = store.history(SENSOR, ["temperature"], times[1], times[4])
    assert [i.observed_at for i in ranged["temperature"]] == times[1:4]
    assert set(ranged) == {"temperature"}
    local_from = times[2].astimezone(STOCKHOLM)
    assert [
        i.observed_at for i in store.history(SENSOR, time_from=local_from)["temperature"]
    ] == times[2:]
    assert store.history(SENSOR, time_to=times[0]) == {}
    assert all(i.observed_at.tzinfo is UTC for i in everything["temperature"])


def test_history_last_n_keeps_the_newest_per_attribute(store: SqlStore) -> None:
    times = [T0 + timedelta(minutes=10 * n) for n in range(5)]
    store.commit_batch([], [temperature(19.0 + n, t) for n, t in enumerate(times)], [])
    last = store.history(SENSOR, last_n=2)
    assert [i.attribute["value"] for i in last["temperature"]] == [22.0, 23.0]
    ranged = store.history(SENSOR, time_to=times[3], last_n=2)
    assert [i.observed_at for i in ranged["temperature"]] == times[1:3]
    assert store.history("urn:ngsi-ld:WaterQualityObserved:unknown") == {}


# find_entities


def _seed_entities(store: SqlStore) -> None:
    writes = [
        seed("name", {"type": "Property", "value": "Slädaviken"}, "urn:ngsi-ld:Beach:Slädaviken"),
        seed("name", {"type": "Property", "value": "Vangen"}, "urn:ngsi-ld:Beach:Vangen"),
        seed(
            "name", {"type": "Property", "value": "Hartungviken"}, "urn:ngsi-ld:Beach:Hartungviken"
        ),
        temperature(19.3, T0),
    ]
    store.commit_batch([], writes, [])


def test_find_entities_without_filters_returns_all_ordered_by_id(store: SqlStore) -> None:
    _seed_entities(store)
    assert [e.id for e in store.find_entities()] == [
        "urn:ngsi-ld:Beach:Hartungviken",
        "urn:ngsi-ld:Beach:Slädaviken",
        "urn:ngsi-ld:Beach:Vangen",
        SENSOR,
    ]


def test_find_entities_filters_combine(store: SqlStore) -> None:
    _seed_entities(store)
    assert [e.id for e in store.find_entities(types=["WaterQualityObserved"])] == [SENSOR]
    assert [e.id for e in store.find_entities(types=["Beach"], id_pattern="viken$")] == [
        "urn:ngsi-ld:Beach:Hartungviken",
        "urn:ngsi-ld:Beach:Slädaviken",
    ]
    ids = ["urn:ngsi-ld:Beach:Vangen", SENSOR, "urn:ngsi-ld:Beach:Nowhere"]
    assert [e.id for e in store.find_entities(ids=ids)] == ids[:2]
    assert [e.id for e in store.find_entities(types=["Beach"], ids=ids)] == ids[:1]
    assert store.find_entities(types=["Beach"], ids=[SENSOR]) == []
    assert store.find_entities(types=[]) == []
    [found] = store.find_entities(ids=["urn:ngsi-ld:Beach:Slädaviken"])
    assert found.attributes == {"name": {"type": "Property", "value": "Slädaviken"}}


def test_id_pattern_searches_anywhere_in_the_id(store: SqlStore) -> None:
    _seed_entities(store)
    assert [e.id for e in store.find_entities(id_pattern="Slä")] == ["urn:ngsi-ld:Beach:Slädaviken"]
    assert [e.id for e in store.find_entities(id_pattern="^urn:ngsi-ld:Water")] == [SENSOR]
    assert len(store.find_entities(id_pattern=".*")) == 4
    assert store.find_entities(id_pattern="^Beach") == []


def test_an_invalid_id_pattern_is_a_value_error(store: SqlStore) -> None:
    with pytest.raises(ValueError, match="idPattern"):
        store.find_entities(id_pattern="urn:(")
