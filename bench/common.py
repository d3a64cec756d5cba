"""Shared helpers: results, uplink bodies, temporary workspaces and server processes."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import yaml

from stadsnav.gateway.keys import new_key, secret_hash
from stadsnav.simulate.tts import tts_uplink
from stadsnav.store.sqlite import SqliteStore

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO = REPO_ROOT / "workspaces" / "demo"
APPLICATION = "skelleftea-beaches"
TENANT = "ttn"


@dataclass(frozen=True, slots=True)
class Result:
    """One benchmark's figures: the subject, its baseline and the targets."""

    name: str
    subject: float
    subject_unit: str
    baseline: float
    baseline_unit: str
    min_ratio: float
    min_subject: float | None = None
    """An absolute target for the subject, in ``subject_unit``."""
    max_subject: float | None = None
    """An absolute ceiling for the subject, where lower is better (a latency)."""
    max_ratio: float | None = None
    """A ceiling for the ratio, where lower is better (memory at the end over after warm-up)."""
    more: tuple[Result, ...] = ()
    """Further figures of the same run, each a row with its own targets."""
    notes: tuple[str, ...] = ()
    """Figures without a target, printed under the rows."""

    @property
    def ratio(self) -> float:
        """Subject over baseline."""
        return self.subject / self.baseline if self.baseline else 0.0

    @property
    def met(self) -> bool:
        """Whether this row's own targets are met."""
        low = self.min_subject is None or self.subject >= self.min_subject
        high = self.max_subject is None or self.subject <= self.max_subject
        below = self.max_ratio is None or self.ratio <= self.max_ratio
        return low and high and below and self.ratio >= self.min_ratio

    @property
    def ok(self) -> bool:
        """Whether every target is met, of this row and of the rows under it."""
        return self.met and all(row.ok for row in self.more)

    def target(self) -> str:
        """The targets as text."""
        parts = [f"≥ {self.min_ratio:g}"] if self.min_ratio else []
        if self.max_ratio is not None:
            parts.append(f"≤ {self.max_ratio:g}")
        if self.min_subject is not None:
            parts.append(f"≥ {self.min_subject:,.0f} {self.subject_unit}")
        if self.max_subject is not None:
            parts.append(f"≤ {self.max_subject:,g} {self.subject_unit}")
        return " and ".join(parts) or "≥ 0"

    def line(self) -> str:
        """One row of the report."""
        verdict = "ok" if self.met else "MISS  <<<"
        return (
            f"{self.name:<14} {_figure(self.subject)} {self.subject_unit:<10} "
            f"baseline {_figure(self.baseline)} {self.baseline_unit:<10} "
            f"ratio {self.ratio:5.2f}   target {self.target():<30} {verdict}"
        )

    def lines(self) -> list[str]:
        """This row, the rows under it and the notes."""
        rows = [self.line(), *(line for row in self.more for line in row.lines())]
        return rows + [f"{'':<14} {note}" for note in self.notes]


def _figure(value: float) -> str:
    # Rates are thousands, latencies a few milliseconds: both need their digits.
    return f"{value:>9,.0f}" if abs(value) >= 100 else f"{value:>9.2f}"


def progress(bench: str, text: str) -> None:
    """Print one progress line at once."""
    print(f"  [{bench}] {text}", flush=True)


@dataclass(frozen=True, slots=True)
class Sensor:
    """A demo device uplinks are sent from."""

    dev_eui: str
    name: str


def demo_sensors() -> list[Sensor]:
    """The demo's Elsys sensors (the uplinks below carry Elsys payloads)."""
    doc = yaml.safe_load((DEMO / "devices" / "beach-sensors.yaml").read_text())
    return [
        Sensor(d["dev_eui"], d["name"]) for d in doc["devices"] if d["codec"].startswith("elsys/")
    ]


@dataclass(frozen=True, slots=True)
class Uplink:
    """One TTS v3 uplink body and the MQTT topic it would be published on."""

    body: bytes
    topic: str


def uplinks(count: int) -> list[Uplink]:
    """``count`` distinct uplinks, round-robin over the demo sensors, one second apart, all past."""
    sensors = demo_sensors()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=count + 60)
    result = []
    for i in range(count):
        sensor = sensors[i % len(sensors)]
        # Elsys TLV: battery 3466 mV, external temperature 15.0 … 24.9 °C.
        payload = bytes.fromhex("070d8a0c") + (150 + i % 100).to_bytes(2, "big")
        message = tts_uplink(
            device_id=sensor.name,
            dev_eui=sensor.dev_eui,
            application_id=APPLICATION,
            f_port=5,
            f_cnt=i // len(sensors) + 1,
            payload=payload,
            received_at=start + timedelta(seconds=i),
        )
        topic = f"v3/{APPLICATION}@{TENANT}/devices/{sensor.name}/up"
        result.append(Uplink(orjson.dumps(message), topic))
    return result


