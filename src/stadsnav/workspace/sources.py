"""The ``source:`` of a polled integration: URL, schedule, document format, auth, pages, backoff."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, model_validator

from stadsnav.connectors.documents import DOCUMENT_FORMATS
from stadsnav.workspace.fields import EnvName, StrictModel

# Headers the connector or the ``auth:`` block sets; credentials in the file would end up in git.
_MANAGED_HEADERS = {
    "authorization": "put credentials in 'auth:', which reads the secret from the environment",
    "if-none-match": "the connector sends the ETag it saved from the last poll",
    "if-modified-since": "the connector sends the Last-Modified it saved from the last poll",
}


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http:// or https:// URL")
    if parts.password:
        raise ValueError("the URL holds a password: use 'auth:' with a '*_env' variable instead")
    return value


def _document_format(value: str) -> str:
    if value not in DOCUMENT_FORMATS:
        raise ValueError(f"unknown format {value!r}: use one of {', '.join(DOCUMENT_FORMATS)}")
    return value


def _dotted(value: str) -> str:
    if not value or any(not part for part in value.split(".")):
        raise ValueError(f"{value!r} is not a dotted path such as 'data.lots'")
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
DocumentFormat = Annotated[str, AfterValidator(_document_format)]
DottedPath = Annotated[str, AfterValidator(_dotted)]
Duration = Annotated[timedelta, AfterValidator(_positive)]
"""An ISO 8601 duration (``PT1M``) or a number of seconds."""
Name = Annotated[str, Field(min_length=1)]


# auth


class ApiKeyAuth(StrictModel):
    """An API key sent in a request header; the key itself comes from the environment."""

    type: Literal["api_key"]
    header: Name = "X-Api-Key"
    key_env: EnvName


class BasicAuth(StrictModel):
    """HTTP basic authentication; the password comes from the environment."""

    type: Literal["basic"]
    username: Name
    password_env: EnvName


class OAuth2ClientCredentials(StrictModel):
    """OAuth 2.0 client credentials grant (RFC 6749 §4.4); the secret comes from the environment."""

    type: Literal["oauth2_client_credentials"]
    token_url: HttpUrl
    client_id: Name
    client_secret_env: EnvName
    scope: str | None = None
    client_auth: Literal["basic", "body"] = "basic"
    """How the client id and secret reach the token endpoint: basic auth header, or form fields."""


Auth = Annotated[ApiKeyAuth | BasicAuth | OAuth2ClientCredentials, Field(discriminator="type")]


# pagination


class OffsetPagination(StrictModel):
    """``?offset=0&limit=100``, then 100, 200 ...; a page short of ``limit`` records is the last."""

    type: Literal["offset"]
    offset_param: Name = "offset"
    limit_param: Name = "limit"
    limit: int = Field(default=100, gt=0)


class PagePagination(StrictModel):
    """``?page=1``, 2, 3 ...; an empty page (or one shorter than ``size``) is the last."""

    type: Literal["page"]
    page_param: Name = "page"
    first: int = Field(default=1, ge=0)
    size_param: Name | None = None
    size: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _size_given(self) -> PagePagination:
        if self.size_param is not None and self.size is None:
            raise ValueError("size_param needs size: the page size to ask for")
        return self


class CursorPagination(StrictModel):
    """The next page's cursor is read from the JSON body and sent as a query parameter."""

    type: Literal["cursor"]
    cursor_path: DottedPath = "next"
    cursor_param: Name = "cursor"


class LinkHeaderPagination(StrictModel):
    """The next page is the URL of the response's ``Link: <...>; rel="next"`` header (RFC 8288)."""

    type: Literal["link_header"]


Pagination = Annotated[
    OffsetPagination | PagePagination | CursorPagination | LinkHeaderPagination,
    Field(discriminator="type"),
]


class Backoff(StrictModel):
    """Waits between retries: exponential from ``initial``, jittered, at most ``max``."""

    initial: Duration = timedelta(seconds=1)
    max: Duration = timedelta(minutes=5)

    @model_validator(mode="after")
    def _ordered(self) -> Backoff:
        if self.initial > self.max:
            raise ValueError(f"initial ({self.initial}) is longer than max ({self.max})")
        return self


class HttpPollSource(StrictModel):
    """Documents fetched from a URL on a schedule, page by page, each page one inbox message."""

    type: Literal["http_poll"]
    url: HttpUrl
    interval: Duration
    format: DocumentFormat
    publication: Literal["table", "status"] | None = None
    """DATEX II only: the publication type expected (ParkingTable- or ParkingStatusPublication)."""
    records: DottedPath | None = None
    """JSON: dotted path to the list of records; XML: the local name of the record elements."""
    headers: dict[str, str] = {}
    timeout: Duration = timedelta(seconds=10)
    """Longest one page may take, from connecting to its last byte."""
    max_bytes: int = Field(default=5_000_000, gt=0)
    max_pages: int = Field(default=100, gt=0)
    auth: Auth | None = None
    pagination: Pagination | None = None
    backoff: Backoff = Backoff()

    @model_validator(mode="after")
    def _consistent(self) -> HttpPollSource:
        for name in self.headers:
            why = _MANAGED_HEADERS.get(name.lower())
            if why is not None:
                raise ValueError(f"header {name!r} cannot be set in 'headers': {why}")
        if self.publication is not None and self.format != "datex2":
            raise ValueError("'publication' applies to format datex2 only")
        if self.records is not None and self.format == "datex2":
            raise ValueError("format datex2 finds its records by publication type: drop 'records'")
        pagination = self.pagination
        if isinstance(pagination, CursorPagination) and self.format != "json":
            raise ValueError("cursor pagination reads the cursor from a JSON body: use format json")
        if isinstance(pagination, OffsetPagination | PagePagination):
            if self.format == "datex2":
                raise ValueError(
                    f"{pagination.type} pagination counts records, which format datex2 has not; "
                    "use link_header pagination or none"
                )
            if self.format == "xml" and self.records is None:
                raise ValueError(
                    f"{pagination.type} pagination with format xml needs 'records': the element "
                    "name to count, to tell the last page"
                )
        return self
