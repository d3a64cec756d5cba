"""HTTP poll connector against real loopback servers: pages into the inbox, state across restarts.

The feeds serve the real operator documents (Aachen DATEX II, Goldbeck and Ulm JSON). Waits go
through an injected sleep, so backoff and Retry-After are checked without waiting for them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import itertools
import socket
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import orjson
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from stadsnav.connectors.base import connector_for
from stadsnav.connectors.http_auth import MissingSecretError
from stadsnav.connectors.http_poll import HttpPollConnector, PollState, backoff_delay
from stadsnav.metrics import Metrics
from stadsnav.pipeline.inbox import InboxWriter
from stadsnav.runtime import Runtime
from stadsnav.store.base import ContextStore, InboxMessage
from stadsnav.store.sqlite import SqliteStore
from stadsnav.workspace import Workspace
from stadsnav.workspace.sources import HttpPollSource
from support import SHARED_DATA

PARKAPI = SHARED_DATA / "parking" / "parkapi"
AACHEN_STATIC = (PARKAPI / "aachen-static.xml").read_bytes()
AACHEN_REALTIME = (PARKAPI / "aachen-realtime.xml").read_bytes()
FACILITIES: list[dict[str, Any]] = orjson.loads(
    (PARKAPI / "heilbronn_goldbeck_facilities.json").read_bytes()
)
SPOTS: list[dict[str, Any]] = orjson.loads(
    (PARKAPI / "ulm-sensors_realtime-parking-spots.json").read_bytes()
)
DATEX = "application/xml; charset=utf-8"
T0 = datetime(2025, 5, 9, 19, 41, 58, tzinfo=UTC)

Handler = Callable[[Request], Awaitable[Response]]


# a loopback feed server


@dataclass
class Feed:
    """A real HTTP server on loopback; every request is logged before ``handler`` answers."""

    handler: Handler
    url: str = ""
    requests: list[Request] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [f"{r.url.path}?{r.url.query}".rstrip("?") for r in self.requests]


@contextlib.asynccontextmanager
async def serve(*handlers: Handler) -> AsyncIterator[list[Feed]]:
    """Serve each handler on its own free port until the block ends."""
    feeds, servers, tasks = [], [], []
    for handler in handlers:
        feed = Feed(handler)

        async def endpoint(request: Request, feed: Feed = feed) -> Response:
            feed.requests.append(request)
            return await feed.handler(request)

        app = Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET", "POST"])])
        # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets that say so, and
        # without it every response waits 40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        feed.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        # log_config=None: uvicorn's own would reconfigure logging for every later test.
        config = uvicorn.Config(app, log_config=None, lifespan="off", timeout_graceful_shutdown=1)
        server = uvicorn.Server(config)
        tasks.append(asyncio.create_task(server.serve(sockets=[sock])))
        servers.append(server)
        feeds.append(feed)
    while not all(server.started for server in servers):
        await asyncio.sleep(0.005)
    try:
        yield feeds
    finally:
        # Cancelled rather than told to exit: uvicorn looks at should_exit only every 0.1 s.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(server.shutdown() for server in servers))


SCHEDULED = 1000.0
"""Waits this long or longer are for the next hourly poll; shorter ones are retries."""


class FakeSleep:
    """Records every wait; returns at once from a retry, never from a wait for the next poll."""

    def __init__(self, connector: HttpPollConnector) -> None:
        self.connector = connector
        self.waits: list[float] = []
        self.failures: list[int] = []
        """The connector's consecutive failures at each wait."""

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.failures.append(self.connector.state.consecutive_failures)
        if seconds >= SCHEDULED:
            await asyncio.Event().wait()  # only stop() ends it
        await asyncio.sleep(0)

    @property
    def retries(self) -> list[float]:
        """The waits between attempts (not the zero wait before the first poll)."""
        return [w for w in self.waits if 0 < w < SCHEDULED]


# the platform side


