"""Store outages made from outside the process, and senders that log every answer they get."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from platform_harness import webhook_body

POSTGRES_ADDRESS = ("127.0.0.1", 5432)


# Locks: the store is there but takes no writes, as while a backup or a migration holds it.


@contextmanager
def store_locked(storage_url: str) -> Iterator[None]:
    """Hold the store's write lock from another connection for the block's duration.

    SQLite: an exclusive transaction (in WAL mode readers go on, writers wait busy_timeout, then
    fail). PostgreSQL: ``LOCK TABLE inbox IN EXCLUSIVE MODE``, which blocks inbox inserts and
    claims for as long as it is held while plain reads (``/metrics``) go on.
    """
    if storage_url.startswith("sqlite:///"):
        lite = sqlite3.connect(storage_url.removeprefix("sqlite:///"), timeout=30)
        lite.isolation_level = None
        lite.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            lite.execute("ROLLBACK")
            lite.close()
        return
    with psycopg.connect(storage_url) as pg:
        pg.execute("LOCK TABLE inbox IN EXCLUSIVE MODE")
        try:
            yield
        finally:
            pg.rollback()


# A stopped PostgreSQL, as the process sees it, without stopping the server other tests use.


class TcpProxy:
    """Forwards a loopback port to an upstream address; ``cut`` makes it look stopped.

    A cut closes every forwarded connection and the listening socket, so connections in use
    break and new ones are refused, as when PostgreSQL stops; ``restore`` listens again.
    """

    def __init__(self, upstream: tuple[str, int] = POSTGRES_ADDRESS) -> None:
        self.upstream = upstream
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.restore()

    def restore(self) -> None:
        """Listen (again) on the proxy's port."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and break the open ones."""
        assert self._listener is not None
        _shut(self._listener)  # wakes the thread blocked in accept()
        self._listener = None
        with self._lock:
            broken, self._sockets = self._sockets, []
        for sock in broken:
            _shut(sock)

    def close(self) -> None:
        """Stop forwarding for good."""
        if self._listener is not None:
            self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=_pump, args=(source, target), daemon=True).start()


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    _shut(source)
    _shut(target)


def _shut(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@contextmanager
def proxied_postgres(storage_url: str) -> Iterator[tuple[str, TcpProxy]]:
    """The storage URL rewritten to pass through a ``TcpProxy``, and the proxy."""
    address = f"@{POSTGRES_ADDRESS[0]}:{POSTGRES_ADDRESS[1]}/"
    if address not in storage_url:
        pytest.skip(f"PostgreSQL is not reached over TCP at {address[1:-1]}: {storage_url}")
    proxy = TcpProxy()
    try:
        yield storage_url.replace(address, f"@127.0.0.1:{proxy.port}/"), proxy
    finally:
        proxy.close()


# Senders that log every attempt.


@dataclass(frozen=True, slots=True)
class Attempt:
    """One POST of one numbered uplink: when, and what came back (status 0: no answer)."""

    sequence: int
    sent: float
    answered: float
    status: int
    retry_after: str | None
    detail: str = ""


@dataclass
class RecordingSender:
    """Posts numbered uplinks from threads, each until answered 202, and logs every attempt.

    A refused message is sent again after ``pause`` seconds: faster than its ``Retry-After``
    asks, as a flood of impatient senders would.
    """

    url: str
    integration: str = "beach-sensors-tts"
    pause: float = 0.02
    give_up_after: float = 120.0
    attempts: list[Attempt] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, sequences: Iterable[int], threads: int) -> Callable[[], None]:
        """Send ``sequences`` from ``threads`` threads; returns a join that raises their errors."""
        numbers = iter(list(sequences))
        workers = [
            threading.Thread(target=self._guarded, args=(numbers,), daemon=True)
            for _ in range(threads)
        ]
        for worker in workers:
            worker.start()

        def join() -> None:
            # Unbounded: each message is given up after give_up_after, each request after 15 s.
            for worker in workers:
                worker.join()
            if self.errors:
                raise self.errors[0]

        return join

    def send_all(self, sequences: Iterable[int], threads: int = 4) -> None:
        """Send and wait until every one is acknowledged."""
        self.start(sequences, threads)()

    def acknowledged(self) -> set[int]:
        """Sequence numbers answered 202."""
        with self._lock:
            return {a.sequence for a in self.attempts if a.status == 202}

    def statuses(self) -> dict[int, int]:
        """How many attempts got each status (0: no answer)."""
        with self._lock:
            counts: dict[int, int] = {}
            for attempt in self.attempts:
                counts[attempt.status] = counts.get(attempt.status, 0) + 1
            return counts

    def _guarded(self, numbers: Iterator[int]) -> None:
        try:
            with httpx.Client(timeout=15) as client:
                for sequence in self._next(numbers):
                    self._deliver(client, sequence)
        except BaseException as error:
            self.errors.append(error)

    def _next(self, numbers: Iterator[int]) -> Iterator[int]:
        while True:
            with self._lock:
                sequence = next(numbers, None)
            if sequence is None:
                return
            yield sequence

    def _deliver(self, client: httpx.Client, sequence: int) -> None:
        body = webhook_body(sequence)
        deadline = time.monotonic() + self.give_up_after
        while True:
            attempt = self._post(client, sequence, body)
            with self._lock:
                self.attempts.append(attempt)
            if attempt.status == 202:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"message {sequence} not accepted in {self.give_up_after} s")
            time.sleep(self.pause)

    def _post(self, client: httpx.Client, sequence: int, body: bytes) -> Attempt:
        sent = time.monotonic()
        try:
            response = client.post(
                f"{self.url}/ingest/{self.integration}",
                content=body,
                headers={"content-type": "application/json"},
            )
        except httpx.HTTPError as error:
            return Attempt(sequence, sent, time.monotonic(), 0, None, repr(error))
        detail = "" if response.status_code == 202 else response.text[:300]
        return Attempt(
            sequence,
            sent,
            time.monotonic(),
            response.status_code,
            response.headers.get("retry-after"),
            detail,
        )


class MetricsWatch:
    """Reads gauges from ``/metrics`` every ``interval`` seconds in a thread; keeps each peak."""

    def __init__(self, url: str, names: Iterable[str], interval: float = 0.05) -> None:
        self.url = url
        self.names = tuple(names)
        self.interval = interval
        self.peaks = dict.fromkeys(self.names, 0.0)
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> MetricsWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _watch(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.wait(self.interval):
                try:
                    text = client.get(f"{self.url}/metrics").text
                except httpx.HTTPError:
                    continue
                for name, value in metric_values(text, self.names).items():
                    self.peaks[name] = max(self.peaks[name], value)
                self.samples += 1


def metric_values(text: str, names: Iterable[str]) -> dict[str, float]:
    """The sum of each named metric's samples in a Prometheus text exposition."""
    values = dict.fromkeys(names, 0.0)
    for line in text.splitlines():
        for name in values:
            if line.startswith(name) and line[len(name)] in " {":
                values[name] += float(line.rsplit(" ", 1)[1])
    return values


def metric_sample(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include ``labels``."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total
