"""Polled documents through the pipeline: each record mapped, flagged or dead-lettered alone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from stadsnav.pipeline.processor import RECORD_CONTENT_TYPE
from stadsnav.runtime import Runtime
from stadsnav.store.base import NewInboxMessage
from stadsnav.workspace import Workspace, load_workspace
from support import SHARED_DATA, process_inbox

PARKAPI = SHARED_DATA / "parking" / "parkapi"
RECEIVED = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
DATASET = """
id: parking-test
title: Parking
owner: {name: Trafik, email: trafik@example.se}
classification: open
licence: CC0-1.0
entity_types: [OffStreetParking]
rules:
  availableSpotNumber: {min: 0, flag: true}
  occupancy: {min: 0, max: 1}
checks:
  - {sum: [availableSpotNumber, occupiedSpotNumber], equals: totalSpotNumber}
  - {sum: [availableSpotNumber], at_most: totalSpotNumber}
"""
SENSADE = """
id: sensade
title: Sensade lot status
dataset: parking-test
source: {type: http_poll, url: "http://127.0.0.1:9/lots/status", format: json, interval: PT1M}
mapping:
  entity_type: OffStreetParking
  entity_id: "urn:ngsi-ld:OffStreetParking:sensade:{data.parkingLotId}"
  properties:
    name: {value: data.parkingLotName, static: true}
    totalSpotNumber: {value: data.totalSpaceCount}
    availableSpotNumber: {value: data.availableSpaceCount, required: true}
    occupiedSpotNumber: {value: data.occupiedSpaceCount}
"""
AACHEN_TABLE = """
id: aachen-table
title: Aachen sites
dataset: parking-test
source:
  {type: http_poll, url: "http://feed/t", format: datex2, publication: table, interval: P1D}
mapping:
  entity_type: OffStreetParking
  entity_id: "urn:ngsi-ld:OffStreetParking:aachen:{data.id}"
  properties:
    name: {value: data.name, static: true}
    totalSpotNumber: {value: data.capacity, static: true}
  location: data.location
"""
AACHEN_STATUS = """
id: aachen-status
title: Aachen occupancy
dataset: parking-test
source:
  {type: http_poll, url: "http://feed/s", format: datex2, publication: status, interval: PT1M}
mapping:
  entity_type: OffStreetParking
  entity_id: "urn:ngsi-ld:OffStreetParking:aachen:{data.id}"
  observed_at: data.time
  properties:
    availableSpotNumber: {value: data.vacant}
    occupiedSpotNumber: {value: data.occupied}
    occupancy: {value: data.occupancy}
    status: {value: data.status}
"""


@pytest.fixture
def workspace(workspace_dir: Path) -> Workspace:
    """The demo workspace plus Sensade and Aachen feeds (never polled: messages are put in)."""
    files = {
        "datasets/parking-test.yaml": DATASET,
        "integrations/sensade.yaml": SENSADE,
        "integrations/aachen-table.yaml": AACHEN_TABLE,
        "integrations/aachen-status.yaml": AACHEN_STATUS,
    }
    for name, text in files.items():
        (workspace_dir / name).write_text(text)
    return load_workspace(workspace_dir)


@pytest.fixture
def runtime(workspace: Workspace, runtime_of: Callable[[Workspace], Runtime]) -> Runtime:
    """The workspace's runtime with its polled feeds, never started: pages are put in."""
    return runtime_of(workspace)


def put(runtime: Runtime, source: str, body: bytes, content_type: str, key: str) -> None:
    message = NewInboxMessage(source, f"http://127.0.0.1:9/{key}", RECEIVED, content_type, body)
    runtime.store.inbox_append([message])


def value(runtime: Runtime, entity_id: str, name: str) -> object:
    entity = runtime.store.get_entity(entity_id)
    assert entity is not None, entity_id
    return entity.attributes[name]["value"]


