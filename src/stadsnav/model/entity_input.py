"""Entities and attributes sent by NGSI-LD clients: checked, and brought into normalized form.

Clients may send the normalized form or the concise one (ETSI GS CIM 009, 4.5.4), where the
``type`` of an attribute is implied by its members (``object`` → Relationship ...) and a bare
value is a Property. What is stored is always normalized, one instance per ``datasetId``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from stadsnav.model.attributes import ATTRIBUTE_MEMBERS, NGSI_LD_NULL, VALUE_KEYS
from stadsnav.model.entity import as_types
from stadsnav.model.geo import GeoQueryError, geometry_from_geojson
from stadsnav.model.render import SCOPE
from stadsnav.model.times import parse_time

SYSTEM_MEMBERS: Final = frozenset({"createdAt", "modifiedAt", "deletedAt", "instanceId"})
"""Set by the broker; ignored when a client sends them."""
ENTITY_MEMBERS: Final = frozenset({"id", "type", "@context", SCOPE, *SYSTEM_MEMBERS})
_IMPLIED_TYPES: Final = {key: kind for kind, key in VALUE_KEYS.items() if key != "value"}
_VALUE_MEMBERS: Final = frozenset(VALUE_KEYS.values())
_UNITLESS: Final = frozenset({"Relationship", "ListRelationship", "JsonProperty"})
_OUTPUT_ONLY: Final = frozenset(
    {"previousValue", "previousObject", "previousLanguageMap", "previousVocab", "previousJson",
     "previousValueList", "previousObjectList"}
)  # fmt: skip
"""Members of notifications with showChanges (5.8.1), never of a write."""
_KEYWORD_ALIASES: Final = frozenset({"id", "type"})
"""Terms the core @context maps to JSON-LD keywords (@id, @type)."""
_FORBIDDEN_NAME: Final = re.compile(r"""[<>"'=;()\s]""")
_SCOPE: Final = re.compile(r"^(/[^/\s#+]+)+$")
_URI: Final = re.compile(
    r"^[A-Za-z][A-Za-z0-9+.-]*:"
    # Not whitespace, controls, RFC 3986's excluded ASCII, nor what renders as nothing or
    # as something else (bidi and format controls, variation selectors, fillers, noncharacters,
    # surrogates): an id holding one would show as another id in logs and UIs (4.5.1).
    r"[^\s\x00-\x1f\x7f-\x9f<>\"{}|\\^`\u00ad\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f"
    r"\u200b-\u200f\u202a-\u202e\u2060-\u206f\u2800\u3164\ufe00-\ufe0f\ufeff\uffa0"
    r"\ufdd0-\ufdef\ufff0-\uffff\ud800-\udfff\U000e0000-\U000e0fff]+$"
)
_GEOJSON_TYPES: Final = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}
)


Nulls = Literal["refused", "delete", "merge"]
"""Where ``urn:ngsi-ld:null`` may be: nowhere (what is stored as sent: create, replace,
append); as an attribute's or sub-attribute's value (partial updates, which delete what it
names); or anywhere (merges, which also delete keys inside JSON values with it, 5.5.12)."""


class InvalidEntityError(ValueError):
    """A payload that is not a valid NGSI-LD entity or fragment; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class EntityInput:
    """A checked entity or fragment: attribute name → its instances, normalized."""

    id: str | None
    type: tuple[str, ...] | None
    """The types given, in order (one for nearly every entity)."""
    attributes: dict[str, list[dict[str, Any]]]


def is_uri(value: Any) -> bool:
    """True for an absolute URI such as ``urn:ngsi-ld:Beach:1`` or ``https://...``."""
    return isinstance(value, str) and _URI.match(value) is not None


