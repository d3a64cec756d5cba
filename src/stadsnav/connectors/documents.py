"""Fetched documents parsed into records: JSON, generic XML and DATEX II parking publications.

A polling connector commits each fetched page as one inbox message; the pipeline calls
``parse_document`` on its body. A document that is unusable as a whole (an HTML error page, a
truncated body, the wrong DATEX II publication) raises ``DocumentError``; a single record that
cannot be used becomes a ``RecordError`` and the other records go on.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal, NoReturn, Protocol

import orjson
from lxml import etree

DOCUMENT_FORMATS: Final = ("json", "xml", "datex2")
"""The values of a polled source's ``format``."""
DATEX2_PUBLICATIONS: Final = ("table", "status")
"""The values of a DATEX II source's ``publication``."""

DocumentFormat = Literal["json", "xml", "datex2"]
Datex2Publication = Literal["table", "status"]

_FORMAT_NAMES: Final = {"json": "JSON", "xml": "XML", "datex2": "DATEX II"}
# An HTML page, possibly after an XML declaration or comments: an error or login page.
_HTML_START = re.compile(
    rb"(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*"
    rb"<(?:!doctype\s+html|html|head|body|meta|title)\b",
    re.IGNORECASE | re.DOTALL,
)
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
_LEADING_SPACE = re.compile(rb"(?:\xef\xbb\xbf)?\s*")
_LIBXML_POSITION = re.compile(r"(?:, line \d+)+, column \d+$")
_XML_NAME = re.compile(r"[^\W\d][\w.-]*")
_SNIFF_BYTES: Final = 1024
_TITLE_SEARCH_BYTES: Final = 65536
_MAX_KEYS_SHOWN: Final = 10


class DocumentError(ValueError):
    """The whole document is unusable (truncated XML, HTML page, wrong DATEX II publication ...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RecordError:
    """One record of a document that cannot be used, with what it held for the dead letter."""

    key: str
    """The record's id if known, else its position: "record 7" (1-based)."""
    reason: str
    """What is wrong, e.g. "no parkingNumberOfSpaces: a parking site needs its capacity"."""
    raw: dict[str, Any] | str
    """What the record held, JSON-compatible: an XML record's markup, a JSON value's text."""


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """The usable records of a document, in document order, and the records that were not."""

    records: list[dict[str, Any]]
    errors: list[RecordError]


class DocumentSpec(Protocol):
    """How to read a polled source's documents; the workspace's source model fits it."""

    @property
    def format(self) -> str:
        """One of ``DOCUMENT_FORMATS``."""
        ...

    @property
    def records(self) -> str | None:
        """JSON: dotted path to the list of records; XML: local name of the record elements."""
        ...

    @property
    def publication(self) -> str | None:
        """DATEX II: the expected publication, "table" or "status"; None accepts either."""
        ...


@dataclass(frozen=True, slots=True)
class DocumentOptions:
    """A plain ``DocumentSpec`` for callers and tests that have no workspace source."""

    format: DocumentFormat
    records: str | None = None
    publication: Datex2Publication | None = None


def parse_document(body: bytes, content_type: str | None, spec: DocumentSpec) -> ParsedDocument:
    """The records of one fetched document; raises ``DocumentError`` if it is unusable."""
    if spec.format not in DOCUMENT_FORMATS:
        raise ValueError(
            f"unknown document format {spec.format!r}: use one of {', '.join(DOCUMENT_FORMATS)}"
        )
    if not body or body.isspace():
        raise DocumentError(
            f"empty body ({len(body)} bytes): expected {_FORMAT_NAMES[spec.format]}"
        )
    if spec.format == "json":
        return _parse_json(body, content_type, spec.records)
    root = parse_xml(body, content_type, spec.format)
    if spec.format == "xml":
        return _xml_records(root, spec.records)
    # documents_datex2 imports the shared types from this module, so it is imported here.
    from stadsnav.connectors.documents_datex2 import parse_datex2

    return parse_datex2(root, spec.publication)


