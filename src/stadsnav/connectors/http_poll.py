"""HTTP poll connector: fetches a URL on a schedule, page by page, each page one inbox message."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import random
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import structlog

from stadsnav.connectors.base import Connector, register
from stadsnav.connectors.http_auth import MissingSecretError, TokenError, auth_for
from stadsnav.connectors.http_pages import PageError, paginator_for
from stadsnav.metrics import Metrics
from stadsnav.pipeline.inbox import InboxWriter
from stadsnav.store.base import Appended, ContextStore, NewDeadLetter, NewInboxMessage
from stadsnav.workspace import Integration, Workspace
from stadsnav.workspace.sources import HttpPollSource

log = structlog.get_logger("stadsnav.http_poll")

DEAD_LETTER_BYTES = 64 * 1024
"""How much of a refused (too large) response the dead letter keeps."""

_RETRIED_STATUS = {401: "unauthorized", 408: "request_timeout", 429: "rate_limited"}
_ACCEPT = {
    "json": "application/json",
    "xml": "application/xml, text/xml;q=0.9",
    "datex2": "application/xml, text/xml;q=0.9",
}
_TIMES = ("started_at", "last_success", "last_error_at")


def _now() -> datetime:
    return datetime.now(UTC)


@functools.cache
def _tls() -> ssl.SSLContext:
    # Loading the CA bundle takes ~20 ms; a thousand polled feeds share one context.
    return httpx.create_ssl_context()


@dataclass(frozen=True, slots=True)
class PollState:
    """Where one polled integration stands; saved with every page, read back at start."""

    source_url: str | None = None
    """The configured URL this state is about; another one makes the rest of it stale."""
    next_url: str | None = None
    """The next page of an unfinished poll; None between polls."""
    started_at: datetime | None = None
    """When the current (or last) poll began; the next one begins an interval later."""
    pages: int = 0
    """Pages committed in the current poll."""
    seen: tuple[str, ...] = ()
    """URLs of the pages fetched in the current poll, to tell a page loop."""
    digests: tuple[str, ...] = ()
    """Content hashes of those pages, to tell a page that repeats one under another URL."""
    first_etag: str | None = None
    first_last_modified: str | None = None
    """The first page's validators; they become ``etag`` / ``last_modified`` once the poll ends."""
    etag: str | None = None
    last_modified: str | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    consecutive_failures: int = 0

    def to_json(self) -> dict[str, Any]:
        """The state as JSON-compatible values, for the store."""
        saved = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name in _TIMES:
            saved[name] = None if saved[name] is None else saved[name].isoformat()
        saved["seen"] = list(self.seen)
        saved["digests"] = list(self.digests)
        return saved

    @classmethod
    def from_json(cls, saved: dict[str, Any]) -> PollState:
        """The state as ``to_json`` gave it; keys it does not know are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {name: value for name, value in saved.items() if name in known}
        for name in _TIMES:
            if values.get(name) is not None:
                values[name] = datetime.fromisoformat(values[name])
        values["seen"] = tuple(values.get("seen", ()))
        values["digests"] = tuple(values.get("digests", ()))
        return cls(**values)

    def about(self, source_url: str) -> PollState:
        """The state for ``source_url``: a poll and validators saved for another URL are dropped."""
        if source_url == self.source_url:
            return self
        fresh = self._between_polls()
        return replace(fresh, source_url=source_url, etag=None, last_modified=None)

    def begin(self, url: str, now: datetime) -> PollState:
        """A new poll, starting at ``url``."""
        return replace(self._between_polls(), next_url=url, started_at=now)

    def advanced(
        self, url: str, next_url: str | None, digest: str, response: httpx.Response, now: datetime
    ) -> PollState:
        """The page from ``url`` is committed; the poll goes on at ``next_url``, or is done."""
        first_etag, first_modified = self.first_etag, self.first_last_modified
        if self.pages == 0:
            first_etag = response.headers.get("etag")
            first_modified = response.headers.get("last-modified")
        if next_url is None:
            done = replace(self._between_polls(), etag=first_etag, last_modified=first_modified)
            return replace(done, last_success=now, consecutive_failures=0)
        return replace(
            self,
            next_url=next_url,
            pages=self.pages + 1,
            seen=(*self.seen, url),
            digests=(*self.digests, digest),
            first_etag=first_etag,
            first_last_modified=first_modified,
            last_success=now,
            consecutive_failures=0,
        )

    def unchanged(self, now: datetime) -> PollState:
        """The first page is unchanged since the last poll (304): the poll is done."""
        return replace(self._between_polls(), last_success=now, consecutive_failures=0)

    def failed(self, error: str, now: datetime, end: bool) -> PollState:
        """A failed attempt; with ``end`` the poll is given up until the next interval."""
        state = self._between_polls() if end else self
        return replace(
            state,
            last_error=error,
            last_error_at=now,
            consecutive_failures=self.consecutive_failures + 1,
        )

    def _between_polls(self) -> PollState:
        return replace(
            self,
            next_url=None,
            pages=0,
            seen=(),
            digests=(),
            first_etag=None,
            first_last_modified=None,
        )


@dataclass(frozen=True, slots=True)
class Page:
    """A fetched page, read whole."""

    body: bytes
    content_type: str
    response: httpx.Response


@dataclass(frozen=True, slots=True)
class NotModified:
    """The server answered 304: nothing new since the saved ETag / Last-Modified."""


class FetchError(Exception):
    """A page could not be fetched or used; ``retryable`` ones are retried after a backoff."""

    def __init__(
        self, reason: str, message: str, retryable: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


class TooLargeError(FetchError):
    """The response is larger than ``max_bytes``; its beginning goes to a dead letter."""

    def __init__(self, message: str, prefix: bytes, content_type: str) -> None:
        super().__init__("too_large", message)
        self.prefix = prefix
        self.content_type = content_type


def backoff_delay(
    failures: int,
    initial: float,
    maximum: float,
    rng: random.Random,
    retry_after: float | None = None,
) -> float:
    """Seconds to wait after ``failures`` failures in a row.

    Jittered over [initial, initial·2ⁿ] and at most ``maximum``, so feeds that fail together do
    not retry together; a server's ``Retry-After`` is waited for instead, also at most ``maximum``.
    """
    if retry_after is not None:
        return min(maximum, max(initial, retry_after))
    ceiling = min(maximum, initial * 2.0 ** min(failures, 64))
    return rng.uniform(initial, ceiling)


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A ``Retry-After`` header (seconds, or an HTTP date) as seconds from ``now``."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


@register
class HttpPollConnector(Connector):
    """Polls one URL on the integration's schedule; a restart resumes at the next page."""

    type = "http_poll"
    transport: httpx.AsyncBaseTransport | None = None
    """The HTTP transport; None for the network (tests may set an ``httpx.MockTransport``)."""

    def __init__(
        self, integration: Integration, workspace: Workspace, inbox: InboxWriter, metrics: Metrics
    ) -> None:
        super().__init__(integration, workspace, inbox, metrics)
        self.clock: Callable[[], datetime] = _now
        """The time; tests may replace it."""
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        """Waits between polls and retries; tests may replace it."""
        self.rng = random.Random()
        """Jitter of the backoff."""
        self.state = PollState()
        self.next_poll: datetime | None = None
        self.paused: str | None = None
        """Why the feed waits for the inbox (full, or the store refuses commits), if it does."""
        self.paginator = paginator_for(self.source)
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def source(self) -> HttpPollSource:
        """The integration's ``source:`` block."""
        source = self.integration.source
        assert isinstance(source, HttpPollSource)
        return source

    @property
    def store(self) -> ContextStore:
        """The store the inbox commits to, which also keeps the poll state."""
        return self.inbox.store

    async def open(self) -> None:
        """Read the secrets and the saved state; a missing secret raises ``MissingSecretError``."""
        if self._client is not None:
            return
        source = self.source
        auth = auth_for(source.auth, self.integration.id)
        saved = await asyncio.to_thread(self.store.poll_state, self.integration.id)
        state = PollState() if saved is None else PollState.from_json(saved)
        self.state = state.about(source.url)
        self._client = httpx.AsyncClient(
            auth=auth,
            headers={"Accept": _ACCEPT[source.format], **source.headers},
            timeout=source.timeout.total_seconds(),
            follow_redirects=True,
            verify=_tls(),
            transport=self.transport,
        )

    async def start(self) -> None:
        """Poll in the background, from the saved next page if a poll was cut short.

        A secret missing from the environment stops this feed only: the error is logged and
        shown by ``status()`` (on /healthz) while the rest of the platform runs.
        """
        try:
            await self.open()
        except MissingSecretError as error:
            self.state = self.state.failed(str(error), self.clock(), end=True)
            log.error("http_poll_not_started", integration=self.integration.id, error=str(error))
            return
        self.metrics.poll_paused.labels(self.integration.id).set(0)
        self._task = asyncio.create_task(self._run(), name=f"http-poll-{self.integration.id}")

    async def stop(self) -> None:
        """Stop polling; a page being committed is committed first."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.next_poll = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def status(self) -> dict[str, Any]:
        """Schedule and health for ``/healthz``."""
        state = self.state
        return {
            **super().status(),
            "url": self.source.url,
            "polling": self._task is not None and not self._task.done(),
            "last_success": _iso(state.last_success),
            "last_error": state.last_error,
            "last_error_at": _iso(state.last_error_at),
            "consecutive_failures": state.consecutive_failures,
            "next_poll": _iso(self.next_poll),
            "next_page": state.next_url,
            "paused": self.paused,
        }

    async def _run(self) -> None:
        while True:
            await self._wait(self._due_in())
            try:
                await self.poll_cycle()
            except Exception as error:
                # The store refused a commit, or a bug: the task must live on, and the page
                # whose commit failed is fetched again. Recorded for /healthz only, as the
                # store may be what fails.
                self.state = self.state.failed(repr(error), self.clock(), end=False)
                backoff = self.source.backoff
                delay = backoff_delay(
                    self.state.consecutive_failures,
                    backoff.initial.total_seconds(),
                    backoff.max.total_seconds(),
                    self.rng,
                )
                log.error(
                    "http_poll_failed",
                    integration=self.integration.id,
                    error=repr(error),
                    retry_in=round(delay, 3),
                )
                await self._wait(delay)

    async def _wait(self, seconds: float) -> None:
        self.next_poll = self.clock() + timedelta(seconds=seconds)
        await self.sleep(seconds)

    def _due_in(self) -> float:
        state = self.state
        if state.next_url is not None or state.started_at is None:
            return 0.0
        due = state.started_at + self.source.interval
        return max(0.0, (due - self.clock()).total_seconds())

    async def poll_cycle(self) -> None:
        """Fetch the pages of one poll: from the saved next page, or from the first."""
        if self.state.next_url is None:
            self.state = self.state.begin(self.paginator.first(self.source.url), self.clock())
        while self.state.next_url is not None:
            await self._wait_for_inbox()
            await self._poll_page(self.state.next_url)

    async def _wait_for_inbox(self) -> None:
        """Fetch nothing while the inbox refuses messages: the page could not be committed."""
        while (refusal := self.inbox.refusal()) is not None:
            self._pause(str(refusal))
            await self._wait(refusal.retry_after)

    def _pause(self, reason: str) -> None:
        if self.paused is None:
            log.warning("http_poll_paused", integration=self.integration.id, reason=reason)
            self.metrics.poll_paused.labels(self.integration.id).set(1)
        self.paused = reason

    def _resume(self) -> None:
        if self.paused is not None:
            log.info("http_poll_resumed", integration=self.integration.id)
            self.metrics.poll_paused.labels(self.integration.id).set(0)
        self.paused = None

    async def _poll_page(self, url: str) -> None:
        try:
            result = await self._fetch_retrying(url)
        except FetchError as error:
            await self._record_failure(url, error, end=True)
            return
        if isinstance(result, NotModified):
            await self._save(self.state.unchanged(self.clock()))
            self.metrics.polls.labels(self.integration.id, "not_modified").inc()
            return
        await self._take(url, result)

    async def _fetch_retrying(self, url: str) -> Page | NotModified:
        backoff = self.source.backoff
        while True:
            try:
                return await self._fetch(url)
            except FetchError as error:
                if not error.retryable:
                    raise
                delay = backoff_delay(
                    self.state.consecutive_failures + 1,
                    backoff.initial.total_seconds(),
                    backoff.max.total_seconds(),
                    self.rng,
                    error.retry_after,
                )
                await self._record_failure(url, error, end=False, retry_in=delay)
                await self._wait(delay)

    async def _take(self, url: str, page: Page) -> None:
        state, now = self.state, self.clock()
        digest = hashlib.sha256(page.body).hexdigest()[:32]
        if digest in state.digests:
            earlier = state.digests.index(digest) + 1
            message = f"page loop: page {state.pages + 1} ({url}) repeats page {earlier}"
            await self._record_failure(url, FetchError("page_loop", message), end=True)
            return
        problem: FetchError | None = None
        try:
            next_url = self.paginator.next(url, page.response, page.body)
        except PageError as error:
            next_url = None
            problem = FetchError("bad_page", f"cannot tell the page after {url}: {error}")
        pages = state.pages + 1
        if next_url is not None and (next_url == url or next_url in state.seen):
            problem = FetchError(
                "page_loop",
                f"page loop: page {pages} ({url}) leads back to {next_url}, "
                "already fetched in this poll",
            )
        elif next_url is not None and pages >= self.source.max_pages:
            problem = FetchError(
                "too_many_pages",
                f"stopped after {pages} pages (source.max_pages) though the feed names another: "
                f"{next_url}",
            )
        new_state = state.advanced(url, next_url, digest, page.response, now)
        if problem is not None:
            new_state = new_state.failed(str(problem), now, end=True)
        messages = []
        if page.body:
            messages.append(
                NewInboxMessage(
                    self.integration.id,
                    f"{url}#{digest}",
                    now,
                    page.content_type,
                    page.body,
                    url,
                )
            )
        ids = await self._save(new_state, messages)
        integration = self.integration.id
        self.metrics.polls.labels(integration, "page").inc()
        for inbox_id in ids:
            self.count_received(inbox_id)
        if problem is not None:
            self.metrics.poll_failures.labels(integration, problem.reason).inc()
            log.error("http_poll_stopped", integration=integration, url=url, error=str(problem))

    async def _fetch(self, url: str) -> Page | NotModified:
        if self._client is None:
            raise RuntimeError("the connector is not open: call open() or start() first")
        timeout = self.source.timeout.total_seconds()
        try:
            async with asyncio.timeout(timeout):
                headers = self._conditional_headers()
                async with self._client.stream("GET", url, headers=headers) as response:
                    return await self._read(response)
        except (TimeoutError, httpx.TimeoutException):
            message = f"no complete answer within {timeout:g} s (source.timeout)"
            raise FetchError("timeout", message, retryable=True) from None
        except httpx.TransportError as error:
            message = f"connection failed: {type(error).__name__} {error}".rstrip()
            raise FetchError("connection", message, retryable=True) from None
        except httpx.TooManyRedirects as error:
            raise FetchError("redirects", str(error)) from None
        except TokenError as error:
            code = error.status_code
            retryable = code is None or code >= 500 or code in _RETRIED_STATUS
            raise FetchError("token", str(error), retryable=retryable) from None

    def _conditional_headers(self) -> dict[str, str]:
        state = self.state
        if state.pages > 0:
            return {}
        headers = {}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        return headers

    async def _read(self, response: httpx.Response) -> Page | NotModified:
        status = response.status_code
        if status == 304:
            return NotModified()
        answered = f"the server answered {status} {response.reason_phrase}".rstrip()
        if status in _RETRIED_STATUS or status >= 500:
            reason = _RETRIED_STATUS.get(status, "server_error")
            wait = retry_after_seconds(response.headers.get("retry-after"), self.clock())
            raise FetchError(reason, answered, retryable=True, retry_after=wait)
        if not 200 <= status < 300:
            raise FetchError("client_error", f"{answered}; trying again at the next interval")
        content_type = response.headers.get("content-type", "application/octet-stream")
        return Page(await self._read_body(response, content_type), content_type, response)

    async def _read_body(self, response: httpx.Response, content_type: str) -> bytes:
        limit = self.source.max_bytes
        declared = _declared_length(response)
        announced = declared is not None and declared > limit
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            # An announced oversize is refused after the part the dead letter keeps.
            if len(body) > limit or (announced and len(body) >= DEAD_LETTER_BYTES):
                size = f"{declared} bytes" if announced else f"more than {limit} bytes"
                raise TooLargeError(
                    f"response larger than {limit} bytes (source.max_bytes): {size}; "
                    f"read no further, the first {DEAD_LETTER_BYTES // 1024} KiB are kept",
                    bytes(body[:DEAD_LETTER_BYTES]),
                    content_type,
                )
        return bytes(body)

    async def _record_failure(
        self, url: str, error: FetchError, end: bool, retry_in: float | None = None
    ) -> None:
        now = self.clock()
        dead_letters = []
        if isinstance(error, TooLargeError):
            digest = hashlib.sha256(error.prefix).hexdigest()[:32]
            dead_letters.append(
                NewDeadLetter(
                    source=self.integration.id,
                    message_id=f"{url}#{digest}",
                    received_at=now,
                    content_type=error.content_type,
                    body=error.prefix,
                    topic=url,
                    stage="fetch",
                    reason=str(error),
                )
            )
        await self._save(self.state.failed(f"{url}: {error}", now, end), (), dead_letters)
        integration = self.integration.id
        self.metrics.polls.labels(integration, "failed").inc()
        self.metrics.poll_failures.labels(integration, error.reason).inc()
        if dead_letters:
            self.metrics.dead_letters.labels("fetch").inc()
        log.warning(
            "http_poll_failed",
            integration=integration,
            url=url,
            reason=error.reason,
            error=str(error),
            retry_in=None if retry_in is None else round(retry_in, 3),
            failures=self.state.consecutive_failures,
        )

    async def _save(
        self,
        state: PollState,
        messages: Sequence[NewInboxMessage] = (),
        dead_letters: Sequence[NewDeadLetter] = (),
    ) -> list[Appended]:
        commit = asyncio.ensure_future(
            asyncio.to_thread(
                self.store.poll_commit,
                self.integration.id,
                state.to_json(),
                messages,
                dead_letters,
            )
        )
        try:
            # A commit stuck behind a locked store shows as a pause, as a refused one does.
            if not (await asyncio.wait({commit}, timeout=self.inbox.max_wait))[0]:
                self._pause(f"the store has not finished a commit for {self.inbox.max_wait:g} s")
            ids = await asyncio.shield(commit)
        except asyncio.CancelledError:
            # Stopped while committing: the commit finishes, so memory matches the store.
            with contextlib.suppress(Exception):
                await commit
                self.state = state
            raise
        except Exception as error:
            # The state stays where the store has it: the page is fetched again after a backoff.
            self._pause(f"the store refused the commit: {error!r}")
            raise
        self.state = state
        self._resume()
        if any(type(inbox_id) is int for inbox_id in ids):
            self.inbox.on_commit()
        return ids


def _declared_length(response: httpx.Response) -> int | None:
    # With a Content-Encoding the length is of the compressed body, not of what is read.
    if response.headers.get("content-encoding", "identity") != "identity":
        return None
    value = response.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
