"""JSON and generic XML documents from real parking feeds as records, and what is refused.

DATEX II is tested in test_documents_datex2.py.
"""

from __future__ import annotations

import contextlib
from typing import Literal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from stadsnav.connectors.documents import (
    DOCUMENT_FORMATS,
    DocumentError,
    DocumentOptions,
    DocumentSpec,
    ParsedDocument,
    RecordError,
    parse_document,
)
from support import SHARED_DATA, json_values

PARKAPI = SHARED_DATA / "parking" / "parkapi"
JSON = DocumentOptions("json")


def feed(name: str) -> bytes:
    return (PARKAPI / name).read_bytes()


def parse(body: bytes, spec: DocumentSpec, content_type: str | None = None) -> ParsedDocument:
    return parse_document(body, content_type, spec)


def refusal(body: bytes, spec: DocumentSpec, content_type: str | None = None) -> str:
    with pytest.raises(DocumentError) as caught:
        parse_document(body, content_type, spec)
    return str(caught.value)


# --- JSON ----------------------------------------------------------------------------------------


def test_json_records_at_a_path_are_the_objects_as_they_are() -> None:
    body = feed("freiburg_p_r_static.json")

    document = parse(body, DocumentOptions("json", records="features"), "application/json")

    assert document.errors == []
    assert document.records == orjson.loads(body)["features"]
    assert len(document.records) == 15
    assert document.records[0]["properties"]["name"] == "Parkhaus der Pädagogischen Hochschule"
    assert document.records[0]["geometry"]["coordinates"] == [7.890891473099281, 47.982361250861665]


def test_json_path_may_index_into_a_list() -> None:
    spec = DocumentOptions("json", records="0.parkingLots")

    document = parse(feed("p-m-sensade_parking-lots.json"), spec)

    assert len(document.records) == 7  # the lots parkapi's own test counts
    assert document.records[0]["name"] == "B10 Laupheim"


def test_json_list_body_is_the_records() -> None:
    assert len(parse(feed("ulm-sensors_realtime-parking-spots.json"), JSON).records) == 44
    assert len(parse(feed("ulm-sensors_realtime-parking-sites.json"), JSON).records) == 7


def test_json_object_body_is_one_record() -> None:
    body = feed("p-m-sensade_parking-lot-status-0ff8c7e9-5867-46fa-8799-19f1044fe858.json")

    [record] = parse(body, JSON).records

    assert record["parkingLotName"] == "B10 Laupheim"
    assert (record["totalSpaceCount"], record["availableSpaceCount"]) == (42, 24)
    assert record["occupiedSpaceCount"] == 18


def test_json_items_that_are_not_objects_are_record_errors() -> None:
    spots = orjson.loads(feed("ulm-sensors_realtime-parking-spots.json"))
    body = orjson.dumps([*spots[:2], "pbg-b-elade-w-1-054", 7, None, [1], *spots[2:]])

    document = parse(body, JSON)

    assert len(document.records) == 44
    assert document.errors == [
        RecordError("record 3", "record 3 is a string, not an object", "pbg-b-elade-w-1-054"),
        RecordError("record 4", "record 4 is a number, not an object", "7"),
        RecordError("record 5", "record 5 is null, not an object", "null"),
        RecordError("record 6", "record 6 is a list, not an object", "[1]"),
    ]


def test_invalid_json_says_line_and_column() -> None:
    body = feed("freiburg_p_r_static.json")
    cut = body.index(b'"kapazitaet": 294') + len(b'"kapazitaet":')
    line = body[:cut].count(b"\n") + 1

    reason = refusal(body[:cut], JSON, "application/json")

    assert reason.startswith(f"body is not valid JSON at line {line}, column ")
    assert reason.endswith("(served as application/json)")


def test_json_records_path_that_is_missing_names_the_keys_there() -> None:
    body = feed("freiburg_p_r_static.json")

    assert refusal(body, DocumentOptions("json", records="items")) == (
        "records path 'items': no key 'items' in the object at the top level "
        "(its keys: type, numberMatched, name, features)"
    )
    assert refusal(body, DocumentOptions("json", records="features.99")) == (
        "records path 'features.99': no item 99 in the list at 'features' (it has 15)"
    )


def test_json_records_path_that_is_not_a_list_is_refused() -> None:
    body = feed("freiburg_p_r_static.json")

    assert refusal(body, DocumentOptions("json", records="name")) == (
        "records path 'name' holds a string, not a list of records"
    )
    assert refusal(body, DocumentOptions("json", records="features.0")) == (
        "records path 'features.0' holds an object, not a list of records"
    )
    assert refusal(body, DocumentOptions("json", records="name.first")) == (
        "records path 'name.first': cannot take 'first' from a string at 'name'"
    )


def test_json_body_that_is_neither_object_nor_list_is_refused() -> None:
    assert refusal(b'"parking"', JSON).startswith("the JSON body is a string: expected an object")


def test_html_page_instead_of_json_is_named() -> None:
    page = b"<!-- nginx -->\n<html><head><title>503 Service\n Unavailable</title></head></html>"

    reason = refusal(page, JSON, "text/html")

    assert reason == (
        "got an HTML page titled '503 Service Unavailable', not JSON (served as text/html): "
        "the server sent a web page instead of data"
    )


