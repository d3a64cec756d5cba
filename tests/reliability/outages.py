"""Store outages made from outside the process, senders that log every answer they get, and the
back-pressure scenario (a flood of a locked store) that the suite and ``make soak`` run."""

from __future__ import annotations

import asyncio
import math
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from psycopg import sql

from platform_harness import (
    POLL_KEY,
    WEBHOOK,
    WEBHOOK_KEY,
    FeedServer,
    Platform,
    add_poll_integration,
    dead_letter_reasons,
    duplicates,
    metric_sum,
    peak_rss_mb,
    reliability_workspace,
    wait_all_stored,
    webhook_body,
)

POSTGRES_ADDRESS = ("127.0.0.1", 5432)


# Locks: the store is there but takes no writes, as while a backup or a migration holds it.


@contextmanager
def store_locked(storage_url: str) -> Iterator[None]:
    """Hold the store's write locks from another connection for the block's duration.

    SQLite: an exclusive transaction (in WAL mode readers go on, writers wait busy_timeout, then
    fail). PostgreSQL: every table of the schema locked ``IN EXCLUSIVE MODE``: plain reads
    (``/metrics``, the API) go on, every write waits for as long as the lock is held.
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
        _lock_every_table(pg)
        try:
            yield
        finally:
            pg.rollback()


def _lock_every_table(pg: psycopg.Connection[Any]) -> None:
    tables = [
        row[0]
        for row in pg.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
    ]
    lock = sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(
        sql.SQL(", ").join(sql.Identifier(table) for table in tables)
    )
    deadline = time.monotonic() + 30
    while True:
        # All or none, and never waiting long while holding some: the platform's transactions
        # take theirs in another order, and a wait on both sides would be a deadlock.
        pg.execute("SET LOCAL lock_timeout = '200ms'")
        try:
            pg.execute(lock)
            return
        except psycopg.errors.LockNotAvailable:
            pg.rollback()
            if time.monotonic() > deadline:
                raise


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
            # Without it Nagle's algorithm holds each small write for the previous one's
            # delayed ACK: 40 ms a round trip, ~100 ms a commit.
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
    """Posts numbered uplinks over many connections at once, each until answered 202, and logs
    every attempt.

    A refused message is sent again after ``pause`` seconds: faster than its ``Retry-After``
    asks, as a flood of impatient senders would. The connections are coroutines of one event
    loop in a thread of the sender's own, each with a keep-alive HTTP/1.1 connection of its own:
    hundreds of them cost little (httpx's pool took 15 ms of CPU a request with 200).
    """

    url: str
    integration: str = WEBHOOK
    pause: float = 0.02
    give_up_after: float = 120.0
    attempts: list[Attempt] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, sequences: Iterable[int], connections: int) -> Callable[[], None]:
        """Send ``sequences`` over ``connections`` connections; returns a join that raises
        the first error of a sender."""
        numbers = iter(list(sequences))
        thread = threading.Thread(
            target=asyncio.run, args=(self._send(numbers, connections),), daemon=True
        )
        thread.start()

        def join() -> None:
            # Unbounded: each message is given up after give_up_after, each request after 15 s.
            thread.join()
            if self.errors:
                raise self.errors[0]

        return join

    def send_all(self, sequences: Iterable[int], connections: int = 4) -> None:
        """Send and wait until every one is acknowledged."""
        self.start(sequences, connections)()

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

    async def _send(self, numbers: Iterator[int], connections: int) -> None:
        address = urlsplit(self.url)
        host, port = address.hostname, address.port
        assert host is not None, self.url
        assert port is not None, self.url
        senders = [self._guarded(HttpConnection(host, port), numbers) for _ in range(connections)]
        await asyncio.gather(*senders)

    async def _guarded(self, connection: HttpConnection, numbers: Iterator[int]) -> None:
        try:
            for sequence in numbers:  # shared: each number goes to one connection
                await self._deliver(connection, sequence)
        except BaseException as error:
            self.errors.append(error)
        finally:
            connection.close()

    async def _deliver(self, connection: HttpConnection, sequence: int) -> None:
        body = webhook_body(sequence)
        path = f"/ingest/{self.integration}"
        deadline = time.monotonic() + self.give_up_after
        while True:
            sent = time.monotonic()
            status, headers, answer = await connection.post(path, body)
            attempt = Attempt(
                sequence,
                sent,
                time.monotonic(),
                status,
                headers.get("retry-after"),
                "" if status == 202 else answer[:300].decode(errors="replace"),
            )
            with self._lock:
                self.attempts.append(attempt)
            if status == 202:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"message {sequence} not accepted in {self.give_up_after} s")
            await asyncio.sleep(self.pause)


class HttpConnection:
    """One keep-alive HTTP/1.1 connection to the platform: just enough HTTP for a flood of POSTs
    of JSON, answered with a Content-Length, as uvicorn answers them."""

    def __init__(self, host: str, port: int, timeout: float = 15.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """POST ``body`` as JSON: status, headers (lower-case names) and body of the answer;
        status 0 with the error as body when there was no answer (the connection is closed)."""
        try:
            async with asyncio.timeout(self.timeout):
                return await self._exchange(path, body)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as error:
            self.close()
            return 0, {}, repr(error).encode()

    async def _exchange(self, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        head = (
            f"POST {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode() + body)
        await writer.drain()
        status_line, *lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {
            name.strip().lower(): value.strip()
            for name, value in (line.split(":", 1) for line in lines if line)
        }
        if "content-length" not in headers:
            raise ValueError(f"an answer without Content-Length: {status_line} {headers}")
        answer = await reader.readexactly(int(headers["content-length"]))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return int(status_line.split()[1]), headers, answer

    def close(self) -> None:
        """Close the connection; the next request opens another."""
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


def post_concurrently(
    platform: Platform, bodies: list[bytes], connections: int
) -> list[tuple[int, bytes]]:
    """Post every body to the beach webhook once, over ``connections`` connections at once;
    the status and body of each answer, in the order of ``bodies``."""
    answers: list[tuple[int, bytes]] = [(0, b"")] * len(bodies)
    work = iter(enumerate(bodies))  # shared: each body goes to one connection

    async def send() -> None:
        connection = HttpConnection("127.0.0.1", platform.port)
        try:
            for index, body in work:
                status, _, answer = await connection.post(f"/ingest/{WEBHOOK}", body)
                answers[index] = status, answer
        finally:
            connection.close()

    async def send_all() -> None:
        await asyncio.gather(*(send() for _ in range(connections)))

    asyncio.run(send_all())
    return answers


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
                for name in self.names:
                    self.peaks[name] = max(self.peaks[name], metric_sum(text, name))
                self.samples += 1


# Back-pressure: a flood of webhook uplinks while the store is locked, and a polled feed.

FAST_COUNT = 3_000
"""Messages of the flood in ``make test``."""
SOAK_COUNT = 50_000
"""Messages of the flood in ``make soak``."""
FLOOD_CONNECTIONS = 200
INBOX_QUEUE = 50
"""The rig's ``[pipeline] inbox_queue``: far fewer than the connections, so the queue fills."""
LOCKED_FOR = 7.0
"""Longer than the inbox's max_wait (5 s): the stall is detected and answered at once."""
POLL_INTERVAL = 0.2
STORE_LOCK_WAIT = 10.0
"""How long a commit waits for a locked store before it fails: the SQLite store's
busy_timeout (PostgreSQL waits for as long as the lock is held)."""
QUEUE, PAUSED = "stadsnav_inbox_queue", "stadsnav_poll_paused"


@dataclass
class Rig:
    """A started platform with the beach webhook and a polled feed that grows."""

    platform: Platform
    feed: FeedServer
    inbox_queue: int


@dataclass(frozen=True)
class FloodFigures:
    """What a flood sent and what came of it."""

    sent: int
    accepted: int
    refused: int
    stored: int
    dead_lettered: int
    lost: int
    peak_queue: float
    poll_records: int
    seconds: float
    peak_rss_mb: float
    """The `stadsnav run` process's peak resident memory."""


@contextmanager
def backpressure_rig(
    folder: Path, storage_url: str, inbox_queue: int = INBOX_QUEUE
) -> Iterator[Rig]:
    """The rig with ``[pipeline] inbox_queue`` set, started; stopped and closed after the block."""
    workspace = reliability_workspace(folder / "workspace")
    settings = workspace / "stadsnav.toml"
    text = settings.read_text()
    assert "\ninbox_queue = 10000\n" in text, "the demo workspace sets no inbox_queue"
    settings.write_text(text.replace("\ninbox_queue = 10000\n", f"\ninbox_queue = {inbox_queue}\n"))
    feed = FeedServer(rate=50, page_size=25)
    add_poll_integration(workspace, feed.url, interval=POLL_INTERVAL)
    platform = Platform(workspace, storage_url)
    try:
        platform.start()
        yield Rig(platform, feed, inbox_queue)
    finally:
        platform.close()
        feed.close()


def pages_while_locked(locked_for: float) -> int:
    """The most pages a poller may fetch while the store is locked for ``locked_for`` s.

    The page under way when the lock came, whose commit then waits; and after each commit that
    gave up on the lock (every ``STORE_LOCK_WAIT`` s) one more at most, before the pause. A
    poller that fetched on without waiting for its commits would fetch one every
    ``POLL_INTERVAL`` at least: the bound must be far below that to tell them apart.
    """
    bound = 1 + math.ceil(locked_for / STORE_LOCK_WAIT)
    assert bound < locked_for / POLL_INTERVAL / 4, "the lock is too short to tell the two apart"
    return bound


def flood_locked_store(
    rig: Rig, count: int, connections: int = FLOOD_CONNECTIONS, locked_for: float = LOCKED_FOR
) -> FloodFigures:
    """Send ``count`` uplinks over ``connections`` connections, the store locked for
    ``locked_for`` s at first.

    Checks every guarantee and fails on the first broken one; returns the figures.
    """
    platform, started = rig.platform, time.monotonic()
    sender = RecordingSender(platform.url, pause=0.01, give_up_after=locked_for + 90)
    with MetricsWatch(platform.url, [QUEUE, PAUSED]) as watch:
        with store_locked(platform.storage_url):
            pages_at_lock, samples_at_lock = rig.feed.pages_served, watch.samples
            flood = sender.start(range(count), connections)
            time.sleep(locked_for)
            pages_in_lock = rig.feed.pages_served - pages_at_lock
            samples_in_lock = watch.samples - samples_at_lock
        flood()
    records = rig.feed.freeze()
    stored = wait_all_stored(
        platform, {WEBHOOK_KEY: set(range(count)), POLL_KEY: set(range(records))}, timeout=300
    )

    statuses = sender.statuses()
    accepted, refused = statuses.get(202, 0), statuses.get(503, 0)
    assert set(statuses) <= {202, 503}, f"answers other than 202 and 503: {statuses}"
    assert sender.acknowledged() == set(range(count))
    assert duplicates(stored[WEBHOOK_KEY]) == []
    assert duplicates(stored[POLL_KEY]) == []
    dead = dead_letter_reasons(platform)
    assert dead == [], f"a locked store must delay messages, not reject them: {dead[:5]}"
    refusals = [a for a in sender.attempts if a.status == 503]
    assert all(a.retry_after and int(a.retry_after) >= 1 for a in refusals)
    # Zero silent drops: the platform counted every answer it gave.
    text = httpx.get(f"{platform.url}/metrics", timeout=5).text
    counted = sum(
        metric_sum(text, f"stadsnav_messages_{kind}_total", integration=WEBHOOK)
        for kind in ("received", "duplicate")
    )
    assert counted == accepted
    deferred = "stadsnav_messages_deferred_total"
    assert metric_sum(text, deferred, integration=WEBHOOK) == refused
    # Bounded: the queue never held more than inbox_queue; past it senders were refused.
    assert metric_sum(text, deferred, integration=WEBHOOK, reason="full") > 0
    assert samples_in_lock > 0
    assert 0 < watch.peaks[QUEUE] <= rig.inbox_queue, watch.peaks
    assert watch.peaks[PAUSED] == 1, "the poller did not pause"
    allowed = pages_while_locked(locked_for)
    assert pages_in_lock <= allowed, f"{pages_in_lock} pages fetched while the store was locked"
    return FloodFigures(
        sent=count,
        accepted=accepted,
        refused=refused,
        stored=len(stored[WEBHOOK_KEY]),
        dead_lettered=len(dead),
        lost=count - len(set(stored[WEBHOOK_KEY])),
        peak_queue=watch.peaks[QUEUE],
        poll_records=records,
        seconds=time.monotonic() - started,
        peak_rss_mb=peak_rss_mb(platform),
    )
