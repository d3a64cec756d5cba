"""Operator A's feed: DATEX II v2.3 parking table and status publications, as Aachen's look.

The documents use the same namespace, prefix and element structure as the Mobilithek files in
``shared/data/parking/parkapi/aachen-*.xml`` (a ``GenericPublication`` wrapping a
``parkingTablePublication`` or ``parkingStatusPublication``), so a parser for those reads these.
"""

from __future__ import annotations

import functools
import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stadsnav.simulate.parking_day import DayModel
from stadsnav.simulate.parking_sites import Facility, Operator

DATEX_NS = "http://datex2.eu/schema/2/2_0"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XML_TYPE = "application/xml; charset=utf-8"
TREND_WINDOW = timedelta(minutes=15)
COUNT_INTERVAL = timedelta(seconds=60)


def _tag(name: str) -> str:
    # Prefixed names written as they are: ElementTree would rename the prefix to ns0, and the
    # xsi:type values ("ns2:Point") only resolve with the prefix the real files use.
    return f"ns2:{name}"


def _add(parent: ET.Element, name: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, _tag(name), attributes)
    if text is not None:
        element.text = text
    return element


def _path(parent: ET.Element, *names: str) -> ET.Element:
    for name in names:
        parent = _add(parent, name)
    return parent


def datex_time(moment: datetime) -> str:
    """UTC with milliseconds and Z, as the Aachen publications write it."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def _document(operator: Operator, published: datetime, name: str) -> tuple[ET.Element, ET.Element]:
    """The root and the genericPublicationExtension of a publication called ``name``."""
    root = ET.Element(_tag("d2LogicalModel"), {"xmlns:ns2": DATEX_NS, "modelBaseVersion": "2"})
    supplier = _path(root, "exchange", "supplierIdentification")
    _add(supplier, "country", "se")
    _add(supplier, "nationalIdentifier", operator.national_id)
    publication = _add(
        root,
        "payloadPublication",
        **{"xmlns:xsi": XSI_NS, "lang": "sv", "xsi:type": "ns2:GenericPublication"},
    )
    _add(publication, "publicationTime", datex_time(published))
    creator = _add(publication, "publicationCreator")
    _add(creator, "country", "se")
    _add(creator, "nationalIdentifier", operator.national_id)
    _add(publication, "genericPublicationName", name)
    return root, _add(publication, "genericPublicationExtension")


def _header(parent: ET.Element) -> None:
    header = _add(parent, "headerInformation")
    _add(header, "confidentiality", "noRestriction")
    _add(header, "informationStatus", "real")


def _serialise(root: ET.Element) -> bytes:
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body


@functools.cache  # hashed once per site, not on every status request
def record_version(facility: Facility) -> str:
    """A stable version number of a site's static record (changes when its description does)."""
    digest = hashlib.sha256(repr(facility).encode()).hexdigest()
    return str(int(digest[:8], 16) % 900_000_000 + 100_000_000)


def _opening_times(record: ET.Element, facility: Facility, since: datetime) -> None:
    opens, closes = facility.hours or (0, 0)
    spec = _path(record, "openingTimes", "validity")
    _add(spec, "validityStatus", "definedByValidityTimeSpec")
    spec = _add(spec, "validityTimeSpecification")
    _add(spec, "overallStartTime", since.strftime("%Y-01-01T00:00:00"))
    period = _add(
        _add(spec, "validPeriod"),
        "recurringTimePeriodOfDay",
        **{"xsi:type": "ns2:TimePeriodByHour"},
    )
    _add(period, "startTimeOfPeriod", f"{opens:02d}:00:00")
    _add(period, "endTimeOfPeriod", f"{closes % 24:02d}:00:00")