@contextmanager
def temp_dir() -> Iterator[Path]:
    """A temporary folder, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="stadsnav-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


BENCH_PLANS = """
# A benchmark measures the platform: anonymous callers have no limits, and keys are on "bench",
# whose limits are counted on every request but never reached.
[gateway.plans.anonymous]
[gateway.plans.bench]
rate = 1000000
burst = 1000000
daily_quota = 1000000000
"""


def copy_workspace(folder: Path, keep: tuple[str, ...]) -> Path:
    """A copy of the demo workspace in ``folder`` with only the integrations ``keep``."""
    target = folder / "workspace"
    shutil.copytree(DEMO, target, ignore=shutil.ignore_patterns("data"))
    for path in (target / "integrations").glob("*.yaml"):
        if path.stem not in keep:
            path.unlink()
    with (target / "stadsnav.toml").open("a", encoding="utf-8") as settings:
        settings.write(BENCH_PLANS)
    return target


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """One GET: status, headers (lower-case names) and body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        headers = {k.lower(): v for k, v in response.getheaders()}
        return response.status, headers, response.read()
    finally:
        connection.close()


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.05
) -> None:
    """Poll ``condition`` until it holds; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not done after {timeout:.0f} s")
        time.sleep(poll)


class Process:
    """A server subprocess with its output in a log file."""

    def __init__(self, args: list[str], port: int, log: Path, env: dict[str, str]) -> None:
        self.port = port
        self.log = log
        with log.open("wb") as out:
            self.popen = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT
            )

    def wait_listening(self, timeout: float = 30.0) -> None:
        """Wait until the port accepts connections (uvicorn binds after its startup)."""

        def listening() -> bool:
            if self.popen.poll() is not None:
                raise RuntimeError(f"server exited {self.popen.returncode}:\n{self.output()}")
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", self.port)) == 0

        wait_until(listening, timeout, f"server on port {self.port}")

    def output(self) -> str:
        """The last lines the process printed."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop in 10 s."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def issue_key(db: Path, *scopes: str) -> str:
    """A new API key of ``scopes`` on the plan "bench" in the SQLite database at ``db``
    (migrated first), as ``stadsnav keys create`` issues it; its text."""
    store = SqliteStore(db)
    try:
        store.migrate()
        key, text = new_key(
            "the benchmark", list(scopes), datetime.now(UTC), plan="bench", plans=["bench"]
        )
        store.add_api_key(key, secret_hash(text))
    finally:
        store.close()
    return text


@contextmanager
def stadsnav_server(workspace: Path, db: Path) -> Iterator[Process]:
    """``stadsnav run`` on ``workspace``, its SQLite database at ``db``, until the block ends."""
    port = free_port()
    env = {**os.environ, "STADSNAV_STORAGE_URL": f"sqlite:///{db}"}
    args = [sys.executable, "-m", "stadsnav", "run", str(workspace), "--port", str(port)]
    server = Process([*args, "--log-level", "WARNING"], port, db.with_suffix(".log"), env)
    try:
        server.wait_listening()
        yield server
    finally:
        server.stop()


@contextmanager
def bare_server(kind: str, folder: Path, *extra: str) -> Iterator[Process]:
    """A bare ASGI app of ``bench.bare`` under the same uvicorn settings, until the block ends."""
    port = free_port()
    args = [sys.executable, "-m", "bench.bare", kind, str(port), *extra]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), *sys.path])}
    server = Process(args, port, folder / f"bare-{kind}.log", env)
    try:
        server.wait_listening()
        yield server
    finally:
        server.stop()


class StoredCounter:
    """Counts rows in the subject's SQLite database through a read-only connection."""

    def __init__(self, db: Path) -> None:
        self.connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)

    def history(self) -> int:
        """Observations stored (one history row per uplink in the demo mapping)."""
        row = self.connection.execute("SELECT count(*) FROM attribute_history").fetchone()
        return int(row[0])

    def dead(self) -> int:
        """Dead letters."""
        return int(self.connection.execute("SELECT count(*) FROM dead_letters").fetchone()[0])

    def accepted(self) -> int:
        """Messages committed so far: waiting in the inbox, stored or dead-lettered."""
        row = self.connection.execute(
            "SELECT (SELECT count(*) FROM inbox) + (SELECT count(*) FROM attribute_history) "
            "+ (SELECT count(*) FROM dead_letters)"
        ).fetchone()
        return int(row[0])

    def wait_stored(self, count: int, timeout: float) -> None:
        """Wait until ``count`` observations are stored; fail on any dead letter."""

        def stored() -> bool:
            if self.dead():
                raise RuntimeError(f"{self.dead()} uplinks were dead-lettered")
            return self.history() >= count

        wait_until(stored, timeout, f"{count} observations stored", poll=0.02)

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()
