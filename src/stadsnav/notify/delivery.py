"""HTTP delivery of the notifications waiting in each tenant's outbox (GS CIM 009, 5.8.6).

Each subscription gets one request at a time, so its notifications arrive in order; requests to
different subscribers run side by side, a bounded number at once, each with a timeout, so a slow
or dead endpoint holds up no one else. A failed attempt is retried with a doubling wait; what
waits for one subscriber meanwhile goes out with the next attempt, merged (the newest state of
each entity). Throttling spaces two notifications of a subscription at least that far apart.
Each attempt counts as sent (timesSent, lastNotification) just before its request goes out; its
outcome (lastSuccess or lastFailure, timesFailed) is recorded once the answer came.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import anyio.to_thread
import httpx
import orjson
import structlog

from stadsnav.model.context import link_header
from stadsnav.model.render import format_time
from stadsnav.notify.feed import TenantFeed, utc_now
from stadsnav.notify.matching import Matcher
from stadsnav.notify.subscription import JSON_LD
from stadsnav.store.sql_subscriptions import PendingNotification
from stadsnav.workspace.models import NotificationSettings

log = structlog.get_logger("stadsnav.notify")

Key = tuple[str, str]
"""(tenant, subscription id)."""


def notification_body(
    subscription_id: str, data: list[dict[str, Any]], now: datetime, context: str | None
) -> bytes:
    """A Notification (GS CIM 009, 5.3.1); with ``context``, JSON-LD carrying it in the body
    and in each entity."""
    body: dict[str, Any] = {
        "id": f"urn:ngsi-ld:Notification:{uuid.uuid4()}",
        "type": "Notification",
        "subscriptionId": subscription_id,
        "notifiedAt": format_time(now),
        "data": data if context is None else [{**item, "@context": context} for item in data],
    }
    if context is not None:
        body["@context"] = context
    return orjson.dumps(body)


def notification_headers(matcher: Matcher, tenant: str) -> dict[str, str]:
    """Content-Type, the Link to the subscription's @context (for JSON), the tenant and the
    subscription's receiverInfo."""
    endpoint = matcher.endpoint
    headers = {"Content-Type": endpoint.accept}
    if endpoint.accept != JSON_LD:
        headers["Link"] = link_header(matcher.record.jsonld_context)
    if tenant:
        headers["NGSILD-Tenant"] = tenant
    headers.update(endpoint.headers)
    return headers


def merge(
    rows: Sequence[PendingNotification], limit: int
) -> tuple[list[int], list[dict[str, Any]]]:
    """The ids of the rows that fit in one notification of at most ``limit`` entities (at least
    one row), and their entities: the newest of each id, in the order they first came."""
    ids: list[int] = []
    merged: dict[Any, dict[str, Any]] = {}
    for row in rows:
        if ids and len(merged) + len(row.data) > limit:
            break
        ids.append(row.id)
        for position, entity in enumerate(row.data):
            merged[entity.get("id", (row.id, position))] = entity
    return ids, list(merged.values())