@dataclass
class Platform:
    """A migrated store, an inbox writer that counts wake-ups, metrics, the demo workspace."""

    workspace: Workspace
    store: ContextStore
    inbox: InboxWriter
    metrics: Metrics
    wakes: list[int]

    def connector(self, integration_id: str = "aachen", **fields: Any) -> HttpPollConnector:
        """A poll connector for a source built from ``fields`` (defaults: JSON, hourly)."""
        source = HttpPollSource.model_validate(
            {"type": "http_poll", "interval": "PT1H", "format": "json", "timeout": 2} | fields
        )
        template = self.workspace.integrations["beach-sensors-tts"]
        integration = template.model_copy(update={"id": integration_id, "source": source})
        connector = connector_for(integration, self.workspace, self.inbox, self.metrics)
        assert isinstance(connector, HttpPollConnector)
        return connector

    def inbox_messages(self, source: str | None = None) -> list[InboxMessage]:
        """The pending messages; fetching claims them, so ask once, at the end."""
        messages = self.store.inbox_fetch(1000)
        return [m for m in messages if source is None or m.source == source]

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def platform(workspace: Workspace, tmp_path: Path) -> Iterator[Platform]:
    store = SqliteStore(tmp_path / "poll.db")
    store.migrate()
    wakes: list[int] = []
    inbox = InboxWriter(store, on_commit=lambda: wakes.append(1))
    yield Platform(workspace, store, inbox, Metrics(), wakes)
    store.close()


def quiet(connector: HttpPollConnector) -> FakeSleep:
    sleep = FakeSleep(connector)
    connector.sleep = sleep
    return sleep


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


# end to end, on both backends


def test_poll_into_the_inbox_then_not_modified(runtime: Runtime) -> None:
    async def datex(request: Request) -> Response:
        if request.headers.get("if-none-match") == '"aachen-1"':
            return Response(status_code=304)
        headers = {"ETag": '"aachen-1"', "Last-Modified": "Fri, 09 May 2025 19:41:58 GMT"}
        return Response(AACHEN_STATIC, media_type="application/xml", headers=headers)

    platform = Platform(runtime.workspace, runtime.store, runtime.inbox, runtime.metrics, [])

    async def scenario() -> None:
        async with serve(datex) as [feed]:
            fields = {"url": f"{feed.url}/datex/table.xml", "format": "datex2"}
            first = platform.connector("aachen-static", publication="table", **fields)
            await first.start()
            await until(lambda: first.state.last_success is not None)
            status = first.status()
            await first.stop()

            assert status["type"] == "http_poll"
            assert status["integration"] == "aachen-static"
            assert status["consecutive_failures"] == 0
            assert status["last_error"] is None
            next_poll = datetime.fromisoformat(status["next_poll"])
            started = first.state.started_at
            assert started is not None
            assert abs(next_poll - (started + timedelta(hours=1))) < timedelta(seconds=1)
            assert feed.requests[0].headers["accept"].startswith("application/xml")

            # A restart reads the saved ETag and waits for the interval, not for a new poll.
            again = platform.connector("aachen-static", publication="table", **fields)
            await again.open()
            assert again.state.etag == '"aachen-1"'
            await again.poll_cycle()
            await again.stop()
            assert feed.requests[1].headers["if-none-match"] == '"aachen-1"'
            assert feed.requests[1].headers["if-modified-since"] == (
                "Fri, 09 May 2025 19:41:58 GMT"
            )

        [message] = platform.inbox_messages()
        url = f"{feed.url}/datex/table.xml"
        assert message.source == "aachen-static"
        assert message.body == AACHEN_STATIC
        assert message.topic == url
        assert message.content_type == "application/xml"
        assert message.message_id.startswith(url + "#")
        assert len(message.message_id) == len(url) + 1 + 32
        saved = runtime.store.poll_state("aachen-static")
        assert saved is not None
        assert saved["next_url"] is None
        assert saved["last_success"] > status["last_success"]
        assert platform.metric("stadsnav_polls_total", integration="aachen-static", result="page")
        assert platform.metric(
            "stadsnav_polls_total", integration="aachen-static", result="not_modified"
        )
        assert platform.metric("stadsnav_messages_received_total", integration="aachen-static")

    asyncio.run(scenario())


# auth and pagination on the wire


