"""Operator A's DATEX II feed: shaped like the real Aachen files, served over real HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from stadsnav.simulate.datex2 import (
    DATEX_NS,
    DatexOperator,
    datex_time,
    site_status,
    status_publication,
    table_publication,
)
from stadsnav.simulate.parking import LoopbackServer
from stadsnav.simulate.parking_day import DayModel
from stadsnav.simulate.parking_sites import MUNICIPAL
from support import SHARED_DATA

PARKAPI = SHARED_DATA / "parking" / "parkapi"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
NS = {"d": DATEX_NS}
TUESDAY_NOON = datetime(2026, 3, 10, 11, 0, 0, 250_000, tzinfo=UTC)  # 12:00 in Skellefteå
TUESDAY_NIGHT = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # 03:00
MODEL = DayModel(seed=4)


def shape(document: bytes) -> tuple[set[str], set[tuple[str, str]], set[str]]:
    """(element paths, (path, attribute) pairs, xsi:type values) of a document, by local name."""
    paths: set[str] = set()
    attributes: set[tuple[str, str]] = set()
    types: set[str] = set()

    def walk(element: ET.Element, prefix: str) -> None:
        path = f"{prefix}/{element.tag.split('}')[-1]}"
        paths.add(path)
        for name, value in element.attrib.items():
            attributes.add((path, name))
            if name == XSI_TYPE:
                types.add(value.split(":")[-1])
        for child in element:
            walk(child, path)

    walk(ET.fromstring(document), "")
    return paths, attributes, types


@pytest.mark.parametrize(
    ("real", "build"),
    [
        ("aachen-static.xml", lambda: table_publication(MUNICIPAL, TUESDAY_NOON)),
        (
            "aachen-realtime.xml",
            lambda: status_publication(
                MUNICIPAL,
                [site_status(f, MODEL, TUESDAY_NOON) for f in MUNICIPAL.facilities],
                TUESDAY_NOON,
            ),
        ),
    ],
)
def test_every_element_and_attribute_is_one_the_real_aachen_file_has(
    real: str, build: Callable[[], bytes]
) -> None:
    ours, theirs = build(), (PARKAPI / real).read_bytes()
    our_paths, our_attributes, our_types = shape(ours)
    real_paths, real_attributes, real_types = shape(theirs)
    assert our_paths <= real_paths
    assert our_attributes <= real_attributes
    assert our_types <= real_types
    assert ET.fromstring(ours).tag == ET.fromstring(theirs).tag == f"{{{DATEX_NS}}}d2LogicalModel"
    # The prefix too, since xsi:type values name it: "ns2:UrbanParkingSite".
    assert b"\n<ns2:d2LogicalModel xmlns:ns2=" in ours[:100]


def test_the_table_lists_every_site_with_name_capacity_position_and_hours() -> None:
    root = ET.fromstring(table_publication(MUNICIPAL, TUESDAY_NOON))
    assert root.findtext(".//d:genericPublicationName", namespaces=NS) == "ParkingTablePublication"
    records = root.findall(".//d:parkingTable/d:parkingRecord", NS)
    assert [r.get("id") for r in records] == [f.ref for f in MUNICIPAL.facilities]
    for record, facility in zip(records, MUNICIPAL.facilities, strict=True):
        assert record.findtext("d:parkingName/d:values/d:value", namespaces=NS) == facility.name
        assert record.findtext("d:parkingNumberOfSpaces", namespaces=NS) == str(facility.capacity)
        point = record.find("d:parkingLocation/d:pointByCoordinates/d:pointCoordinates", NS)
        assert point is not None
        assert float(point.findtext("d:latitude", "", NS)) == pytest.approx(facility.lat)
        assert float(point.findtext("d:longitude", "", NS)) == pytest.approx(facility.lon)
        period = record.find(".//d:recurringTimePeriodOfDay", NS)
        assert period is not None
        opens, closes = facility.hours or (0, 0)
        assert period.findtext("d:startTimeOfPeriod", namespaces=NS) == f"{opens:02d}:00:00"
        assert period.findtext("d:endTimeOfPeriod", namespaces=NS) == f"{closes % 24:02d}:00:00"


def statuses(document: bytes) -> dict[str, dict[str, Any]]:
    """Each parkingRecordStatus of a status publication, by the record id it refers to."""
    found = {}
    for status in ET.fromstring(document).iter(f"{{{DATEX_NS}}}parkingRecordStatus"):
        reference = status.find("d:parkingRecordReference", NS)
        assert reference is not None

        def text(path: str, element: ET.Element = status) -> str:
            return element.findtext(path, "", NS)

        found[reference.get("id", "")] = {
            "version": reference.get("version"),
            "origin": text("d:parkingStatusOriginTime"),
            "capacity": int(text("d:parkingOccupancy/d:parkingNumberOfSpacesOverride")),
            "vacant": int(text("d:parkingOccupancy/d:parkingNumberOfVacantSpaces")),
            "occupied": int(text("d:parkingOccupancy/d:parkingNumberOfOccupiedSpaces")),
            "percent": float(text("d:parkingOccupancy/d:parkingOccupancy")),
            "status": text("d:parkingSiteStatus"),
            "opening": text("d:parkingSiteOpeningStatus"),
        }
    return found


def test_status_counts_add_up_and_time_stamps_are_now() -> None:
    feed = DatexOperator(MUNICIPAL, MODEL, lambda: TUESDAY_NOON)
    document = feed.status()
    root = ET.fromstring(document)
    assert root.findtext(".//d:genericPublicationName", namespaces=NS) == "ParkingStatusPublication"
    assert root.findtext(".//d:publicationTime", namespaces=NS) == "2026-03-10T11:00:00.250Z"
    found = statuses(document)
    assert list(found) == [f.ref for f in MUNICIPAL.facilities]
    for facility in MUNICIPAL.facilities:
        status = found[facility.ref]
        assert status["capacity"] == facility.capacity
        assert status["vacant"] + status["occupied"] == facility.capacity
        assert status["percent"] == pytest.approx(
            100 * status["occupied"] / facility.capacity, 0.01
        )
        origin = datetime.fromisoformat(status["origin"])
        assert TUESDAY_NOON - timedelta(seconds=40) < origin <= TUESDAY_NOON
        assert status["status"] in {"spacesAvailable", "almostFull", "full"}
        assert status["opening"] == "open"


def test_status_follows_the_day_and_a_garage_with_hours_is_closed_at_night() -> None:
    noon = statuses(DatexOperator(MUNICIPAL, MODEL, lambda: TUESDAY_NOON).status())
    night = statuses(DatexOperator(MUNICIPAL, MODEL, lambda: TUESDAY_NIGHT).status())
    assert sum(s["occupied"] for s in noon.values()) > 3 * sum(
        s["occupied"] for s in night.values()
    )
    hours = {f.ref: f.hours for f in MUNICIPAL.facilities}
    for ref, status in night.items():
        closed = hours[ref] is not None
        assert (status["opening"], status["status"] == "closed") == (
            ("closed", True) if closed else ("open", False)
        ), ref


def test_a_full_site_says_full_and_one_nearly_full_says_almost_full() -> None:
    garage = MUNICIPAL.facilities[0]
    full = dataclasses.replace(garage, scale=2.0)
    almost = site_status(garage, MODEL, TUESDAY_NOON)
    assert site_status(full, MODEL, TUESDAY_NOON).site_status == "full"
    assert almost.site_status == (
        "almostFull" if almost.vacant <= almost.almost_full else "spacesAvailable"
    )


def test_the_same_moment_gives_the_same_document() -> None:
    first = DatexOperator(MUNICIPAL, DayModel(seed=4), lambda: TUESDAY_NOON)
    second = DatexOperator(MUNICIPAL, DayModel(seed=4), lambda: TUESDAY_NOON)
    assert first.status() == second.status()
    assert first.table == second.table
    assert datex_time(datetime(2026, 3, 10, 12, 0, 0, 999_999, tzinfo=UTC)) == (
        "2026-03-10T12:00:00.999Z"
    )


@dataclass
class Clock:
    """A settable ``now``."""

    moment: datetime

    def __call__(self) -> datetime:
        return self.moment


def test_served_over_http_with_etag_and_last_modified_on_the_table() -> None:
    clock = Clock(TUESDAY_NOON)
    feed = DatexOperator(MUNICIPAL, MODEL, clock)

    async def scenario() -> None:
        server = LoopbackServer(feed.app())
        await server.start()
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
                table = await client.get("/datex/table.xml")
                assert table.status_code == 200
                assert table.headers["content-type"].startswith("application/xml")
                assert table.content == feed.table
                etag, modified = table.headers["etag"], table.headers["last-modified"]
                again = await client.get("/datex/table.xml", headers={"If-None-Match": etag})
                assert (again.status_code, again.content) == (304, b"")
                assert again.headers["etag"] == etag
                weak = await client.get("/datex/table.xml", headers={"If-None-Match": f"W/{etag}"})
                assert weak.status_code == 304
                other = await client.get("/datex/table.xml", headers={"If-None-Match": '"x"'})
                assert other.status_code == 200
                since = await client.get(
                    "/datex/table.xml", headers={"If-Modified-Since": modified}
                )
                assert since.status_code == 304
                first = await client.get("/datex/status.xml")
                clock.moment += timedelta(hours=6)
                later = await client.get("/datex/status.xml")
                assert first.status_code == later.status_code == 200
                assert first.headers["cache-control"] == "no-store"
                assert statuses(first.content) != statuses(later.content)
                assert b"2026-03-10T17:00:00.250Z" in later.content
                missing = await client.get("/datex/other.xml")
                assert missing.status_code == 404
        finally:
            await server.stop()

    asyncio.run(scenario())


def test_the_platforms_datex_parser_reads_the_simulated_feed() -> None:
    documents = pytest.importorskip("stadsnav.connectors.documents")

    @dataclass(frozen=True)
    class Spec:
        format: str
        publication: str | None
        records: str | None = None

    feed = DatexOperator(MUNICIPAL, MODEL, lambda: TUESDAY_NOON)
    table = documents.parse_document(feed.table, "application/xml", Spec("datex2", "table"))
    assert table.errors == []
    assert [r["id"] for r in table.records] == [f.ref for f in MUNICIPAL.facilities]
    for record, facility in zip(table.records, MUNICIPAL.facilities, strict=True):
        assert (record["name"], record["capacity"]) == (facility.name, facility.capacity)
        assert record["location"]["coordinates"] == pytest.approx([facility.lon, facility.lat])
    status = documents.parse_document(feed.status(), "application/xml", Spec("datex2", "status"))
    assert status.errors == []
    assert [r["id"] for r in status.records] == [f.ref for f in MUNICIPAL.facilities]
    for record in status.records:
        assert record["vacant"] + record["occupied"] == record["capacity"]
        assert record["opening"] == "open"
        assert record["status"] in {"spacesAvailable", "almostFull", "full"}