def test_sensade_lots_are_kept_as_sent_and_the_contradicting_ones_flagged(
    runtime: Runtime,
) -> None:
    for path in sorted(PARKAPI.glob("p-m-sensade_parking-lot-status-*.json")):
        put(runtime, "sensade", path.read_bytes(), "application/json", path.name)
    process_inbox(runtime)
    lots = runtime.store.find_entities(["OffStreetParking"], id_pattern="sensade")
    assert len(lots) == 7
    flagged = {
        lot.attributes["name"]["value"] for lot in lots if lot.attributes["qualityIssues"]["value"]
    }
    assert flagged == {"A8 Aichelberg", "B27 Waldorfhäslach", "A5 Achern", "A5 Freiburg Mitte"}
    aichelberg = "urn:ngsi-ld:OffStreetParking:sensade:2118f891-abb9-439b-9f43-54e976b6ab71"
    # Nothing corrected: the numbers are the operator's.
    assert [
        value(runtime, aichelberg, n)
        for n in ("totalSpotNumber", "availableSpotNumber", "occupiedSpotNumber")
    ] == [100, 72, 22]
    assert value(runtime, aichelberg, "qualityIssues") == [
        "availableSpotNumber (72) + occupiedSpotNumber (22) = 94, not totalSpotNumber (100)"
    ]
    laupheim = "urn:ngsi-ld:OffStreetParking:sensade:0ff8c7e9-5867-46fa-8799-19f1044fe858"
    assert value(runtime, laupheim, "qualityIssues") == []
    [temporal] = runtime.store.history(laupheim, ["availableSpotNumber"])["availableSpotNumber"]
    assert temporal.attribute["value"] == 24
    assert temporal.observed_at == RECEIVED  # the feed has no time: when it was fetched


def test_aachen_table_then_status_make_one_entity_per_site(runtime: Runtime) -> None:
    put(runtime, "aachen-table", (PARKAPI / "aachen-static.xml").read_bytes(), "text/xml", "t")
    put(runtime, "aachen-status", (PARKAPI / "aachen-realtime.xml").read_bytes(), "text/xml", "s")
    process_inbox(runtime)
    sites = runtime.store.find_entities(["OffStreetParking"], id_pattern="aachen")
    assert len(sites) == 17  # 15 described in the table, 2 more only in the status feed
    eurogress = "urn:ngsi-ld:OffStreetParking:aachen:P1"
    assert value(runtime, eurogress, "name") == "P01-Eurogress"
    assert value(runtime, eurogress, "totalSpotNumber") == 560
    assert value(runtime, eurogress, "availableSpotNumber") == 412
    assert value(runtime, eurogress, "occupiedSpotNumber") == 148
    assert value(runtime, eurogress, "status") == "spacesAvailable"
    assert value(runtime, eurogress, "location") == {
        "type": "Point",
        "coordinates": [6.0927987, 50.780552],
    }
    eurogress_entity = runtime.store.get_entity(eurogress)
    assert eurogress_entity is not None
    assert (
        eurogress_entity.attributes["availableSpotNumber"]["observedAt"]
        == "2025-02-07T19:05:34.176Z"
    )
    # The two table records without a number of spaces are dead letters, each with its reason.
    letters = {
        letter.message_id: letter for letter in runtime.store.dead_letters(source="aachen-table")
    }
    assert sorted(letters) == ["http://127.0.0.1:9/t#P13", "http://127.0.0.1:9/t#P17"]
    p13 = letters["http://127.0.0.1:9/t#P13"]
    assert (p13.stage, p13.reason) == (
        "parse",
        "P13: no parkingNumberOfSpaces: a parking site is usable only with its number of "
        "spaces and its location",
    )
    assert b"P13-Stiftstrasse" in p13.body


