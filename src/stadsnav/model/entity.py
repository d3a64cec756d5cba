"""Stored entities, their attribute history and the provenance of every value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a stored value came from."""

    integration: str
    source_message_id: str
    received_at: datetime


@dataclass(frozen=True, slots=True)
class StoredEntity:
    """The latest state of one entity."""

    id: str
    type: str
    attributes: dict[str, dict[str, Any]]
    """Attribute name → normalized attribute (with ``provenance`` where known)."""
    created_at: datetime
    modified_at: datetime
    datasets: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    """Attribute name → datasetId → instance, for the instances that have a datasetId (the default
    instance, without datasetId, stays in ``attributes``)."""
    more_types: tuple[str, ...] = ()
    """The entity's further types after ``type``, for an entity with several (NGSI-LD 4.16)."""

    @property
    def types(self) -> tuple[str, ...]:
        """Every type of the entity, ``type`` first."""
        return (self.type, *self.more_types)

    def type_value(self) -> str | list[str]:
        """The type as NGSI-LD renders it: one name, or a list of several."""
        return list(self.types) if self.more_types else self.type


def as_types(value: str | Sequence[str]) -> tuple[str, ...]:
    """One type or several as a tuple without repeats, in order."""
    return (value,) if isinstance(value, str) else tuple(dict.fromkeys(value))


def added_types(entity: StoredEntity, given: str | Sequence[str]) -> tuple[str, ...]:
    """The entity's types, then those of ``given`` it lacks: what a write naming types leaves."""
    return as_types((*entity.types, *as_types(given)))


@dataclass(frozen=True, slots=True)
class AttributeInstance:
    """One historical value of one attribute."""

    attribute: dict[str, Any]
    observed_at: datetime
    provenance: Provenance | None
