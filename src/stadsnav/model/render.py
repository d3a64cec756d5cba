"""Stored entities and their history as NGSI-LD JSON: normalized, concise, keyValues, GeoJSON,
temporal."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from stadsnav.model.attributes import VALUE_KEYS
from stadsnav.model.entity import Provenance, StoredEntity
from stadsnav.model.geo import GeoQueryError, geometry_from_geojson
from stadsnav.model.language import NONE_KEY, LanguageFilter

SYSTEM_ATTRIBUTES: Final = ("createdAt", "modifiedAt")
SCOPE: Final = "scope"
"""The entity member holding its scopes, kept with the attributes (as a scope, a list of them or
a Property holding them) without being one."""

_WRAPPED: Final = frozenset({"LanguageProperty", "JsonProperty", "VocabProperty"})
_CORE_MEMBERS: Final = frozenset(
    {"type", "value", "object", "observedAt", "unitCode", "datasetId", "createdAt",
     "modifiedAt", "deletedAt", "instanceId", "languageMap", "vocab", "json", "valueList",
     "objectList", "objectType", "lang", "provenance", "entity", "entityList"}
)  # fmt: skip


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
    concise: bool = False,
    lang: LanguageFilter | None = None,
    dataset_ids: Collection[str] | None = None,
    names: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """The entity as NGSI-LD JSON: normalized, concise, or keyValues (simplified).

    ``attrs`` keeps only those attributes; ``dataset_ids`` only those instances (``@none``: the
    default one). A multi-attribute is an array of its instances, the default one first
    (keyValues: ``{"dataset": {"@none": ..., datasetId: ...}}``). ``lang`` serves each
    LanguageProperty in one language. ``names`` translates stored names for the response.
    """
    rename = names or _same
    body: dict[str, Any] = {"id": entity.id, "type": _rename_terms(entity.type_value(), rename)}
    scopes = entity.attributes.get(SCOPE)
    if scopes is not None:
        body[SCOPE] = scopes.get("value") if isinstance(scopes, Mapping) else scopes
    if sys_attrs:
        body["createdAt"] = format_time(entity.created_at)
        body["modifiedAt"] = format_time(entity.modified_at)
    style = _Style(key_values, concise, sys_attrs, include_provenance, lang, rename)
    for name in attribute_names(entity):
        if attrs is not None and name not in attrs:
            continue
        instances = attribute_instances(entity, name, dataset_ids)
        if instances:
            body[rename(name)] = style.attribute(instances)
    return body


def attribute_names(entity: StoredEntity) -> list[str]:
    """Every attribute of the entity: those with a default instance, then dataset-only ones."""
    found = [n for n, value in entity.attributes.items() if n != SCOPE and _is_attribute(value)]
    found += [name for name in entity.datasets if name not in entity.attributes]
    return found


def attribute_instances(
    entity: StoredEntity, name: str, dataset_ids: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """The instances of one attribute, the default first; only those of ``dataset_ids``."""
    found: list[dict[str, Any]] = []
    default = entity.attributes.get(name)
    wants_default = dataset_ids is None or NONE_KEY in dataset_ids
    if default is not None and _is_attribute(default) and wants_default:
        found.append(default)
    for dataset_id, instance in entity.datasets.get(name, {}).items():
        if dataset_ids is None or dataset_id in dataset_ids:
            found.append(instance)
    return found


def query_attributes(entity: StoredEntity) -> dict[str, Any]:
    """Attribute name → its instance, or its list of instances: what ``q`` and geo-queries see."""
    if not entity.datasets:
        return entity.attributes
    return {
        name: _one_or_all(attribute_instances(entity, name)) for name in attribute_names(entity)
    }


def _one_or_all(instances: list[dict[str, Any]]) -> Any:
    return instances[0] if len(instances) == 1 else instances


@dataclass(frozen=True, slots=True)
class _Style:
    key_values: bool
    concise: bool
    sys_attrs: bool
    include_provenance: bool
    lang: LanguageFilter | None
    rename: Callable[[str], str]

    def attribute(self, instances: list[dict[str, Any]]) -> Any:
        if self.key_values:
            if len(instances) == 1 and "datasetId" not in instances[0]:
                return self.simple(instances[0])
            return {
                "dataset": {str(i.get("datasetId", NONE_KEY)): self.simple(i) for i in instances}
            }
        rendered = [self.instance(i, bare=len(instances) == 1) for i in instances]
        return rendered[0] if len(rendered) == 1 else rendered

    def simple(self, instance: Mapping[str, Any]) -> Any:
        chosen = self.language(instance)
        if chosen is not None:
            return _jsonable(chosen[1])
        return key_value(instance, self.rename)

    def instance(self, instance: Mapping[str, Any], *, bare: bool) -> Any:
        rendered = render_attribute(
            instance, sys_attrs=self.sys_attrs, include_provenance=self.include_provenance
        )
        chosen = self.language(instance)
        if chosen is not None:
            rendered.pop("languageMap", None)
            rendered["type"] = "Property"
            rendered["value"] = _jsonable(chosen[1])
            rendered["lang"] = chosen[0]
        rendered = self.members(rendered)
        return _concise(rendered, bare=bare) if self.concise else rendered

    def members(self, attribute: dict[str, Any]) -> dict[str, Any]:
        """Sub-attribute names and vocab values translated; sub-attributes in this style."""
        result: dict[str, Any] = {}
        for key, value in attribute.items():
            if key in ("vocab", "objectType"):
                result[key] = _rename_terms(value, self.rename)
            elif key in _CORE_MEMBERS or not _is_attribute(value):
                result[key] = value
            else:
                sub = self.members(value)
                result[self.rename(key)] = _concise(sub, bare=True) if self.concise else sub
        return result

    def language(self, instance: Mapping[str, Any]) -> tuple[str, Any] | None:
        if self.lang is None or instance.get("type") != "LanguageProperty":
            return None
        language_map = instance.get("languageMap")
        return self.lang.choose(language_map) if isinstance(language_map, Mapping) else None


def key_value(attribute: Mapping[str, Any], names: Callable[[str], str] | None = None) -> Any:
    """An attribute in the simplified (keyValues) representation (GS CIM 009, 4.5.4).

    The value of a Property, the object of a Relationship, the arrays of the List types; a
    LanguageProperty, JsonProperty or VocabProperty as ``{"languageMap"|"json"|"vocab": ...}``,
    so that it cannot be mistaken for a Property holding an object.
    """
    kind = str(attribute.get("type"))
    if kind in _WRAPPED:
        key = VALUE_KEYS[kind]
        value = attribute.get(key)
        if kind == "VocabProperty" and names is not None:
            value = _rename_terms(value, names)
        return {key: _jsonable(value)}
    return simplified_value(attribute)


def _concise(attribute: dict[str, Any], *, bare: bool) -> Any:
    """The concise form: ``type`` left out where the members imply it, lone values bare."""
    kind = attribute.get("type")
    if kind not in VALUE_KEYS:
        return attribute
    result = {key: value for key, value in attribute.items() if key != "type"}
    if bare and set(result) == {"value"}:
        value = result["value"]
        if kind == "GeoProperty" or not _ambiguous(value):
            return value
    return result


def _ambiguous(value: Any) -> bool:
    """Whether a bare value would read as an attribute or as instances of one."""
    if isinstance(value, Mapping):
        return True
    return isinstance(value, list) and any(isinstance(item, Mapping) for item in value)


def _is_attribute(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("type") in VALUE_KEYS


def _rename_terms(value: Any, rename: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return rename(value)
    if isinstance(value, list):
        return [rename(item) if isinstance(item, str) else item for item in value]
    return value


def _same(name: str) -> str:
    return name


def render_attribute(
    attribute: Mapping[str, Any], *, sys_attrs: bool = False, include_provenance: bool = True
) -> dict[str, Any]:
    """A copy of a normalized attribute, without system attributes or provenance unless asked."""
    dropped = set() if sys_attrs else set(SYSTEM_ATTRIBUTES)
    if not include_provenance:
        dropped.add("provenance")
    return {key: _jsonable(value) for key, value in attribute.items() if key not in dropped}


def simplified_value(attribute: Mapping[str, Any]) -> Any:
    """The bare value of a normalized attribute: its value, object, languageMap ...

    (The temporal ``temporalValues`` form uses it; entities use :func:`key_value`.)
    """
    key = VALUE_KEYS.get(str(attribute.get("type")), "value")
    value = attribute.get(key, attribute.get("object"))
    if key == "objectList" and isinstance(value, list):
        value = [item.get("object") if isinstance(item, Mapping) else item for item in value]
    return _jsonable(value)


def geojson_feature(
    body: Mapping[str, Any], geometry_property: str, context: Any | None = None
) -> dict[str, Any]:
    """A rendered entity as a GeoJSON Feature (GS CIM 009, 4.5.16): its geometry is that of
    ``geometry_property`` (the default instance), or null when it has none."""
    properties = {key: value for key, value in body.items() if key not in ("id", "@context")}
    feature: dict[str, Any] = {
        "id": body.get("id"),
        "type": "Feature",
        "geometry": _geometry_of(body.get(geometry_property)),
        "properties": properties,
    }
    if context is not None:
        feature["@context"] = context
    return feature


def geojson_collection(
    bodies: Sequence[Mapping[str, Any]], geometry_property: str, context: Any | None = None
) -> dict[str, Any]:
    """Rendered entities as a GeoJSON FeatureCollection, the @context once at the top."""
    collection: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": [geojson_feature(body, geometry_property) for body in bodies],
    }
    if context is not None:
        collection["@context"] = context
    return collection


def _geometry_of(member: Any) -> dict[str, Any] | None:
    """The GeoJSON geometry a rendered attribute holds, in whichever representation."""
    if isinstance(member, list):
        member = member[0] if member else None
    if not isinstance(member, Mapping):
        return None
    if "dataset" in member and isinstance(member["dataset"], Mapping):
        return _geometry_of(member["dataset"].get(NONE_KEY))
    candidate = member.get("value", member) if "coordinates" not in member else member
    try:
        geometry_from_geojson(candidate)
    except GeoQueryError:
        return None
    return dict(candidate)


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