def table_publication(operator: Operator, published: datetime) -> bytes:
    """The ParkingTablePublication of every site: name, address, capacity, position, hours."""
    root, extension = _document(operator, published, "ParkingTablePublication")
    publication = _add(extension, "parkingTablePublication")
    _header(publication)
    versions = [record_version(facility) for facility in operator.facilities]
    table_id = hashlib.sha256(operator.national_id.encode()).hexdigest()
    table = _add(
        publication,
        "parkingTable",
        id=f"{table_id[:8]}-{table_id[8:12]}-{table_id[12:16]}-{table_id[16:20]}-{table_id[20:32]}",
        version=max(versions),
    )
    _add(table, "parkingTableVersionTime", datex_time(published))
    for facility, version in zip(operator.facilities, versions, strict=True):
        record = _add(
            table,
            "parkingRecord",
            id=facility.ref,
            version=version,
            **{"xsi:type": "ns2:UrbanParkingSite"},
        )
        _add(_path(record, "parkingName", "values"), "value", facility.name, lang="sv")
        _add(_path(record, "parkingDescription", "values"), "value", facility.address, lang="sv")
        _add(record, "parkingRecordVersionTime", datex_time(published))
        _add(record, "parkingNumberOfSpaces", str(facility.capacity))
        location = _add(record, "parkingLocation", **{"xsi:type": "ns2:Point"})
        coordinates = _path(location, "pointByCoordinates", "pointCoordinates")
        _add(coordinates, "latitude", f"{facility.lat:.6f}")
        _add(coordinates, "longitude", f"{facility.lon:.6f}")
        _add(record, "parkingLayout", facility.layout)
        _opening_times(record, facility, published)
        _add(record, "urbanParkingSiteType", f"{facility.kind}Parking")
    return _serialise(root)


