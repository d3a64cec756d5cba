"""DATEX II v2.3 parking publications as records: parking sites and spots, and their status.

Reads a ParkingTablePublication (one record per ``parkingRecord`` and per ``parkingSpace`` in it),
the older ParkingFacilityTablePublication (``parkingFacility``, still sent by Region Stuttgart)
and a ParkingStatusPublication (``parkingRecordStatus`` and its ``parkingSpaceStatus``), in a
GenericPublication's extension as the German national access point sends them, or as the
payloadPublication itself. Elements are matched by local name in any namespace: feeds differ in
prefix (``ns2:``, ``ns3:``, a default namespace) and put extension elements in none.

Ids are the ones in the file. A status's id is its ``parkingRecordReference`` id as written,
even where a feed writes it differently from the table: Region Stuttgart's status names
"1035[P+R Bondorf]" the site its table calls "1035". A spot inside a site is "<site id>/<index>".
A parking record of exactly one space with no ``parkingSpace`` of its own is a spot: that is how
per-spot sensor feeds (Friedrichshafen) publish each space. Times are RFC 3339 in UTC with a Z,
to the millisecond, as the context store writes them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from lxml import etree

from stadsnav.connectors.documents import (
    DATEX2_PUBLICATIONS,
    DocumentError,
    ParsedDocument,
    RecordError,
)
from stadsnav.model.render import format_time

DATEX2_NAMESPACE: Final = "http://datex2.eu/schema/2/2_0"
"""The namespace of every DATEX II v2.x document."""
_V2_NAMESPACES: Final = "http://datex2.eu/schema/2"
_V3_NAMESPACES: Final = "http://datex2.eu/schema/3"
_XSI_TYPE: Final = "{http://www.w3.org/2001/XMLSchema-instance}type"
_PUBLICATIONS: Final = {
    "table": ("ParkingTablePublication", "ParkingFacilityTablePublication"),
    "status": ("ParkingStatusPublication",),
}
_CATEGORY_ELEMENTS: Final = (
    "urbanParkingSiteType",
    "interUrbanParkingSiteLocation",
    "specialLocation",
)
_CONTACT_NAMES: Final = ("contactOrganisationName", "contactName")
_INTEGER = re.compile(r"[+-]?\d{1,18}", re.ASCII)
_DECIMAL = re.compile(r"[+-]?(?:\d{1,30}(?:\.\d{0,30})?|\.\d{1,30})(?:[eE][+-]?\d{1,3})?", re.ASCII)
_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?", re.ASCII
)
_BOOLEANS: Final = {"true": True, "1": True, "false": False, "0": False}
_FREE_SITE_STATUSES: Final = ("spacesAvailable", "almostFull")

Item = dict[str, Any] | RecordError
"""What one DATEX II element becomes: a record, or the reason it cannot be one."""


class _UnusableRecordError(Exception):
    """A record cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class _RecordNames:
    """Where a table record keeps its fields: ParkingRecord (v2.3) and ParkingFacility differ."""

    name: str
    capacity: str
    location: str
    version_time: str


_PARKING_RECORD: Final = _RecordNames(
    "parkingName", "parkingNumberOfSpaces", "parkingLocation", "parkingRecordVersionTime"
)
_PARKING_FACILITY: Final = _RecordNames(
    "parkingFacilityName",
    "totalParkingCapacity",
    "facilityLocation",
    "parkingFacilityRecordVersionTime",
)


@dataclass(frozen=True, slots=True)
class _Times:
    """Record times, falling back to the publication's time where a record gives none."""

    published: str | None
    missing: str
    """Why there is no publication time to fall back to, for messages."""

    @classmethod
    def of(cls, payload: etree._Element) -> _Times:
        text = payload.findtext("{*}publicationTime")
        if not text or not text.strip():
            return cls(None, "the publication has no publicationTime")
        try:
            return cls(_rfc3339(text, "publicationTime"), "")
        except _UnusableRecordError as problem:
            return cls(None, str(problem))

    def required(self, text: str | None, label: str) -> str:
        """The record's own time, else the publication time; one of them must be usable."""
        if text and text.strip():
            return _rfc3339(text, label)
        if self.published is None:
            raise _UnusableRecordError(f"no {label}, and {self.missing}")
        return self.published

    def optional(self, text: str | None, label: str) -> str | None:
        """The record's own time, else the publication time if it has a usable one."""
        if text and text.strip():
            return _rfc3339(text, label)
        return self.published