def _parse_json(body: bytes, content_type: str | None, records: str | None) -> ParsedDocument:
    """JSON records: the objects of the list at the dotted path ``records``, as they are."""
    start = _first_byte(body)
    if start == b"<":
        if _looks_like_html(body):
            _reject_html(body, content_type, "json")
        raise DocumentError(
            f"got XML, not JSON (the body starts with '<'{_served_as(content_type, '; ')}): "
            "set format: xml or datex2 if the source sends XML"
        )
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise DocumentError(
            f"body is not valid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
            f"{_served_as(content_type, ' (', ')')}"
        ) from None
    if records is None:
        if isinstance(document, dict):
            return ParsedDocument([document], [])
        if not isinstance(document, list):
            raise DocumentError(
                f"the JSON body is {_json_type(document)}: expected an object (one record) or a "
                "list of records; set records: to the path of the list"
            )
        return _json_list(document)
    return _json_list(_at_path(document, records))


def parse_xml(body: bytes, content_type: str | None, document_format: str) -> etree._Element:
    """The root element of a well-formed XML body, parsed without network or entity expansion."""
    start = _first_byte(body)
    if start in (b"{", b"["):
        raise DocumentError(
            f"got JSON, not {_FORMAT_NAMES[document_format]} (the body starts with "
            f"{start.decode()!r}{_served_as(content_type, '; ')}): set format: json"
        )
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False
    )
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as error:
        if _looks_like_html(body):
            _reject_html(body, content_type, document_format)
        reason = _syntax_error_reason(body, error, document_format)
        raise DocumentError(reason + _served_as(content_type, " (", ")")) from None
    if etree.QName(root).localname.lower() == "html":
        _reject_html(body, content_type, document_format)
    return root


def _xml_records(root: etree._Element, records: str | None) -> ParsedDocument:
    """Generic XML records: each element named ``records`` (the root if None) as a dict."""
    if records is None:
        return ParsedDocument([_element_record(root)], [])
    name = records.rpartition(":")[2]  # a prefix ("ns2:item") may differ between feeds
    if _XML_NAME.fullmatch(name) is None:
        raise ValueError(f"records {records!r} is not an XML element name like item")
    found = [_element_record(element) for element in outermost(root, name)]
    if not found:
        raise DocumentError(
            f"no <{records}> elements in the document (its root is "
            f"<{etree.QName(root).localname}>): check records: in the source"
        )
    return ParsedDocument(found, [])


def _element_record(element: etree._Element) -> dict[str, Any]:
    """An element as a dict: child local-name → text, repeated children → list, "@attribute"."""
    record: dict[str, Any] = {
        f"@{etree.QName(name).localname}": value for name, value in element.attrib.items()
    }
    for child in _child_elements(element):
        name = etree.QName(child).localname
        value = _element_value(child)
        if name not in record:
            record[name] = value
        elif isinstance(record[name], list):
            record[name].append(value)
        else:
            record[name] = [record[name], value]
    text = _text(element)
    if text is not None:
        record["#text"] = text
    return record


def _element_value(element: etree._Element) -> Any:
    """A child's value: its text if it is a plain leaf, else a dict as in ``element_record``."""
    if not element.attrib and next(_child_elements(element), None) is None:
        return _text(element)
    return _element_record(element)


def _child_elements(element: etree._Element) -> Iterator[etree._Element]:
    """Element children only: comments, processing instructions and entities are skipped."""
    return (child for child in element if isinstance(child.tag, str))


def _text(element: etree._Element) -> str | None:
    """The element's own text without surrounding whitespace; None if there is none."""
    text = element.text
    if text is None:
        return None
    stripped = text.strip()
    return stripped or None


def outermost(root: etree._Element, name: str) -> Iterator[etree._Element]:
    """Elements with local name ``name`` that are not inside another such element."""
    inside: etree._Element | None = None
    for element in root.iter(f"{{*}}{name}"):
        if inside is not None and _is_descendant(element, inside):
            continue
        inside = element
        yield element