def test_a_record_that_cannot_be_mapped_is_dead_lettered_alone_and_replays_alone(
    runtime: Runtime,
) -> None:
    good = orjson.loads(
        (
            PARKAPI / "p-m-sensade_parking-lot-status-0ff8c7e9-5867-46fa-8799-19f1044fe858.json"
        ).read_bytes()
    )
    broken = {**good, "parkingLotId": "broken"}
    del broken["availableSpaceCount"]
    runtime.workspace.integrations["sensade"].source.records = "lots"
    put(runtime, "sensade", orjson.dumps({"lots": [broken, good]}), "application/json", "page")
    process_inbox(runtime)
    assert (
        value(
            runtime,
            "urn:ngsi-ld:OffStreetParking:sensade:" + good["parkingLotId"],
            "availableSpotNumber",
        )
        == 24
    )
    [letter] = runtime.store.dead_letters(source="sensade")
    assert (letter.stage, letter.content_type) == ("map", RECORD_CONTENT_TYPE)
    assert (
        letter.reason == "urn:ngsi-ld:OffStreetParking:sensade:broken: "
        "properties.availableSpotNumber: data.availableSpaceCount is missing"
    )
    assert orjson.loads(letter.body) == broken
    # Replayed, the record is processed on its own again (not parsed as a whole page).
    replayed = runtime.store.replay_dead_letters([letter.id])
    assert len(replayed) == 1
    runtime.runner.process(replayed)
    [again] = runtime.store.dead_letters(source="sensade")
    assert (again.stage, again.reason) == (letter.stage, letter.reason)


def test_a_document_that_cannot_be_read_is_one_dead_letter(runtime: Runtime) -> None:
    body = (PARKAPI / "aachen-realtime.xml").read_bytes()
    put(runtime, "aachen-status", body[: len(body) // 2], "text/xml", "cut")
    put(runtime, "aachen-status", (PARKAPI / "aachen-static.xml").read_bytes(), "text/xml", "table")
    put(runtime, "sensade", b"<html><title>502 Bad Gateway</title></html>", "text/html", "html")
    process_inbox(runtime)
    letters = {
        letter.message_id.rsplit("/", 1)[1]: letter for letter in runtime.store.dead_letters()
    }
    assert {key: letter.stage for key, letter in letters.items()} == {
        "cut": "parse",
        "table": "parse",
        "html": "parse",
    }
    assert "truncated" in letters["cut"].reason
    assert "ParkingTablePublication" in letters["table"].reason
    assert "502 Bad Gateway" in letters["html"].reason
    assert letters["cut"].body == body[: len(body) // 2]  # kept whole, to replay once fixed
    assert runtime.store.find_entities(["OffStreetParking"], id_pattern="aachen|sensade") == []


def test_negative_counts_are_stored_as_sent_and_flagged(runtime: Runtime) -> None:
    laupheim = "0ff8c7e9-5867-46fa-8799-19f1044fe858"
    lot = orjson.loads((PARKAPI / f"p-m-sensade_parking-lot-status-{laupheim}.json").read_bytes())
    lot.update(availableSpaceCount=-3, occupiedSpaceCount=45)
    put(runtime, "sensade", orjson.dumps(lot), "application/json", "negative")
    process_inbox(runtime)
    entity_id = f"urn:ngsi-ld:OffStreetParking:sensade:{laupheim}"
    assert value(runtime, entity_id, "availableSpotNumber") == -3
    assert value(runtime, entity_id, "qualityIssues") == [
        "availableSpotNumber = -3 is outside [0, …]",
    ]
    assert runtime.store.dead_letters(source="sensade") == []


def test_a_description_does_not_clear_what_an_observation_was_flagged_for(
    runtime: Runtime,
) -> None:
    table = (PARKAPI / "aachen-static.xml").read_bytes()
    status = (PARKAPI / "aachen-realtime.xml").read_bytes()
    # Eurogress (560 spaces) reports 412 free and 148 occupied; make it 500 free.
    contradicting = status.replace(b">412<", b">500<", 1)
    assert contradicting != status
    put(runtime, "aachen-table", table, "text/xml", "t1")
    put(runtime, "aachen-status", contradicting, "text/xml", "s1")
    process_inbox(runtime)
    eurogress = "urn:ngsi-ld:OffStreetParking:aachen:P1"
    flagged = [
        "availableSpotNumber (500) + occupiedSpotNumber (148) = 648, not totalSpotNumber (560)",
        "availableSpotNumber (500) is more than totalSpotNumber (560)",
    ]
    assert value(runtime, eurogress, "qualityIssues") == flagged[:1]
    put(runtime, "aachen-table", table.replace(b"784944774", b"784944775"), "text/xml", "t2")
    process_inbox(runtime)
    assert value(runtime, eurogress, "qualityIssues") == flagged[:1]
