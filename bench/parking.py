"""Free parking under load: polled facilities and spot uplinks stream in while ``near`` answers.

One ``stadsnav run`` polls a bench operator's JSON API (1,000 facilities, four pages every ten
seconds) and takes 20,000 Nwave spot-sensor uplinks a minute on its TTS webhook, while a client
asks ``/api/v1/parking/facilities?near=...&radius=1000`` twenty times a second. The near query's
latency is set against the same request loop on a bare app answering a body of the same size;
the ingest rate against the rate sent; the server's memory at the end against after warm-up.
"""

from __future__ import annotations

import asyncio
import http.client
import multiprocessing
import random
import re
import shutil
import socket
import sqlite3
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import orjson
import uvicorn
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.common import (
    BENCH_PLANS,
    DEMO,
    Process,
    Result,
    bare_server,
    free_port,
    http_get,
    progress,
    stadsnav_server,
    temp_dir,
    wait_until,
)
from stadsnav.simulate.tts import tts_uplink

NAME = "parking"
OPERATOR = "bench-operator"
SPOTS = "bench-spots"
PRODUCT = "/api/v1/parking/facilities"
FACILITY_PREFIX = "urn:ngsi-ld:OffStreetParking:bench:"
STREET_PREFIX = "urn:ngsi-ld:OnStreetParking:bench:"
APPLICATION = "bench-parking"
OPERATORS = ("Skellefteå Parkering AB", "Norrpark", "Bench Garage AB")
AREA = ((20.90, 21.00), (64.72, 64.78))
"""Central Skellefteå: (lon min, lon max), (lat min, lat max)."""
OCCUPIED, FREE = b"\x95", b"\x94"
"""Nwave parking status frames (fPort 1): bit 0 is the occupied flag; 0x95 is a real vector."""
STATUS_PORT = 1
SAMPLE_EVERY = 5.0
PROGRESS_EVERY = 30.0
WARM_UP = 60.0
"""Memory is judged from here on (or from a third of a shorter run)."""
MAX_P99_MS = 20.0
MAX_MEMORY_GROWTH = 1.10
MIN_INGEST_RATIO = 0.95
BASELINE_SECONDS = 30
BODY_SAMPLES = 21
_FORK = multiprocessing.get_context("fork")
_METRIC = re.compile(r"^(\w+)(?:\{(.*)\})? ([-+0-9.eE]+|NaN)$")


@dataclass(frozen=True, slots=True)
class Load:
    """What the platform is asked to carry."""

    facilities: int = 1_000
    page_size: int = 250
    poll_seconds: int = 10
    streets: int = 100
    spots: int = 2_000
    uplinks_per_minute: int = 20_000
    sender_connections: int = 4
    near_per_second: float = 20.0
    radius_m: int = 1_000
    min_free_every: int = 4
    """Every n-th near query also asks ``minFree=5``."""


ISSUE_LOAD = Load()
"""The load of issue 4: 1,000 facilities, 20,000 uplinks a minute."""


# The workspace


@dataclass(frozen=True, slots=True)
class Facility:
    """One of the bench operator's car parks."""

    id: str
    name: str
    operator: str
    lon: float
    lat: float
    capacity: int


def facilities(load: Load) -> list[Facility]:
    """The operator's facilities, spread over central Skellefteå (the same every run)."""
    rng = random.Random(4)
    return [
        Facility(
            id=f"f{i:04d}",
            name=f"Bench P{i:04d}",
            operator=OPERATORS[i % len(OPERATORS)],
            lon=round(rng.uniform(*AREA[0]), 6),
            lat=round(rng.uniform(*AREA[1]), 6),
            capacity=rng.randint(20, 600),
        )
        for i in range(load.facilities)
    ]


@dataclass(frozen=True, slots=True)
class Spot:
    """A parking space with an Nwave sensor, on one of the bench streets."""

    dev_eui: str
    name: str


def spots(load: Load) -> list[Spot]:
    """The spot sensors, named and numbered as the devices file declares them."""
    return [Spot(f"a0b1c2d3{i:08x}", f"spot-{i:05d}") for i in range(load.spots)]


def _street_id(index: int) -> str:
    return f"{STREET_PREFIX}street-{index:03d}"


