"""Stored entities, their attribute history and the provenance of every value."""

from __future__ import annotations

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


@dataclass(frozen=True, slots=True)
class AttributeInstance:
    """One historical value of one attribute."""

    attribute: dict[str, Any]
    observed_at: datetime
    provenance: Provenance | None