def test_api_key_and_offset_pages(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOLDBECK_KEY", "gb-7f3a")

    async def goldbeck(request: Request) -> Response:
        if request.headers.get("x-api-key") != "gb-7f3a":
            return JSONResponse({"error": "unknown key"}, status_code=403)
        start, size = int(request.query_params["offset"]), int(request.query_params["limit"])
        return JSONResponse(FACILITIES[start : start + size])

    async def scenario() -> None:
        async with serve(goldbeck) as [feed]:
            connector = platform.connector(
                "goldbeck",
                url=f"{feed.url}/facilities?city=heilbronn",
                auth={"type": "api_key", "key_env": "GOLDBECK_KEY"},
                pagination={"type": "offset", "limit": 10},
            )
            await connector.open()
            await connector.poll_cycle()
            await connector.stop()
        assert feed.paths() == [
            f"/facilities?city=heilbronn&offset={offset}&limit=10" for offset in (0, 10, 20, 30)
        ]

    asyncio.run(scenario())
    messages = platform.inbox_messages("goldbeck")
    records = [record for m in messages for record in orjson.loads(m.body)]
    assert records == FACILITIES
    assert [m.content_type for m in messages] == ["application/json"] * 4
    assert len(platform.wakes) == 4


def test_basic_auth_and_numbered_pages(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULM_PASSWORD", "spots!")

    async def ulm(request: Request) -> Response:
        if request.headers.get("authorization") != "Basic " + base64.b64encode(
            b"skelleftea:spots!"
        ).decode("ascii"):
            return Response(status_code=403)
        page = int(request.query_params["page"])
        return JSONResponse({"spots": SPOTS[(page - 1) * 20 : page * 20]})

    async def scenario() -> None:
        async with serve(ulm) as [feed]:
            connector = platform.connector(
                "ulm",
                url=f"{feed.url}/spots",
                records="spots",
                auth={"type": "basic", "username": "skelleftea", "password_env": "ULM_PASSWORD"},
                pagination={"type": "page", "size_param": "per_page", "size": 20},
            )
            await connector.open()
            await connector.poll_cycle()
            await connector.stop()
        assert feed.paths() == [f"/spots?page={n}&per_page=20" for n in (1, 2, 3)]

    asyncio.run(scenario())
    bodies = [orjson.loads(m.body)["spots"] for m in platform.inbox_messages("ulm")]
    assert [spot for body in bodies for spot in body] == SPOTS


def test_oauth_and_link_header_pages(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPERATOR_SECRET", "cs-123")
    tokens: list[str] = []

    async def operator(request: Request) -> Response:
        if request.url.path == "/oauth/token":
            form = parse_qs((await request.body()).decode())
            assert form["grant_type"] == ["client_credentials"]
            tokens.append(f"t{len(tokens) + 1}")
            return JSONResponse({"access_token": tokens[-1], "expires_in": 3600})
        if request.headers.get("authorization") != f"Bearer {tokens[-1]}":
            return Response(status_code=401)
        start = int(request.query_params.get("from", 0))
        headers = {}
        if start + 16 < len(FACILITIES):
            headers["Link"] = f'</lots?from={start + 16}>; rel="next"'
        return JSONResponse(FACILITIES[start : start + 16], headers=headers)

    async def scenario() -> None:
        async with serve(operator) as [feed]:
            connector = platform.connector(
                "operator",
                url=f"{feed.url}/lots",
                auth={
                    "type": "oauth2_client_credentials",
                    "token_url": f"{feed.url}/oauth/token",
                    "client_id": "stadsnav",
                    "client_secret_env": "OPERATOR_SECRET",
                },
                pagination={"type": "link_header"},
            )
            await connector.open()
            await connector.poll_cycle()
            tokens.append("rotated")  # the operator rotates keys: the next request gets a 401
            await connector.poll_cycle()
            await connector.stop()
        assert feed.paths() == [
            "/oauth/token",
            "/lots",
            "/lots?from=16",
            "/lots?from=32",
            "/lots",
            "/oauth/token",
            "/lots",
            "/lots?from=16",
            "/lots?from=32",
        ]

    asyncio.run(scenario())
    assert tokens == ["t1", "rotated", "t3"]
    # Each page is pending once: the second poll's identical pages are duplicates.
    assert len(platform.inbox_messages("operator")) == 3


def test_a_missing_secret_stops_this_feed_only_and_says_which(platform: Platform) -> None:
    connector = platform.connector(
        "goldbeck",
        url="http://127.0.0.1:9/lots",
        auth={"type": "api_key", "key_env": "NOT_SET_ANYWHERE"},
    )
    asyncio.run(connector.start())
    status = connector.status()
    assert status["polling"] is False
    assert "'goldbeck': environment variable NOT_SET_ANYWHERE" in status["last_error"]
    with pytest.raises(MissingSecretError, match="NOT_SET_ANYWHERE"):
        asyncio.run(connector.open())


# retries


def test_retry_after_in_seconds_and_as_a_date_is_honoured(platform: Platform) -> None:
    answers = iter(
        [
            Response(status_code=429, headers={"Retry-After": "7"}),
            Response(
                status_code=503,
                headers={"Retry-After": format_datetime(T0 + timedelta(seconds=30), usegmt=True)},
            ),
            Response(status_code=503, headers={"Retry-After": "86400"}),
            Response(AACHEN_REALTIME, media_type=DATEX),
        ]
    )

    async def busy(request: Request) -> Response:
        return next(answers)

    async def scenario() -> FakeSleep:
        async with serve(busy) as [feed]:
            connector = platform.connector(
                "aachen", url=f"{feed.url}/status.xml", format="datex2", backoff={"max": "PT2M"}
            )
            connector.clock = lambda: T0
            sleep = quiet(connector)
            await connector.open()
            await connector.poll_cycle()
            await connector.stop()
            assert connector.state.consecutive_failures == 0
            assert connector.state.last_error == (
                f"{feed.url}/status.xml: the server answered 503 Service Unavailable"
            )
            return sleep

    sleep = asyncio.run(scenario())
    assert sleep.retries == [7.0, 30.0, 120.0]  # the day-long Retry-After is capped at max
    assert [m.body for m in platform.inbox_messages()] == [AACHEN_REALTIME]
    assert platform.metric(
        "stadsnav_poll_failures_total", integration="aachen", reason="rate_limited"
    )


def test_server_errors_back_off_exponentially_within_bounds(platform: Platform) -> None:
    answers = iter(
        [Response("upstream down", status_code=502) for _ in range(6)]
        + [Response(AACHEN_REALTIME, media_type=DATEX)]
    )

    async def flaky(request: Request) -> Response:
        return next(answers)

    async def scenario() -> None:
        async with serve(flaky) as [feed]:
            connector = platform.connector(
                "aachen",
                url=f"{feed.url}/status.xml",
                format="datex2",
                backoff={"initial": 1, "max": 5},
            )
            connector.rng.seed(4)
            sleep = quiet(connector)
            await connector.open()
            await connector.poll_cycle()
            await connector.stop()
            assert sleep.failures == [1, 2, 3, 4, 5, 6]  # each failure saved before its wait
            assert connector.status()["consecutive_failures"] == 0
            for n, wait in zip(sleep.failures, sleep.waits, strict=True):
                assert 1.0 <= wait <= min(5.0, 2.0**n), (n, wait)

    asyncio.run(scenario())
    assert len(platform.inbox_messages()) == 1
    assert (
        platform.metric("stadsnav_poll_failures_total", integration="aachen", reason="server_error")
        == 6
    )


def test_backoff_delay_bounds() -> None:
    import random

    rng = random.Random(1)
    for failures in range(1, 40):
        ceiling = min(300.0, 2.0 * 2.0**failures)
        delays = [backoff_delay(failures, 2.0, 300.0, rng) for _ in range(200)]
        assert all(2.0 <= d <= ceiling for d in delays)
        assert max(delays) > 0.8 * ceiling  # jittered over the whole range
    assert backoff_delay(10_000, 2.0, 300.0, rng) <= 300.0
    assert backoff_delay(3, 2.0, 300.0, rng, retry_after=0) == 2.0
    assert backoff_delay(3, 2.0, 300.0, rng, retry_after=45) == 45.0
    assert backoff_delay(3, 2.0, 300.0, rng, retry_after=4000) == 300.0


def test_a_timeout_covers_the_whole_page_and_is_retried(platform: Platform) -> None:
    requests = itertools.count(1)

    async def dripping(request: Request) -> Response:
        if next(requests) == 1:

            async def drip() -> AsyncIterator[bytes]:
                for start in range(0, len(AACHEN_REALTIME), 1000):
                    yield AACHEN_REALTIME[start : start + 1000]
                    await asyncio.sleep(0.05)  # each read is quick, the whole page is not

            return StreamingResponse(drip(), media_type=DATEX)
        return Response(AACHEN_REALTIME, media_type=DATEX)

    async def scenario() -> None:
        async with serve(dripping) as [feed]:
            connector = platform.connector(
                "aachen", url=f"{feed.url}/status.xml", format="datex2", timeout=0.3
            )
            quiet(connector)
            await connector.open()
            started = time.monotonic()
            await connector.poll_cycle()
            assert time.monotonic() - started < 1.0
            await connector.stop()
            assert "no complete answer within 0.3 s (source.timeout)" in (
                connector.state.last_error or ""
            )

    asyncio.run(scenario())
    assert [m.body for m in platform.inbox_messages()] == [AACHEN_REALTIME]
    assert (
        platform.metric("stadsnav_poll_failures_total", integration="aachen", reason="timeout") == 1
    )


def test_connection_refused_is_retried(platform: Platform) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there

    async def scenario() -> None:
        connector = platform.connector("aachen", url=f"http://127.0.0.1:{port}/x")
        connector.sleep = lambda seconds: asyncio.sleep(0.01)
        await connector.start()
        await until(lambda: connector.state.consecutive_failures >= 3)
        await connector.stop()
        assert "connection failed: ConnectError" in (connector.state.last_error or "")
        assert connector.state.next_url == f"http://127.0.0.1:{port}/x"  # retried, not given up

    asyncio.run(scenario())
    saved = platform.store.poll_state("aachen")
    assert saved is not None
    assert saved["consecutive_failures"] >= 3


def test_a_client_error_waits_for_the_next_interval(platform: Platform) -> None:
    async def gone(request: Request) -> Response:
        return Response("no such facility", status_code=404)

    async def scenario() -> None:
        async with serve(gone) as [feed]:
            connector = platform.connector("aachen", url=f"{feed.url}/lots")
            sleep = quiet(connector)
            await connector.start()
            await until(lambda: connector.state.consecutive_failures == 1)
            await until(lambda: any(wait >= SCHEDULED for wait in sleep.waits))
            status = connector.status()
            await connector.stop()
            assert len(feed.requests) == 1
            assert sleep.retries == []
            assert (
                "answered 404 Not Found; trying again at the next interval"
                in (status["last_error"])
            )
            assert status["next_page"] is None

    asyncio.run(scenario())
    assert platform.inbox_messages() == []


# refused pages


@pytest.mark.parametrize("announced", [True, False])
def test_an_oversize_response_is_refused_into_a_dead_letter(
    platform: Platform, announced: bool
) -> None:
    chunk = AACHEN_REALTIME[:16384]
    served = AACHEN_REALTIME * 200 if announced else chunk * 4

    async def huge(request: Request) -> Response:
        if announced:
            return Response(AACHEN_REALTIME * 200, media_type=DATEX)  # 4.8 MB, with its length

        async def endless() -> AsyncIterator[bytes]:
            while True:  # chunked, no length: only the reader can stop it
                yield chunk
                await asyncio.sleep(0)

        return StreamingResponse(endless(), media_type=DATEX)

    async def scenario() -> None:
        async with serve(huge) as [feed]:
            connector = platform.connector(
                "aachen", url=f"{feed.url}/status.xml", format="datex2", max_bytes=1_000_000
            )
            sleep = quiet(connector)
            await connector.open()
            await connector.poll_cycle()
            await connector.stop()
            assert sleep.retries == []  # refused, not retried: the next interval tries again
            assert connector.state.consecutive_failures == 1
            assert connector.state.next_url is None
            assert "response larger than 1000000 bytes" in (connector.state.last_error or "")

    asyncio.run(scenario())
    assert platform.inbox_messages() == []
    [letter] = platform.store.dead_letters(source="aachen")
    assert letter.stage == "fetch"
    assert letter.reason.startswith("response larger than 1000000 bytes (source.max_bytes)")
    assert letter.body == served[: 64 * 1024]
    assert letter.content_type == DATEX
    assert platform.metric("stadsnav_dead_letters_total", stage="fetch") == 1


def test_a_compressed_body_is_limited_by_its_unpacked_size(platform: Platform) -> None:
    packed = gzip.compress(b" " * 3_000_000)  # 3 MB of spaces in about 3 KB

    def bomb(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        return httpx.Response(200, content=packed, headers=headers)

    async def scenario() -> None:
        connector = platform.connector(
            "sensade", url="https://sensade.example/lots", max_bytes=1_000_000
        )
        connector.transport = httpx.MockTransport(bomb)
        await connector.open()
        await connector.poll_cycle()
        await connector.stop()
        assert "response larger than 1000000 bytes" in (connector.state.last_error or "")

    asyncio.run(scenario())
    [letter] = platform.store.dead_letters(source="sensade")
    assert letter.body == b" " * 64 * 1024
    assert platform.inbox_messages() == []


def test_a_link_that_leads_back_stops_the_poll(platform: Platform) -> None:
    async def looping(request: Request) -> Response:
        page = int(request.query_params.get("p", 1))
        link = f'</lots?p={page % 2 + 1}>; rel="next"'  # 1 → 2 → 1 ...
        return JSONResponse(FACILITIES[(page - 1) * 5 : page * 5], headers={"Link": link})

    async def scenario() -> None:
        async with serve(looping) as [feed]:
            connector = platform.connector(
                "loop", url=f"{feed.url}/lots?p=1", pagination={"type": "link_header"}
            )
            await connector.open()
            await connector.poll_cycle()
            await connector.stop()
            assert feed.paths() == ["/lots?p=1", "/lots?p=2"]
            error = connector.state.last_error or ""
            assert f"page loop: page 2 ({feed.url}/lots?p=2) leads back to {feed.url}/lots?p=1" in (
                error
            )
            assert connector.state.next_url is None

    asyncio.run(scenario())
    assert len(platform.inbox_messages("loop")) == 2  # the pages fetched stay
    assert platform.metric("stadsnav_poll_failures_total", integration="loop", reason="page_loop")


def test_a_page_that_repeats_the_last_stops_the_poll(platform: Platform) -> None:
    async def ignoring_page(request: Request) -> Response:
        return JSONResponse({"spots": SPOTS[:20]})  # the page parameter is ignored

    async def scenario() -> None:
        async with serve(ignoring_page) as [feed]:
            connector = platform.connector(
                "ulm", url=f"{feed.url}/spots", records="spots", pagination={"type": "page"}
            )
            await connector.open()
            await connector.poll_cycle()
            await connector.stop()
            assert len(feed.requests) == 2
            assert "page loop: page 2" in (connector.state.last_error or "")
            assert "repeats page 1" in (connector.state.last_error or "")

    asyncio.run(scenario())
    assert len(platform.inbox_messages("ulm")) == 1


def test_a_cursor_that_never_ends_stops_at_max_pages(platform: Platform) -> None:
    async def endless(request: Request) -> Response:
        n = int(request.query_params.get("cursor", 0))
        return JSONResponse({"items": [SPOTS[n % len(SPOTS)]], "next": n + 1})

    async def scenario() -> None:
        async with serve(endless) as [feed]:
            connector = platform.connector(
                "ulm",
                url=f"{feed.url}/spots",
                records="items",
                max_pages=5,
                pagination={"type": "cursor"},
            )
            await connector.open()
            await connector.poll_cycle()
            await connector.stop()
            assert len(feed.requests) == 5
            error = connector.state.last_error or ""
            assert "stopped after 5 pages (source.max_pages) though the feed names another" in error

    asyncio.run(scenario())
    assert len(platform.inbox_messages("ulm")) == 5


# restarts and isolation


def cursor_feed(block_page: int | None, release: asyncio.Event) -> Handler:
    """The Ulm spots in four pages of 11 behind a cursor; ``block_page`` hangs until released."""

    async def spots(request: Request) -> Response:
        page = int(request.query_params.get("cursor", "c1")[1:])
        if page == block_page:
            await release.wait()
        following = f"c{page + 1}" if page < 4 else None
        return JSONResponse({"items": SPOTS[(page - 1) * 11 : page * 11], "next": following})

    return spots


def test_a_restart_resumes_at_the_next_page(platform: Platform) -> None:
    async def scenario() -> None:
        release = asyncio.Event()
        async with serve(cursor_feed(3, release)) as [feed]:
            fields = {
                "url": f"{feed.url}/spots",
                "records": "items",
                "pagination": {"type": "cursor"},
            }
            first = platform.connector("ulm", **fields)
            await first.start()
            await until(lambda: len(feed.requests) == 3)  # pages 1, 2 committed; 3 hangs
            await first.stop()
            assert first.state.next_url == f"{feed.url}/spots?cursor=c3"
            assert platform.store.inbox_stats()[0] == 2

            release.set()
            second = platform.connector("ulm", **fields)
            await second.start()
            await until(
                lambda: (
                    second.state.next_url is None
                    and second.state.pages == 0
                    and second.state.last_success is not None
                    and len(feed.requests) == 5
                )
            )
            await second.stop()
            assert feed.paths() == [
                "/spots",
                "/spots?cursor=c2",
                "/spots?cursor=c3",  # cut off by the stop
                "/spots?cursor=c3",
                "/spots?cursor=c4",
            ]

    asyncio.run(scenario())
    messages = platform.inbox_messages("ulm")
    assert [spot for m in messages for spot in orjson.loads(m.body)["items"]] == SPOTS
    assert len({m.message_id for m in messages}) == 4


def test_a_changed_url_does_not_resume_the_old_one(platform: Platform) -> None:
    async def scenario() -> None:
        release = asyncio.Event()
        async with serve(cursor_feed(3, release), cursor_feed(None, release)) as [old, new]:
            cursor = {"records": "items", "pagination": {"type": "cursor"}}
            first = platform.connector("ulm", url=f"{old.url}/spots", **cursor)
            await first.start()
            await until(lambda: len(old.requests) == 3)
            await first.stop()
            release.set()

            moved = platform.connector("ulm", url=f"{new.url}/spots", **cursor)
            await moved.open()
            assert moved.state.next_url is None
            await moved.poll_cycle()
            await moved.stop()
            assert len(old.requests) == 3
            assert new.paths() == [
                "/spots",
                "/spots?cursor=c2",
                "/spots?cursor=c3",
                "/spots?cursor=c4",
            ]

    asyncio.run(scenario())


def test_a_stop_during_a_commit_lets_the_commit_finish(platform: Platform) -> None:
    store = platform.store
    committing, original = threading.Event(), store.poll_commit

    def slow_commit(*args: Any, **kwargs: Any) -> list[int | None]:
        committing.set()
        time.sleep(0.2)
        return original(*args, **kwargs)

    store.poll_commit = slow_commit  # type: ignore[method-assign]

    async def datex(request: Request) -> Response:
        return Response(AACHEN_REALTIME, media_type=DATEX)

    async def scenario() -> PollState:
        async with serve(datex) as [feed]:
            connector = platform.connector("aachen", url=f"{feed.url}/s.xml", format="datex2")
            await connector.start()
            await until(committing.is_set)
            await connector.stop()
            return connector.state

    state = asyncio.run(scenario())
    assert state.last_success is not None
    assert len(platform.inbox_messages()) == 1
    saved = platform.store.poll_state("aachen")
    assert saved == state.to_json()


def test_a_failing_store_costs_a_retry_not_the_poller(platform: Platform) -> None:
    store, original = platform.store, platform.store.poll_commit
    calls: list[int] = []

    def once_unavailable(*args: Any, **kwargs: Any) -> list[int | None]:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("disk full")
        return original(*args, **kwargs)

    store.poll_commit = once_unavailable  # type: ignore[method-assign]

    async def datex(request: Request) -> Response:
        return Response(AACHEN_REALTIME, media_type=DATEX)

    async def scenario() -> None:
        async with serve(datex) as [feed]:
            connector = platform.connector("aachen", url=f"{feed.url}/s.xml", format="datex2")
            sleep = quiet(connector)
            await connector.start()
            await until(lambda: connector.state.last_success is not None)
            await connector.stop()
            assert len(feed.requests) == 2  # the page whose commit failed is fetched again
            assert len(sleep.retries) == 1
            # First poll, backoff after the failure, the poll resumed, the next one scheduled.
            assert sleep.failures == [0, 1, 1, 0]
            assert connector.state.last_error == "OSError('disk full')"

    asyncio.run(scenario())
    assert len(platform.inbox_messages()) == 1


CURSOR = {"records": "items", "pagination": {"type": "cursor"}}


def test_a_full_inbox_pauses_the_poll_before_it_fetches(platform: Platform) -> None:
    platform.inbox.max_pending = 0  # as when pushed messages fill the queue

    async def scenario() -> None:
        async with serve(cursor_feed(None, asyncio.Event())) as [feed]:
            connector = platform.connector("ulm", url=f"{feed.url}/spots", **CURSOR)
            sleep = quiet(connector)
            await connector.start()
            await until(lambda: len(sleep.retries) >= 3)
            assert feed.requests == []  # a page fetched now could not be committed
            assert sleep.retries[:3] == [1.0, 1.0, 1.0]  # the inbox's Retry-After
            paused = connector.status()["paused"]
            assert paused is not None
            assert "waiting for the store" in paused
            assert platform.metric("stadsnav_poll_paused", integration="ulm") == 1
            assert platform.store.poll_state("ulm") is None

            platform.inbox.max_pending = 10_000
            await until(lambda: len(feed.requests) == 4 and connector.state.next_url is None)
            await connector.stop()
            assert connector.status()["paused"] is None
            assert platform.metric("stadsnav_poll_paused", integration="ulm") == 0

    asyncio.run(scenario())
    assert len(platform.inbox_messages("ulm")) == 4


def test_a_refused_commit_keeps_the_cursor_and_pauses_until_the_store_takes_it(
    platform: Platform,
) -> None:
    store = platform.store
    assert isinstance(store, SqliteStore)
    admin = sqlite3.connect(store.path, isolation_level=None)

    async def scenario() -> None:
        release = asyncio.Event()
        async with serve(cursor_feed(3, release)) as [feed]:
            connector = platform.connector("ulm", url=f"{feed.url}/spots", **CURSOR)
            quiet(connector)
            await connector.start()
            await until(lambda: len(feed.requests) == 3)  # pages 1, 2 committed; 3 hangs
            admin.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON inbox "
                "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
            release.set()
            await until(lambda: len(feed.requests) >= 5)  # page 3 fetched again, not page 4
            paused = connector.status()["paused"]
            assert paused is not None
            assert "disk full" in paused
            assert platform.metric("stadsnav_poll_paused", integration="ulm") == 1
            saved = store.poll_state("ulm")
            assert saved is not None
            assert saved["next_url"] == f"{feed.url}/spots?cursor=c3"
            assert connector.state.next_url == saved["next_url"]

            admin.execute("DROP TRIGGER refuse")
            await until(lambda: connector.state.next_url is None and connector.paused is None)
            await connector.stop()
            assert set(feed.paths()[2:-1]) == {"/spots?cursor=c3"}
            assert feed.paths()[-1] == "/spots?cursor=c4"

    asyncio.run(scenario())
    admin.close()
    messages = platform.inbox_messages("ulm")
    assert [spot for m in messages for spot in orjson.loads(m.body)["items"]] == SPOTS


def test_one_hanging_feed_does_not_stall_another(platform: Platform) -> None:
    hung = asyncio.Event()
    polls = itertools.count()

    async def hanging(request: Request) -> Response:
        await hung.wait()
        return Response(AACHEN_REALTIME, media_type=DATEX)

    async def healthy(request: Request) -> Response:
        # A new observation on every poll, so each poll is a new message.
        return JSONResponse([{"id": "P1", "free": next(polls)}])

    async def scenario() -> None:
        async with serve(hanging, healthy) as feeds:
            stuck = platform.connector(
                "aachen",
                url=f"{feeds[0].url}/status.xml",
                format="datex2",
                timeout=0.2,
                backoff={"initial": 0.05, "max": 0.1},
            )
            fine = platform.connector("sensade", url=f"{feeds[1].url}/lots", interval=0.05)
            await stuck.start()
            await fine.start()
            await until(lambda: fine_count() >= 5)
            assert stuck.state.last_success is None
            assert stuck.state.consecutive_failures >= 1
            await asyncio.gather(stuck.stop(), fine.stop())
            hung.set()

    def fine_count() -> int:
        return int(platform.metric("stadsnav_messages_received_total", integration="sensade"))

    asyncio.run(scenario())
    assert fine_count() >= 5
    assert (
        platform.metric("stadsnav_poll_failures_total", integration="aachen", reason="timeout") >= 1
    )


def test_poll_state_round_trips_through_json() -> None:
    state = PollState(
        source_url="http://127.0.0.1/spots",
        next_url="http://127.0.0.1/spots?cursor=c3",
        started_at=T0,
        pages=2,
        seen=("http://127.0.0.1/spots", "http://127.0.0.1/spots?cursor=c2"),
        digests=("ab" * 16, "cd" * 16),
        first_etag='"e1"',
        etag='"e0"',
        last_success=T0,
        last_error="boom",
        last_error_at=T0,
        consecutive_failures=2,
    )
    saved = orjson.loads(orjson.dumps(state.to_json()))
    assert PollState.from_json(saved) == state
    assert PollState.from_json({"etag": '"x"', "added_later": 1}) == PollState(etag='"x"')