@dataclass(frozen=True)
class SiteStatus:
    """One site's counts at a moment, as a ParkingSiteStatus says them."""

    facility: Facility
    origin: datetime
    occupied: int
    incoming: int
    outgoing: int
    trend: str
    open: bool

    @property
    def vacant(self) -> int:
        """Spaces free."""
        return self.facility.capacity - self.occupied

    @property
    def almost_full(self) -> int:
        """Vacant spaces at or below which the site is almost full (a tenth of it)."""
        return max(1, self.facility.capacity // 10)

    @property
    def site_status(self) -> str:
        """``spacesAvailable``, ``almostFull``, ``full`` or ``closed``."""
        if not self.open:
            return "closed"
        if self.vacant <= 0:
            return "full"
        return "almostFull" if self.vacant <= self.almost_full else "spacesAvailable"


def site_status(facility: Facility, model: DayModel, moment: datetime) -> SiteStatus:
    """A site's status at ``moment``: counts from the day model, last counted a few seconds ago."""
    origin = moment - facility.reporting_lag(40)

    def taken(at: datetime) -> int:
        return model.occupied(
            facility.character, facility.ref, facility.capacity, at, facility.scale
        )

    now, minute_ago, earlier = (
        taken(origin),
        taken(origin - COUNT_INTERVAL),
        taken(origin - TREND_WINDOW),
    )
    change = now - earlier
    threshold = max(2, facility.capacity // 50)
    trend = (
        "increasing" if change > threshold else "decreasing" if change < -threshold else "stable"
    )
    return SiteStatus(
        facility,
        origin,
        now,
        incoming=max(0, now - minute_ago),
        outgoing=max(0, minute_ago - now),
        trend=trend,
        open=facility.is_open(origin, model.zone),
    )


def status_publication(
    operator: Operator, statuses: list[SiteStatus], published: datetime
) -> bytes:
    """The ParkingStatusPublication: vacant and occupied spaces, trend and status per site."""
    root, extension = _document(operator, published, "ParkingStatusPublication")
    publication = _add(extension, "parkingStatusPublication")
    _header(publication)
    for status in statuses:
        facility = status.facility
        record = _add(publication, "parkingRecordStatus", **{"xsi:type": "ns2:ParkingSiteStatus"})
        _add(
            record,
            "parkingRecordReference",
            id=facility.ref,
            targetClass="ParkingRecord",
            version=record_version(facility),
        )
        _add(record, "parkingStatusOriginTime", datex_time(status.origin))
        occupancy = _add(record, "parkingOccupancy")
        _add(occupancy, "parkingNumberOfSpacesOverride", str(facility.capacity))
        _add(occupancy, "parkingNumberOfVacantSpaces", str(status.vacant))
        _add(occupancy, "parkingNumberOfOccupiedSpaces", str(status.occupied))
        _add(occupancy, "parkingNumberOfVehicles", str(status.occupied))
        _add(occupancy, "parkingOccupancy", f"{100 * status.occupied / facility.capacity:.2f}")
        _add(occupancy, "parkingOccupancyTrend", status.trend)
        counts = _path(occupancy, "vehicleCountAndRate", "vehicleCountWithinInterval")
        _add(counts, "measurementInterval", f"{COUNT_INTERVAL.total_seconds():.1f}")
        _add(_add(counts, "numberOfIncomingVehicles"), "vehicleCount", str(status.incoming))
        _add(_add(counts, "numberOfOutgoingVehicles"), "vehicleCount", str(status.outgoing))
        thresholds = _add(record, "overrideParkingThresholds")
        _add(thresholds, "almostFullDecreasing", str(status.almost_full + 1))
        _add(thresholds, "almostFullIncreasing", str(status.almost_full))
        _add(thresholds, "fullDecreasing", "1")
        _add(thresholds, "fullIncreasing", "0")
        _add(record, "parkingSiteStatus", status.site_status)
        _add(record, "parkingSiteOpeningStatus", "open" if status.open else "closed")
    return _serialise(root)


def _etag_matches(header: str, etag: str) -> bool:
    candidates = {part.strip().removeprefix("W/") for part in header.split(",")}
    return "*" in candidates or etag in candidates


def _not_modified_since(header: str, modified: datetime) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False
    return since.tzinfo is not None and modified.replace(microsecond=0) <= since


@dataclass
class DatexOperator:
    """Operator A's HTTP server: a static table with an ETag, and a status of right now."""

    operator: Operator
    model: DayModel
    now: Callable[[], datetime]
    published: datetime = field(init=False)
    table: bytes = field(init=False)
    etag: str = field(init=False)

    def __post_init__(self) -> None:
        self.published = self.now().replace(microsecond=0)
        self.table = table_publication(self.operator, self.published)
        self.etag = f'"{hashlib.sha256(self.table).hexdigest()[:32]}"'

    def status(self) -> bytes:
        """The status publication for the current moment."""
        moment = self.now()
        statuses = [site_status(f, self.model, moment) for f in self.operator.facilities]
        return status_publication(self.operator, statuses, moment)

    async def _table(self, request: Request) -> Response:
        headers = {
            "ETag": self.etag,
            "Last-Modified": format_datetime(self.published.astimezone(UTC), usegmt=True),
            "Cache-Control": "no-cache",
        }
        if_none_match = request.headers.get("if-none-match")
        if_modified_since = request.headers.get("if-modified-since")
        if (if_none_match is not None and _etag_matches(if_none_match, self.etag)) or (
            if_none_match is None
            and if_modified_since is not None
            and _not_modified_since(if_modified_since, self.published)
        ):
            return Response(status_code=304, headers=headers)
        return Response(self.table, media_type=XML_TYPE, headers=headers)

    async def _status(self, request: Request) -> Response:
        return Response(self.status(), media_type=XML_TYPE, headers={"Cache-Control": "no-store"})

    def app(self) -> Starlette:
        """The ASGI app: ``GET /datex/table.xml`` and ``GET /datex/status.xml``."""
        return Starlette(
            routes=[
                Route("/datex/table.xml", self._table, methods=["GET"]),
                Route("/datex/status.xml", self._status, methods=["GET"]),
            ]
        )