def _is_descendant(element: etree._Element, ancestor: etree._Element) -> bool:
    return any(parent is ancestor for parent in element.iterancestors())


def _json_list(items: list[Any]) -> ParsedDocument:
    records: list[dict[str, Any]] = []
    errors: list[RecordError] = []
    for position, item in enumerate(items, start=1):
        if isinstance(item, dict):
            records.append(item)
            continue
        raw = item if isinstance(item, str) else orjson.dumps(item).decode()
        errors.append(
            RecordError(
                key=f"record {position}",
                reason=f"record {position} is {_json_type(item)}, not an object",
                raw=raw,
            )
        )
    return ParsedDocument(records, errors)


def _at_path(document: Any, path: str) -> list[Any]:
    """The list at a dotted path ("data.lots", "0.parkingLots") of a JSON document."""
    segments = path.split(".")
    if not all(segments):
        raise ValueError(f"records path {path!r} has an empty segment: write it like data.items")
    current = document
    walked: list[str] = []
    for segment in segments:
        where = f"at {'.'.join(walked)!r}" if walked else "at the top level"
        if isinstance(current, dict):
            if segment not in current:
                keys = ", ".join(list(current)[:_MAX_KEYS_SHOWN]) or "none"
                raise DocumentError(
                    f"records path {path!r}: no key {segment!r} in the object {where} "
                    f"(its keys: {keys})"
                )
            current = current[segment]
        elif isinstance(current, list) and segment.isdigit():
            if int(segment) >= len(current):
                raise DocumentError(
                    f"records path {path!r}: no item {segment} in the list {where} "
                    f"(it has {len(current)})"
                )
            current = current[int(segment)]
        else:
            raise DocumentError(
                f"records path {path!r}: cannot take {segment!r} from {_json_type(current)} {where}"
            )
        walked.append(segment)
    if not isinstance(current, list):
        raise DocumentError(
            f"records path {path!r} holds {_json_type(current)}, not a list of records"
        )
    return current


def _json_type(value: Any) -> str:
    """How a JSON value is named in messages: "an object", "a string", "null" ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _first_byte(body: bytes) -> bytes:
    """The first byte that is not whitespace or a UTF-8 byte order mark."""
    match = _LEADING_SPACE.match(body)
    end = match.end() if match else 0
    return body[end : end + 1]


def _looks_like_html(body: bytes) -> bool:
    return _HTML_START.match(body, 0, _SNIFF_BYTES) is not None


def _reject_html(body: bytes, content_type: str | None, document_format: str) -> NoReturn:
    """Raise the error for an HTML page served instead of data, naming the page's title."""
    match = _TITLE.search(body, 0, _TITLE_SEARCH_BYTES)
    title = ""
    if match:
        text = " ".join(html.unescape(match.group(1).decode("utf-8", "replace")).split())
        title = f" titled {text[:120]!r}" if text else ""
    raise DocumentError(
        f"got an HTML page{title}, not {_FORMAT_NAMES[document_format]}"
        f"{_served_as(content_type, ' (', ')')}: the server sent a web page instead of data"
    )


def _served_as(content_type: str | None, before: str, after: str = "") -> str:
    """The content type as "served as ..." between ``before`` and ``after``; "" if unknown."""
    return f"{before}served as {content_type}{after}" if content_type else ""


def _syntax_error_reason(body: bytes, error: etree.XMLSyntaxError, document_format: str) -> str:
    """Where and why the XML is not well-formed, noting a body that stops mid-document."""
    line, column = error.position
    message = _LIBXML_POSITION.sub("", error.msg or "syntax error")
    reason = (
        f"{_FORMAT_NAMES[document_format]} body is not well-formed XML at line {line}, "
        f"column {column}: {message}"
    )
    last_line_start = body.rfind(b"\n") + 1
    if line == body.count(b"\n") + 1 and column >= len(body) - last_line_start:
        reason += " (the body ends there: it looks truncated)"
    return reason
