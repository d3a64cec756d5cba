"""Compile an integration's mapping once, then apply it to every decoded uplink."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stadsnav.mapping.paths import MISSING, Template, compile_path, resolve
from stadsnav.model.render import format_time
from stadsnav.store.base import AttributeWrite, Provenance
from stadsnav.workspace.models import Mapping as MappingSpec

StaticWrites = dict[tuple[str, str], dict[str, Any]]
"""(entity id, attribute name) → the static (latest-only) attribute already written."""


class MappingError(ValueError):
    """A message cannot be mapped; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class _PropertyRule:
    name: str
    path: tuple[str, ...]
    unit_code: str | None
    required: bool


class CompiledMapping:
    """An integration's mapping, ready to turn scopes into attribute writes."""

    def __init__(self, spec: MappingSpec) -> None:
        self.entity_type = spec.entity_type
        self._entity_id = Template(spec.entity_id)
        self._properties = [
            _PropertyRule(name, compile_path(rule.value), rule.unit_code, rule.required)
            for name, rule in spec.properties.items()
        ]
        self._relationships = [
            (name, compile_path(path)) for name, path in spec.relationships.items()
        ]
        self._location = compile_path(spec.location) if spec.location else None
        paths = [
            *self._entity_id.paths,
            *(rule.path for rule in self._properties),
            *(path for _, path in self._relationships),
            *([self._location] if self._location else []),
        ]
        self.scopes: frozenset[str] = frozenset(path[0] for path in paths)
        """The scopes (``data``, ``device``, ``uplink``) the mapping reads."""

    def apply(
        self,
        scopes: Mapping[str, Any],
        observed_at: datetime,
        provenance: Provenance,
        written: StaticWrites | None = None,
    ) -> list[AttributeWrite]:
        """Map one message; observed values go to history, static links only to latest.

        Static links whose value ``written`` already holds for the entity are left out.
        """
        try:
            entity_id = self._entity_id.render(scopes)
        except KeyError as missing:
            raise MappingError(f"entity_id: {missing.args[0]} is missing") from None
        observed = format_time(observed_at)
        writes = []
        for rule in self._properties:
            value = resolve(rule.path, scopes)
            if value is MISSING or value is None:
                if rule.required:
                    raise MappingError(f"properties.{rule.name}: {'.'.join(rule.path)} is missing")
                continue
            attribute: dict[str, Any] = {"type": "Property", "value": value, "observedAt": observed}
            if rule.unit_code:
                attribute["unitCode"] = rule.unit_code
            writes.append(
                AttributeWrite(
                    entity_id, self.entity_type, rule.name, attribute, observed_at, provenance
                )
            )
        if not writes:
            raise MappingError(
                "no property could be mapped: the payload has none of "
                + ", ".join(".".join(rule.path) for rule in self._properties)
            )
        for name, path in self._relationships:
            target = resolve(path, scopes)
            if (
                isinstance(target, str)
                and target
                and not _unchanged(written, entity_id, name, "object", target)
            ):
                link = {"type": "Relationship", "object": target}
                writes.append(
                    AttributeWrite(entity_id, self.entity_type, name, link, None, provenance)
                )
        if self._location is not None:
            geometry = resolve(self._location, scopes)
            if isinstance(geometry, Mapping) and not _unchanged(
                written, entity_id, "location", "value", geometry
            ):
                where = {"type": "GeoProperty", "value": dict(geometry)}
                writes.append(
                    AttributeWrite(entity_id, self.entity_type, "location", where, None, provenance)
                )
        return writes


def _unchanged(
    written: StaticWrites | None, entity_id: str, name: str, field: str, value: Any
) -> bool:
    if written is None:
        return False
    previous = written.get((entity_id, name))
    return previous is not None and previous.get(field) == value


def compile_mapping(spec: MappingSpec) -> CompiledMapping:
    """Compile a workspace mapping."""
    return CompiledMapping(spec)