def parse_entity(
    body: Any, *, need_id: bool = True, need_type: bool = True, nulls: Nulls = "refused"
) -> EntityInput:
    """Check an entity (or, without ``need_id``/``need_type``, a fragment) and normalize it.

    ``nulls`` says where ``urn:ngsi-ld:null`` may be (see :data:`Nulls`).
    """
    if not isinstance(body, Mapping):
        raise InvalidEntityError("an entity must be a JSON object")
    entity_id = body.get("id", body.get("@id"))
    if entity_id is None:
        if need_id:
            raise InvalidEntityError("the entity has no id")
    elif not is_uri(entity_id) or entity_id == NGSI_LD_NULL:
        raise InvalidEntityError(f"entity id {entity_id!r} is not a URI")
    entity_type = _entity_types(body.get("type", body.get("@type")), need_type)
    attributes: dict[str, list[dict[str, Any]]] = {}
    for name, raw in body.items():
        if name in ENTITY_MEMBERS or name in ("@id", "@type"):
            continue
        attributes[name] = parse_attribute(name, raw, nulls=nulls)
    if SCOPE in body:
        # Kept with the attributes, as a Property, so it is stored and merged like one.
        scopes = _scopes(body[SCOPE], nulls != "refused")
        attributes[SCOPE] = [{"type": "Property", "value": scopes}]
    return EntityInput(entity_id, entity_type, attributes)


def _scopes(value: Any, allow_null: bool) -> Any:
    if allow_null and value == NGSI_LD_NULL:
        return value
    scopes = value if isinstance(value, list) else [value]
    if not scopes or not all(_SCOPE.match(scope) for scope in scopes if isinstance(scope, str)):
        raise InvalidEntityError(
            f"scope {value!r} must be a path like /Skelleftea/Parking, or a list of them"
        )
    if not all(isinstance(scope, str) for scope in scopes):
        raise InvalidEntityError(f"scope {value!r} must be a string or a list of strings")
    return value


def _entity_types(value: Any, required: bool) -> tuple[str, ...] | None:
    if value is None:
        if required:
            raise InvalidEntityError("the entity has no type")
        return None
    names = value if isinstance(value, list) else [value]
    if not names:
        raise InvalidEntityError("the entity's list of types is empty: give at least one type")
    for name in names:
        if not isinstance(name, str) or not name or _FORBIDDEN_NAME.search(name):
            raise InvalidEntityError(f"entity type {name!r} must be a non-empty name or IRI")
        if name.startswith("@") or name in _KEYWORD_ALIASES:
            raise InvalidEntityError(
                f"entity type {name!r} is a JSON-LD keyword (the core @context makes it one), "
                "not a type name"
            )
    return as_types(names)


def check_name(name: str) -> None:
    """Refuse attribute names the query language could not address."""
    if not name or _FORBIDDEN_NAME.search(name) or name.startswith("@"):
        raise InvalidEntityError(
            f"attribute name {name!r} is not allowed: "
            "use letters, digits and _ without spaces or any of < > \" ' = ; ( )"
        )


def parse_attribute(name: str, raw: Any, *, nulls: Nulls = "refused") -> list[dict[str, Any]]:
    """One attribute's instances in normalized form; several only with distinct datasetIds."""
    check_name(name)
    allow_null = nulls != "refused"
    if isinstance(raw, list) and raw and all(_is_instance(item) for item in raw):
        instances = [_instance(name, item, allow_null) for item in raw]
    else:
        instances = [_instance(name, raw, allow_null)]
    for instance in instances:
        _check_nulls(name, instance, nulls)
    seen: set[str | None] = set()
    for instance in instances:
        dataset = instance.get("datasetId")
        if dataset in seen:
            which = "without a datasetId" if dataset is None else f"with datasetId {dataset}"
            raise InvalidEntityError(f"attribute {name!r} has two instances {which}")
        seen.add(dataset)
    return instances


def _is_instance(item: Any) -> bool:
    return isinstance(item, Mapping) and (
        item.get("type") in VALUE_KEYS or "datasetId" in item or _has_value_member(item)
    )


