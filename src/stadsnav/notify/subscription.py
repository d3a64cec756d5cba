"""The NGSI-LD Subscription data type (ETSI GS CIM 009, 5.2.12 and NotificationParams 5.2.14).

A subscription is kept as the document its client gave, checked and normalized, with entity
types and attribute names translated to the stored names (``q`` stays as written, in the
@context kept with it). The system members (``status`` and the delivery counters) are added
when it is shown.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

from stadsnav.model.entity_query import ENTITY_MEMBERS
from stadsnav.model.geo import GeoQueryError, parse_geo_query
from stadsnav.model.language import NONE_KEY, LanguageFilterError, parse_lang
from stadsnav.model.linked import JOINS, MAX_JOIN_LEVEL
from stadsnav.model.projection import Projection, ProjectionSyntaxError, parse_projection
from stadsnav.model.q import QSyntaxError, parse_q
from stadsnav.model.render import format_time
from stadsnav.model.scope import ScopeSyntaxError, parse_scope_query
from stadsnav.model.typequery import AllOf, AnyOf, TypeExpr, TypeName, TypeSyntaxError, parse_types
from stadsnav.store.sql_subscriptions import DeliveryStatus

TRIGGERS: Final = (
    "entityCreated",
    "entityUpdated",
    "entityDeleted",
    "attributeCreated",
    "attributeUpdated",
    "attributeDeleted",
)
DEFAULT_TRIGGERS: Final = ("attributeCreated", "attributeUpdated")
FORMATS: Final = ("normalized", "keyValues", "concise", "simplified")
JSON: Final = "application/json"
JSON_LD: Final = "application/ld+json"
ID_PREFIX: Final = "urn:ngsi-ld:Subscription:"

# In the order a subscription is shown. temporalQ is left out on purpose: it selects temporal
# evolutions, which notifications of this broker do not carry.
_MEMBERS: Final = (
    "id",
    "type",
    "subscriptionName",
    "description",
    "entities",
    "watchedAttributes",
    "notificationTrigger",
    "timeInterval",
    "q",
    "geoQ",
    "csf",
    "scopeQ",
    "isActive",
    "expiresAt",
    "throttling",
    "lang",
    "datasetId",
    "jsonldContext",
    "notification",
)
_NOTIFICATION: Final = (
    "attributes",
    "format",
    "sysAttrs",
    "showChanges",
    "pick",
    "omit",
    "join",
    "joinLevel",
    "endpoint",
)
_ENDPOINT: Final = ("uri", "accept", "timeout", "cooldown", "receiverInfo", "notifierInfo")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_MANDATORY: Final = ("notification",)


class SubscriptionError(ValueError):
    """A subscription that breaks a rule of GS CIM 009, 5.2.12; the message says which."""


def new_id() -> str:
    """A fresh subscription id."""
    return f"{ID_PREFIX}{uuid.uuid4()}"


def is_uri(text: Any) -> bool:
    """Whether ``text`` is an absolute URI."""
    return isinstance(text, str) and _URI.match(text) is not None


# names: request terms <-> stored names


def translate(body: Mapping[str, Any], rename: Callable[[str], str]) -> dict[str, Any]:
    """The known members of a subscription (or fragment), with every entity type and attribute
    name passed through ``rename``; unknown and read-only members are left out.

    Members of the wrong shape are kept as they are, for :func:`check_subscription` to refuse.
    """
    result: dict[str, Any] = {}
    for key in _MEMBERS:
        if key not in body:
            continue
        value = body[key]
        if key == "entities" and isinstance(value, list):
            value = [_rename_selector(item, rename) for item in value]
        elif key == "watchedAttributes":
            value = _rename_names(value, rename)
        elif key == "geoQ" and isinstance(value, Mapping):
            value = dict(value)
            if isinstance(value.get("geoproperty"), str):
                value["geoproperty"] = rename(value["geoproperty"])
        elif key == "notification" and isinstance(value, Mapping):
            value = _rename_notification(value, rename)
        result[key] = value
    if "temporalQ" in body:
        result["temporalQ"] = body["temporalQ"]  # kept to be refused, not silently dropped
    return result


def _rename_selector(item: Any, rename: Callable[[str], str]) -> Any:
    if not isinstance(item, Mapping) or not isinstance(item.get("type"), str):
        return item
    try:
        expression = parse_types(item["type"])
    except TypeSyntaxError:
        return item
    if expression is None:
        return item
    return {**item, "type": type_text(expression.rename(rename))}


def _rename_names(value: Any, rename: Callable[[str], str]) -> Any:
    if isinstance(value, list):
        return [rename(name) if isinstance(name, str) else name for name in value]
    return value


def _rename_notification(value: Mapping[str, Any], rename: Callable[[str], str]) -> Any:
    result: dict[str, Any] = {}
    for key in _NOTIFICATION:
        if key not in value:
            continue
        member = value[key]
        if key == "attributes":
            member = _rename_names(member, rename)
        elif key in ("pick", "omit"):
            member = _rename_projection(member, rename)
        result[key] = member
    return result


def _rename_projection(value: Any, rename: Callable[[str], str]) -> Any:
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
        return value
    try:
        parsed = [parse_projection(text) for text in texts]
    except ProjectionSyntaxError:
        return value
    renamed = [projection_text(_rename_members(p, rename)) for p in parsed]
    return renamed[0] if isinstance(value, str) else renamed


def _rename_members(projection: Projection, rename: Callable[[str], str]) -> Projection:
    return {
        name if name in ENTITY_MEMBERS else rename(name): (
            None if inner is None else _rename_members(inner, rename)
        )
        for name, inner in projection.items()
    }


def type_text(expression: TypeExpr) -> str:
    """An entity type selection written out again: ``A``, ``A|B``, ``A;B``, with parentheses."""
    if isinstance(expression, TypeName):
        return expression.name
    if isinstance(expression, AnyOf):
        return "|".join(type_text(part) for part in expression.parts)
    if isinstance(expression, AllOf):
        return ";".join(
            f"({type_text(part)})" if isinstance(part, AnyOf) else type_text(part)
            for part in expression.parts
        )
    raise TypeError(f"not a type selection: {expression!r}")


def projection_text(projection: Projection) -> str:
    """A ``pick``/``omit`` projection written out again."""
    return ",".join(
        name if inner is None else f"{name}{{{projection_text(inner)}}}"
        for name, inner in projection.items()
    )


# checks


def check_subscription(document: Mapping[str, Any]) -> dict[str, Any]:
    """The subscription (in stored names) checked and in canonical order; SubscriptionError if
    it breaks a rule. ``notificationTrigger`` gets its default."""
    if not isinstance(document, Mapping):
        raise SubscriptionError("a subscription must be a JSON object")
    if document.get("type") != "Subscription":
        raise SubscriptionError('a subscription needs "type": "Subscription"')
    if "temporalQ" in document:
        raise SubscriptionError("temporalQ is not supported: notifications carry entities")
    result: dict[str, Any] = {}
    for key in _MEMBERS:
        if key in document and document[key] is not None:
            result[key] = _CHECKS[key](document[key])
    for key in _MANDATORY:
        if key not in result:
            raise SubscriptionError(f"a subscription needs {key}")
    if "entities" not in result and "watchedAttributes" not in result:
        raise SubscriptionError("give entities, watchedAttributes or both")
    if "timeInterval" in result:
        if "watchedAttributes" in result:
            raise SubscriptionError("timeInterval and watchedAttributes cannot be combined")
        if "throttling" in result:
            raise SubscriptionError("timeInterval and throttling cannot be combined")
    result.setdefault("notificationTrigger", list(DEFAULT_TRIGGERS))
    return {key: result[key] for key in _MEMBERS if key in result}


def check_future(document: Mapping[str, Any], now: datetime) -> None:
    """SubscriptionError if the document's expiresAt is not after ``now``."""
    expires = expires_at(document)
    if expires is not None and expires <= now:
        raise SubscriptionError(f"expiresAt {document['expiresAt']} is not in the future")


