"""Compile an integration's mapping once, then apply it to every decoded uplink."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stadsnav.mapping.paths import MISSING, Template, compile_path, resolve
from stadsnav.model.render import format_time
from stadsnav.model.times import parse_time
from stadsnav.store.base import AttributeWrite, Provenance
from stadsnav.workspace.models import Mapping as MappingSpec
from stadsnav.workspace.models import lookup_key

StaticWrites = dict[tuple[str, str], dict[str, Any]]
"""(entity id, attribute name) → the static (latest-only) attribute already written."""


class MappingError(ValueError):
    """A message cannot be mapped; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class _PropertyRule:
    name: str
    path: tuple[str, ...] | None
    """Where the value is; None for a constant."""
    constant: Any
    unit_code: str | None
    required: bool
    lookup: dict[str, Any] | None
    static: bool

    @property
    def where(self) -> str:
        """The value's path as written in the workspace."""
        return ".".join(self.path) if self.path is not None else "constant"

    def convert(self, value: Any) -> Any:
        """The value to store: looked up when the rule has a lookup table."""
        if self.lookup is None:
            return value
        key = lookup_key(value)
        if key not in self.lookup:
            raise MappingError(
                f"properties.{self.name}: {self.where} is {key!r}, "
                f"which lookup does not list ({', '.join(self.lookup)})"
            )
        return self.lookup[key]


class CompiledMapping:
    """An integration's mapping, ready to turn scopes into attribute writes."""

    def __init__(self, spec: MappingSpec) -> None:
        self.entity_type = spec.entity_type
        self._entity_id = Template(spec.entity_id)
        self._properties = [
            _PropertyRule(
                name,
                compile_path(rule.value) if rule.value is not None else None,
                rule.constant,
                rule.unit_code,
                rule.required,
                rule.lookup,
                rule.static,
            )
            for name, rule in spec.properties.items()
        ]
        self._relationships = [
            (name, compile_path(path)) for name, path in spec.relationships.items()
        ]
        self._location: tuple[str, ...] | None = None
        self._lon: tuple[str, ...] | None = None
        self._lat: tuple[str, ...] | None = None
        if isinstance(spec.location, str):
            self._location = compile_path(spec.location)
        elif spec.location is not None:
            self._lon, self._lat = compile_path(spec.location.lon), compile_path(spec.location.lat)
        self._observed_at = compile_path(spec.observed_at) if spec.observed_at else None
        location_paths = [p for p in (self._location, self._lon, self._lat) if p is not None]
        paths = [
            *self._entity_id.paths,
            *(rule.path for rule in self._properties if rule.path is not None),
            *(path for _, path in self._relationships),
            *location_paths,
            *([self._observed_at] if self._observed_at else []),
        ]
        self.scopes: frozenset[str] = frozenset(path[0] for path in paths)
        """The scopes (``data``, ``device``, ``uplink``) the mapping reads."""

    def entity_id(self, scopes: Mapping[str, Any]) -> str | None:
        """The id the mapping gives the entity of these scopes, or None if it cannot."""
        try:
            return self._entity_id.render(scopes)
        except KeyError:
            return None

    def relationship(self, name: str, scopes: Mapping[str, Any]) -> str | None:
        """The entity a mapped Relationship points to, or None if it is not mapped or empty."""
        for rule_name, path in self._relationships:
            if rule_name != name:
                continue
            target = resolve(path, scopes)
            return target if isinstance(target, str) and target else None
        return None

    def observed_time(self, scopes: Mapping[str, Any], received_at: datetime) -> datetime:
        """When the mapped values were observed: ``observed_at``'s time, else ``received_at``."""
        if self._observed_at is None:
            return received_at
        text = resolve(self._observed_at, scopes)
        if text is MISSING or text is None:
            return received_at
        try:
            return parse_time(str(text))
        except ValueError as error:
            raise MappingError(f"observed_at: {error}") from None

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
        writes: list[AttributeWrite] = []
        statics: list[AttributeWrite] = []
        found = False
        for rule in self._properties:
            value = rule.constant if rule.path is None else resolve(rule.path, scopes)
            if value is MISSING or value is None:
                if rule.required:
                    raise MappingError(f"properties.{rule.name}: {rule.where} is missing")
                continue
            found = True
            value = rule.convert(value)
            if rule.static:
                if not _unchanged(written, entity_id, rule.name, "value", value):
                    described: dict[str, Any] = {"type": "Property", "value": value}
                    if rule.unit_code:
                        described["unitCode"] = rule.unit_code
                    statics.append(
                        AttributeWrite(
                            entity_id, self.entity_type, rule.name, described, None, provenance
                        )
                    )
                continue
            attribute: dict[str, Any] = {"type": "Property", "value": value, "observedAt": observed}
            if rule.unit_code:
                attribute["unitCode"] = rule.unit_code
            writes.append(
                AttributeWrite(
                    entity_id, self.entity_type, rule.name, attribute, observed_at, provenance
                )
            )
        if not found:
            raise MappingError(
                "no property could be mapped: the payload has none of "
                + ", ".join(rule.where for rule in self._properties if rule.path is not None)
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
        if self._location is not None or self._lon is not None:
            geometry = self._geometry(scopes)
            if isinstance(geometry, Mapping) and not _unchanged(
                written, entity_id, "location", "value", geometry
            ):
                where = {"type": "GeoProperty", "value": dict(geometry)}
                writes.append(
                    AttributeWrite(entity_id, self.entity_type, "location", where, None, provenance)
                )
        return writes + statics

    def _geometry(self, scopes: Mapping[str, Any]) -> Any:
        """The mapped GeoJSON geometry: as given, or a Point built from a longitude and latitude."""
        if self._location is not None:
            return resolve(self._location, scopes)
        assert self._lon is not None
        assert self._lat is not None
        lon, lat = resolve(self._lon, scopes), resolve(self._lat, scopes)
        if lon in (MISSING, None) or lat in (MISSING, None):
            return None
        try:
            point = [float(lon), float(lat)]
        except (TypeError, ValueError):
            reason = f"location: ({lon!r}, {lat!r}) is not a longitude and latitude"
            raise MappingError(reason) from None
        if not (-180 <= point[0] <= 180 and -90 <= point[1] <= 90):
            raise MappingError(f"location: ({lon}, {lat}) is outside ±180° / ±90°")
        return {"type": "Point", "coordinates": point}


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