def _instance(name: str, raw: Any, allow_null: bool) -> dict[str, Any]:
    if raw is None:
        raise InvalidEntityError(f"attribute {name!r} is null: an attribute needs a value")
    if not isinstance(raw, Mapping):
        return _checked(name, {"type": "Property", "value": raw}, allow_null)
    kind = raw.get("type")
    if kind in _GEOJSON_TYPES:
        # Concise GeoProperty: the GeoJSON geometry itself.
        return _checked(name, {"type": "GeoProperty", "value": dict(raw)}, allow_null)
    if kind is not None and kind not in VALUE_KEYS and not _has_value_member(raw):
        # Concise: an object with a type of its own (a PostalAddress) is a Property's value.
        return _checked(name, _wrapped(raw), allow_null)
    if kind is None:
        kind = _implied_type(raw)
        raw = {"type": kind, **raw} if kind != "Property" or "value" in raw else _wrapped(raw)
    return _checked(name, dict(raw), allow_null)


def _has_value_member(raw: Mapping[str, Any]) -> bool:
    return "value" in raw or any(key in raw for key in _IMPLIED_TYPES)


def _implied_type(raw: Mapping[str, Any]) -> str:
    for key, kind in _IMPLIED_TYPES.items():
        if key in raw:
            return kind
    value = raw.get("value")
    if isinstance(value, Mapping) and value.get("type") in _GEOJSON_TYPES:
        return "GeoProperty"
    return "Property"