def parse_datex2(root: etree._Element, publication: str | None) -> ParsedDocument:
    """Records of a DATEX II v2 parking table or status publication (``publication`` says which)."""
    if publication is not None and publication not in DATEX2_PUBLICATIONS:
        raise ValueError(
            f"unknown DATEX II publication {publication!r}: use one of "
            f"{', '.join(DATEX2_PUBLICATIONS)}"
        )
    _check_root(root)
    payload = root.find("{*}payloadPublication")
    if payload is None:
        raise DocumentError("DATEX II document without a payloadPublication: it holds no data")
    name, element = _publication(payload)
    _check_publication(name, publication)
    times = _Times.of(payload)
    if name == "ParkingStatusPublication":
        statuses = element.iterfind("{*}parkingRecordStatus")
        return _collect(statuses, lambda status, position: _status_items(status, position, times))
    if name == "ParkingFacilityTablePublication":
        facilities = element.iterfind("{*}parkingFacilityTable/{*}parkingFacility")
        return _collect(
            facilities,
            lambda facility, position: _table_items(facility, position, times, _PARKING_FACILITY),
        )
    records = element.iterfind("{*}parkingTable/{*}parkingRecord")
    return _collect(
        records, lambda record, position: _table_items(record, position, times, _PARKING_RECORD)
    )


def _check_root(root: etree._Element) -> None:
    qname = etree.QName(root)
    namespace = qname.namespace
    if qname.localname == "d2LogicalModel" and (
        namespace is None or namespace.startswith(_V2_NAMESPACES)
    ):
        return
    if namespace is not None and namespace.startswith(_V3_NAMESPACES):
        raise DocumentError(
            f"got a DATEX II v3 document (<{qname.localname}> in {namespace}): only DATEX II v2.3 "
            f"(namespace {DATEX2_NAMESPACE}) is read"
        )
    where = f"in namespace {namespace}" if namespace else "without a namespace"
    raise DocumentError(
        f"not a DATEX II document: its root element is <{qname.localname}> {where}, "
        f"expected <d2LogicalModel> in {DATEX2_NAMESPACE}"
    )


def _publication(payload: etree._Element) -> tuple[str, etree._Element]:
    """The publication's type name ("ParkingStatusPublication" ...) and the element holding it."""
    extension = payload.find("{*}genericPublicationExtension")
    if extension is not None:
        for child in extension:
            if isinstance(child.tag, str):
                local = etree.QName(child).localname
                return local[:1].upper() + local[1:], child
    declared = payload.get(_XSI_TYPE)
    declared = declared.rpartition(":")[2] if declared else None
    if declared is None or declared == "GenericPublication":
        generic = _clean(payload.findtext("{*}genericPublicationName"))
        return generic or declared or "a payloadPublication without xsi:type", payload
    return declared, payload


def _check_publication(name: str, publication: str | None) -> None:
    if publication is None:
        if not any(name in names for names in _PUBLICATIONS.values()):
            raise DocumentError(
                f"found a {name}, which is not a DATEX II parking table or status publication"
            )
        return
    expected = _PUBLICATIONS[publication]
    if name not in expected:
        raise DocumentError(
            f"expected a DATEX II {' or '.join(expected)} (publication: {publication}), "
            f"found {name}"
        )


