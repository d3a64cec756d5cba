"""DATEX II parking publications from real feeds (parkapi-sources-v3 test data) as records.

The counts come from EXPECTED_COUNTS.json, which holds what parkapi's own tests assert for the
same files; bad documents are built from the real files (truncated, swapped, edited).
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from stadsnav.connectors.documents import (
    DocumentError,
    DocumentOptions,
    ParsedDocument,
    parse_document,
)
from support import SHARED_DATA

PARKAPI = SHARED_DATA / "parking" / "parkapi"
EXPECTED = orjson.loads((PARKAPI / "EXPECTED_COUNTS.json").read_bytes())["files"]
STATUS = DocumentOptions("datex2", publication="status")
TABLE = DocumentOptions("datex2", publication="table")
EITHER = DocumentOptions("datex2")


def feed(name: str) -> bytes:
    return (PARKAPI / name).read_bytes()


def parse(
    body: bytes, spec: DocumentOptions, content_type: str = "application/xml"
) -> ParsedDocument:
    return parse_document(body, content_type, spec)


def by_id(document: ParsedDocument) -> dict[str, dict[str, Any]]:
    return {record["id"]: record for record in document.records}


def refusal(body: bytes, spec: DocumentOptions, content_type: str | None = None) -> str:
    with pytest.raises(DocumentError) as caught:
        parse_document(body, content_type, spec)
    return str(caught.value)


def edit(body: bytes, old: bytes, new: bytes) -> bytes:
    """The body with one exact occurrence of ``old`` replaced; fails if it is not there once."""
    assert body.count(old) == 1, old
    return body.replace(old, new)


# --- the counts parkapi asserts for the same files -----------------------------------------------

COUNTED = [
    ("vrs_bondorf-static.xml", TABLE, "static_parking_sites", "site"),
    ("vrs_bondorf-realtime.xml", STATUS, "realtime_parking_sites", "site"),
    ("aachen-static.xml", TABLE, "static_parking_sites", "site"),
    ("aachen-realtime.xml", STATUS, "realtime_parking_sites", "site"),
    ("friedrichshafen-sensors-static.xml", TABLE, "static_parking_spots", "spot"),
    ("friedrichshafen-sensors-realtime.xml", STATUS, "realtime_parking_spots", "spot"),
]


@pytest.mark.parametrize(("name", "spec", "count_key", "kind"), COUNTED)
def test_real_feeds_parse_to_the_counts_parkapi_asserts(
    name: str, spec: DocumentOptions, count_key: str, kind: str
) -> None:
    document = parse(feed(name), spec)

    assert len(document.records) == EXPECTED[name][count_key]
    assert len(document.errors) == EXPECTED[name]["errors"]
    assert {record["kind"] for record in document.records} == {kind}
    assert len(by_id(document)) == len(document.records)  # ids are unique


@pytest.mark.parametrize(("name", "spec", "count_key", "kind"), COUNTED)
def test_without_an_expected_publication_either_kind_is_read(
    name: str, spec: DocumentOptions, count_key: str, kind: str
) -> None:
    assert parse(feed(name), EITHER) == parse(feed(name), spec)


def test_records_are_json_compatible() -> None:
    for name, spec, _, _ in COUNTED:
        document = parse(feed(name), spec)
        assert orjson.loads(orjson.dumps(document.records)) == document.records


# --- Region Stuttgart, P+R Bondorf: facility table and a group status ----------------------------


def test_bondorf_status_matches_parkapis_example_with_the_time_in_utc() -> None:
    example = EXPECTED["vrs_bondorf-realtime.xml"]["example"]
    # The feed writes 7 fractional digits; the store keeps milliseconds.
    local = datetime.fromisoformat(example["time"])

    [record] = parse(feed("vrs_bondorf-realtime.xml"), STATUS).records

    assert record == {
        "id": example["id"],
        "kind": "site",
        "time": "2025-05-09T19:41:58.546Z",
        "vacant": example["vacant"],
        "occupied": example["occupied"],
        "capacity": example["capacity_override"],
        "occupancy": pytest.approx(example["occupancy_pct"] / 100),
        "status": None,
        "opening": None,
        "spot_status": None,
    }
    assert datetime.fromisoformat(record["time"]) == local.astimezone(UTC).replace(
        microsecond=546000
    )


def test_bondorf_facility_table_gives_the_site_its_status_refers_to() -> None:
    [record] = parse(feed("vrs_bondorf-static.xml"), TABLE).records

    assert record == {
        "id": "1035",
        "kind": "site",
        "name": "P+R Bondorf",
        "capacity": 314,
        "location": {"type": "Point", "coordinates": [8.82821456169721, 48.52436858335742]},
        "site": None,
        "category": None,
        "operator": None,
        "version": "1.0",
        "time": "2024-02-16T06:00:00.882Z",
    }
    # The status names the same site "1035[P+R Bondorf]": ids are kept as each file writes them.
    [status] = parse(feed("vrs_bondorf-realtime.xml"), STATUS).records
    assert status["id"].startswith(record["id"] + "[")


# --- Aachen: 17 sites, 2 of them without a number of spaces --------------------------------------


def test_aachen_table_rejects_exactly_the_sites_that_give_no_number_of_spaces() -> None:
    body = feed("aachen-static.xml")
    tree = etree.fromstring(body)
    without_spaces = sorted(
        str(record.get("id"))
        for record in tree.iter("{*}parkingRecord")
        if record.find("{*}parkingNumberOfSpaces") is None
    )

    document = parse(body, TABLE)

    assert [error.key for error in document.errors] == without_spaces == ["P13", "P17"]
    for error in document.errors:
        assert error.reason.startswith("no parkingNumberOfSpaces: a parking site is usable only")
        assert isinstance(error.raw, str)
        assert error.raw.startswith("<ns2:parkingRecord")
        assert f'id="{error.key}"' in error.raw
    assert "P13-Stiftstrasse" in str(document.errors[0].raw)
    assert not set(without_spaces) & set(by_id(document))


def test_aachen_table_records() -> None:
    records = by_id(parse(feed("aachen-static.xml"), TABLE))

    assert records["P1"] == {
        "id": "P1",
        "kind": "site",
        "name": "P01-Eurogress",
        "capacity": 560,
        "location": {"type": "Point", "coordinates": [6.0927987, 50.780552]},
        "site": None,
        "category": "offStreetParking",
        "operator": None,
        "version": "784944774",
        "time": "2024-11-15T00:00:00.153Z",
    }
    assert records["P6"]["name"] == "P06-Galeria Kaufhof"
    assert records["P6"]["capacity"] == 999
    assert records["P18"]["location"] == {"type": "Point", "coordinates": [6.0947275, 50.775223]}
    assert list(records)[:4] == ["P1", "P2", "P3", "P5"]  # document order


def test_a_sites_operator_is_its_contact_organisation_name() -> None:
    operator = (
        b'<ns2:operator xsi:type="ns2:ContactDetails"><ns2:contactOrganisationName><ns2:values>'
        b'<ns2:value lang="de">APAG Aachener Parkhaus GmbH</ns2:value></ns2:values>'
        b"</ns2:contactOrganisationName></ns2:operator>"
    )
    location_of_p2 = (
        b'<ns2:parkingLocation xsi:type="ns2:Point"><ns2:pointByCoordinates>'
        b"<ns2:pointCoordinates><ns2:latitude>50.77744<"
    )
    body = edit(feed("aachen-static.xml"), location_of_p2, operator + location_of_p2)

    records = by_id(parse(body, TABLE))

    assert records["P2"]["operator"] == "APAG Aachener Parkhaus GmbH"
    assert records["P1"]["operator"] is None


def test_aachen_status_records() -> None:
    records = by_id(parse(feed("aachen-realtime.xml"), STATUS))

    assert records["P1"] == {
        "id": "P1",
        "kind": "site",
        "time": "2025-02-07T19:05:34.176Z",
        "vacant": 412,
        "occupied": 148,
        "capacity": 560,
        "occupancy": pytest.approx(0.2643),
        "status": "spacesAvailable",
        "opening": "open",
        "spot_status": None,
    }
    assert records["P5"]["status"] == "unknown"
    assert records["P5"]["opening"] == "closed"
    assert records["P5"]["capacity"] == 0
    assert records["P17"]["vacant"] == 429
    assert records["P17"]["capacity"] == 480


def test_aachen_status_covers_every_site_of_the_table_including_the_rejected_ones() -> None:
    table = parse(feed("aachen-static.xml"), TABLE)
    status = parse(feed("aachen-realtime.xml"), STATUS)

    assert set(by_id(status)) == set(by_id(table)) | {error.key for error in table.errors}


# --- Friedrichshafen: one DATEX parking record per sensor-watched space --------------------------


def test_friedrichshafen_table_records_of_one_space_are_spots() -> None:
    records = by_id(parse(feed("friedrichshafen-sensors-static.xml"), TABLE))

    assert records["PH19"] == {
        "id": "PH19",
        "kind": "spot",
        "name": "A1225b_Metzstraße_Hsnr.1",
        "capacity": 1,
        "location": {"type": "Point", "coordinates": [9.478454, 47.652096]},
        "site": None,
        "category": "offStreetParking",
        "operator": None,
        "version": "806115596",
        "time": "2025-07-18T00:00:00.079Z",
    }
    assert {record["capacity"] for record in records.values()} == {1}


def test_friedrichshafen_status_says_which_spots_are_taken() -> None:
    document = parse(feed("friedrichshafen-sensors-realtime.xml"), STATUS)
    records = by_id(document)

    assert Counter(record["spot_status"] for record in document.records) == {
        "free": 48,
        "occupied": 7,
    }
    assert records["PH19"] == {
        "id": "PH19",
        "kind": "spot",
        "time": "2025-07-18T06:41:01.434Z",
        "vacant": 0,
        "occupied": 1,
        "capacity": 1,
        "occupancy": 1.0,
        "status": "full",
        "opening": "open",
        "spot_status": "occupied",
    }
    assert records["PH21"]["spot_status"] == "free"
    static = by_id(parse(feed("friedrichshafen-sensors-static.xml"), TABLE))
    assert set(records) == set(static)


def test_namespace_prefixes_do_not_matter() -> None:
    body = feed("aachen-realtime.xml")
    unprefixed = body.replace(b"ns2:", b"").replace(b"xmlns:ns2=", b"xmlns=")
    no_namespace = re.sub(rb' xmlns(:ns2)?="[^"]*"', b"", body).replace(b"ns2:", b"")
    no_namespace = no_namespace.replace(b' xsi:type="', b' type="')

    assert parse(unprefixed, STATUS) == parse(body, STATUS)
    assert parse(no_namespace, STATUS) == parse(body, STATUS)


# --- documents that are unusable as a whole ------------------------------------------------------


def test_truncated_document_says_where_it_stops() -> None:
    body = feed("aachen-realtime.xml")
    cut = len(body) // 2

    reason = refusal(body[:cut], STATUS, "application/xml")

    assert f"line 1, column {cut + 1}" in reason
    assert "truncated" in reason
    assert "served as application/xml" in reason


def test_truncated_multiline_document_names_the_line() -> None:
    body = feed("vrs_bondorf-realtime.xml")
    cut = body.index(b"<parkingNumberOfVacantSpaces>")
    line = body[:cut].count(b"\n") + 1

    reason = refusal(body[:cut], STATUS)

    assert reason.startswith(f"DATEX II body is not well-formed XML at line {line}, column ")
    assert "truncated" in reason


def test_broken_document_that_is_not_cut_short_is_not_called_truncated() -> None:
    body = edit(feed("aachen-realtime.xml"), b'Reference id="P1" ', b'Reference id="P1 ')

    reason = refusal(body, STATUS)

    assert "not well-formed XML at line 1, column" in reason
    assert "truncated" not in reason


def test_table_where_status_is_expected_names_both_publications() -> None:
    reason = refusal(feed("aachen-static.xml"), STATUS)

    assert reason == (
        "expected a DATEX II ParkingStatusPublication (publication: status), "
        "found ParkingTablePublication"
    )


def test_status_where_table_is_expected_names_both_publications() -> None:
    reason = refusal(feed("friedrichshafen-sensors-realtime.xml"), TABLE)

    assert reason == (
        "expected a DATEX II ParkingTablePublication or ParkingFacilityTablePublication "
        "(publication: table), found ParkingStatusPublication"
    )


def test_a_datex_publication_that_is_not_about_parking_is_refused() -> None:
    body = (
        b'<d2LogicalModel xmlns="http://datex2.eu/schema/2/2_0" '
        b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" modelBaseVersion="2">'
        b'<payloadPublication xsi:type="SituationPublication" lang="de">'
        b"<publicationTime>2025-05-09T21:41:58+02:00</publicationTime>"
        b"</payloadPublication></d2LogicalModel>"
    )

    assert "found a SituationPublication, which is not a DATEX II parking" in refusal(body, EITHER)
    assert refusal(body, STATUS).endswith("found SituationPublication")


def test_datex_document_without_payload_is_refused() -> None:
    body = re.sub(
        rb"<ns2:payloadPublication.*</ns2:payloadPublication>", b"", feed("aachen-realtime.xml")
    )

    assert "without a payloadPublication" in refusal(body, STATUS)


def test_html_error_page_is_named_with_its_title() -> None:
    page = (
        b"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>502 Bad Gateway</title>"
        b"</head><body><h1>502 Bad Gateway</h1></body></html>"
    )

    reason = refusal(page, STATUS, "text/html; charset=utf-8")

    assert reason.startswith("got an HTML page titled '502 Bad Gateway', not DATEX II")
    assert "served as text/html; charset=utf-8" in reason


def test_well_formed_xhtml_page_is_still_an_html_page() -> None:
    page = b'<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Log in</title></head></html>'

    assert refusal(page, STATUS).startswith("got an HTML page titled 'Log in', not DATEX II")


def test_xml_that_is_not_datex_names_its_root() -> None:
    atom = b'<feed xmlns="http://www.w3.org/2005/Atom"><title>Parking news</title></feed>'

    assert refusal(atom, STATUS) == (
        "not a DATEX II document: its root element is <feed> in namespace "
        "http://www.w3.org/2005/Atom, expected <d2LogicalModel> in http://datex2.eu/schema/2/2_0"
    )


def test_datex_v3_is_refused_by_name() -> None:
    body = b'<payload xmlns="http://datex2.eu/schema/3/messageContainer"/>'

    assert refusal(body, STATUS).startswith("got a DATEX II v3 document")


def test_json_and_empty_bodies_are_refused() -> None:
    assert refusal(feed("ulm-sensors_realtime-parking-sites.json"), STATUS).startswith(
        "got JSON, not DATEX II (the body starts with '['"
    )
    assert refusal(b"", STATUS) == "empty body (0 bytes): expected DATEX II"
    assert refusal(b" \r\n", STATUS) == "empty body (3 bytes): expected DATEX II"


def test_external_entities_are_not_read() -> None:
    doctype = b'<!DOCTYPE d2LogicalModel [<!ENTITY secret SYSTEM "file:///etc/hostname">]>'
    body = doctype + edit(feed("aachen-realtime.xml"), b">2025-02-07T19:05:34.176Z<", b">&secret;<")

    document = parse(body, STATUS)

    # Read, the file's text would be a time that is not a time; unread, P1 has no time of its own.
    assert document.errors == []
    assert by_id(document)["P1"]["time"] == "2025-02-07T19:11:00.095Z"


# --- single records that cannot be used ----------------------------------------------------------


def test_a_count_that_is_not_a_number_rejects_that_record_only() -> None:
    body = edit(
        feed("aachen-realtime.xml"),
        b"<ns2:parkingNumberOfVacantSpaces>412<",
        b"<ns2:parkingNumberOfVacantSpaces>many<",
    )

    document = parse(body, STATUS)

    assert len(document.records) == 16
    [error] = document.errors
    assert error.key == "P1"
    assert error.reason == "parkingNumberOfVacantSpaces 'many' is not a whole number"
    assert "<ns2:parkingNumberOfVacantSpaces>many<" in str(error.raw)


def test_a_status_without_reference_id_is_keyed_by_position() -> None:
    body = edit(feed("aachen-realtime.xml"), b'Reference id="P2" ', b"Reference ")

    [error] = parse(body, STATUS).errors

    assert error.key == "record 2"
    assert error.reason.startswith("no parkingRecordReference id")


def test_a_time_without_offset_rejects_the_record() -> None:
    body = edit(
        feed("aachen-realtime.xml"), b"2025-02-07T19:05:34.176Z", b"2025-02-07T19:05:34.176"
    )

    [error] = parse(body, STATUS).errors

    assert error.key == "P1"
    assert "has no UTC offset" in error.reason


def test_a_status_without_its_own_time_takes_the_publication_time() -> None:
    body = edit(
        feed("aachen-realtime.xml"),
        b"<ns2:parkingStatusOriginTime>2025-02-07T19:05:34.176Z</ns2:parkingStatusOriginTime>",
        b"",
    )

    assert by_id(parse(body, STATUS))["P1"]["time"] == "2025-02-07T19:11:00.095Z"


def test_negative_counts_are_kept_for_the_quality_rules() -> None:
    body = edit(
        feed("aachen-realtime.xml"),
        b"<ns2:parkingNumberOfVacantSpaces>412<",
        b"<ns2:parkingNumberOfVacantSpaces>-3<",
    )

    assert by_id(parse(body, STATUS))["P1"]["vacant"] == -3


def test_a_coordinate_that_is_not_a_number_rejects_the_site() -> None:
    body = edit(feed("aachen-static.xml"), b"<ns2:latitude>50.780552<", b"<ns2:latitude>50,78<")

    document = parse(body, TABLE)

    assert [(error.key, error.reason) for error in document.errors[:1]] == [
        ("P1", "latitude '50,78' is not a number")
    ]


# --- parking spaces listed inside a site (DATEX II v2.3 parkingSpace / parkingSpaceStatus) -------

SPACE = (
    b'<ns2:parkingSpace parkingSpaceIndex="7"><ns2:parkingSpaceBasics xsi:type="ns2:ParkingSpace">'
    b'<ns2:parkingSpaceOrGroupIdentifier><ns2:values><ns2:value lang="de">E-7</ns2:value>'
    b"</ns2:values></ns2:parkingSpaceOrGroupIdentifier>"
    b'<ns2:location xsi:type="ns2:Point"><ns2:pointByCoordinates><ns2:pointCoordinates>'
    b"<ns2:latitude>50.7806</ns2:latitude><ns2:longitude>6.0928</ns2:longitude>"
    b"</ns2:pointCoordinates></ns2:pointByCoordinates></ns2:location>"
    b"</ns2:parkingSpaceBasics></ns2:parkingSpace>"
)
SPACE_STATUS = (
    b'<ns2:parkingSpaceStatus parkingSpaceIndex="7"><ns2:parkingSpaceStatus>'
    b"<ns2:parkingSpaceOccupied>true</ns2:parkingSpaceOccupied>"
    b"<ns2:parkingSpaceClosed>false</ns2:parkingSpaceClosed>"
    b"<ns2:measurementOrCalculationTime>2025-02-07T20:00:00+01:00</ns2:measurementOrCalculationTime>"
    b"</ns2:parkingSpaceStatus></ns2:parkingSpaceStatus>"
)
P1_ORIGIN_TIME = (
    b"<ns2:parkingStatusOriginTime>2025-02-07T19:05:34.176Z</ns2:parkingStatusOriginTime>"
)


def test_spaces_listed_in_a_site_become_spots_of_that_site() -> None:
    end_of_p1 = b'</ns2:parkingRecord><ns2:parkingRecord id="P2"'
    body = edit(feed("aachen-static.xml"), end_of_p1, SPACE + end_of_p1)

    records = parse(body, TABLE).records

    assert [record["id"] for record in records[:3]] == ["P1", "P1/7", "P2"]
    assert records[1] == {
        "id": "P1/7",
        "kind": "spot",
        "name": "E-7",
        "capacity": 1,
        "location": {"type": "Point", "coordinates": [6.0928, 50.7806]},
        "site": "P1",
        "category": "offStreetParking",
        "operator": None,
        "version": "784944774",
        "time": "2024-11-15T00:00:00.153Z",
    }


def test_space_statuses_in_a_site_status_become_spot_statuses() -> None:
    before_occupancy = P1_ORIGIN_TIME
    body = edit(feed("aachen-realtime.xml"), before_occupancy, before_occupancy + SPACE_STATUS)

    records = parse(body, STATUS).records

    assert [record["id"] for record in records[:3]] == ["P1", "P1/7", "P2"]
    assert records[0]["kind"] == "site"
    assert records[1] == {
        "id": "P1/7",
        "kind": "spot",
        "time": "2025-02-07T19:00:00Z",
        "vacant": None,
        "occupied": None,
        "capacity": None,
        "occupancy": None,
        "status": None,
        "opening": "open",
        "spot_status": "occupied",
    }


def test_a_space_status_that_is_not_a_boolean_rejects_that_spot_only() -> None:
    before_occupancy = P1_ORIGIN_TIME
    broken = SPACE_STATUS.replace(b">true<", b">yes<")
    body = edit(feed("aachen-realtime.xml"), before_occupancy, before_occupancy + broken)

    document = parse(body, STATUS)

    assert len(document.records) == 17
    assert [(error.key, error.reason) for error in document.errors] == [
        ("P1/7", "parkingSpaceOccupied 'yes' is not true or false")
    ]


# --- hostile input -------------------------------------------------------------------------------


@settings(max_examples=300)
@given(body=st.binary(max_size=400), spec=st.sampled_from([STATUS, TABLE, EITHER]))
def test_arbitrary_bytes_raise_nothing_but_document_error(
    body: bytes, spec: DocumentOptions
) -> None:
    with contextlib.suppress(DocumentError):
        parse_document(body, None, spec)


@settings(max_examples=200)
@given(data=st.data(), name=st.sampled_from([name for name, _, _, _ in COUNTED]))
def test_damaged_real_feeds_raise_nothing_but_document_error(
    data: st.DataObject, name: str
) -> None:
    body = bytearray(feed(name))
    for _ in range(data.draw(st.integers(0, 4))):
        position = data.draw(st.integers(0, len(body) - 1))
        body[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(body)))
    try:
        document = parse_document(bytes(body[:cut]), "application/xml", EITHER)
    except DocumentError:
        return
    assert orjson.loads(orjson.dumps(document.records)) == document.records


LEAF_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("0123456789-+.:TZ"),
    max_size=30,
)


@settings(max_examples=200)
@given(data=st.data(), name=st.sampled_from([name for name, _, _, _ in COUNTED]))
def test_any_values_in_real_feeds_give_records_or_record_errors(
    data: st.DataObject, name: str
) -> None:
    root = etree.fromstring(feed(name))
    leaves = [element for element in root.iter() if len(element) == 0]
    for _ in range(data.draw(st.integers(1, 8))):
        leaf = leaves[data.draw(st.integers(0, len(leaves) - 1))]
        if leaf.get("id") is not None and data.draw(st.booleans()):
            leaf.set("id", data.draw(LEAF_TEXT))
        else:
            leaf.text = data.draw(LEAF_TEXT)
    try:
        document = parse_document(etree.tostring(root), "application/xml", EITHER)
    except DocumentError:
        return
    assert orjson.loads(orjson.dumps(document.records)) == document.records
    assert all(error.reason and isinstance(error.raw, str) for error in document.errors)