def _id(value: Any) -> str:
    if not is_uri(value):
        raise SubscriptionError(f"the subscription id must be a URI, not {value!r}")
    return str(value)


def _type(value: Any) -> str:
    return str(value)


def _text(name: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise SubscriptionError(f"{name} must be a string")
        return value

    return check


def _entities(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise SubscriptionError("entities must be a non-empty array of entity selectors")
    return [_selector(item) for item in value]


def _selector(item: Any) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise SubscriptionError("each entity selector must be an object")
    unknown = set(item) - {"id", "idPattern", "type"}
    if unknown:
        raise SubscriptionError(f"unknown entity selector members: {', '.join(sorted(unknown))}")
    kind = item.get("type")
    if not isinstance(kind, str) or not kind.strip():
        raise SubscriptionError("each entity selector needs a type")
    try:
        expression = parse_types(kind)
    except TypeSyntaxError as error:
        raise SubscriptionError(f"entities: type: {error}") from None
    selector: dict[str, Any] = {}
    if "id" in item:
        if not is_uri(item["id"]):
            raise SubscriptionError(f"an entity selector's id must be a URI, not {item['id']!r}")
        selector["id"] = item["id"]
    if "idPattern" in item:
        pattern = item["idPattern"]
        if not isinstance(pattern, str):
            raise SubscriptionError("an entity selector's idPattern must be a string")
        try:
            re.compile(pattern)
        except re.error as error:
            raise SubscriptionError(
                f"idPattern {pattern!r} is not a regular expression: {error}"
            ) from None
        selector["idPattern"] = pattern
    # "*" (every type) has no expression; it is kept as written.
    selector["type"] = kind if expression is None else type_text(expression)
    return selector


def _names(name: str) -> Callable[[Any], list[str]]:
    def check(value: Any) -> list[str]:
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(item, str) and item for item in value)
        ):
            raise SubscriptionError(f"{name} must be a non-empty array of names")
        return list(dict.fromkeys(value))

    return check


