"""One tenant's side of the notifier: its subscriptions, its cursor in the change feed, and the
last state seen of the entities they may concern.

The change feed gives each changed entity as it is now; which attributes were created, updated
or deleted, and their previous values, come from comparing with the state seen at the last look.
That state is kept in memory for the entities of the types some subscription selects, and read
from the store (as of the cursor) when the notifier starts or a subscription selects new types.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio.to_thread
import structlog

from stadsnav.model.entity import StoredEntity
from stadsnav.model.jsonld import Vocabulary
from stadsnav.notify import changes
from stadsnav.notify.matching import Matcher, compile_subscription
from stadsnav.notify.owners import SubscriptionOwners
from stadsnav.store.base import ContextStore
from stadsnav.store.sql_subscriptions import SubscriptionRecord

log = structlog.get_logger("stadsnav.notify")

Resolve = Callable[[Any, ContextStore], Awaitable[Vocabulary]]
"""The vocabulary of an @context (a URL, an object or a list), for a tenant's store."""

RETRY_COMPILE_SECONDS = 10.0
"""How soon a subscription whose @context could not be loaded is tried again."""
CURSOR_SAVE_SECONDS = 1.0
"""How often the cursor is saved when changes matched nothing: after a crash, at most this much
of the change feed is matched again."""