def _wrapped(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A concise JSON object without any value member: a Property holding that object."""
    return {"type": "Property", "value": dict(raw)}


def parse_fragment(name: str, raw: Any) -> dict[str, Any]:
    """A partial update of one attribute instance (5.6.4): only the members it changes.

    Unlike a whole attribute, it may leave out the value and change only, say, ``unitCode``
    or ``observedAt``; a fragment that has a value member is checked as an attribute.
    """
    check_name(name)
    if not isinstance(raw, Mapping) or _has_value_member(raw):
        [instance] = parse_attribute(name, raw, nulls="delete")
        return instance
    kind = raw.get("type")
    if kind is not None and kind not in VALUE_KEYS:
        raise InvalidEntityError(
            f"attribute {name!r} has type {kind!r}: use one of {', '.join(VALUE_KEYS)}"
        )
    instance = _checked(name, dict(raw), allow_null=True, need_value=False)
    _check_nulls(name, instance, "delete")
    return instance


def _check_nulls(name: str, instance: Mapping[str, Any], nulls: Nulls) -> None:
    """Refuse ``urn:ngsi-ld:null`` where ``nulls`` does not admit it (5.2.1, 5.5.4)."""
    if nulls == "merge":
        return
    if nulls == "refused":
        if holds_null(instance):
            raise InvalidEntityError(
                f"attribute {name!r} holds {NGSI_LD_NULL}, which deletes only in a merge or a "
                "partial update and cannot be stored (to remove an attribute, DELETE it)"
            )
        return
    for key in VALUE_KEYS.values():
        value = instance.get(key)
        if value == NGSI_LD_NULL or _null_language_map(key, value):
            continue
        if holds_null(value):
            raise InvalidEntityError(
                f"attribute {name!r}: {NGSI_LD_NULL} inside a value deletes only in a merge"
            )
    for sub_name, sub in instance.items():
        if sub_name not in ATTRIBUTE_MEMBERS and isinstance(sub, Mapping):
            _check_nulls(f"{name}.{sub_name}", sub, nulls)


def _null_language_map(key: str, value: Any) -> bool:
    return key == "languageMap" and isinstance(value, Mapping) and value == {"@none": NGSI_LD_NULL}


def holds_null(value: Any) -> bool:
    """True when ``urn:ngsi-ld:null`` is the value or anywhere inside it."""
    if isinstance(value, str):
        return value == NGSI_LD_NULL
    if isinstance(value, Mapping):
        return any(holds_null(item) for item in value.values())
    if isinstance(value, list):
        return any(holds_null(item) for item in value)
    return False


def _checked(
    name: str, instance: dict[str, Any], allow_null: bool, *, need_value: bool = True
) -> dict[str, Any]:
    if need_value:
        _check_typed_value(name, instance, allow_null)
    _check_members(name, instance)
    for member in SYSTEM_MEMBERS & instance.keys():
        del instance[member]
    if "observedAt" in instance:
        _check_time(name, instance["observedAt"])
    if "datasetId" in instance and not is_uri(instance["datasetId"]):
        raise InvalidEntityError(f"attribute {name!r}: datasetId must be a URI")
    if "unitCode" in instance and not isinstance(instance["unitCode"], str):
        raise InvalidEntityError(f"attribute {name!r}: unitCode must be a string")
    for sub_name in [k for k in instance if k not in ATTRIBUTE_MEMBERS]:
        sub = instance[sub_name]
        if allow_null and sub == NGSI_LD_NULL:
            continue
        check_name(sub_name)
        instance[sub_name] = _instance(f"{name}.{sub_name}", sub, allow_null)
    return instance


def _check_members(name: str, instance: Mapping[str, Any]) -> None:
    """Refuse the members an attribute of its type never has (4.5.3.2, 4.5.24.2)."""
    output_only = _OUTPUT_ONLY & instance.keys()
    if output_only:
        raise InvalidEntityError(
            f"attribute {name!r}: {', '.join(sorted(output_only))} is only ever sent by the broker"
        )
    kind = instance.get("type")
    if kind not in VALUE_KEYS:
        return
    foreign = set(_VALUE_MEMBERS - {VALUE_KEYS[kind]}) & instance.keys()
    if kind in _UNITLESS and "unitCode" in instance:
        foreign.add("unitCode")
    if foreign:
        raise InvalidEntityError(
            f"attribute {name!r} is a {kind}: it cannot have {', '.join(sorted(foreign))}"
        )


def _check_typed_value(name: str, instance: Mapping[str, Any], allow_null: bool) -> None:
    kind = instance.get("type")
    if kind not in VALUE_KEYS:
        raise InvalidEntityError(
            f"attribute {name!r} has type {kind!r}: use one of {', '.join(VALUE_KEYS)}"
        )
    key = VALUE_KEYS[kind]
    if key not in instance:
        raise InvalidEntityError(f"attribute {name!r} is a {kind} and needs a {key!r} member")
    value = instance[key]
    if value is None:
        raise InvalidEntityError(f"attribute {name!r}: {key} must not be null")
    if not (allow_null and value == NGSI_LD_NULL):
        _check_value(name, kind, value)


def _check_value(name: str, kind: str, value: Any) -> None:
    if kind == "Relationship":
        objects = value if isinstance(value, list) else [value]
        if not objects or not all(is_uri(item) for item in objects):
            raise InvalidEntityError(f"relationship {name!r}: object must be a URI")
    elif kind == "GeoProperty":
        try:
            geometry_from_geojson(value)
        except GeoQueryError as error:
            raise InvalidEntityError(f"geo-property {name!r}: {error}") from None
    elif kind == "LanguageProperty":
        if not isinstance(value, Mapping) or not all(
            isinstance(text, str | list) for text in value.values()
        ):
            raise InvalidEntityError(
                f"language property {name!r}: languageMap must map languages to strings"
            )
    elif kind == "VocabProperty":
        terms = value if isinstance(value, list) else [value]
        if not all(isinstance(term, str) and term for term in terms):
            raise InvalidEntityError(f"vocab property {name!r}: vocab must be a term or terms")
    elif kind == "JsonProperty":
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(item, Mapping) for item in items):
            raise InvalidEntityError(
                f"json property {name!r}: json must be a JSON object or an array of objects"
            )
    elif kind in ("ListProperty", "ListRelationship") and not isinstance(value, list):
        raise InvalidEntityError(f"{kind} {name!r}: {VALUE_KEYS[kind]} must be an array")


def _check_time(name: str, value: Any) -> None:
    if not isinstance(value, str):
        raise InvalidEntityError(f"attribute {name!r}: observedAt must be an RFC 3339 time")
    try:
        parse_time(value)
    except ValueError as error:
        raise InvalidEntityError(f"attribute {name!r}: observedAt {error}") from None