def _streets(load: Load) -> list[dict[str, Any]]:
    rng = random.Random(5)
    return [
        {
            "id": _street_id(i),
            "type": "OnStreetParking",
            "dataset": "parking",
            "name": f"Bench street {i}",
            "operator": "Skellefteå kommun",
            "location": {
                "lon": round(rng.uniform(*AREA[0]), 6),
                "lat": round(rng.uniform(*AREA[1]), 6),
            },
        }
        for i in range(load.streets)
    ]


def _devices(load: Load, streets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    devices = []
    for i, spot in enumerate(spots(load)):
        street = streets[i % len(streets)]
        where = street["location"]
        # Spaces a few metres apart along the street.
        offset = (i // len(streets)) * 0.00005
        devices.append(
            {
                "dev_eui": spot.dev_eui,
                "name": spot.name,
                "codec": "nwave/nps405sm",
                "measures": ["status"],
                "site": street["id"],
                "location": [round(where["lon"] + offset, 6), where["lat"]],
            }
        )
    return devices


def _operator_integration(operator_port: int, load: Load) -> dict[str, Any]:
    return {
        "id": OPERATOR,
        "title": "Bench operator",
        "dataset": "parking",
        "source": {
            "type": "http_poll",
            "url": f"http://127.0.0.1:{operator_port}/facilities",
            "interval": f"PT{load.poll_seconds}S",
            "format": "json",
            "records": "facilities",
            "pagination": {
                "type": "offset",
                "offset_param": "offset",
                "limit_param": "limit",
                "limit": load.page_size,
            },
        },
        "mapping": {
            "entity_type": "OffStreetParking",
            "entity_id": FACILITY_PREFIX + "{data.id}",
            "observed_at": "data.updated",
            "properties": {
                "name": {"value": "data.name", "static": True},
                "operator": {"value": "data.operator", "static": True},
                "totalSpotNumber": {"value": "data.capacity"},
                "availableSpotNumber": {"value": "data.free", "required": True},
                "occupiedSpotNumber": {"value": "data.occupied"},
            },
            "location": {"lon": "data.lon", "lat": "data.lat"},
        },
    }


SPOTS_INTEGRATION: dict[str, Any] = {
    "id": SPOTS,
    "title": "Bench spot sensors",
    "dataset": "parking",
    "source": {"type": "webhook", "format": "tts_v3"},
    "mapping": {
        "entity_type": "ParkingSpot",
        "entity_id": "urn:ngsi-ld:ParkingSpot:bench:{device.name}",
        "properties": {
            "status": {
                "value": "data.occupied",
                "lookup": {True: "occupied", False: "free"},
                "required": True,
            }
        },
        "relationships": {"refParkingSite": "device.site"},
        "location": "device.location",
    },
    "rollup": {
        "relationship": "refParkingSite",
        "property": "status",
        "counts": {"occupied": "occupiedSpotNumber", "free": "availableSpotNumber"},
        "total": "totalSpotNumber",
    },
}


def build_workspace(folder: Path, operator_port: int, load: Load) -> Path:
    """The demo's settings and parking dataset and product, with the bench's feeds and devices."""
    root = folder / "workspace"
    for part in ("datasets", "products", "integrations", "devices", "entities"):
        (root / part).mkdir(parents=True)
    shutil.copy(DEMO / "stadsnav.toml", root / "stadsnav.toml")
    with (root / "stadsnav.toml").open("a", encoding="utf-8") as settings:
        settings.write(BENCH_PLANS)
    shutil.copy(DEMO / "datasets" / "parking.yaml", root / "datasets" / "parking.yaml")
    shutil.copy(DEMO / "products" / "parking.yaml", root / "products" / "parking.yaml")
    streets = _streets(load)
    files: dict[str, Any] = {
        f"integrations/{OPERATOR}.yaml": _operator_integration(operator_port, load),
        f"integrations/{SPOTS}.yaml": SPOTS_INTEGRATION,
        "entities/bench-streets.yaml": {"entities": streets},
        "devices/bench-spots.yaml": {"devices": _devices(load, streets)},
    }
    for name, content in files.items():
        text = yaml.safe_dump(content, allow_unicode=True, sort_keys=False)
        (root / name).write_text(text, encoding="utf-8")
    return root


# The bench operator: an HTTP server in a process of its own


class FacilityFeed:
    """The operator's answers: counts move at every poll (a request for the first page)."""

    def __init__(self, load: Load) -> None:
        self.facilities = facilities(load)
        self.rng = random.Random(6)
        self.occupied = [self.rng.randint(0, f.capacity) for f in self.facilities]
        self.updated = _rfc3339(datetime.now(UTC))

    def advance(self) -> None:
        """A minute of comings and goings at every facility."""
        for i, facility in enumerate(self.facilities):
            moved = self.occupied[i] + self.rng.randint(-5, 5)
            self.occupied[i] = min(facility.capacity, max(0, moved))
        self.updated = _rfc3339(datetime.now(UTC))

    def page(self, offset: int, limit: int) -> bytes:
        """``{"facilities": [...], "next": offset or null}`` from ``offset``."""
        records = []
        for i in range(offset, min(offset + limit, len(self.facilities))):
            facility, occupied = self.facilities[i], self.occupied[i]
            records.append(
                {
                    "id": facility.id,
                    "name": facility.name,
                    "operator": facility.operator,
                    "lon": facility.lon,
                    "lat": facility.lat,
                    "capacity": facility.capacity,
                    "free": facility.capacity - occupied,
                    "occupied": occupied,
                    "updated": self.updated,
                }
            )
        more = offset + limit < len(self.facilities)
        return orjson.dumps({"facilities": records, "next": offset + limit if more else None})


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def operator_app(load: Load, polls_done: Synchronized[int]) -> Starlette:
    """The operator's API; ``polls_done`` counts requests past the last facility (a whole poll)."""
    feed = FacilityFeed(load)

    async def serve_page(request: Request) -> Response:
        try:
            offset = int(request.query_params.get("offset", "0"))
            limit = int(request.query_params.get("limit", str(load.page_size)))
        except ValueError:
            return Response(b'{"error":"offset and limit are integers"}', 400)
        if offset == 0:
            feed.advance()
        if offset + limit > load.facilities:
            with polls_done.get_lock():
                polls_done.value += 1
        return Response(feed.page(offset, limit), media_type="application/json")

    return Starlette(routes=[Route("/facilities", serve_page)])


def _serve_operator(port: int, load: Load, polls_done: Synchronized[int]) -> None:
    config = uvicorn.Config(
        operator_app(load, polls_done), host="127.0.0.1", port=port, log_config=None
    )
    uvicorn.Server(config).run()


@dataclass(slots=True)
class OperatorServer:
    """The bench operator, served by uvicorn in a forked process."""

    port: int
    load: Load
    polls_done: Synchronized[int] = field(init=False)
    process: multiprocessing.process.BaseProcess = field(init=False)

    def __post_init__(self) -> None:
        self.polls_done = _FORK.Value("q", 0)
        self.process = _FORK.Process(
            target=_serve_operator, args=(self.port, self.load, self.polls_done), daemon=True
        )

    def start(self) -> None:
        """Start serving and wait until the port accepts connections."""
        self.process.start()

        def listening() -> bool:
            if not self.process.is_alive():
                raise RuntimeError(f"the bench operator exited {self.process.exitcode}")
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", self.port)) == 0

        wait_until(listening, 30, f"bench operator on port {self.port}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop in 10 s."""
        self.process.terminate()
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


# The spot sensors: uplinks paced over a few keep-alive connections


def uplink_body(spot: Spot, f_cnt: int, occupied: bool) -> bytes:
    """A TTS v3 webhook body: one Nwave parking status frame received now."""
    message = tts_uplink(
        device_id=spot.name,
        dev_eui=spot.dev_eui,
        application_id=APPLICATION,
        f_port=STATUS_PORT,
        f_cnt=f_cnt,
        payload=OCCUPIED if occupied else FREE,
        received_at=datetime.now(UTC),
    )
    return orjson.dumps(message)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return int(head[9:12]), await reader.readexactly(length)


@dataclass(slots=True)
class SenderTally:
    """What the spot sensors have sent so far."""

    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    refusal: str | None = None
    """The first answer other than 202, for the report."""
    late_seconds: float = 0.0
    """How far the sender fell behind its schedule at worst."""


async def _send_uplinks(port: int, load: Load, seconds: float, out: Queue[Any]) -> None:
    devices = spots(load)
    rng = random.Random(7)
    occupied = [rng.random() < 0.5 for _ in devices]
    f_cnt = [0] * len(devices)
    tally = SenderTally()
    interval = 60.0 / load.uplinks_per_minute
    head = f"POST /ingest/{SPOTS} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
    head += b"Content-Type: application/json\r\n"
    started = time.monotonic()
    next_index = 0

    async def connection() -> None:
        nonlocal next_index
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                index, next_index = next_index, next_index + 1
                due = started + index * interval
                if due - started >= seconds:
                    return
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                else:
                    tally.late_seconds = max(tally.late_seconds, -wait)
                device = index % len(devices)
                occupied[device] = not occupied[device]
                f_cnt[device] += 1
                body = uplink_body(devices[device], f_cnt[device], occupied[device])
                writer.write(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
                status, answer = await _read_response(reader)
                tally.sent += 1
                tally.statuses[status] += 1
                if status != 202 and tally.refusal is None:
                    tally.refusal = f"{status} {answer[:300]!r}"
        finally:
            writer.close()

    async def report() -> None:
        while True:
            await asyncio.sleep(1.0)
            out.put(("tally", tally.sent, dict(tally.statuses), tally.late_seconds))

    reporter = asyncio.create_task(report())
    await asyncio.gather(*(connection() for _ in range(load.sender_connections)))
    reporter.cancel()
    out.put(("done", tally.sent, dict(tally.statuses), tally.late_seconds, tally.refusal))


def _sender(port: int, load: Load, seconds: float, go: Event, out: Queue[Any]) -> None:
    go.wait()
    asyncio.run(_send_uplinks(port, load, seconds, out))


# The near queries: one keep-alive connection, paced, each request timed


def near_paths(load: Load, count: int, seed: int = 8) -> list[str]:
    """``count`` near queries at random points of the area; every few also ask ``minFree``."""
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        lon, lat = rng.uniform(*AREA[0]), rng.uniform(*AREA[1])
        path = f"{PRODUCT}?near={lon:.5f},{lat:.5f}&radius={load.radius_m}"
        if i % load.min_free_every == load.min_free_every - 1:
            path += "&minFree=5"
        paths.append(path)
    return paths


def _query_near(
    port: int, load: Load, seconds: float, count_items: bool, go: Event, out: Queue[Any]
) -> None:
    paths = near_paths(load, int(seconds * load.near_per_second) + 1)
    interval = 1.0 / load.near_per_second
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    window: list[float] = []
    statuses: Counter[int] = Counter()
    sizes: list[int] = []
    items = 0
    failure: str | None = None
    go.wait()
    started = last_report = time.monotonic()
    for index, path in enumerate(paths):
        due = started + index * interval
        if due - started >= seconds:
            break
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        begun = time.perf_counter()
        connection.request("GET", path, headers={"Accept": "application/json"})
        response = connection.getresponse()
        body = response.read()
        elapsed_ms = (time.perf_counter() - begun) * 1000
        statuses[response.status] += 1
        if response.status == 200:
            window.append(elapsed_ms)
            sizes.append(len(body))
            if count_items:
                items += len(orjson.loads(body)["data"])
        elif failure is None:
            failure = f"GET {path}: {response.status} {body[:300]!r}"
        if time.monotonic() - last_report >= 1.0:
            out.put(("latencies", window, dict(statuses), items))
            window, statuses, items, last_report = [], Counter(), 0, time.monotonic()
    connection.close()
    out.put(("latencies", window, dict(statuses), items))
    out.put(("done", statistics.median(sizes) if sizes else 0, failure))


@dataclass(slots=True)
class NearFigures:
    """Latencies of the near queries answered with 200, and what else came back."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    items: int = 0
    median_bytes: float = 0.0
    failure: str | None = None
    done: bool = False

    def take(self, message: tuple[Any, ...]) -> None:
        """Fold in one message of the query process."""
        if message[0] == "latencies":
            self.latencies_ms += message[1]
            self.statuses.update(message[2])
            self.items += message[3]
        else:
            self.median_bytes, self.failure, self.done = message[1], message[2], True

    def percentile(self, share: float, since: int = 0) -> float:
        """The ``share`` percentile (0–1) of the latencies from index ``since`` on, nearest rank."""
        return percentile(self.latencies_ms[since:], share)


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of ``values`` (0 when there are none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def _drain(queue: Queue[Any]) -> Iterator[tuple[Any, ...]]:
    while True:
        try:
            yield queue.get_nowait()
        except Exception:  # queue.Empty; multiprocessing re-exports it from the queue module
            return


# Watching the server: memory, stored rows and its own metrics


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}: has it exited?")


def metrics(port: int) -> dict[str, float]:
    """``/metrics`` of the server as ``name{labels}`` → value."""
    status, _, body = http_get(port, "/metrics")
    if status != 200:
        raise RuntimeError(f"GET /metrics: {status} {body[:200]!r}")
    values = {}
    for line in body.decode().splitlines():
        match = _METRIC.match(line)
        if match is not None:
            name, labels, value = match.groups()
            values[f"{name}{{{labels}}}" if labels else name] = float(value)
    return values


@dataclass(frozen=True, slots=True)
class StoredRows:
    """Rows of the subject's database at one moment."""

    spot_status: int
    """Spot observations from the uplinks (one per uplink)."""
    polled: int
    """Observations of the polled facilities."""
    history: int
    pending: int
    """Messages committed to the inbox and not yet processed."""
    dead: int


class Database:
    """The subject's SQLite database through a read-only connection."""

    def __init__(self, db: Path) -> None:
        self.connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)

    def rows(self) -> StoredRows:
        """The counts now."""
        by_source = dict(
            self.connection.execute(
                "SELECT integration || ':' || CASE WHEN name = 'status' THEN 'status' ELSE '' END,"
                " count(*) FROM attribute_history GROUP BY 1"
            ).fetchall()
        )
        one = self.connection.execute(
            "SELECT (SELECT count(*) FROM inbox), (SELECT count(*) FROM dead_letters)"
        ).fetchone()
        return StoredRows(
            spot_status=by_source.get(f"{SPOTS}:status", 0),
            polled=by_source.get(f"{OPERATOR}:", 0),
            history=sum(by_source.values()),
            pending=int(one[0]),
            dead=int(one[1]),
        )

    def dead_letters(self, limit: int = 5) -> list[tuple[str, str, str]]:
        """The first dead letters: source, stage and reason."""
        query = "SELECT source, stage, reason FROM dead_letters ORDER BY id LIMIT ?"
        return [tuple(row) for row in self.connection.execute(query, (limit,))]

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()


def facilities_stored(port: int, load: Load) -> int:
    """Polled facilities the product lists with a free count."""
    status, _, body = http_get(port, PRODUCT, timeout=30)
    if status != 200:
        raise RuntimeError(f"GET {PRODUCT}: {status} {body[:300]!r}")
    items = orjson.loads(body)["data"]
    return sum(
        1 for i in items if i["id"].startswith(FACILITY_PREFIX) and i.get("free") is not None
    )


# The run


@dataclass(slots=True)
class Watch:
    """Everything observed during the loaded run."""

    seconds: float
    warm_up: float
    near: NearFigures = field(default_factory=NearFigures)
    sender: SenderTally = field(default_factory=SenderTally)
    rss: list[tuple[float, float]] = field(default_factory=list)
    """(seconds since the start, MB) every few seconds."""
    rows: list[tuple[float, StoredRows]] = field(default_factory=list)
    sender_done: bool = False
    polls_before: int = 0
    """Complete polls of the operator's facilities before the load began."""

    def take_sender(self, message: tuple[Any, ...]) -> None:
        """Fold in one message of the sender process."""
        self.sender.sent, self.sender.late_seconds = message[1], message[3]
        self.sender.statuses = Counter(message[2])
        if message[0] == "done":
            self.sender.refusal, self.sender_done = message[4], True

    def rss_at(self, moment: float) -> float:
        """The first memory sample at or after ``moment`` (the last one if none is)."""
        return next((mb for at, mb in self.rss if at >= moment), self.rss[-1][1])


def _watch(
    server: Process,
    db: Database,
    operator: OperatorServer,
    watch: Watch,
    near_out: Queue[Any],
    sender_out: Queue[Any],
) -> None:
    started = time.monotonic()
    pid = server.popen.pid
    watch.rss.append((0.0, rss_mb(pid)))
    next_sample, next_progress = SAMPLE_EVERY, PROGRESS_EVERY
    near_from, sent_from, rows_from = 0, 0, watch.rows[0][1]
    while not (watch.near.done and watch.sender_done):
        time.sleep(0.2)
        if time.monotonic() - started > watch.seconds + 120:
            raise TimeoutError("the near queries or the uplinks did not finish 120 s after the run")
        for message in _drain(near_out):
            watch.near.take(message)
        for message in _drain(sender_out):
            watch.take_sender(message)
        if server.popen.poll() is not None:
            raise RuntimeError(f"stadsnav run exited {server.popen.returncode}:\n{server.output()}")
        now = time.monotonic() - started
        if now >= next_sample and now <= watch.seconds + 1:
            watch.rss.append((now, rss_mb(pid)))
            next_sample += SAMPLE_EVERY
        if now >= next_progress and now <= watch.seconds + 1:
            rows = db.rows()
            watch.rows.append((now, rows))
            near = watch.near.latencies_ms[near_from:]
            minutes = PROGRESS_EVERY / 60
            progress(
                NAME,
                f"{now:4.0f} s  near p50 {percentile(near, 0.5):5.1f} ms "
                f"p99 {percentile(near, 0.99):5.1f} ms ({len(near)})  "
                f"uplinks {(watch.sender.sent - sent_from) / minutes:,.0f}/min  "
                f"stored {(rows.spot_status - rows_from.spot_status) / minutes:,.0f} spot + "
                f"{(rows.polled - rows_from.polled) / minutes:,.0f} polled/min  "
                f"inbox {rows.pending}  dead {rows.dead}  "
                f"polls {operator.polls_done.value - watch.polls_before}  "
                f"RSS {watch.rss[-1][1]:.0f} MB",
            )
            near_from, sent_from, rows_from = len(watch.near.latencies_ms), watch.sender.sent, rows
            next_progress += PROGRESS_EVERY
    watch.rss.append((time.monotonic() - started, rss_mb(pid)))


def _start(target: Any, args: tuple[Any, ...]) -> multiprocessing.process.BaseProcess:
    process = _FORK.Process(target=target, args=args, daemon=True)
    process.start()
    return process


def _loaded_run(
    server: Process, db_path: Path, operator: OperatorServer, load: Load, seconds: float
) -> Watch:
    go = _FORK.Event()
    near_out: Queue[Any] = _FORK.Queue()
    sender_out: Queue[Any] = _FORK.Queue()
    workers = [
        _start(_sender, (server.port, load, seconds, go, sender_out)),
        _start(_query_near, (server.port, load, seconds, True, go, near_out)),
    ]
    db = Database(db_path)
    watch = Watch(seconds, warm_up=min(WARM_UP, seconds / 3))
    try:
        watch.rows.append((0.0, db.rows()))
        watch.polls_before = operator.polls_done.value
        time.sleep(0.2)  # let the forks settle before the clock starts
        go.set()
        _watch(server, db, operator, watch, near_out, sender_out)
        watch.rows.append((seconds, db.rows()))
    finally:
        db.close()
        for worker in workers:
            worker.join(10)
            if worker.is_alive():
                worker.kill()
    return watch


def _drain_backlog(db_path: Path, timeout: float) -> tuple[float, StoredRows]:
    """Seconds until the inbox is empty after the load stops, and the rows then."""
    db = Database(db_path)
    started = time.monotonic()
    try:
        rows = db.rows()
        while rows.pending and time.monotonic() - started < timeout:
            time.sleep(0.5)
            rows = db.rows()
        return time.monotonic() - started, rows
    finally:
        db.close()


def _median_body(port: int, load: Load) -> tuple[bytes, str]:
    """A near answer of the median size, and its content type, for the bare app to repeat."""
    answers = []
    for path in near_paths(load, BODY_SAMPLES, seed=9):
        status, headers, body = http_get(port, path, timeout=30)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body[:300]!r}")
        answers.append((len(body), body, headers["content-type"]))
    answers.sort(key=lambda answer: answer[0])
    _, body, content_type = answers[len(answers) // 2]
    return body, content_type


def _baseline(port: int, load: Load, seconds: float) -> NearFigures:
    go = _FORK.Event()
    out: Queue[Any] = _FORK.Queue()
    worker = _start(_query_near, (port, load, seconds, False, go, out))
    figures = NearFigures()
    go.set()
    while not figures.done:
        figures.take(out.get(timeout=seconds + 60))
    worker.join(10)
    return figures


def run(seconds: int = 300) -> Result:
    """Load the platform for ``seconds`` with the load of issue 4 and report near, ingest, RSS."""
    return run_load(ISSUE_LOAD, seconds, min(seconds, BASELINE_SECONDS))


def run_load(load: Load, seconds: float, baseline_seconds: float) -> Result:
    """Load the platform with ``load`` for ``seconds``; time the bare app ``baseline_seconds``."""
    with temp_dir() as folder:
        operator = OperatorServer(free_port(), load)
        operator.start()
        try:
            workspace = build_workspace(folder, operator.port, load)
            db_path = folder / "stadsnav.db"
            with stadsnav_server(workspace, db_path) as server:
                started = time.monotonic()
                wait_until(
                    lambda: facilities_stored(server.port, load) >= load.facilities,
                    120,
                    f"{load.facilities:,} polled facilities listed",
                    poll=0.5,
                )
                progress(
                    NAME,
                    f"{load.facilities:,} facilities polled and listed in "
                    f"{time.monotonic() - started:.1f} s; now {seconds:.0f} s of "
                    f"{load.uplinks_per_minute:,} uplinks/min and {load.near_per_second:g} "
                    "near queries/s",
                )
                watch = _loaded_run(server, db_path, operator, load, seconds)
                drain_seconds, drained = _drain_backlog(db_path, 60)
                counters = metrics(server.port)
                body, content_type = _median_body(server.port, load)
                dead = _dead_letters(db_path)
            body_file = folder / "near.json"
            body_file.write_bytes(body)
            progress(
                NAME,
                f"now the bare app with a {len(body):,}-byte body (median near answer "
                f"{watch.near.median_bytes:,.0f} bytes) for {baseline_seconds:.0f} s",
            )
            with bare_server("constant", folder, str(body_file), content_type) as bare:
                baseline = _baseline(bare.port, load, baseline_seconds)
        finally:
            operator.stop()
    report = Report(load, watch, baseline, counters, drain_seconds, drained, dead, operator)
    for line in report.lines():
        progress(NAME, line)
    report.check()
    return report.result()


def _dead_letters(db_path: Path) -> list[tuple[str, str, str]]:
    db = Database(db_path)
    try:
        return db.dead_letters()
    finally:
        db.close()


@dataclass(frozen=True, slots=True)
class Report:
    """The figures of one run, as text and as a result."""

    load: Load
    watch: Watch
    baseline: NearFigures
    counters: dict[str, float]
    drain_seconds: float
    drained: StoredRows
    dead: list[tuple[str, str, str]]
    operator: OperatorServer

    @property
    def minutes(self) -> float:
        """Length of the loaded run in minutes."""
        return self.watch.seconds / 60

    def _polls(self, result: str) -> int:
        key = f'stadsnav_polls_total{{integration="{OPERATOR}",result="{result}"}}'
        return int(self.counters.get(key, 0))

    def lines(self) -> list[str]:
        """Every figure, one line each."""
        watch, near, minutes = self.watch, self.watch.near, self.minutes
        first, last = watch.rows[0][1], watch.rows[-1][1]
        warm = watch.rss_at(watch.warm_up)
        end = watch.rss[-1][1]
        items = near.items / max(1, len(near.latencies_ms))
        rejected = {k: v for k, v in self.counters.items() if "messages_rejected" in k}
        failures = {k: v for k, v in self.counters.items() if "poll_failures_total" in k}
        return [
            f"near: {len(near.latencies_ms):,} answers ({dict(near.statuses)}), "
            f"{items:.0f} facilities each on average, median {near.median_bytes:,.0f} bytes; "
            f"p50 {near.percentile(0.5):.2f} ms, p99 {near.percentile(0.99):.2f} ms, "
            f"max {max(near.latencies_ms, default=0):.1f} ms",
            f"bare app, same loop: {len(self.baseline.latencies_ms):,} answers; "
            f"p50 {self.baseline.percentile(0.5):.2f} ms, "
            f"p99 {self.baseline.percentile(0.99):.2f} ms, "
            f"max {max(self.baseline.latencies_ms, default=0):.1f} ms",
            f"uplinks: {watch.sender.sent:,} sent ({watch.sender.sent / minutes:,.0f}/min, "
            f"answers {dict(watch.sender.statuses)}, at worst {watch.sender.late_seconds:.2f} s "
            f"behind schedule); rejected at the door {rejected or 'none'}",
            f"stored during the run: {(last.spot_status - first.spot_status) / minutes:,.0f} "
            f"spot observations/min, {(last.polled - first.polled) / minutes:,.0f} polled "
            f"facility observations/min, {(last.history - first.history) / minutes:,.0f} "
            "history rows/min in all",
            f"inbox at the end: {last.pending:,} waiting, empty {self.drain_seconds:.1f} s later "
            f"({self.drained.pending:,} left); dead letters {self.drained.dead}"
            + (f": {self.dead}" if self.dead else ""),
            f"polls: {self.operator.polls_done.value - watch.polls_before} complete polls of "
            f"{self.load.facilities:,} facilities during the run (every "
            f"{self.load.poll_seconds} s), {watch.polls_before} before; platform pages "
            f"{self._polls('page')}, not modified {self._polls('not_modified')}, "
            f"failed {self._polls('failed')}" + (f", failures {failures}" if failures else ""),
            f"RSS of stadsnav run: {watch.rss[0][1]:.0f} MB at the start, {warm:.0f} MB after "
            f"{watch.warm_up:.0f} s of warm-up, {end:.0f} MB at the end "
            f"(max {max(mb for _, mb in watch.rss):.0f} MB): {end - warm:+.1f} MB, "
            f"{(end / warm - 1) * 100:+.1f} % after warm-up",
        ]

    def check(self) -> None:
        """Fail on any error the platform gave: the figures are printed already."""
        problems = []
        failure = self.watch.near.failure or self.baseline.failure
        if failure:
            problems.append(f"near query failed: {failure}")
        if self.watch.sender.refusal:
            problems.append(f"uplink refused: {self.watch.sender.refusal}")
        if self.drained.dead:
            problems.append(f"{self.drained.dead} dead letters, the first: {self.dead}")
        if problems:
            raise RuntimeError("; ".join(problems))

    def result(self) -> Result:
        """The near p99 row, with the ingest and memory rows under it."""
        watch = self.watch
        first, last = watch.rows[0][1], watch.rows[-1][1]
        stored = (last.spot_status - first.spot_status) / self.minutes
        ingest = Result(
            "parking ingest",
            stored,
            "uplinks/min",
            watch.sender.sent / self.minutes,
            "sent/min",
            MIN_INGEST_RATIO,
        )
        memory = Result(
            "parking memory",
            watch.rss[-1][1],
            "MB RSS",
            watch.rss_at(watch.warm_up),
            "MB warm",
            0.0,
            max_ratio=MAX_MEMORY_GROWTH,
        )
        near, baseline = watch.near, self.baseline
        return Result(
            "parking near",
            near.percentile(0.99),
            "ms p99",
            baseline.percentile(0.99),
            "ms p99",
            0.0,
            max_subject=MAX_P99_MS,
            more=(ingest, memory),
            notes=(
                f"near p50 {near.percentile(0.5):.2f} ms (bare {baseline.percentile(0.5):.2f}), "
                f"max {max(near.latencies_ms, default=0):.1f} ms, "
                f"{len(near.latencies_ms):,} queries",
            ),
        )