def _triggers(value: Any) -> list[str]:
    triggers = _names("notificationTrigger")(value)
    unknown = [trigger for trigger in triggers if trigger not in TRIGGERS]
    if unknown:
        raise SubscriptionError(
            f"unknown notificationTrigger {', '.join(unknown)}: use {', '.join(TRIGGERS)}"
        )
    return triggers


def _seconds(name: str) -> Callable[[Any], int | float]:
    def check(value: Any) -> int | float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise SubscriptionError(f"{name} must be a number of seconds above 0")
        return value

    return check


def _query(name: str) -> Callable[[Any], str]:
    """A check that the member is a string in the NGSI-LD query language (``q``, ``csf``)."""

    def check(value: Any) -> str:
        text = _text(name)(value)
        try:
            parse_q(text)
        except QSyntaxError as error:
            raise SubscriptionError(f"{name}: {error}") from None
        return text

    return check


def _scope_q(value: Any) -> str:
    text = _text("scopeQ")(value)
    try:
        parse_scope_query(text)
    except ScopeSyntaxError as error:
        raise SubscriptionError(f"scopeQ: {error}") from None
    return text


def _geo_q(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise SubscriptionError("geoQ must be an object with geometry, coordinates and georel")
    unknown = set(value) - {"geometry", "coordinates", "georel", "geoproperty"}
    if unknown:
        raise SubscriptionError(f"unknown geoQ members: {', '.join(sorted(unknown))}")
    geometry, georel = value.get("geometry"), value.get("georel")
    coordinates, geoproperty = value.get("coordinates"), value.get("geoproperty", "location")
    if not isinstance(geometry, str) or not isinstance(georel, str):
        raise SubscriptionError("geoQ needs geometry and georel strings")
    if not isinstance(coordinates, list | str) or not isinstance(geoproperty, str):
        raise SubscriptionError("geoQ needs coordinates (an array) and a geoproperty string")
    try:
        parse_geo_query(georel, geometry, coordinates, geoproperty)
    except GeoQueryError as error:
        raise SubscriptionError(f"geoQ: {error}") from None
    members = ("geometry", "coordinates", "georel", "geoproperty")
    return {key: value[key] for key in members if key in value}


def _boolean(name: str) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        if not isinstance(value, bool):
            raise SubscriptionError(f"{name} must be true or false")
        return value

    return check


def _expires_at(value: Any) -> str:
    if not isinstance(value, str):
        raise SubscriptionError("expiresAt must be a date-time")
    parse_time("expiresAt", value)
    return value


def _lang(value: Any) -> str:
    text = _text("lang")(value)
    try:
        parse_lang(text)
    except LanguageFilterError as error:
        raise SubscriptionError(f"lang: {error}") from None
    return text


def _dataset_ids(value: Any) -> list[str]:
    ids = [value] if isinstance(value, str) else value
    if not isinstance(ids, list) or not ids:
        raise SubscriptionError("datasetId must be a URI, @none or a non-empty array of them")
    for item in ids:
        if item != NONE_KEY and not is_uri(item):
            raise SubscriptionError(f"datasetId {item!r} is not a URI or @none")
    return list(ids)


def _jsonld_context(value: Any) -> str:
    if not is_uri(value):
        raise SubscriptionError(f"jsonldContext must be a URI, not {value!r}")
    return str(value)


def _notification(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise SubscriptionError("notification must be an object")
    result: dict[str, Any] = {}
    for key in _NOTIFICATION:
        if key in value and value[key] is not None:
            result[key] = _NOTIFICATION_CHECKS[key](value[key])
    if "endpoint" not in result:
        raise SubscriptionError("notification needs an endpoint")
    fmt = result.get("format", "normalized")
    if result.get("showChanges") and fmt in ("keyValues", "simplified"):
        raise SubscriptionError("showChanges cannot be true with the keyValues format")
    if "pick" in result and "omit" in result:
        raise SubscriptionError("give pick or omit, not both")
    if "attributes" in result and ("pick" in result or "omit" in result):
        raise SubscriptionError("pick and omit replace attributes: give one of them")
    level = result.get("joinLevel")
    if level is not None and result.get("join") in (None, "@none"):
        raise SubscriptionError("joinLevel needs join inline or flat")
    return result


def _format(value: Any) -> str:
    if value not in FORMATS:
        raise SubscriptionError(f"unknown format {value!r}: use {', '.join(FORMATS)}")
    return str(value)


def _projection(name: str) -> Callable[[Any], list[str]]:
    def check(value: Any) -> list[str]:
        texts = [value] if isinstance(value, str) else value
        if not isinstance(texts, list) or not texts:
            raise SubscriptionError(f"{name} must be a non-empty array of entity members")
        for text in texts:
            if not isinstance(text, str):
                raise SubscriptionError(f"{name} must be a non-empty array of entity members")
            try:
                parse_projection(text)
            except ProjectionSyntaxError as error:
                raise SubscriptionError(f"{name}: {error}") from None
        return list(texts)

    return check


def _join(value: Any) -> str:
    if value not in (*JOINS, "@none"):
        raise SubscriptionError(f"join must be inline, flat or @none, not {value!r}")
    return str(value)


def _join_level(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_JOIN_LEVEL:
        raise SubscriptionError(f"joinLevel must be a whole number from 1 to {MAX_JOIN_LEVEL}")
    return value


def _endpoint(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise SubscriptionError("notification.endpoint must be an object with a uri")
    uri = value.get("uri")
    if not is_uri(uri):
        raise SubscriptionError(f"notification.endpoint.uri must be a URI, not {uri!r}")
    parts = urlsplit(str(uri))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SubscriptionError(
            f"notification.endpoint.uri {uri}: this broker notifies over http and https only"
        )
    result: dict[str, Any] = {"uri": uri}
    accept = value.get("accept")
    if accept is not None:
        if accept not in (JSON, JSON_LD):
            raise SubscriptionError(f"notification.endpoint.accept must be {JSON} or {JSON_LD}")
        result["accept"] = accept
    for key in ("timeout", "cooldown"):
        if value.get(key) is not None:
            result[key] = _milliseconds(f"notification.endpoint.{key}", value[key])
    for key in ("receiverInfo", "notifierInfo"):
        if value.get(key) is not None:
            result[key] = _pairs(f"notification.endpoint.{key}", value[key])
    return result


def _milliseconds(name: str, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise SubscriptionError(f"{name} must be a number of milliseconds above 0")
    return value


def _pairs(name: str, value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise SubscriptionError(f"{name} must be a non-empty array of key-value pairs")
    pairs = []
    for item in value:
        if (
            not isinstance(item, Mapping)
            or set(item) != {"key", "value"}
            or not isinstance(item["key"], str)
            or not item["key"]
            or not isinstance(item["value"], str)
        ):
            raise SubscriptionError(f'{name}: each pair is {{"key": text, "value": text}}')
        pairs.append({"key": item["key"], "value": item["value"]})
    return pairs


_CHECKS: Final[dict[str, Callable[[Any], Any]]] = {
    "id": _id,
    "type": _type,
    "subscriptionName": _text("subscriptionName"),
    "description": _text("description"),
    "entities": _entities,
    "watchedAttributes": _names("watchedAttributes"),
    "notificationTrigger": _triggers,
    "timeInterval": _seconds("timeInterval"),
    "q": _query("q"),
    "geoQ": _geo_q,
    "csf": _query("csf"),
    "scopeQ": _scope_q,
    "isActive": _boolean("isActive"),
    "expiresAt": _expires_at,
    "throttling": _seconds("throttling"),
    "lang": _lang,
    "datasetId": _dataset_ids,
    "jsonldContext": _jsonld_context,
    "notification": _notification,
}
_NOTIFICATION_CHECKS: Final[dict[str, Callable[[Any], Any]]] = {
    "attributes": _names("notification.attributes"),
    "format": _format,
    "sysAttrs": _boolean("notification.sysAttrs"),
    "showChanges": _boolean("notification.showChanges"),
    "pick": _projection("notification.pick"),
    "omit": _projection("notification.omit"),
    "join": _join,
    "joinLevel": _join_level,
    "endpoint": _endpoint,
}


# fragments


def merge_fragment(document: Mapping[str, Any], fragment: Mapping[str, Any]) -> dict[str, Any]:
    """The document with a fragment applied (GS CIM 009, 5.8.2): each member given replaces the
    one there, ``null`` removes it; ``notification`` is merged member by member."""
    merged = dict(document)
    for key, value in fragment.items():
        if key in ("id", "type"):
            continue
        if key == "notification" and isinstance(value, Mapping):
            current = merged.get("notification")
            notification = dict(current) if isinstance(current, Mapping) else {}
            for member, inner in value.items():
                if inner is None:
                    if member == "endpoint":
                        raise SubscriptionError("notification.endpoint cannot be removed")
                    notification.pop(member, None)
                else:
                    notification[member] = inner
            merged[key] = notification
        elif value is None:
            if key in _MANDATORY:
                raise SubscriptionError(f"{key} cannot be removed")
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


# showing


def status(document: Mapping[str, Any], now: datetime) -> str:
    """``expired`` past expiresAt, else ``paused`` when isActive is false, else ``active``."""
    expires = expires_at(document)
    if expires is not None and expires <= now:
        return "expired"
    return "paused" if document.get("isActive") is False else "active"


def expires_at(document: Mapping[str, Any]) -> datetime | None:
    """The document's expiresAt as a datetime, if it has one."""
    value = document.get("expiresAt")
    return None if not isinstance(value, str) else parse_time("expiresAt", value)


def parse_time(name: str, text: str) -> datetime:
    """An RFC 3339 date-time (UTC when it names no zone); SubscriptionError if it is not one."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SubscriptionError(f"{name} {text!r} is not a date-time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def show(
    document: Mapping[str, Any],
    rename: Callable[[str], str],
    delivery: DeliveryStatus,
    now: datetime,
) -> dict[str, Any]:
    """The subscription as GET answers it: names through ``rename``, with status members.

    Counters and times appear once there is something to count.
    """
    shown = translate(document, rename)
    shown["status"] = status(document, now)
    notification = dict(shown["notification"])
    if delivery.last_status is not None:
        notification["status"] = delivery.last_status
    if delivery.times_sent:
        notification["timesSent"] = delivery.times_sent
    if delivery.times_failed:
        notification["timesFailed"] = delivery.times_failed
    for key, moment in (
        ("lastNotification", delivery.last_notification),
        ("lastSuccess", delivery.last_success),
        ("lastFailure", delivery.last_failure),
    ):
        if moment is not None:
            notification[key] = format_time(moment)
    shown["notification"] = notification
    return shown
