"""Temporal aggregation: the hourly average of a month of 10-minute readings, per sensor (issue 6).

One ``stadsnav run`` per backend, SQLite and then PostgreSQL, is given the water temperatures of
100 beach sensors every ten minutes for 30 days through ``POST /ngsi-ld/v1/temporal/entities``
(4,320 instances a sensor), then asked, one sensor at a time over a keep-alive connection, for
``aggrMethods=avg&aggrPeriodDuration=PT1H`` over the month: 720 hourly periods a request. The
p99 of those requests is set against the same request loop on a bare app answering the same
body; the target is a p99 under 100 ms on each backend.
"""

from __future__ import annotations

import http.client
import math
import os
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlencode

import orjson
import psycopg
from psycopg import sql

from bench.common import (
    Process,
    Result,
    bare_server,
    copy_workspace,
    free_port,
    progress,
    temp_dir,
)

NAME = "temporal"
START = datetime(2026, 6, 1, tzinfo=UTC)
DAYS = 30
STEP = timedelta(minutes=10)
ROUNDS = 5
"""Requests per sensor: 100 sensors give 500 latencies, whose p99 is the fifth slowest."""
MAX_P99_MS = 100.0
POSTGRES = os.environ.get("STADSNAV_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
"""The database the PostgreSQL run uses, in a schema of its own that is dropped after."""
ENTITY_PREFIX = "urn:ngsi-ld:WaterQualityObserved:bench:beach-"


def run(sensors: int = 100) -> Result:
    """Load ``sensors`` × a month of readings on each backend; p99 of the hourly average."""
    rows: list[Result] = []
    notes: list[str] = []
    with temp_dir() as folder:
        workspace = copy_workspace(folder, keep=())
        for backend in ("sqlite", "postgres"):
            with store_url(backend, folder) as url, server(workspace, url, folder, backend) as app:
                loaded = load(app.port, sensors)
                progress(NAME, f"{backend}: {loaded}")
                settle(backend, url)
                latencies, body, headers = measure(app.port, sensors)
            baseline = bare_latencies(folder, body, headers, sensors)
            p99, bare = percentile(latencies, 99), percentile(baseline, 99)
            rows.append(
                Result(
                    f"temporal {backend}",
                    p99,
                    "ms p99",
                    bare,
                    "ms p99",
                    0.0,
                    max_subject=MAX_P99_MS,
                )
            )
            median, bare_median = percentile(latencies, 50), percentile(baseline, 50)
            notes.append(f"{backend}: p50 {median:.1f} ms (bare {bare_median:.2f} ms); {loaded}")
    notes.append(
        f"{sensors} sensors × {readings():,} readings; GET aggrMethods=avg "
        f"aggrPeriodDuration=PT1H over {DAYS} days, {ROUNDS} requests a sensor"
    )
    return replace(rows[0], more=tuple(rows[1:]), notes=tuple(notes))


def readings() -> int:
    """Readings a sensor has: one every ten minutes for the month."""
    return int(timedelta(days=DAYS) / STEP)


def temperatures(sensor: int) -> list[float]:
    """A beach's water temperature every ten minutes: a slow warming, a daily swing, noise."""
    rng = random.Random(sensor)
    base = rng.uniform(12.0, 16.0)
    values = []
    for i in range(readings()):
        hours = i / 6
        daily = 1.2 * math.sin(2 * math.pi * (hours - 9) / 24)
        values.append(round(base + hours / 240 + daily + rng.gauss(0, 0.15), 1))
    return values


def temporal_entity(sensor: int) -> bytes:
    """One sensor's month as an NGSI-LD temporal entity (4.5.7)."""
    instances = [
        {
            "type": "Property",
            "value": value,
            "unitCode": "CEL",
            "observedAt": (START + i * STEP).isoformat().replace("+00:00", "Z"),
        }
        for i, value in enumerate(temperatures(sensor))
    ]
    entity = {"id": f"{ENTITY_PREFIX}{sensor:03d}", "type": "WaterQualityObserved"}
    return orjson.dumps({**entity, "temperature": instances})


def aggregation_path(sensor: int) -> str:
    """The hourly-average request of one sensor, over the month."""
    params = {
        "attrs": "temperature",
        "options": "aggregatedValues",
        "aggrMethods": "avg",
        "aggrPeriodDuration": "PT1H",
        "timerel": "between",
        "timeAt": START.isoformat().replace("+00:00", "Z"),
        "endTimeAt": (START + timedelta(days=DAYS)).isoformat().replace("+00:00", "Z"),
    }
    entity = quote(f"{ENTITY_PREFIX}{sensor:03d}", safe="")
    return f"/ngsi-ld/v1/temporal/entities/{entity}?{urlencode(params)}"


@contextmanager
def store_url(backend: str, folder: Path) -> Iterator[str]:
    """A SQLite file in ``folder``, or a PostgreSQL schema of this run (dropped after)."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'temporal.db'}"
        return
    schema = f"bench_temporal_{os.getpid()}"
    with psycopg.connect(POSTGRES, autocommit=True, connect_timeout=5) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    separator = "&" if "?" in POSTGRES else "?"
    try:
        yield f"{POSTGRES}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as connection:
            drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            connection.execute(drop)


@contextmanager
def server(workspace: Path, url: str, folder: Path, backend: str) -> Iterator[Process]:
    """``stadsnav run`` on the store at ``url`` until the block ends."""
    port = free_port()
    env = {**os.environ, "STADSNAV_STORAGE_URL": url}
    args = [sys.executable, "-m", "stadsnav", "run", str(workspace), "--port", str(port)]
    process = Process([*args, "--log-level", "WARNING"], port, folder / f"{backend}.log", env)
    try:
        process.wait_listening()
        yield process
    finally:
        process.stop()


def load(port: int, sensors: int) -> str:
    """POST every sensor's month; how long it took."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        for sensor in range(sensors):
            connection.request(
                "POST",
                "/ngsi-ld/v1/temporal/entities",
                body=temporal_entity(sensor),
                headers={"Content-Type": "application/json"},
            )
            response = connection.getresponse()
            text = response.read()
            if response.status != 201:
                raise RuntimeError(f"POST temporal entity: {response.status} {text[:300]!r}")
    finally:
        connection.close()
    seconds = time.monotonic() - started
    instances = sensors * readings()
    return f"{instances:,} instances loaded in {seconds:.0f} s ({instances / seconds:,.0f}/s)"


def settle(backend: str, url: str) -> None:
    """Vacuum and analyze PostgreSQL's history after the bulk load.

    A store that gathered a month of readings has long been through autovacuum; right after
    a bulk load autovacuum would run in the middle of the measurement.
    """
    if backend == "postgres":
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("VACUUM (ANALYZE) attribute_history")


def measure(port: int, sensors: int) -> tuple[list[float], bytes, dict[str, str]]:
    """Latencies (ms) of ``ROUNDS`` aggregation requests per sensor, after one round to warm
    up; one body and its headers."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies: list[float] = []
    body, headers = b"", {}
    try:
        for _ in range(ROUNDS + 1):
            for sensor in range(sensors):
                started = time.perf_counter()
                connection.request("GET", aggregation_path(sensor))
                response = connection.getresponse()
                body = response.read()
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status != 200:
                    raise RuntimeError(f"aggregation: {response.status} {body[:300]!r}")
                headers = {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()
    latencies = latencies[sensors:]  # the warm-up round
    periods = len(orjson.loads(body)["temperature"]["avg"])
    if periods != DAYS * 24:
        raise RuntimeError(f"expected {DAYS * 24} hourly averages, got {periods}")
    return latencies, body, headers


def bare_latencies(folder: Path, body: bytes, headers: dict[str, str], sensors: int) -> list[float]:
    """The same request loop against a bare app answering ``body``."""
    body_file = folder / "aggregation.json"
    body_file.write_bytes(body)
    extra = [str(body_file), headers["content-type"]]
    if "link" in headers:
        extra.append(headers["link"])
    with bare_server("constant", folder, *extra) as bare:
        latencies, _, _ = measure(bare.port, sensors)
    return latencies


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    rank = max(0, math.ceil(p / 100 * len(ordered)) - 1)
    return ordered[rank]
