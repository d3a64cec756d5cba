"""Pagination: every style walks the real Goldbeck facility list page by page, each record once."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from stadsnav.connectors.http_pages import (
    LinkHeaderPages,
    PageError,
    Paginator,
    SinglePage,
    count_records,
    paginator_for,
)
from stadsnav.workspace.sources import HttpPollSource
from support import SHARED_DATA

PARKAPI = SHARED_DATA / "parking" / "parkapi"
FACILITIES: list[dict[str, Any]] = orjson.loads(
    (PARKAPI / "heilbronn_goldbeck_facilities.json").read_bytes()
)
BASE = "https://operator.example/api/facilities?city=heilbronn"


def source(pagination: dict[str, Any] | None, **fields: Any) -> HttpPollSource:
    return HttpPollSource.model_validate(
        {"type": "http_poll", "url": BASE, "interval": 60, "format": "json"}
        | {"pagination": pagination}
        | fields
    )


def operator_api(request: httpx.Request) -> httpx.Response:
    """An operator API serving the real facilities with each pagination style."""
    params = request.url.params
    assert params["city"] == "heilbronn"  # the configured query survives every page
    if "offset" in params:
        start, size = int(params["offset"]), int(params["limit"])
        return httpx.Response(200, json=FACILITIES[start : start + size])
    if "page" in params:
        size = int(params.get("per_page", 15))
        start = (int(params["page"]) - 1) * size
        return httpx.Response(200, json={"data": {"lots": FACILITIES[start : start + size]}})
    if request.url.path.endswith("/cursor"):
        start = int(params.get("after", 0))
        following = start + 12 if start + 12 < len(FACILITIES) else None
        body = {"items": FACILITIES[start : start + 12], "meta": {"next": following}}
        return httpx.Response(200, json=body)
    start = int(params.get("from", 0))
    headers = {}
    if start + 16 < len(FACILITIES):
        # Relative, as many servers write it; resolved against the page's URL.
        headers["Link"] = f'</api/facilities?city=heilbronn&from={start + 16}>; rel="next"'
    return httpx.Response(200, json=FACILITIES[start : start + 16], headers=headers)


def walk(paginator: Paginator, url: str, records: str | None = None) -> list[str]:
    """Fetch every page as the connector does; the URLs fetched, checking each record once."""
    fetched, seen_ids = [], []
    next_url: str | None = paginator.first(url)
    with httpx.Client(transport=httpx.MockTransport(operator_api)) as client:
        while next_url is not None:
            fetched.append(next_url)
            response = client.get(next_url)
            document = orjson.loads(response.content)
            for part in records.split(".") if records else ():
                document = document[part]
            seen_ids += [facility["id"] for facility in document]
            next_url = paginator.next(next_url, response, response.content)
    assert seen_ids == [facility["id"] for facility in FACILITIES]
    return fetched


def test_offset_pages_until_a_short_page() -> None:
    pages = walk(paginator_for(source({"type": "offset", "limit": 10})), BASE)
    assert [httpx.URL(u).params["offset"] for u in pages] == ["0", "10", "20", "30"]
    assert all(httpx.URL(u).params["limit"] == "10" for u in pages)


def test_offset_fetches_an_empty_page_after_an_exactly_full_one() -> None:
    pages = walk(paginator_for(source({"type": "offset", "limit": 19})), BASE)
    assert [httpx.URL(u).params["offset"] for u in pages] == ["0", "19", "38"]


def test_numbered_pages_with_a_size_stop_at_a_short_page() -> None:
    config = {"type": "page", "page_param": "page", "size_param": "per_page", "size": 15}
    paginator = paginator_for(source(config, records="data.lots"))
    pages = walk(paginator, BASE, records="data.lots")
    assert [httpx.URL(u).params["page"] for u in pages] == ["1", "2", "3"]


def test_numbered_pages_without_a_size_stop_at_an_empty_page() -> None:
    paginator = paginator_for(source({"type": "page"}, records="data.lots"))
    pages = walk(paginator, BASE, records="data.lots")
    assert [httpx.URL(u).params["page"] for u in pages] == ["1", "2", "3", "4"]


def test_cursor_pages_until_the_cursor_is_null() -> None:
    config = {"type": "cursor", "cursor_path": "meta.next", "cursor_param": "after"}
    url = BASE.replace("/facilities", "/facilities/cursor")
    pages = walk(paginator_for(source(config, records="items")), url, records="items")
    assert [httpx.URL(u).params.get("after") for u in pages] == [None, "12", "24", "36"]


def test_link_header_pages_resolve_relative_links() -> None:
    pages = walk(paginator_for(source({"type": "link_header"})), BASE)
    assert pages[1:] == [
        "https://operator.example/api/facilities?city=heilbronn&from=16",
        "https://operator.example/api/facilities?city=heilbronn&from=32",
    ]


def test_link_header_absolute_and_absent() -> None:
    response = httpx.Response(
        200, headers={"Link": '<https://cdn.example/p2>; rel="next", <https://x/1>; rel="first"'}
    )
    assert LinkHeaderPages().next(BASE, response, b"[]") == "https://cdn.example/p2"
    assert LinkHeaderPages().next(BASE, httpx.Response(200), b"[]") is None


def test_no_pagination_is_one_page() -> None:
    paginator = paginator_for(source(None))
    assert isinstance(paginator, SinglePage)
    assert paginator.first(BASE) == BASE
    assert paginator.next(BASE, httpx.Response(200), b"[]") is None


def test_counting_records() -> None:
    occupancies = (PARKAPI / "heilbronn_goldbeck_occupancies.json").read_bytes()
    assert count_records(occupancies, "json", None) == 10
    assert count_records(b'{"data": {"lots": [1, 2]}}', "json", "data.lots") == 2
    assert count_records(b'{"data": {}}', "json", "data.lots") == 0
    assert count_records(b'{"id": "single"}', "json", None) == 1
    xml = b'<lots xmlns="urn:x"><lot id="1"/><lot id="2"><lot-note/></lot><meta/></lots>'
    assert count_records(xml, "xml", "lot") == 2


@pytest.mark.parametrize(
    ("body", "fmt", "records", "message"),
    [
        (b"<html><body>Bad gateway</body></html>", "json", None, "not JSON"),
        (b"<lots><lot></lots>", "xml", "lot", "not well-formed XML"),
        (b"<d2LogicalModel/>", "datex2", None, "cannot count the records of a datex2 page"),
    ],
)
def test_counting_refuses_what_it_cannot_read(
    body: bytes, fmt: str, records: str | None, message: str
) -> None:
    with pytest.raises(PageError, match=message):
        count_records(body, fmt, records)


def test_a_cursor_that_is_not_a_value_is_an_error() -> None:
    paginator = paginator_for(source({"type": "cursor"}))
    with pytest.raises(PageError, match="the cursor at 'next' is dict"):
        paginator.next(BASE, httpx.Response(200), b'{"next": {"token": "x"}}')
    assert paginator.next(BASE, httpx.Response(200), b'{"next": ""}') is None


def test_a_page_number_that_is_not_a_number_is_an_error() -> None:
    paginator = paginator_for(source({"type": "page"}))
    with pytest.raises(PageError, match="page='two' is not a number"):
        paginator.next(BASE + "&page=two", httpx.Response(200), b"[1]")


def test_pages_are_counted_by_the_rules_the_parser_reads_records_by() -> None:
    lots = (PARKAPI / "p-m-sensade_parking-lots.json").read_bytes()
    assert count_records(lots, "json", "0.parkingLots") == 7  # a list index, as records: allows
    nested = b"<r><item><item/></item><item/></r>"
    assert count_records(nested, "xml", "item") == 2  # an item inside an item is not a record