def _collect(
    elements: Iterable[etree._Element], convert: Callable[[etree._Element, int], list[Item]]
) -> ParsedDocument:
    records: list[dict[str, Any]] = []
    errors: list[RecordError] = []
    for position, element in enumerate(elements, start=1):
        for item in convert(element, position):
            if isinstance(item, RecordError):
                errors.append(item)
            else:
                records.append(item)
    return ParsedDocument(records, errors)


def _attempt(
    key: str | None, position: int, element: etree._Element, build: Callable[[], dict[str, Any]]
) -> Item:
    """The record ``build`` makes, or a RecordError carrying the element's markup."""
    try:
        return build()
    except _UnusableRecordError as problem:
        return RecordError(
            key=key or f"record {position}",
            reason=str(problem),
            raw=etree.tostring(element, encoding="unicode", with_tail=False),
        )


def _table_items(
    element: etree._Element, position: int, times: _Times, names: _RecordNames
) -> list[Item]:
    """A table record as a site (or a one-space spot), followed by the spots it lists."""
    site_id = _clean(element.get("id"))
    spaces = list(element.iterfind("{*}parkingSpace"))
    items = [
        _attempt(site_id, position, element, lambda: _site(element, site_id, spaces, times, names))
    ]
    for space in spaces:
        index = _clean(space.get("parkingSpaceIndex"))
        key = f"{site_id}/{index}" if site_id and index else None
        items.append(
            _attempt(key, position, space, _bind(_space, space, element, site_id, index, times))
        )
    return items


def _site(
    element: etree._Element,
    site_id: str | None,
    spaces: list[etree._Element],
    times: _Times,
    names: _RecordNames,
) -> dict[str, Any]:
    if site_id is None:
        raise _UnusableRecordError(f"<{etree.QName(element).localname}> without an id attribute")
    capacity = _integer(element, names.capacity)
    location = _location(element.find(f"{{*}}{names.location}"))
    kind = "spot" if capacity == 1 and not spaces else "site"
    missing = [
        label
        for label, value in ((names.capacity, capacity), ("location", location))
        if value is None and (kind == "site" or label == "location")
    ]
    if missing:
        needs = "its number of spaces and its location" if kind == "site" else "its location"
        raise _UnusableRecordError(
            f"no {' and no '.join(missing)}: a parking {kind} is usable only with {needs}"
        )
    return {
        "id": site_id,
        "kind": kind,
        "name": _name(element.find(f"{{*}}{names.name}")),
        "capacity": capacity,
        "location": location,
        "site": None,
        "category": _category(element),
        "operator": _operator(element),
        "version": _clean(element.get("version")),
        "time": times.optional(element.findtext(f"{{*}}{names.version_time}"), names.version_time),
    }


def _space(
    space: etree._Element,
    record: etree._Element,
    site_id: str | None,
    index: str | None,
    times: _Times,
) -> dict[str, Any]:
    if site_id is None:
        raise _UnusableRecordError("<parkingSpace> of a parkingRecord without an id attribute")
    if index is None:
        raise _UnusableRecordError(f"<parkingSpace> of {site_id} without a parkingSpaceIndex")
    basics = space.find("{*}parkingSpaceBasics")
    details = space if basics is None else basics
    location = _location(details.find("{*}location"))
    return {
        "id": f"{site_id}/{index}",
        "kind": "spot",
        "name": _name(details.find("{*}parkingSpaceOrGroupIdentifier")),
        "capacity": 1,
        "location": location,
        "site": site_id,
        "category": _category(record),
        "operator": _operator(record),
        "version": _clean(record.get("version")),
        "time": times.optional(
            record.findtext("{*}parkingRecordVersionTime"), "parkingRecordVersionTime"
        ),
    }


