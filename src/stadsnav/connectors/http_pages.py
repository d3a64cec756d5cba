"""Pagination of polled sources: the URL of the first page, and of the page after each one."""

from __future__ import annotations

from typing import Any, Protocol

import httpx
import orjson

from stadsnav.connectors.documents import DocumentError, outermost, parse_xml
from stadsnav.workspace.sources import (
    CursorPagination,
    HttpPollSource,
    LinkHeaderPagination,
    OffsetPagination,
    PagePagination,
)


class PageError(ValueError):
    """A page's body does not tell where the next page is (not JSON, no record list ...)."""


class Paginator(Protocol):
    """Walks the pages of one poll; a page's URL is all it needs to go on after a restart."""

    def first(self, url: str) -> str:
        """The URL of the first page."""
        ...

    def next(self, url: str, response: httpx.Response, body: bytes) -> str | None:
        """The URL of the page after the one fetched from ``url``; None when it was the last."""
        ...


class SinglePage:
    """A source without pagination: one document a poll."""

    def first(self, url: str) -> str:
        """The URL as configured."""
        return url

    def next(self, url: str, response: httpx.Response, body: bytes) -> str | None:
        """Never a next page."""
        return None


class OffsetPages:
    """``offset`` and ``limit`` query parameters; a page short of ``limit`` records is the last."""

    def __init__(self, config: OffsetPagination, source: HttpPollSource) -> None:
        self.config = config
        self.source = source

    def first(self, url: str) -> str:
        """The URL with offset 0 and the limit."""
        return self._at(url, 0)

    def next(self, url: str, response: httpx.Response, body: bytes) -> str | None:
        """The next offset, unless this page was not full."""
        if count_records(body, self.source.format, self.source.records) < self.config.limit:
            return None
        offset = _int_param(url, self.config.offset_param)
        return self._at(url, offset + self.config.limit)

    def _at(self, url: str, offset: int) -> str:
        params = {self.config.offset_param: offset, self.config.limit_param: self.config.limit}
        return str(httpx.URL(url).copy_merge_params(params))


class NumberedPages:
    """A ``page`` query parameter counting up from ``first``; an empty page is the last."""

    def __init__(self, config: PagePagination, source: HttpPollSource) -> None:
        self.config = config
        self.source = source

    def first(self, url: str) -> str:
        """The URL of page ``first`` (with the page size, if configured)."""
        return self._at(url, self.config.first)

    def next(self, url: str, response: httpx.Response, body: bytes) -> str | None:
        """The next page number, unless this page was empty or shorter than ``size``."""
        count = count_records(body, self.source.format, self.source.records)
        if count == 0 or (self.config.size is not None and count < self.config.size):
            return None
        return self._at(url, _int_param(url, self.config.page_param) + 1)

    def _at(self, url: str, page: int) -> str:
        params: dict[str, int] = {self.config.page_param: page}
        if self.config.size_param is not None and self.config.size is not None:
            params[self.config.size_param] = self.config.size
        return str(httpx.URL(url).copy_merge_params(params))


class CursorPages:
    """The cursor at ``cursor_path`` in the JSON body goes into ``cursor_param``; none ends it."""

    def __init__(self, config: CursorPagination) -> None:
        self.config = config

    def first(self, url: str) -> str:
        """The URL as configured, without a cursor."""
        return url

    def next(self, url: str, response: httpx.Response, body: bytes) -> str | None:
        """The URL with the body's cursor; None when the body has no (or an empty) cursor."""
        cursor = _at_path(_json(body), self.config.cursor_path)
        if cursor is None or cursor == "":
            return None
        if isinstance(cursor, bool) or not isinstance(cursor, str | int):
            raise PageError(
                f"the cursor at {self.config.cursor_path!r} is {type(cursor).__name__}, "
                "expected a string or a number"
            )
        return str(httpx.URL(url).copy_set_param(self.config.cursor_param, str(cursor)))


class LinkHeaderPages:
    """Follows ``Link: <url>; rel="next"``, resolved against the page's URL."""

    def first(self, url: str) -> str:
        """The URL as configured."""
        return url

    def next(self, url: str, response: httpx.Response, body: bytes) -> str | None:
        """The ``rel="next"`` link, or None."""
        link = response.links.get("next", {}).get("url")
        if not link:
            return None
        return str(httpx.URL(url).join(link))


def paginator_for(source: HttpPollSource) -> Paginator:
    """The paginator of a source's ``pagination:`` block."""
    config = source.pagination
    if isinstance(config, OffsetPagination):
        return OffsetPages(config, source)
    if isinstance(config, PagePagination):
        return NumberedPages(config, source)
    if isinstance(config, CursorPagination):
        return CursorPages(config)
    if isinstance(config, LinkHeaderPagination):
        return LinkHeaderPages()
    return SinglePage()


def count_records(body: bytes, fmt: str, records: str | None) -> int:
    """How many records a page holds: the list at ``records`` (JSON) or its elements (XML)."""
    if fmt == "json":
        found = _json(body) if records is None else _at_path(_json(body), records)
        if found is None:
            return 0
        return len(found) if isinstance(found, list) else 1
    if fmt == "xml" and records is not None:
        return _count_elements(body, records)
    raise PageError(f"cannot count the records of a {fmt} page")


def _count_elements(body: bytes, name: str) -> int:
    # The parser and the rule that reads the records, so the two never disagree on a count.
    try:
        root = parse_xml(body, None, "xml")
    except DocumentError as error:
        raise PageError(f"the page is not well-formed XML: {error}") from None
    return sum(1 for _ in outermost(root, name.rpartition(":")[2]))


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise PageError(f"the page is not JSON: {error}") from None


def _at_path(document: Any, path: str) -> Any:
    """The value at a dotted path; None when any step is missing."""
    value = document
    for name in path.split("."):
        if isinstance(value, list) and name.isdigit():  # "0.parkingLots", as the parser reads it
            value = value[int(name)] if int(name) < len(value) else None
        elif isinstance(value, dict):
            value = value.get(name)
        else:
            return None
    return value


def _int_param(url: str, name: str) -> int:
    value = httpx.URL(url).params.get(name)
    try:
        return int(value) if value is not None else 0
    except ValueError:
        raise PageError(f"query parameter {name}={value!r} is not a number") from None
