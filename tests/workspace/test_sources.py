"""The http_poll source model: the YAML of the design, durations, formats, auth and pagination."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter, ValidationError

from stadsnav.workspace.sources import (
    ApiKeyAuth,
    Auth,
    BasicAuth,
    CursorPagination,
    HttpPollSource,
    LinkHeaderPagination,
    OAuth2ClientCredentials,
    OffsetPagination,
    PagePagination,
    Pagination,
)

DESIGN_EXAMPLE = """
type: http_poll
url: http://127.0.0.1:8091/datex/status.xml
interval: PT1M
format: datex2
publication: status
headers: {Accept: application/xml}
timeout: PT10S
max_bytes: 5000000
max_pages: 100
auth:
  type: api_key
  header: X-Api-Key
  key_env: PARKING_KEY
pagination:
  type: link_header
backoff: {initial: PT1S, max: PT5M}
"""


def source(**fields: Any) -> HttpPollSource:
    base: dict[str, Any] = {
        "type": "http_poll",
        "url": "https://api.example.org/lots",
        "interval": 60,
        "format": "json",
    }
    return HttpPollSource.model_validate(base | fields)


def test_the_design_example_reads() -> None:
    parsed = HttpPollSource.model_validate(yaml.safe_load(DESIGN_EXAMPLE))

    assert parsed.interval == timedelta(minutes=1)
    assert parsed.timeout == timedelta(seconds=10)
    assert parsed.backoff.max == timedelta(minutes=5)
    assert parsed.auth == ApiKeyAuth(type="api_key", header="X-Api-Key", key_env="PARKING_KEY")
    assert isinstance(parsed.pagination, LinkHeaderPagination)
    assert (parsed.format, parsed.publication) == ("datex2", "status")


def test_defaults() -> None:
    parsed = source()
    assert parsed.interval == timedelta(seconds=60)
    assert (parsed.max_bytes, parsed.max_pages, parsed.timeout) == (
        5_000_000,
        100,
        timedelta(seconds=10),
    )
    assert (parsed.auth, parsed.pagination, parsed.headers) == (None, None, {})
    assert parsed.backoff.initial == timedelta(seconds=1)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ({"type": "api_key", "key_env": "KEY"}, ApiKeyAuth(type="api_key", key_env="KEY")),
        (
            {"type": "basic", "username": "stadsnav", "password_env": "PW"},
            BasicAuth(type="basic", username="stadsnav", password_env="PW"),
        ),
        (
            {
                "type": "oauth2_client_credentials",
                "token_url": "https://auth.example.org/token",
                "client_id": "stadsnav",
                "client_secret_env": "SECRET",
                "scope": "parking:read",
            },
            OAuth2ClientCredentials(
                type="oauth2_client_credentials",
                token_url="https://auth.example.org/token",
                client_id="stadsnav",
                client_secret_env="SECRET",
                scope="parking:read",
            ),
        ),
    ],
)
def test_auth_is_chosen_by_type(written: dict[str, Any], expected: Any) -> None:
    assert TypeAdapter(Auth).validate_python(written) == expected
    assert source(auth=written).auth == expected


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ({"type": "offset"}, OffsetPagination(type="offset")),
        (
            {"type": "page", "page_param": "p", "first": 0, "size_param": "n", "size": 50},
            PagePagination(type="page", page_param="p", first=0, size_param="n", size=50),
        ),
        (
            {"type": "cursor", "cursor_path": "meta.next", "cursor_param": "after"},
            CursorPagination(type="cursor", cursor_path="meta.next", cursor_param="after"),
        ),
        ({"type": "link_header"}, LinkHeaderPagination(type="link_header")),
    ],
)
def test_pagination_is_chosen_by_type(written: dict[str, Any], expected: Any) -> None:
    assert TypeAdapter(Pagination).validate_python(written) == expected


def test_offset_defaults() -> None:
    offset = OffsetPagination(type="offset")
    assert (offset.offset_param, offset.limit_param, offset.limit) == ("offset", "limit", 100)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"format": "csv"}, "unknown format 'csv': use one of json, xml, datex2"),
        ({"url": "ftp://example.org/lots"}, "not an http:// or https:// URL"),
        ({"url": "https://user:hunter2@example.org/"}, "the URL holds a password"),
        ({"interval": "PT0S"}, "must be longer than zero"),
        ({"timeout": -5}, "must be longer than zero"),
        ({"max_bytes": 0}, "greater than 0"),
        ({"auth": {"type": "api_key", "key_env": "not a name"}}, "not an environment variable"),
        ({"auth": {"type": "api_key", "key": "secret"}}, "Extra inputs are not permitted"),
        ({"auth": {"type": "bearer"}}, "does not match any of the expected tags"),
        ({"pagination": {"type": "scroll"}}, "does not match any of the expected tags"),
        ({"headers": {"Authorization": "Bearer x"}}, "put credentials in 'auth:'"),
        ({"headers": {"if-none-match": '"x"'}}, "sends the ETag it saved"),
        ({"publication": "status"}, "'publication' applies to format datex2 only"),
        ({"format": "datex2", "records": "items"}, "drop 'records'"),
        ({"format": "xml", "pagination": {"type": "cursor"}}, "use format json"),
        ({"format": "xml", "pagination": {"type": "offset"}}, "needs 'records'"),
        ({"format": "datex2", "pagination": {"type": "page"}}, "use link_header"),
        ({"records": "data..lots"}, "not a dotted path"),
        ({"backoff": {"initial": "PT10M", "max": "PT1M"}}, "longer than max"),
        ({"pagination": {"type": "page", "size_param": "n"}}, "size_param needs size"),
    ],
)
def test_mistakes_are_named(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        source(**fields)


def test_xml_pages_counted_by_element_name() -> None:
    parsed = source(format="xml", records="lot", pagination={"type": "page"})
    assert parsed.records == "lot"
