"""A stored subscription made ready to match changes: which entities, which triggers, which
filters (GS CIM 009, 5.8.6 and 5.11), and how its notifications look and travel."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from stadsnav.model.entity import StoredEntity
from stadsnav.model.entity_query import ENTITY_MEMBERS, EntityQuery, Visibility, entity_types
from stadsnav.model.geo import parse_geo_query
from stadsnav.model.jsonld import Vocabulary
from stadsnav.model.language import parse_lang
from stadsnav.model.projection import Projection, parse_projection
from stadsnav.model.q import parse_q
from stadsnav.model.scope import parse_scope_query
from stadsnav.model.typequery import TypeExpr, parse_types
from stadsnav.notify import subscription
from stadsnav.notify.changes import Change, Key, instances, names
from stadsnav.notify.render import Rendering, changed_entity, deleted_entity
from stadsnav.notify.subscription import JSON
from stadsnav.store.sql_subscriptions import SubscriptionRecord

if TYPE_CHECKING:
    from stadsnav.store.base import ContextStore


@dataclass(frozen=True, slots=True)
class Selector:
    """One entry of ``entities``: a type selection, and an id or an id pattern."""

    types: TypeExpr | None
    entity_id: str | None = None
    pattern: re.Pattern[str] | None = None

    def selects(self, entity_id: str, types: frozenset[str]) -> bool:
        """Whether an entity with this id and these types is selected."""
        if self.types is not None and not self.types.matches(types):
            return False
        if self.entity_id is not None:
            return entity_id == self.entity_id
        return self.pattern is None or self.pattern.search(entity_id) is not None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how notifications are sent."""

    uri: str
    accept: str = JSON
    headers: tuple[tuple[str, str], ...] = ()
    """receiverInfo: headers sent with every notification."""
    timeout: float | None = None
    """Seconds (endpoint.timeout), when the subscription sets its own."""
    cooldown: float | None = None
    """Seconds to wait at least after a failure (endpoint.cooldown)."""


@dataclass(slots=True)
class Matcher:
    """One subscription, compiled."""

    record: SubscriptionRecord
    selectors: tuple[Selector, ...]
    triggers: frozenset[str]
    watched: frozenset[str] | None
    query: EntityQuery
    rendering: Rendering
    endpoint: Endpoint
    interval: float | None = None
    throttling: float | None = None
    expires: datetime | None = field(default=None)

    @property
    def id(self) -> str:
        """The subscription id."""
        return self.record.id

    def status(self, now: datetime) -> str:
        """active, paused or expired."""
        if self.expires is not None and self.expires <= now:
            return "expired"
        return "paused" if self.record.document.get("isActive") is False else "active"

    def candidate_types(self) -> set[str] | None:
        """Types of which every entity it may notify has one; None: any type."""
        found: set[str] = set()
        for selector in self.selectors:
            if selector.types is None:
                return None
            found |= selector.types.candidates()
        return found if self.selectors else None

    def selects(self, entity_id: str, types: frozenset[str]) -> bool:
        """Whether ``entities`` selects the entity (no ``entities``: every entity)."""
        return not self.selectors or any(s.selects(entity_id, types) for s in self.selectors)

    def data(
        self, change: Change, store: ContextStore, now: datetime
    ) -> list[dict[str, Any]] | None:
        """The entities to notify for a change; None when the change does not concern it."""
        subject = change.current or change.previous
        types = entity_types(subject) if subject is not None else frozenset({change.entity_type})
        if not self.selects(change.entity_id, types):
            return None
        if self.query.visible is not None and not self.query.visible.can_read(types):
            return None
        if change.kind == "deleted":
            return self._deleted(change, store, now)
        current = change.current
        assert current is not None
        if not self._fires(change) or not self.query.matches(current):
            return None
        shown = self._relevant(change.deleted) if "attributeDeleted" in self.triggers else set()
        return changed_entity(change, self._rendering(change), store, shown, now)

    def _fires(self, change: Change) -> bool:
        triggers = self.triggers
        if change.kind == "created":
            return "entityCreated" in triggers or (
                "attributeCreated" in triggers and bool(self._relevant(change.created))
            )
        touched = change.created | change.updated | change.deleted
        return (
            (
                "entityUpdated" in triggers
                and (self.watched is None or bool(self._relevant(touched)))
            )
            or ("attributeCreated" in triggers and bool(self._relevant(change.created)))
            or ("attributeUpdated" in triggers and bool(self._relevant(change.updated)))
            or ("attributeDeleted" in triggers and bool(self._relevant(change.deleted)))
        )

    def _deleted(
        self, change: Change, store: ContextStore, now: datetime
    ) -> list[dict[str, Any]] | None:
        previous = change.previous
        every = names(frozenset(instances(previous))) if previous is not None else set()
        on_entity = "entityDeleted" in self.triggers
        on_attributes = (
            self._relevant(change.deleted) if "attributeDeleted" in self.triggers else set()
        )
        if not on_entity and not on_attributes:
            return None
        if previous is not None and not self.query.matches(previous):
            return None
        shown = set(on_attributes)
        if on_entity and self.rendering.show_changes:
            shown |= every
        if self.rendering.attrs is not None:
            shown &= self.rendering.attrs
        return [deleted_entity(change, self.rendering, store, shown, now)]

    def _relevant(self, keys: frozenset[Key]) -> set[str]:
        found = names(keys)
        return found if self.watched is None else found & self.watched

    def _rendering(self, change: Change) -> Rendering:
        # A creation has nothing to compare with: no previous values.
        if change.kind == "created" and self.rendering.show_changes:
            return replace(self.rendering, show_changes=False)
        return self.rendering

    def current(self, store: ContextStore) -> list[StoredEntity]:
        """The entities it selects now that pass its q, geoQ and scopeQ (a periodic one's)."""
        if not self.selectors:
            found = store.find_entities(None, None, None)
        else:
            candidates: dict[str, StoredEntity] = {}
            for selector in self.selectors:
                types = None if selector.types is None else sorted(selector.types.candidates())
                ids = None if selector.entity_id is None else [selector.entity_id]
                pattern = None if selector.pattern is None else selector.pattern.pattern
                for entity in store.find_entities(types, ids, pattern):
                    candidates.setdefault(entity.id, entity)
            found = [candidates[key] for key in sorted(candidates)]
        return [
            entity
            for entity in found
            if self.selects(entity.id, entity_types(entity)) and self.query.matches(entity)
        ]


