"""The pipeline alone: drain a pre-filled inbox (decode, map, store) against plain sqlite3."""

from __future__ import annotations

import base64
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.common import Result, copy_workspace, demo_sensors, progress, temp_dir, uplinks
from stadsnav.connectors.envelopes import parse_uplink
from stadsnav.metrics import Metrics
from stadsnav.pipeline.processor import Processor
from stadsnav.pipeline.runner import PipelineRunner
from stadsnav.runtime import seed_writes
from stadsnav.store.base import NewInboxMessage
from stadsnav.store.factory import open_store
from stadsnav.store.migrate import split_statements
from stadsnav.workspace import load_workspace

INTEGRATION = "beach-sensors-tts"
FILL_CHUNK = 1_000
BASELINE_BATCH = 500
SCHEMA = (
    Path(__file__).resolve().parents[1] / "src/stadsnav/store/migrations/sqlite/0001_initial.sql"
)
# The PRAGMAs of stadsnav.store.sqlite.SqliteStore._connect.
PRAGMAS = (
    "PRAGMA busy_timeout = 10000",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA cache_size = -65536",
    "PRAGMA wal_autocheckpoint = 10000",
)
INSERT_ENTITY = (
    "INSERT INTO entities (id, type, created_at, modified_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (id) DO NOTHING"
)
INSERT_HISTORY = (
    "INSERT INTO attribute_history (entity_id, name, observed_at, attribute, integration, "
    "source_message_id, received_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (entity_id, name, observed_at) DO NOTHING"
)
UPSERT_LATEST = (
    "INSERT INTO entity_attributes (entity_id, name, observed_at, attribute, integration, "
    "source_message_id, received_at, modified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (entity_id, name) DO UPDATE SET attribute = excluded.attribute, "
    "observed_at = excluded.observed_at, modified_at = excluded.modified_at, "
    "integration = excluded.integration, source_message_id = excluded.source_message_id, "
    "received_at = excluded.received_at WHERE excluded.observed_at >= entity_attributes.observed_at"
)
ENTITY_PREFIX = "urn:ngsi-ld:WaterQualityObserved:skelleftea:"


def _fill(bodies: list[bytes], workspace: Path, db: Path) -> PipelineRunner:
    ws = load_workspace(workspace)
    store = open_store(f"sqlite:///{db}")
    store.migrate()
    store.commit_batch([], seed_writes(ws), [])
    now = datetime.now(UTC)
    path = f"/ingest/{INTEGRATION}"
    for start in range(0, len(bodies), FILL_CHUNK):
        chunk = bodies[start : start + FILL_CHUNK]
        store.inbox_append(
            [
                NewInboxMessage(
                    INTEGRATION,
                    parse_uplink(b, "tts_v3").message_id,
                    now,
                    "application/json",
                    b,
                    path,
                )
                for b in chunk
            ]
        )
    return PipelineRunner(store, Processor(ws, store), Metrics(), ws.settings.pipeline.batch_size)


def _time_subject(bodies: list[bytes], folder: Path) -> float:
    runner = _fill(bodies, copy_workspace(folder, keep=(INTEGRATION,)), folder / "subject.db")
    progress("pipeline", f"inbox holds {len(bodies):,}; draining")
    started = time.perf_counter()
    result = runner.drain()
    seconds = time.perf_counter() - started
    runner.store.close()
    if result.messages != len(bodies) or result.dead or result.stored != len(bodies):
        raise RuntimeError(f"pipeline: {result} for {len(bodies)} uplinks")
    return seconds


def _connect(db: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(db, isolation_level=None)
    for pragma in PRAGMAS:
        connection.execute(pragma)
    for statement in split_statements(SCHEMA.read_text()):
        connection.execute(statement)
    return connection


def _external_temperature(payload: bytes) -> float:
    """The Elsys TLV external temperature (type 0x0C); battery (0x07) is skipped."""
    i = 0
    while i < len(payload):
        kind = payload[i]
        if kind == 0x0C:
            return int.from_bytes(payload[i + 1 : i + 3], "big", signed=True) / 10
        i += 3 if kind == 0x07 else len(payload)
    raise ValueError(f"no external temperature in {payload.hex()}")


def _rows(body: bytes, names: dict[str, str], now: str) -> tuple[tuple[Any, ...], ...]:
    doc = orjson.loads(body)
    uplink = doc["uplink_message"]
    entity = ENTITY_PREFIX + names[doc["end_device_ids"]["dev_eui"].lower()]
    observed = uplink["received_at"][:26] + "Z"
    message_id = doc["correlation_ids"][0]
    value = _external_temperature(base64.b64decode(uplink["frm_payload"]))
    provenance = {"integration": INTEGRATION, "sourceMessageId": message_id, "receivedAt": now}
    attribute = orjson.dumps(
        {
            "type": "Property",
            "value": value,
            "observedAt": observed,
            "unitCode": "CEL",
            "provenance": {"type": "Property", "value": provenance},
        }
    ).decode()
    row = (entity, "temperature", observed, attribute, INTEGRATION, message_id, now)
    return row, (*row, now)


def _time_baseline(bodies: list[bytes], folder: Path) -> float:
    connection = _connect(folder / "baseline.db")
    names = {sensor.dev_eui: sensor.name for sensor in demo_sensors()}
    entities = [(ENTITY_PREFIX + name, "WaterQualityObserved") for name in names.values()]
    started = time.perf_counter()
    for start in range(0, len(bodies), BASELINE_BATCH):
        now = datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
        rows = [_rows(body, names, now) for body in bodies[start : start + BASELINE_BATCH]]
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(INSERT_ENTITY, [(i, t, now, now) for i, t in entities])
        connection.executemany(INSERT_HISTORY, [history for history, _ in rows])
        connection.executemany(UPSERT_LATEST, [latest for _, latest in rows])
        connection.execute("COMMIT")
    seconds = time.perf_counter() - started
    stored = connection.execute("SELECT count(*) FROM attribute_history").fetchone()[0]
    connection.close()
    if stored != len(bodies):
        raise RuntimeError(f"baseline stored {stored} of {len(bodies)}")
    return seconds


def run(count: int = 100_000) -> Result:
    """Drain ``count`` uplinks through the pipeline; insert the same rows with plain sqlite3."""
    progress("pipeline", f"building {count:,} uplinks and filling the inbox")
    bodies = [uplink.body for uplink in uplinks(count)]
    with temp_dir() as folder:
        subject = _time_subject(bodies, folder)
        progress("pipeline", f"drained in {subject:.2f} s; now orjson + sqlite3.executemany")
        baseline = _time_baseline(bodies, folder)
    return Result(
        "pipeline",
        count / subject,
        "uplinks/s",
        count / baseline,
        "uplinks/s",
        min_ratio=0.25,
        min_subject=20_000,
    )