def test_xml_instead_of_json_suggests_the_format() -> None:
    reason = refusal(feed("aachen-realtime.xml"), JSON, "application/xml")

    assert reason == (
        "got XML, not JSON (the body starts with '<'; served as application/xml): "
        "set format: xml or datex2 if the source sends XML"
    )


@pytest.mark.parametrize("document_format", DOCUMENT_FORMATS)
def test_empty_body_is_refused(document_format: Literal["json", "xml", "datex2"]) -> None:
    spec = DocumentOptions(document_format)

    assert refusal(b"", spec).startswith("empty body (0 bytes): expected ")
    assert refusal(b"\n\n", spec).startswith("empty body (2 bytes): expected ")


# --- generic XML ---------------------------------------------------------------------------------


def test_xml_records_are_elements_as_dicts_with_text_values() -> None:
    spec = DocumentOptions("xml", records="parkingRecord")

    document = parse(feed("aachen-static.xml"), spec)

    assert len(document.records) == 17  # every element; XML records are not checked
    first = document.records[0]
    assert first["@id"] == "P1"
    assert first["@type"] == "ns2:UrbanParkingSite"
    assert first["parkingNumberOfSpaces"] == "560"
    assert first["parkingName"] == {"values": {"value": {"@lang": "de", "#text": "P01-Eurogress"}}}
    point = first["parkingLocation"]["pointByCoordinates"]["pointCoordinates"]
    assert point == {"latitude": "50.780552", "longitude": "6.0927987"}


def test_xml_repeated_children_become_lists_and_empty_ones_none() -> None:
    spec = DocumentOptions("xml", records="ns2:parkingFacility")  # a prefix does not matter

    [facility] = parse(feed("vrs_bondorf-static.xml"), spec).records

    assert facility["owner"] == {"contactName": None}
    groups = facility["assignedParkingSpaces"]
    assert [group["@index"] for group in groups] == ["8", "1", "2", "16", "4", "32"]
    assert groups[4]["assignedParkingSpaces"]["numberOfAssignedParkingSpaces"] == "4"


def test_xml_without_records_is_the_root_as_one_record() -> None:
    [record] = parse(feed("vrs_bondorf-realtime.xml"), DocumentOptions("xml")).records

    assert record["@modelBaseVersion"] == "2"
    assert record["payloadPublication"]["publicationTime"] == "2025-05-09T21:41:58.5461534+02:00"


def test_xml_records_element_that_is_absent_is_refused() -> None:
    spec = DocumentOptions("xml", records="parking")

    assert refusal(feed("aachen-static.xml"), spec) == (
        "no <parking> elements in the document (its root is <d2LogicalModel>): "
        "check records: in the source"
    )


def test_xml_records_inside_records_stay_inside() -> None:
    body = b"<lots><lot id='a'><lot id='b'/></lot><lot id='c'/></lots>"

    document = parse(body, DocumentOptions("xml", records="lot"))

    assert document.records == [{"@id": "a", "lot": {"@id": "b"}}, {"@id": "c"}]


def test_xml_entities_are_neither_expanded_nor_fetched() -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE lots [<!ENTITY secret SYSTEM "file:///etc/hostname">'
        b'<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b"<lots><lot><name>&secret;</name><size>&b;</size></lot></lots>"
    )

    [record] = parse(body, DocumentOptions("xml", records="lot")).records

    assert record == {"name": None, "size": None}


def test_truncated_xml_and_html_are_refused() -> None:
    body = feed("aachen-static.xml")

    assert "it looks truncated" in refusal(body[:1000], DocumentOptions("xml", records="x"))
    assert refusal(b"<html><body>Sign in</body></html>", DocumentOptions("xml")).startswith(
        "got an HTML page, not XML"
    )


# --- the spec ------------------------------------------------------------------------------------


class PolledSource(BaseModel, frozen=True):
    """The shape of the workspace's source model, as far as documents need it."""

    format: Literal["json", "xml", "datex2"]
    records: str | None = None
    publication: Literal["table", "status"] | None = None


def test_a_pydantic_source_model_is_a_document_spec() -> None:
    source = PolledSource(format="json", records="features")

    document = parse(feed("freiburg_p_r_static.json"), source)

    assert len(document.records) == 15


def test_an_unknown_format_is_a_configuration_error_not_a_document_error() -> None:
    spec = DocumentOptions("csv")  # type: ignore[arg-type]

    with pytest.raises(ValueError, match="unknown document format 'csv'") as caught:
        parse_document(b"a,b", None, spec)
    assert not isinstance(caught.value, DocumentError)


# --- hostile input -------------------------------------------------------------------------------


@settings(max_examples=300)
@given(
    body=st.binary(max_size=300),
    spec=st.sampled_from(
        [JSON, DocumentOptions("json", records="a.0"), DocumentOptions("xml", records="a")]
    ),
)
def test_arbitrary_bytes_raise_nothing_but_document_error(body: bytes, spec: DocumentSpec) -> None:
    with contextlib.suppress(DocumentError):
        parse_document(body, None, spec)


@given(value=json_values)
def test_any_json_value_gives_records_or_a_document_error(value: object) -> None:
    try:
        document = parse_document(orjson.dumps(value), "application/json", JSON)
    except DocumentError:
        assert not isinstance(value, dict | list)
        return
    assert len(document.records) + len(document.errors) == (
        len(value) if isinstance(value, list) else 1
    )
    assert orjson.loads(orjson.dumps([error.raw for error in document.errors])) is not None