def compile_subscription(
    record: SubscriptionRecord,
    q_terms: Vocabulary,
    render_terms: Vocabulary,
    visible: Visibility | None = None,
) -> Matcher:
    """A matcher for a stored subscription; ``q_terms`` is the vocabulary its q is written in,
    ``render_terms`` that of its jsonldContext; it notifies only entities ``visible`` allows."""
    document = record.document
    notification: dict[str, Any] = document["notification"]
    watched = document.get("watchedAttributes")
    return Matcher(
        record=record,
        selectors=tuple(_selector(item) for item in document.get("entities", [])),
        triggers=frozenset(document.get("notificationTrigger", subscription.DEFAULT_TRIGGERS)),
        watched=None if watched is None else frozenset(watched),
        query=replace(_query(document, q_terms), visible=visible),
        rendering=replace(_rendering(document, notification, render_terms), visible=visible),
        endpoint=_endpoint(notification["endpoint"]),
        interval=document.get("timeInterval"),
        throttling=document.get("throttling"),
        expires=subscription.expires_at(document),
    )


def _selector(item: dict[str, Any]) -> Selector:
    pattern = item.get("idPattern")
    return Selector(
        parse_types(item["type"]),
        item.get("id"),
        None if pattern is None else re.compile(pattern),
    )


def _query(document: dict[str, Any], q_terms: Vocabulary) -> EntityQuery:
    q = document.get("q")
    geo = document.get("geoQ")
    scope = document.get("scopeQ")
    return EntityQuery(
        q=None if q is None else parse_q(q).rename(q_terms.to_stored),
        geo=None
        if geo is None
        else parse_geo_query(
            geo["georel"], geo["geometry"], geo["coordinates"], geo.get("geoproperty", "location")
        ),
        scope=None if scope is None else parse_scope_query(scope),
    )


def _rendering(
    document: dict[str, Any], notification: dict[str, Any], terms: Vocabulary
) -> Rendering:
    fmt = notification.get("format", "normalized")
    attributes = notification.get("attributes")
    lang = document.get("lang")
    datasets = document.get("datasetId")
    join = notification.get("join")
    return Rendering(
        terms=terms,
        representation="keyValues" if fmt == "simplified" else fmt,
        sys_attrs=bool(notification.get("sysAttrs", False)),
        attrs=None if attributes is None else frozenset(attributes),
        show_changes=bool(notification.get("showChanges", False)),
        lang=None if lang is None else parse_lang(lang),
        dataset_ids=None if datasets is None else frozenset(datasets),
        pick=_projection(notification.get("pick"), terms.to_request),
        omit=_projection(notification.get("omit"), terms.to_request),
        join=None if join in (None, "@none") else join,
        join_level=int(notification.get("joinLevel", 1)),
    )


def _projection(texts: list[str] | None, rename: Callable[[str], str]) -> Projection | None:
    if texts is None:
        return None
    merged: Projection = {}
    for text in texts:
        merged.update(parse_projection(text))
    return _renamed(merged, rename)


def _renamed(projection: Projection, rename: Callable[[str], str]) -> Projection:
    return {
        name if name in ENTITY_MEMBERS else rename(name): (
            None if inner is None else _renamed(inner, rename)
        )
        for name, inner in projection.items()
    }


def _endpoint(endpoint: dict[str, Any]) -> Endpoint:
    headers = tuple((pair["key"], pair["value"]) for pair in endpoint.get("receiverInfo", []))
    timeout, cooldown = endpoint.get("timeout"), endpoint.get("cooldown")
    return Endpoint(
        uri=endpoint["uri"],
        accept=endpoint.get("accept", JSON),
        headers=headers,
        timeout=None if timeout is None else timeout / 1000,
        cooldown=None if cooldown is None else cooldown / 1000,
    )
