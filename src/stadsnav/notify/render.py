"""The entities of a notification, as the subscription asks for them (GS CIM 009, 5.8.6).

Entities are rendered as a query answers them (format, attributes, sysAttrs, lang, datasetId,
pick/omit, join), in the terms of the subscription's jsonldContext. On top of that: deleted
attributes and entities as ``urn:ngsi-ld:null`` (5.2.1), and with ``showChanges`` the previous
value of what changed.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from stadsnav.model.attributes import VALUE_KEYS, null_value
from stadsnav.model.entity import StoredEntity
from stadsnav.model.entity_query import Visibility
from stadsnav.model.jsonld import Vocabulary
from stadsnav.model.language import LanguageFilter
from stadsnav.model.projection import Projection
from stadsnav.model.render import format_time
from stadsnav.notify.changes import Change, Key, instances

if TYPE_CHECKING:
    from stadsnav.store.base import ContextStore

"""What a deleted attribute's value (or object, languageMap ...) is in a notification."""


@dataclass(frozen=True, slots=True)
class Rendering:
    """How one subscription's notifications show entities."""

    terms: Vocabulary
    """The vocabulary of the subscription's jsonldContext."""
    representation: str = "normalized"
    sys_attrs: bool = False
    attrs: frozenset[str] | None = None
    """notification.attributes, as stored; None: all."""
    show_changes: bool = False
    lang: LanguageFilter | None = None
    dataset_ids: frozenset[str] | None = None
    pick: Projection | None = None
    """In the names of the rendered entities."""
    omit: Projection | None = None
    join: str | None = None
    join_level: int = 1
    visible: Visibility | None = None
    """The entities a join may show (None: every one)."""

    def entities(
        self, entities: Sequence[StoredEntity], store: ContextStore
    ) -> list[dict[str, Any]]:
        """The entities rendered, linked ones joined as asked."""
        # Imported here: the API's entities module imports the runtime, which imports this
        # package; rendering is the same code the query API runs.
        from stadsnav.api.ngsild.entities import View, present

        view = View(
            representation=self.representation,
            sys_attrs=self.sys_attrs,
            lang=self.lang,
            pick=self.pick,
            omit=self.omit,
            join=self.join,
            join_level=self.join_level if self.join is not None else 0,
            dataset_ids=self.dataset_ids,
        )
        return present(entities, store, self.terms, view, self.attrs, self.visible)


def changed_entity(
    change: Change,
    rendering: Rendering,
    store: ContextStore,
    shown_deleted: Collection[str],
    now: datetime,
) -> list[dict[str, Any]]:
    """The entity of a creation or an update; deleted attributes named in ``shown_deleted``
    as null (one null without datasetId when all instances of one went); with showChanges,
    updated ones with their previous value."""
    current = change.current
    assert current is not None
    state = _State(current)
    if change.previous is not None:
        before = _State(change.previous)
        for key in change.updated if rendering.show_changes else ():
            instance, old = state.get(key), before.get(key)
            if instance is not None and old is not None:
                state.put(key, {**instance, **_previous(old)})
        remaining = {name for name, _ in instances(current)}
        gone: dict[str, dict[Key, dict[str, Any]]] = {}
        for key in sorted(change.deleted):
            old = before.get(key)
            if key[0] in shown_deleted and old is not None:
                gone.setdefault(key[0], {})[key] = old
        for name, olds in gone.items():
            if len(olds) > 1 and name not in remaining:
                # Every instance deleted: the attribute is gone, one null stands for it.
                old = olds.get((name, ""), next(iter(olds.values())))
                olds = {(name, ""): {**old, "datasetId": None}}
            for key, old in olds.items():
                state.put(key, _null(old, rendering, now))
    return rendering.entities([state.entity()], store)


def deleted_entity(
    change: Change, rendering: Rendering, store: ContextStore, shown: Collection[str], now: datetime
) -> dict[str, Any]:
    """A deleted entity: id, type, deletedAt, and the attributes named in ``shown`` as null."""
    previous = change.previous
    if previous is None:
        # Deleted before the notifier saw it: no times or attributes of it are known.
        previous = StoredEntity(change.entity_id, change.entity_type, {}, now, now)
        rendering = replace(rendering, sys_attrs=False)
    bare = replace(previous, attributes={}, datasets={})
    state = _State(bare)
    for key, instance in sorted(instances(previous).items()):
        if key[0] in shown:
            state.put(key, _null(instance, rendering, now))
    # No join: what a deleted entity linked to is not part of its deletion.
    [body] = replace(rendering, join=None).entities([state.entity()], store)
    head: dict[str, Any] = {
        key: body.pop(key) for key in ("id", "type", "createdAt", "modifiedAt") if key in body
    }
    if rendering.omit is None or "deletedAt" not in rendering.omit:
        head["deletedAt"] = format_time(now)
    return {**head, **body}


def _previous(instance: dict[str, Any]) -> dict[str, Any]:
    key = VALUE_KEYS.get(str(instance.get("type")), "value")
    if key not in instance:
        return {}
    return {f"previous{key[0].upper()}{key[1:]}": instance[key]}


def _null(instance: dict[str, Any], rendering: Rendering, now: datetime) -> dict[str, Any]:
    kind = str(instance.get("type", "Property"))
    null: dict[str, Any] = {"type": kind, VALUE_KEYS.get(kind, "value"): null_value(kind)}
    if instance.get("datasetId") is not None:
        null["datasetId"] = instance["datasetId"]
    if rendering.show_changes:
        null.update(_previous(instance))
    if rendering.sys_attrs:
        for member in ("createdAt", "modifiedAt"):
            if member in instance:
                null[member] = instance[member]
        null["deletedAt"] = format_time(now)
    return null


class _State:
    """An entity's attribute instances, to change before rendering (the entity is not touched)."""

    def __init__(self, entity: StoredEntity) -> None:
        self.base = entity
        self.attributes = dict(entity.attributes)
        self.datasets = {name: dict(found) for name, found in entity.datasets.items()}

    def get(self, key: Key) -> dict[str, Any] | None:
        name, dataset_id = key
        if not dataset_id:
            return self.attributes.get(name)
        return self.datasets.get(name, {}).get(dataset_id)

    def put(self, key: Key, instance: dict[str, Any]) -> None:
        name, dataset_id = key
        if dataset_id:
            self.datasets.setdefault(name, {})[dataset_id] = instance
        else:
            self.attributes[name] = instance

    def entity(self) -> StoredEntity:
        return replace(self.base, attributes=self.attributes, datasets=self.datasets)
