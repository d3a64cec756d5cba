"""What one change did to one entity: created, updated or deleted, and which attribute instances
were created, updated or deleted (the notification triggers of GS CIM 009, 5.2.12)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from stadsnav.model.entity import StoredEntity
from stadsnav.model.render import SCOPE, attribute_instances, attribute_names

Key = tuple[str, str]
"""(attribute name, datasetId or '' for the default instance)."""
Kind = Literal["created", "updated", "deleted"]


@dataclass(frozen=True, slots=True)
class Change:
    """One entity's change between two looks at the change feed."""

    entity_id: str
    entity_type: str
    kind: Kind
    current: StoredEntity | None
    """The entity now; None when it was deleted."""
    previous: StoredEntity | None
    """The entity at the last look; None when it was created, or its state then is unknown."""
    created: frozenset[Key] = frozenset()
    updated: frozenset[Key] = frozenset()
    deleted: frozenset[Key] = frozenset()


def instances(entity: StoredEntity) -> dict[Key, dict[str, Any]]:
    """Every attribute instance of the entity by (name, datasetId)."""
    found: dict[Key, dict[str, Any]] = {}
    for name in attribute_names(entity):
        for instance in attribute_instances(entity, name):
            found[(name, str(instance.get("datasetId") or ""))] = instance
    return found


def names(keys: frozenset[Key] | set[Key]) -> set[str]:
    """The attribute names of some instance keys."""
    return {name for name, _ in keys}


def created(entity: StoredEntity) -> Change:
    """An entity that did not exist at the last look."""
    keys = frozenset(instances(entity))
    return Change(entity.id, entity.type, "created", entity, None, created=keys)


def deleted(entity_id: str, entity_type: str, previous: StoredEntity | None) -> Change:
    """An entity deleted since the last look (its state then, if known)."""
    keys = frozenset(instances(previous)) if previous is not None else frozenset()
    kind_of = previous.type if previous is not None else entity_type
    return Change(entity_id, kind_of, "deleted", None, previous, deleted=keys)


def updated(previous: StoredEntity, current: StoredEntity) -> Change | None:
    """What changed between two states of an entity; None when nothing did."""
    before, after = instances(previous), instances(current)
    created_keys = frozenset(after.keys() - before.keys())
    deleted_keys = frozenset(before.keys() - after.keys())
    updated_keys = frozenset(
        key for key in after.keys() & before.keys() if after[key] != before[key]
    )
    same_entity = previous.types == current.types and previous.attributes.get(
        SCOPE
    ) == current.attributes.get(SCOPE)
    if same_entity and not (created_keys or deleted_keys or updated_keys):
        return None
    return Change(
        current.id,
        current.type,
        "updated",
        current,
        previous,
        created=created_keys,
        updated=updated_keys,
        deleted=deleted_keys,
    )


def unknown_previous(current: StoredEntity) -> Change:
    """A change of an entity whose state at the last look is not known (it changed while no
    notifier ran): created if it was created by its latest write, else every attribute updated.
    """
    if current.created_at == current.modified_at:
        return created(current)
    keys = frozenset(instances(current))
    return Change(current.id, current.type, "updated", current, None, updated=keys)
