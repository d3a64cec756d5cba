"""Content negotiation for NGSI-LD: JSON with a Link header, or JSON-LD with ``@context`` inline."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from starlette.responses import Response

from stadsnav.api.problems import ApiError
from stadsnav.model.context import CORE_CONTEXT_URL, link_header

JSON = "application/json"
JSON_LD = "application/ld+json"
GEO_JSON = "application/geo+json"
LINK = link_header()


def negotiate(request: Request) -> str:
    """The response media type the client accepts, preferring plain JSON."""
    return media_type_for(request.headers.get("accept", ""))


def media_type_for(accept: str) -> str:
    """The response media type for an ``Accept`` header value, preferring plain JSON."""
    if not accept.strip():
        return JSON
    ranges = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    for candidate in ranges:
        if candidate in (JSON, JSON_LD):
            return candidate
        if candidate in ("*/*", "application/*"):
            return JSON
    raise ApiError(
        406, f"cannot answer with {accept!r}: accept application/json or application/ld+json"
    )


def ngsild_response(request: Request, body: Any, headers: dict[str, str] | None = None) -> Response:
    """Render entities (one dict or a list) in the negotiated representation."""
    media = negotiate(request)
    all_headers = dict(headers or {})
    if media == JSON_LD:
        if isinstance(body, list):
            body = [{**item, "@context": CORE_CONTEXT_URL} for item in body]
        else:
            body = {**body, "@context": CORE_CONTEXT_URL}
    else:
        all_headers["Link"] = LINK
    return Response(orjson.dumps(body), media_type=media, headers=all_headers)