@dataclass(slots=True)
class TenantFeed:
    """The subscriptions of one tenant and what the notifier knows of its entities."""

    name: str
    """The tenant ('' for the default one)."""
    store: ContextStore
    max_entities: int = 1000
    """Most entities in one notification."""
    matchers: dict[str, Matcher] = field(default_factory=dict)
    version: int | None = None
    """The subscriptions' version they were read at."""
    cursor: int | None = None
    """The change version matched up to; None while there is no subscription."""
    snapshot: dict[str, StoredEntity] = field(default_factory=dict)
    uncertain: set[str] = field(default_factory=set)
    """Ids of entities that changed while no notifier ran: their state before is unknown."""
    types: frozenset[str] | None = frozenset()
    """The types the snapshot holds (None: all)."""
    saved_cursor: int | None = None
    saved_at: float = 0.0
    next_periodic: dict[str, datetime] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    """Subscription id → why it could not be compiled (its @context failed to load)."""
    retry_failed_at: float = 0.0
    owners: SubscriptionOwners | None = None
    """The keys that own the subscriptions (None: every subscription notifies everything)."""

    async def refresh(self, resolve: Resolve) -> None:
        """Read the subscriptions again if one changed, or one could not be compiled."""
        version = await anyio.to_thread.run_sync(self.store.subscriptions_version)
        if version == self.version and (not self.failed or time.monotonic() < self.retry_failed_at):
            return
        _, records = await anyio.to_thread.run_sync(self.store.list_subscriptions)
        matchers: dict[str, Matcher] = {}
        failed: dict[str, str] = {}
        for record in records:
            known = self.matchers.get(record.id)
            if known is not None and known.record.modified_at == record.modified_at:
                # Same subscription: keep it compiled, with its new delivery status.
                known.record = record
                matchers[record.id] = known
                continue
            try:
                q_terms = await resolve(record.context, self.store)
                render_terms = await resolve(record.jsonld_context, self.store)
                visible = None if self.owners is None else self.owners.visible(record.owner)
                matchers[record.id] = compile_subscription(record, q_terms, render_terms, visible)
            except Exception as error:  # a context that cannot be loaded: try again next time
                failed[record.id] = str(error)
                if self.failed.get(record.id) != str(error):
                    log.warning("subscription_not_ready", subscription=record.id, reason=str(error))
        self.matchers, self.failed, self.version = matchers, failed, version
        self.retry_failed_at = time.monotonic() + RETRY_COMPILE_SECONDS
        await anyio.to_thread.run_sync(self._follow, records)

    def _follow(self, records: list[SubscriptionRecord]) -> None:
        """Start, stop or widen following the change feed for the subscriptions there are."""
        if not records:
            if self.cursor is not None:
                self.store.save_notifier_cursor(self.cursor)
            self.cursor, self.snapshot, self.uncertain, self.types = None, {}, set(), frozenset()
            return
        if self.cursor is None:
            # Changes from before the oldest subscription concern none of them.
            oldest = min(record.created_version for record in records)
            self.cursor = max(self.store.notifier_cursor() or 0, oldest)
            self.saved_cursor = self.cursor
        self._seed(self._types())

    def _types(self) -> frozenset[str] | None:
        found: set[str] = set()
        for matcher in self.matchers.values():
            if matcher.interval is not None:
                continue
            types = matcher.candidate_types()
            if types is None:
                return None
            found |= types
        return frozenset(found)

    def _seed(self, wanted: frozenset[str] | None) -> None:
        assert self.cursor is not None
        held = self.types
        if wanted is None:
            missing: list[str] | None = None if held is not None else []
        else:
            missing = [] if held is None else sorted(wanted - held)
            # What no subscription concerns any more is forgotten.
            self.snapshot = {
                k: v for k, v in self.snapshot.items() if not wanted.isdisjoint(v.types)
            }
        if missing is None or missing:
            entities, later = self.store.entities_as_of(self.cursor, missing)
            self.snapshot.update((entity.id, entity) for entity in entities)
            self.uncertain.update(later)
        self.types = wanted

    def scan(self, now: datetime) -> int:
        """Match the changes after the cursor and queue their notifications; how many."""
        if self.cursor is None:
            return 0
        # With only periodic subscriptions there are no types to read: just the version.
        types = None if self.types is None else sorted(self.types)
        feed = self.store.entity_feed(self.cursor, types)
        live = [
            m
            for m in self.matchers.values()
            if m.interval is None and m.status(now) == "active" and self._owner_active(m, now)
        ]
        # One notification per subscription and look, of at most max_entities entities.
        found: dict[str, dict[Any, dict[str, Any]]] = {}
        for change in self._changes(feed.changed, feed.removed):
            for matcher in live:
                for entity in matcher.data(change, self.store, now) or ():
                    entities = found.setdefault(matcher.id, {})
                    entities[entity.get("id", len(entities))] = entity
        queued = [
            (subscription_id, chunk)
            for subscription_id, entities in found.items()
            for chunk in _chunks(list(entities.values()), self.max_entities)
        ]
        queued += self._periodic(now)
        self._advance(feed.version, queued, now)
        return len(queued)

    def _changes(
        self, changed: list[StoredEntity], removed: list[tuple[str, str]]
    ) -> list[changes.Change]:
        found: list[changes.Change] = []
        for entity_id, entity_type in removed:
            previous = self.snapshot.pop(entity_id, None)
            self.uncertain.discard(entity_id)
            if previous is not None or self.types is None or entity_type in self.types:
                found.append(changes.deleted(entity_id, entity_type, previous))
        for entity in changed:
            previous = self.snapshot.get(entity.id)
            self.snapshot[entity.id] = entity
            if previous is not None:
                change = changes.updated(previous, entity)
            elif entity.id in self.uncertain:
                change = changes.unknown_previous(entity)
            else:
                change = changes.created(entity)
            self.uncertain.discard(entity.id)
            if change is not None:
                found.append(change)
        return found

    def _periodic(self, now: datetime) -> list[tuple[str, list[dict[str, Any]]]]:
        queued: list[tuple[str, list[dict[str, Any]]]] = []
        due = [
            matcher
            for matcher in self.matchers.values()
            if matcher.interval is not None and self._due(matcher, now)
        ]
        if not due:
            return queued
        waiting = self.store.pending_counts()
        for matcher in due:
            assert matcher.interval is not None
            self.next_periodic[matcher.id] = now + timedelta(seconds=matcher.interval)
            # One periodic notification waiting is enough: the next one would repeat it.
            if matcher.status(now) != "active" or waiting.get(matcher.id):
                continue
            if not self._owner_active(matcher, now):
                continue
            entities = matcher.current(self.store)
            rendered = matcher.rendering.entities(entities, self.store) if entities else []
            queued += [(matcher.id, chunk) for chunk in _chunks(rendered, self.max_entities)]
        return queued

    def _owner_active(self, matcher: Matcher, now: datetime) -> bool:
        return self.owners is None or self.owners.active(matcher.record.owner, now)

    def _due(self, matcher: Matcher, now: datetime) -> bool:
        assert matcher.interval is not None
        due = self.next_periodic.get(matcher.id)
        if due is None:
            record = matcher.record
            last = record.status.last_notification
            start = max(record.modified_at, last) if last is not None else record.modified_at
            due = start + timedelta(seconds=matcher.interval)
            self.next_periodic[matcher.id] = due
        return due <= now

    def _advance(
        self, version: int, queued: list[tuple[str, list[dict[str, Any]]]], now: datetime
    ) -> None:
        self.cursor = version
        moved = version != self.saved_cursor
        if queued or (moved and time.monotonic() - self.saved_at >= CURSOR_SAVE_SECONDS):
            self.store.queue_notifications(queued, now, version if moved else None)
            self.saved_cursor, self.saved_at = version, time.monotonic()

    def save_cursor(self) -> None:
        """Save the cursor now (the notifier stops)."""
        if self.cursor is not None and self.cursor != self.saved_cursor:
            self.store.save_notifier_cursor(self.cursor)
            self.saved_cursor = self.cursor


def _chunks(items: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def utc_now() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)
