"""A data product's view of the store: listed entities with their newest observed values."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from stadsnav.api.products.filters import ItemFilter
from stadsnav.api.products.items import BaseItem, ItemBuilder, attribute_value
from stadsnav.api.products.nearby import Near, nearby
from stadsnav.api.products.profile import Profile
from stadsnav.model.render import format_time
from stadsnav.store.base import ContextStore, StoredEntity
from stadsnav.workspace import Product, Workspace

__all__ = ["Near", "ProductView", "Snapshot", "utc_now"]

log = structlog.get_logger("stadsnav.products")

INLINE_PATCH = 50
"""Changed entities a request patches into the cached items itself; more are patched aside."""
PROFILE_CHUNK = timedelta(days=7)
"""History is read a week at a time, so a year's profile never holds the year in memory."""


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The base items of one product at one store version; replaced, never changed."""

    version: int
    listed: dict[str, StoredEntity]
    observers: dict[str, StoredEntity]
    """Related observing entities by id (empty when items observe themselves)."""
    targets: dict[str, frozenset[str]]
    """Listed entity id → the ids of the observing entities related to it."""
    items: dict[str, BaseItem]
    ordered: list[BaseItem]
    """The items ordered by id."""


class ProductView:
    """Builds the items of one product from the store, reusing them while nothing changed."""

    def __init__(
        self, product: Product, workspace: Workspace, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.product = product
        self.clock = clock
        """The time staleness is judged at: a test seam."""
        self.observation = product.observation
        freshness: timedelta | None = None
        if self.observation is not None:
            freshness = workspace.datasets[self.observation.dataset].freshness
        self.freshness = freshness
        self.units = _units(product, workspace)
        """Output field → UN/CEFACT unit code, as the integrations' mappings declare it."""
        self.builder = ItemBuilder(product, freshness)
        self.listed_types = frozenset(product.entity_types)
        self.observer_type = self.observation.entity_type if self.observation else None
        self.types = [*product.entity_types, *filter(None, [self.observer_type])]
        """Every entity type the product reads: its own and the one it observes."""
        self.own_types = frozenset(self.types)
        self._lock = threading.Lock()
        # One long-lived thread: a store keeps a connection per thread, so a thread per
        # refresh would leave a connection (and its page cache) behind each time.
        self._refresher = ThreadPoolExecutor(1, thread_name_prefix=f"product-{product.id}")
        self._cached: tuple[object, Snapshot] | None = None

    @property
    def related(self) -> bool:
        """Whether values come from related observing entities rather than the item itself."""
        return self.observer_type is not None

    def items(
        self,
        store: ContextStore,
        near: Near | None = None,
        filters: Sequence[ItemFilter] = (),
    ) -> list[dict[str, Any]]:
        """Every listed entity that passes the filters, nearest first when ``near`` is given."""
        snapshot = self.snapshot(store)
        cutoff = self.builder.cutoff(self.clock())
        complete = self.builder.complete
        found: Iterable[tuple[BaseItem, float | None]] = (
            ((base, None) for base in snapshot.ordered)
            if near is None
            else nearby(snapshot.ordered, near)
        )
        items = []
        for base, distance in found:
            item = complete(base, cutoff)
            if distance is not None:
                item["distance"] = round(distance)
            if all(f.passes(item) for f in filters):
                items.append(item)
        if near is not None:
            items.sort(key=lambda item: item["distance"])
        return items

    def item(self, store: ContextStore, entity: StoredEntity) -> dict[str, Any]:
        """One listed entity as an item."""
        base = self.snapshot(store).items.get(entity.id)
        if base is None:  # stored after the snapshot was taken
            base = self.builder.build(entity, self._observers_of(store, entity.id))
        return self.builder.complete(base, self.builder.cutoff(self.clock()))

    def find(self, store: ContextStore, key: str) -> StoredEntity | None:
        """A listed entity by its full id or by the last part of it (``byske-havsbad``)."""
        return _by_key(self.snapshot(store).listed, key)

    def history(
        self, store: ContextStore, entity: StoredEntity, start: datetime, end: datetime, limit: int
    ) -> list[dict[str, Any]]:
        """Observed values of one listed entity in ``[start, end)``, oldest first."""
        rows = self._observed_rows(store, self._sources(store, entity), start, end)
        # Sorted by time, not by formatted text: "…:00.5Z" sorts before "…:00Z" as text.
        rows.sort(key=lambda pair: pair[0])
        return [{"observedAt": format_time(moment), **row} for moment, row in rows[-limit:]]

    def profile(
        self, store: ContextStore, entity: StoredEntity, start: datetime, end: datetime, zone: str
    ) -> list[dict[str, Any]]:
        """Mean observed values by local weekday and hour over ``[start, end)``."""
        assert self.observation is not None
        profile = Profile(self.observation.values, zone)
        sources = self._sources(store, entity)
        chunk_start = start
        while chunk_start < end:
            chunk_end = min(chunk_start + PROFILE_CHUNK, end)
            for moment, row in self._observed_rows(store, sources, chunk_start, chunk_end):
                profile.add(moment, row)
            chunk_start = chunk_end
        return profile.rows()

    def snapshot(self, store: ContextStore) -> Snapshot:
        """The base items as of now: the cached ones, patched with what changed since.

        While one request patches the cache, others answer from the cached items instead of
        waiting, so their answer is at most that one patch behind the store.
        """
        cached = self._cached_for(store)
        if cached is None:
            with self._lock:
                return self._refreshed(store)
        # Checked before asking the store: reading what changed is the expensive part.
        if not self._lock.acquire(blocking=False):
            return cached
        handed_over = False
        try:
            current = self._cached_for(store) or cached
            waiting = store.count_changes(self.types, current.version, INLINE_PATCH + 1)
            if waiting <= INLINE_PATCH:
                return self._refreshed(store)
            # A large change (a feed's whole page): this answer comes from the cached items
            # and the patch is made aside, so no request waits for it.
            self._refresher.submit(self._refresh_and_release, store)
            handed_over = True
            return current
        finally:
            if not handed_over:
                self._lock.release()

    def _refresh_and_release(self, store: ContextStore) -> None:
        try:
            self._refreshed(store)
        except Exception:
            log.exception("product_refresh_failed", product=self.product.id)
        finally:
            self._lock.release()

    def _refreshed(self, store: ContextStore) -> Snapshot:
        """The cache brought up to date from wherever it is; the caller holds the lock."""
        current = self._cached_for(store)
        delta = store.entity_delta(self.types, current.version if current else None)
        unchanged = not (delta.changed or delta.removed)
        if current is not None and unchanged and delta.version == current.version:
            return current
        return self._keep(
            store, self._patched(current, delta.changed, delta.version, delta.removed)
        )

    def _keep(self, store: object, snapshot: Snapshot) -> Snapshot:
        self._cached = (store, snapshot)
        return snapshot

    def _cached_for(self, store: object) -> Snapshot | None:
        # A view outlives no app, but tests may serve one product from several stores.
        if self._cached is None or self._cached[0] is not store:
            return None
        return self._cached[1]

    def _patched(
        self,
        old: Snapshot | None,
        changed: Sequence[StoredEntity],
        version: int,
        removed: Sequence[str] = (),
    ) -> Snapshot:
        """``old`` (or an empty snapshot) without the removed entities, with the changed ones,
        and with the items they affect rebuilt."""
        if old is not None and not changed and not removed:
            return replace(old, version=version)
        listed = dict(old.listed) if old else {}
        observers = dict(old.observers) if old else {}
        targets = dict(old.targets) if old else {}
        items = dict(old.items) if old else {}
        affected: set[str] = set()
        # An entity of another type too is not this product's: that type may be in a dataset
        # the product's readers may not read (and it may have just gained it).
        foreign = {e.id for e in changed if not self.own_types.issuperset(e.types)}
        for entity_id in [*removed, *foreign]:
            if listed.pop(entity_id, None) is not None:
                items.pop(entity_id, None)
            before = self._target(observers.pop(entity_id, None))
            if before is not None:
                targets[before] = targets.get(before, frozenset()) - {entity_id}
                affected.add(before)
        for entity in changed:
            if entity.id in foreign:
                continue
            if entity.type in self.listed_types:
                listed[entity.id] = entity
                affected.add(entity.id)
            elif entity.type == self.observer_type:
                before = self._target(observers.get(entity.id))
                after = self._target(entity)
                observers[entity.id] = entity
                if before != after and before is not None:
                    targets[before] = targets.get(before, frozenset()) - {entity.id}
                if after is not None:
                    targets[after] = targets.get(after, frozenset()) | {entity.id}
                affected.update(t for t in (before, after) if t is not None)
        for entity_id in affected & listed.keys():
            related = [observers[o] for o in sorted(targets.get(entity_id, ()))]
            items[entity_id] = self.builder.build(listed[entity_id], related)
        if old is not None and items.keys() == old.items.keys():
            ordered = [items[base.id] for base in old.ordered]
        else:
            ordered = [items[key] for key in sorted(items)]
        return Snapshot(version, listed, observers, targets, items, ordered)

    def _target(self, observer: StoredEntity | None) -> str | None:
        if observer is None or self.observation is None or self.observation.relationship is None:
            return None
        target = attribute_value(observer.attributes.get(self.observation.relationship))
        return target if isinstance(target, str) else None

    def _observers_of(self, store: ContextStore, entity_id: str) -> list[StoredEntity]:
        if self.observer_type is None:
            return []
        snapshot = self.snapshot(store)
        return [snapshot.observers[o] for o in sorted(snapshot.targets.get(entity_id, ()))]

    def _sources(self, store: ContextStore, entity: StoredEntity) -> list[StoredEntity]:
        """The entities whose history holds a listed entity's observed values."""
        return self._observers_of(store, entity.id) if self.related else [entity]

    def _observed_rows(
        self, store: ContextStore, sources: list[StoredEntity], start: datetime, end: datetime
    ) -> list[tuple[datetime, dict[str, Any]]]:
        """One row per observing entity and observation time in ``[start, end)``, unsorted."""
        assert self.observation is not None
        values = self.observation.values
        attrs = list(dict.fromkeys(values.values()))
        rows: list[tuple[datetime, dict[str, Any]]] = []
        for source in sources:
            history = store.history(source.id, attrs, start, end)
            by_moment: dict[datetime, dict[str, Any]] = {}
            for field, attr in values.items():
                for instance in history.get(attr, []):
                    row = by_moment.get(instance.observed_at)
                    if row is None:
                        row = by_moment[instance.observed_at] = dict.fromkeys(values)
                        if self.related:
                            row["sensor"] = source.id
                    row[field] = instance.attribute.get("value")
            rows.extend(by_moment.items())
        return rows


def _by_key(listed: dict[str, StoredEntity], key: str) -> StoredEntity | None:
    """The entity whose id is ``key`` or, for a short key, the only one whose id ends in it."""
    if key in listed or key.startswith("urn:"):
        return listed.get(key)
    prefix, suffix = "urn:ngsi-ld:", ":" + key
    found = [
        e for i, e in listed.items() if i.startswith(prefix) and i[len(prefix) :].endswith(suffix)
    ]
    return found[0] if len(found) == 1 else None


def _units(product: Product, workspace: Workspace) -> dict[str, str]:
    # Known from the workspace, so no request has to scan the stored observations for it.
    observation = product.observation
    if observation is None:
        return {}
    observing = [observation.entity_type] if observation.entity_type else product.entity_types
    units: dict[str, str] = {}
    for integration in workspace.integrations.values():
        mapping = integration.mapping
        if mapping.entity_type not in observing:
            continue
        for field, attr in observation.values.items():
            rule = mapping.properties.get(attr)
            if rule is not None and rule.unit_code:
                units[field] = rule.unit_code
    return units