def _status_items(element: etree._Element, position: int, times: _Times) -> list[Item]:
    """A parkingRecordStatus as a site (or one-space spot) status, then its spaces' statuses."""
    reference = element.find("{*}parkingRecordReference")
    record_id = None if reference is None else _clean(reference.get("id"))
    spaces = list(element.iterfind("{*}parkingSpaceStatus"))
    items = [
        _attempt(
            record_id,
            position,
            element,
            lambda: _record_status(element, record_id, bool(spaces), times),
        )
    ]
    origin = element.findtext("{*}parkingStatusOriginTime")
    for space in spaces:
        index = _clean(space.get("parkingSpaceIndex"))
        key = f"{record_id}/{index}" if record_id and index else None
        items.append(
            _attempt(
                key, position, space, _bind(_space_status, space, record_id, index, origin, times)
            )
        )
    return items


def _record_status(
    element: etree._Element, record_id: str | None, has_spaces: bool, times: _Times
) -> dict[str, Any]:
    if record_id is None:
        raise _UnusableRecordError(
            "no parkingRecordReference id: the status names no parking record"
        )
    time = times.required(element.findtext("{*}parkingStatusOriginTime"), "parkingStatusOriginTime")
    occupancy = element.find("{*}parkingOccupancy")
    capacity = _integer(occupancy, "parkingNumberOfSpacesOverride")
    vacant = _integer(occupancy, "parkingNumberOfVacantSpaces")
    occupied = _integer(occupancy, "parkingNumberOfOccupiedSpaces")
    percent = _decimal(occupancy, "parkingOccupancy")
    site_status = _clean(element.findtext("{*}parkingSiteStatus"))
    opening = _clean(element.findtext("{*}parkingSiteOpeningStatus"))
    opening = opening if opening in ("open", "closed") else None
    if (
        vacant is None
        and occupied is None
        and percent is None
        and site_status is None
        and opening is None
    ):
        raise _UnusableRecordError(
            "no parkingOccupancy numbers and no parkingSiteStatus: the status says nothing"
        )
    spot = capacity == 1 and not has_spaces
    return {
        "id": record_id,
        "kind": "spot" if spot else "site",
        "time": time,
        "vacant": vacant,
        "occupied": occupied,
        "capacity": capacity,
        "occupancy": None if percent is None else percent / 100,
        "status": site_status,
        "opening": opening,
        "spot_status": _one_space_status(vacant, occupied, site_status) if spot else None,
    }


def _one_space_status(vacant: int | None, occupied: int | None, site_status: str | None) -> str:
    """Whether the one space of a one-space record is taken: counts first, then the site status."""
    if occupied is not None and occupied > 0:
        return "occupied"
    if vacant is not None and vacant > 0:
        return "free"
    if site_status == "full":
        return "occupied"
    if site_status in _FREE_SITE_STATUSES:
        return "free"
    return "unknown"


def _space_status(
    space: etree._Element,
    record_id: str | None,
    index: str | None,
    origin: str | None,
    times: _Times,
) -> dict[str, Any]:
    if record_id is None:
        raise _UnusableRecordError(
            "<parkingSpaceStatus> of a status without a parkingRecordReference id"
        )
    if index is None:
        raise _UnusableRecordError(
            f"<parkingSpaceStatus> of {record_id} without a parkingSpaceIndex"
        )
    inner = space.find("{*}parkingSpaceStatus")
    details = space if inner is None else inner
    occupied = _boolean(details, "parkingSpaceOccupied")
    closed = _boolean(details, "parkingSpaceClosed")
    measured = details.findtext("{*}measurementOrCalculationTime")
    if measured and measured.strip():
        time = times.required(measured, "measurementOrCalculationTime")
    else:
        time = times.required(origin, "parkingStatusOriginTime")
    return {
        "id": f"{record_id}/{index}",
        "kind": "spot",
        "time": time,
        "vacant": None,
        "occupied": None,
        "capacity": None,
        "occupancy": None,
        "status": None,
        "opening": None if closed is None else ("closed" if closed else "open"),
        "spot_status": "unknown" if occupied is None else ("occupied" if occupied else "free"),
    }


def _bind(function: Callable[..., dict[str, Any]], *args: Any) -> Callable[[], dict[str, Any]]:
    """``function`` with its arguments fixed now, not when a loop's variables have moved on."""
    return lambda: function(*args)


