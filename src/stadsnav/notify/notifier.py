"""The notifier: NGSI-LD subscriptions served from the change feed, for every tenant.

It runs as a task of its own next to the pipeline and reads the store; ingest never waits for
it. Each round, per tenant: read the subscriptions if one changed, match the entity changes
after the cursor, queue what they notify (with the new cursor, in one transaction), and start
delivering what waits.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import anyio.to_thread
import httpx
import structlog

from stadsnav.api.ngsild.contexts import ContextResolver
from stadsnav.api.ngsild.jsonld import core_vocabulary
from stadsnav.model.jsonld import Vocabulary, is_core_context
from stadsnav.notify.delivery import Deliverer
from stadsnav.notify.feed import TenantFeed, utc_now
from stadsnav.notify.owners import SubscriptionOwners
from stadsnav.store.base import ContextStore
from stadsnav.store.sql_contexts import JsonLdContextRows
from stadsnav.workspace import Workspace
from stadsnav.workspace.models import NotificationSettings

log = structlog.get_logger("stadsnav.notify")

SETTLE_SECONDS = 0.5
"""Longest a read of a subscription waits for the outcome of its notification under way."""
STOP_GRACE_SECONDS = 2.0
"""How long notifications under way may finish when the notifier stops; the rest are sent after
the restart."""


class Notifier:
    """Matches entity changes against the subscriptions of every tenant and notifies them."""

    def __init__(
        self,
        store: ContextStore,
        settings: NotificationSettings,
        contexts: ContextResolver,
        owners: SubscriptionOwners | None = None,
    ) -> None:
        self.store = store
        self.owners = owners
        """The keys that own subscriptions: what their notifications may carry, and when."""
        self.settings = settings
        self.contexts = contexts
        self._feeds: dict[str, TenantFeed] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping: asyncio.Event | None = None
        self._client: httpx.AsyncClient | None = None
        self._deliverer: Deliverer | None = None
        self._matching: dict[str, asyncio.Lock] = {}
        """Per tenant: held while its subscriptions are read and its changes matched, so a
        subscription request of one tenant waits for no other tenant's round."""

    @classmethod
    def of(cls, workspace: Workspace, store: ContextStore) -> Notifier:
        """The notifier of a workspace's ``[notifications]`` settings and @contexts."""
        owners = SubscriptionOwners(store, workspace)
        return cls(store, workspace.settings.notifications, ContextResolver.of(workspace), owners)

    def start(self) -> None:
        """Start the rounds, in a task of the running event loop."""
        self._stopping = asyncio.Event()
        # Redirects are not followed: a notification goes to the endpoint the subscriber named.
        self._client = httpx.AsyncClient(timeout=self.settings.timeout, follow_redirects=False)
        self._deliverer = Deliverer(self.settings, self._client)
        self._task = asyncio.create_task(self._run(), name="notifier")

    async def stop(self) -> None:
        """Finish the round under way, give deliveries a moment, save the cursors."""
        if self._task is None or self._stopping is None:
            return
        self._stopping.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self._deliverer is not None:
            await self._deliverer.close(STOP_GRACE_SECONDS)
        for feed in list(self._feeds.values()):
            with contextlib.suppress(Exception):
                await anyio.to_thread.run_sync(feed.save_cursor)
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        assert self._stopping is not None
        while not self._stopping.is_set():
            try:
                await self.round()
            except Exception:
                log.exception("notifier_round_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.settings.poll_interval)

    async def round(self) -> None:
        """One round over every tenant: match the changes, queue and send what they notify."""
        for feed in await anyio.to_thread.run_sync(self._tenant_feeds):
            try:
                await self._serve(feed)
            except Exception:  # one tenant's trouble holds up no other tenant
                log.exception("notifier_tenant_failed", tenant=feed.name)

    async def follow(self, tenant: str, store: ContextStore) -> None:
        """Take in a tenant's subscriptions now, not at the next round (one was created or
        changed): the entities they concern are read as they are before any later change, so
        that change is compared with them (attributeDeleted, showChanges, the previous values of
        a deleted entity). Does nothing while the notifier does not run: in a process started
        without ingest, a change right after subscribing is compared with an unknown state."""
        if self._task is None:
            return
        try:
            await self._match(self._feed(tenant, store))
        except Exception:  # the subscription is stored: the next round takes it in
            log.exception("notifier_tenant_failed", tenant=tenant)

    async def settled(self, tenant: str, subscription_id: str) -> None:
        """Wait (at most ``SETTLE_SECONDS``) for the outcome of a notification of the subscription
        under way, so a subscriber that answered it and then reads the subscription finds its
        status, lastSuccess or lastFailure recorded (5.2.14)."""
        if self._deliverer is not None:
            await self._deliverer.settled((tenant, subscription_id), SETTLE_SECONDS)

    async def _serve(self, feed: TenantFeed) -> None:
        await self._match(feed)
        if feed.matchers and self._deliverer is not None:
            await self._deliverer.dispatch(feed)

    async def _match(self, feed: TenantFeed) -> None:
        async with self._matching.setdefault(feed.name, asyncio.Lock()):
            await feed.refresh(self._vocabulary)
            if feed.cursor is not None:
                await anyio.to_thread.run_sync(feed.scan, utc_now())

    def _tenant_feeds(self) -> list[TenantFeed]:
        feeds = [self._feed("", self.store)]
        for name in self.store.tenants():
            if name not in self._feeds:
                store = self.store.for_tenant(name, False)
                if store is None:
                    continue
                self._feeds[name] = TenantFeed(
                    name, store, self.settings.max_entities, owners=self.owners
                )
            feeds.append(self._feeds[name])
        return feeds

    def _feed(self, name: str, store: ContextStore) -> TenantFeed:
        feed = self._feeds.get(name)
        if feed is None:
            feed = self._feeds[name] = TenantFeed(
                name, store, self.settings.max_entities, owners=self.owners
            )
        return feed

    async def _vocabulary(self, context: Any, store: ContextStore) -> Vocabulary:
        """The vocabulary of a subscription's @context, hosted ones read from its tenant."""
        if context is None or (isinstance(context, str) and is_core_context(context)):
            return core_vocabulary()
        hosting = store if isinstance(store, JsonLdContextRows) else None
        return Vocabulary(await self.contexts.resolve(context, hosting), context)
