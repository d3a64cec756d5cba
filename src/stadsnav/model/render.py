"""Stored entities and their history as NGSI-LD JSON: normalized, keyValues, temporal."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from stadsnav.model.attributes import VALUE_KEYS
from stadsnav.model.entity import AttributeInstance, Provenance, StoredEntity

SYSTEM_ATTRIBUTES: Final = ("createdAt", "modifiedAt")

_TEMPORAL_VALUES_KEYS: Final = {
    "Property": "values",
    "GeoProperty": "values",
    "Relationship": "objects",
    "LanguageProperty": "languageMaps",
    "VocabProperty": "vocabs",
    "JsonProperty": "jsons",
    "ListProperty": "valueLists",
    "ListRelationship": "objectsLists",
}


def format_time(dt: datetime) -> str:
    """RFC 3339 in UTC with ``Z``: ``2026-06-01T10:00:00Z``, or ``...:00.123Z`` if ms are set.

    A naive datetime is taken to be UTC.
    """
    utc = dt if dt.tzinfo is UTC else _utc(dt)
    text = utc.isoformat(timespec="milliseconds" if utc.microsecond >= 1000 else "seconds")
    return text[:-6] + "Z"  # drop the "+00:00" of a UTC datetime


def render_entity(
    entity: StoredEntity,
    *,
    attrs: Collection[str] | None = None,
    key_values: bool = False,
    sys_attrs: bool = False,
    include_provenance: bool = True,
) -> dict[str, Any]:
    """The entity as NGSI-LD JSON: normalized, or keyValues (simplified) with ``key_values``."""
    body: dict[str, Any] = {"id": entity.id, "type": entity.type}
    if sys_attrs:
        body["createdAt"] = format_time(entity.created_at)
        body["modifiedAt"] = format_time(entity.modified_at)
    for name, attribute in entity.attributes.items():
        if attrs is not None and name not in attrs:
            continue
        if key_values:
            body[name] = simplified_value(attribute)
        else:
            body[name] = render_attribute(
                attribute, sys_attrs=sys_attrs, include_provenance=include_provenance
            )
    return body


def render_attribute(
    attribute: Mapping[str, Any], *, sys_attrs: bool = False, include_provenance: bool = True
) -> dict[str, Any]:
    """A copy of a normalized attribute, without system attributes or provenance unless asked."""
    dropped = set() if sys_attrs else set(SYSTEM_ATTRIBUTES)
    if not include_provenance:
        dropped.add("provenance")
    return {key: _jsonable(value) for key, value in attribute.items() if key not in dropped}


def simplified_value(attribute: Mapping[str, Any]) -> Any:
    """The keyValues form of a normalized attribute: its value, object, languageMap ..."""
    key = VALUE_KEYS.get(str(attribute.get("type")), "value")
    value = attribute.get(key, attribute.get("object"))
    if key == "objectList" and isinstance(value, list):
        value = [item.get("object") if isinstance(item, Mapping) else item for item in value]
    return _jsonable(value)


def instance_id(entity_id: str, attribute: str, observed_at: datetime) -> str:
    """A deterministic instanceId: sha1 of ``entity|attribute|observedAt`` (UTC, microseconds)."""
    key = f"{entity_id}|{attribute}|{_utc(observed_at).isoformat()}"
    return f"urn:ngsi-ld:instance:{hashlib.sha1(key.encode()).hexdigest()}"


def provenance_property(provenance: Provenance) -> dict[str, Any]:
    """Provenance as an NGSI-LD sub-Property: integration, source message and receive time."""
    return {
        "type": "Property",
        "value": {
            "integration": provenance.integration,
            "sourceMessageId": provenance.source_message_id,
            "receivedAt": format_time(provenance.received_at),
        },
    }


def render_temporal(
    entity_id: str,
    entity_type: str,
    history: Mapping[str, Sequence[AttributeInstance]],
    *,
    include_provenance: bool = True,
) -> dict[str, Any]:
    """The NGSI-LD temporal representation: each attribute an array of its instances."""
    body: dict[str, Any] = {"id": entity_id, "type": entity_type}
    for name, instances in history.items():
        body[name] = [
            _temporal_instance(entity_id, name, instance, include_provenance)
            for instance in instances
        ]
    return body


def render_temporal_values(
    entity_id: str, entity_type: str, history: Mapping[str, Sequence[AttributeInstance]]
) -> dict[str, Any]:
    """The temporal ``temporalValues`` form: ``{"type": "Property", "values": [[v, t], ...]}``."""
    body: dict[str, Any] = {"id": entity_id, "type": entity_type}
    for name, instances in history.items():
        kind = str(instances[0].attribute.get("type", "Property")) if instances else "Property"
        pairs = [[simplified_value(i.attribute), format_time(i.observed_at)] for i in instances]
        body[name] = {"type": kind, _TEMPORAL_VALUES_KEYS.get(kind, "values"): pairs}
    return body


def _temporal_instance(
    entity_id: str, name: str, instance: AttributeInstance, include_provenance: bool
) -> dict[str, Any]:
    rendered = render_attribute(instance.attribute, include_provenance=False)
    rendered["observedAt"] = format_time(instance.observed_at)
    rendered["instanceId"] = instance_id(entity_id, name, instance.observed_at)
    if include_provenance and instance.provenance is not None:
        rendered["provenance"] = provenance_property(instance.provenance)
    return rendered


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, Mapping):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value