def _integer(parent: etree._Element | None, name: str) -> int | None:
    text = _child_text(parent, name)
    if text is None:
        return None
    if _INTEGER.fullmatch(text) is None:
        raise _UnusableRecordError(f"{name} {text[:40]!r} is not a whole number")
    return int(text)


def _decimal(parent: etree._Element | None, name: str) -> float | None:
    text = _child_text(parent, name)
    if text is None:
        return None
    return _number(text, name)


def _number(text: str, name: str) -> float:
    if _DECIMAL.fullmatch(text) is None:
        raise _UnusableRecordError(f"{name} {text[:40]!r} is not a number")
    value = float(text)
    if not math.isfinite(value):
        raise _UnusableRecordError(f"{name} {text[:40]!r} is not a finite number")
    return value


def _boolean(parent: etree._Element, name: str) -> bool | None:
    text = _child_text(parent, name)
    if text is None:
        return None
    if text not in _BOOLEANS:
        raise _UnusableRecordError(f"{name} {text[:40]!r} is not true or false")
    return _BOOLEANS[text]


def _child_text(parent: etree._Element | None, name: str) -> str | None:
    """The stripped text of the direct child ``name``; None if it is missing or empty."""
    if parent is None:
        return None
    return _clean(parent.findtext(f"{{*}}{name}"))


def _location(element: etree._Element | None) -> dict[str, Any] | None:
    """The first latitude/longitude pair in a location (a point, or an area's display point)."""
    if element is None:
        return None
    for candidate in element.iter(etree.Element):
        latitude = _clean(candidate.findtext("{*}latitude"))
        longitude = _clean(candidate.findtext("{*}longitude"))
        if latitude is None or longitude is None:
            continue
        lat = _number(latitude, "latitude")
        lon = _number(longitude, "longitude")
        if not -90 <= lat <= 90 or not -180 <= lon <= 180:
            raise _UnusableRecordError(f"latitude {lat} / longitude {lon} is not a place on Earth")
        return {"type": "Point", "coordinates": [lon, lat]}
    return None


def _name(element: etree._Element | None) -> str | None:
    """A multilingual string's first non-empty value (or its own text)."""
    if element is None:
        return None
    for value in element.iter("{*}value"):
        text = _clean(value.text)
        if text is not None:
            return text
    return _clean(element.text)


def _category(element: etree._Element) -> str | None:
    for name in _CATEGORY_ELEMENTS:
        text = _child_text(element, name)
        if text is not None:
            return text
    return None


def _operator(element: etree._Element) -> str | None:
    operator = element.find("{*}operator")
    if operator is None:
        return None
    for name in _CONTACT_NAMES:
        text = _name(operator.find(f".//{{*}}{name}"))
        if text is not None:
            return text
    return None


def _rfc3339(text: str, label: str) -> str:
    """A DATEX II time as RFC 3339 in UTC with Z; a time without an offset is refused."""
    stripped = text.strip()
    match = _TIME.fullmatch(stripped)
    if match is None:
        raise _UnusableRecordError(
            f"{label} {stripped[:40]!r} is not a time like 2025-05-09T21:41:58+02:00"
        )
    seconds, fraction, zone = match.groups()
    if zone is None:
        raise _UnusableRecordError(
            f"{label} {stripped!r} has no UTC offset, so the moment it means is unknown"
        )
    # datetime holds microseconds; feeds write up to 7 digits (.5461534).
    iso = seconds + (fraction or "")[:7] + ("+00:00" if zone in "Zz" else zone)
    try:
        return format_time(datetime.fromisoformat(iso))
    except (ValueError, OverflowError):
        raise _UnusableRecordError(f"{label} {stripped!r} is not a valid date and time") from None


def _clean(text: str | None) -> str | None:
    """Text without surrounding whitespace; None if nothing is left."""
    if text is None:
        return None
    stripped = text.strip()
    return stripped or None