class Deliverer:
    """Sends what waits in the outboxes, and records how each attempt went."""

    def __init__(self, settings: NotificationSettings, client: httpx.AsyncClient) -> None:
        self.settings = settings
        self.client = client
        self._slots = asyncio.Semaphore(settings.max_concurrent)
        self._busy: set[Key] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._failures: dict[Key, int] = {}
        self._retry_at: dict[Key, float] = {}
        self._last_sent: dict[Key, datetime] = {}
        self._in_flight: dict[Key, asyncio.Event] = {}
        """Set when the outcome of the request under way for the subscription is recorded."""

    async def dispatch(self, feed: TenantFeed) -> None:
        """Start sending, for each subscription of the tenant with notifications waiting."""
        waiting = await anyio.to_thread.run_sync(feed.store.pending_counts)
        now = utc_now()
        for subscription_id in waiting:
            key = (feed.name, subscription_id)
            matcher = feed.matchers.get(subscription_id)
            if key in self._busy or matcher is None:
                continue
            if matcher.status(now) != "active":
                # Paused or expired: what waits is not delivered (5.2.12 isActive, expiresAt).
                await anyio.to_thread.run_sync(feed.store.drop_notifications, subscription_id)
                continue
            if self._retry_at.get(key, 0.0) > time.monotonic() or self._throttled(
                key, matcher, now
            ):
                continue
            self._busy.add(key)
            task = asyncio.create_task(self._deliver(feed, matcher, key))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def settled(self, key: Key, timeout: float) -> None:
        """Wait, at most ``timeout`` seconds, until the outcome of a request under way for the
        subscription ``key`` is recorded; at once when there is none."""
        recorded = self._in_flight.get(key)
        if recorded is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(recorded.wait(), timeout)

    def _throttled(self, key: Key, matcher: Matcher, now: datetime) -> bool:
        if matcher.throttling is None:
            return False
        last = self._last_sent.get(key, matcher.record.status.last_notification)
        return last is not None and (now - last).total_seconds() < matcher.throttling

    async def _deliver(self, feed: TenantFeed, matcher: Matcher, key: Key) -> None:
        try:
            async with self._slots:
                await self._attempt(feed, matcher, key)
        except Exception:
            log.exception("notification_error", tenant=feed.name, subscription=matcher.id)
        finally:
            self._busy.discard(key)

    async def _attempt(self, feed: TenantFeed, matcher: Matcher, key: Key) -> None:
        store = feed.store
        limit = self.settings.max_entities
        rows = await anyio.to_thread.run_sync(store.pending_notifications, matcher.id, limit)
        if not rows:
            return
        ids, data = merge(rows, limit)
        now = utc_now()
        context = matcher.record.jsonld_context if matcher.endpoint.accept == JSON_LD else None
        body = notification_body(matcher.id, data, now, context)
        # Counted before it goes out: a subscriber that reads the subscription while it handles
        # the notification finds it in timesSent and lastNotification (5.2.14, ETSI 046_11).
        if not await anyio.to_thread.run_sync(store.start_notifications, matcher.id, now):
            return  # deleted meanwhile; its outbox went with it
        recorded = self._in_flight[key] = asyncio.Event()
        try:
            ok, reason = await self._post(matcher, body, notification_headers(matcher, feed.name))
            self._last_sent[key] = now
            attempts = max(row.attempts for row in rows if row.id in ids) + 1
            await anyio.to_thread.run_sync(
                store.finish_notifications, matcher.id, ids, now, ok, self.settings.max_attempts
            )
        finally:
            recorded.set()
            del self._in_flight[key]
        if ok:
            self._failures.pop(key, None)
            self._retry_at.pop(key, None)
            return
        given_up = attempts >= self.settings.max_attempts
        failures = 0 if given_up else self._failures.get(key, 0) + 1
        self._failures[key] = failures
        self._retry_at[key] = time.monotonic() + self._backoff(failures, matcher)
        log.warning(
            "notification_failed",
            tenant=feed.name,
            subscription=matcher.id,
            endpoint=matcher.endpoint.uri,
            reason=reason,
            attempt=attempts,
            given_up=given_up,
        )

    def _backoff(self, failures: int, matcher: Matcher) -> float:
        first = self.settings.retry_backoff.total_seconds()
        wait: float = min(
            first * 2 ** max(failures - 1, 0), self.settings.retry_max.total_seconds()
        )
        return max(wait, matcher.endpoint.cooldown or 0.0)

    async def _post(
        self, matcher: Matcher, body: bytes, headers: dict[str, str]
    ) -> tuple[bool, str]:
        timeout = matcher.endpoint.timeout or self.settings.timeout
        try:
            response = await self.client.post(
                matcher.endpoint.uri, content=body, headers=headers, timeout=timeout
            )
        except httpx.HTTPError as error:
            return False, f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        if 200 <= response.status_code < 300:
            return True, ""
        return False, f"HTTP {response.status_code}"

    async def close(self, grace: float) -> None:
        """Let the requests under way finish for ``grace`` seconds, then cancel them."""
        tasks = list(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
