"""Content negotiation for NGSI-LD: JSON with a Link header, or JSON-LD with ``@context`` inline.

Also where a request's @context comes from: the ``Link`` header, or the body's ``@context`` for
``application/ld+json`` (ETSI GS CIM 009, 6.3.5).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import orjson
from fastapi import Request
from starlette.responses import Response

from stadsnav.api.ngsild.contexts import ContextResolver, check_context_value
from stadsnav.api.problems import ApiError
from stadsnav.model.context import CORE_CONTEXT_URL, JSONLD_CONTEXT_REL, link_header
from stadsnav.model.jsonld import Vocabulary, core_terms, is_core_context
from stadsnav.store.sql_contexts import JsonLdContextRows

JSON = "application/json"
JSON_LD = "application/ld+json"
GEO_JSON = "application/geo+json"
MERGE_PATCH = "application/merge-patch+json"
LINK = link_header()
_LINK_RE = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")


@cache
def core_vocabulary() -> Vocabulary:
    """The vocabulary of a request that gives no @context: the core context's terms."""
    return Vocabulary(core_terms())


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


def link_context(request: Request) -> str | None:
    """The @context URL of the request's JSON-LD ``Link`` header, if it has one."""
    found: list[str] = []
    for value in request.headers.getlist("link"):
        for match in _LINK_RE.finditer(value):
            params = match.group(2)
            if JSONLD_CONTEXT_REL in params:
                found.append(match.group(1).strip())
    if len(found) > 1:
        raise ApiError(
            400, "give at most one JSON-LD context Link header", ngsild_type="BadRequestData"
        )
    return found[0] if found else None


def resolver(request: Request) -> ContextResolver:
    """The app's context resolver."""
    resolve: ContextResolver = request.app.state.ldcontexts
    return resolve


def hosting_store(request: Request) -> JsonLdContextRows | None:
    """The store of the contexts hosted for the request's tenant, if the tenant exists."""
    store = request.app.state.runtime.store
    tenant = request.headers.get("ngsild-tenant")
    if tenant:
        try:
            store = store.for_tenant(tenant, False)
        except ValueError:
            return None  # not a tenant name: the request is refused where the tenant is needed
    return store if isinstance(store, JsonLdContextRows) else None


async def request_terms(request: Request) -> Vocabulary:
    """The vocabulary of a request without a body: the Link header's context, or the core."""
    url = link_context(request)
    if url is None or is_core_context(url):
        return core_vocabulary()
    return Vocabulary(await resolver(request).resolve(url, hosting_store(request)), url)


def content_media_type(request: Request) -> str:
    """The request body's media type, lower case, without parameters."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def body_terms(request: Request, body: Any) -> Vocabulary:
    """The vocabulary of a request with a JSON body (one object, or each entity of a batch).

    ``application/json`` takes the Link header's context and must not carry ``@context``;
    ``application/ld+json`` carries ``@context`` in the body and must not send a Link header.
    Every PATCH also takes ``application/merge-patch+json``, read as ``application/json``
    (6.3.3).
    """
    media = content_media_type(request)
    allowed = (JSON, JSON_LD, MERGE_PATCH) if request.method == "PATCH" else (JSON, JSON_LD)
    if media not in allowed:
        raise ApiError(
            415,
            f"Content-Type {media or '(none)'} is not supported here: use {' or '.join(allowed)}",
            ngsild_type="UnsupportedMediaType",
        )
    if media != JSON_LD:
        if isinstance(body, dict) and "@context" in body:
            raise ApiError(
                400,
                "a body with @context must be sent as application/ld+json",
                ngsild_type="BadRequestData",
            )
        return await request_terms(request)
    if link_context(request) is not None:
        raise ApiError(
            400,
            "application/ld+json carries its @context in the body: do not also send a Link header",
            ngsild_type="BadRequestData",
        )
    if isinstance(body, dict):
        if "@context" not in body:
            raise ApiError(
                400, "application/ld+json needs an @context member", ngsild_type="BadRequestData"
            )
        return await context_terms(request, body["@context"])
    return core_vocabulary()


async def context_terms(request: Request, context: Any) -> Vocabulary:
    """The vocabulary of an inline @context (a URL, an object or a list of them)."""
    check_context_value(context)
    if context is None or context == CORE_CONTEXT_URL or context == [CORE_CONTEXT_URL]:
        return core_vocabulary()
    return Vocabulary(await resolver(request).resolve(context, hosting_store(request)), context)


def ngsild_response(
    request: Request,
    body: Any,
    headers: dict[str, str] | None = None,
    terms: Vocabulary | None = None,
    status: int = 200,
) -> Response:
    """Render entities (one dict or a list) in the negotiated representation."""
    media = negotiate(request)
    reference = CORE_CONTEXT_URL if terms is None else terms.reference
    all_headers = dict(headers or {})
    if media == JSON_LD:
        if isinstance(body, list):
            body = [{**item, "@context": reference} for item in body]
        else:
            body = {**body, "@context": reference}
    else:
        all_headers["Link"] = link_header(
            reference if isinstance(reference, str) else CORE_CONTEXT_URL
        )
    return Response(orjson.dumps(body), status_code=status, media_type=media, headers=all_headers)


MAX_BODY_BYTES = 8 << 20
"""The largest request body the NGSI-LD API reads (a batch of 1,000 large entities fits)."""
MAX_DEPTH = 32
"""How deeply a body's JSON may nest: deeper is no NGSI-LD payload, and would exhaust the stack."""


async def read_json(request: Request, limit: int = MAX_BODY_BYTES) -> Any:
    """The request's JSON body; 413 past ``limit`` bytes, 400 if not JSON or nested too deep."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(
                413,
                f"the body is over {limit} bytes: send less at once",
                ngsild_type="RequestEntityTooLarge",
            )
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        detail = f"the body is not JSON: {error}"
        raise ApiError(400, detail, ngsild_type="InvalidRequest") from None
    if _depth(document) > MAX_DEPTH:
        raise ApiError(
            400, f"the body nests deeper than {MAX_DEPTH} levels", ngsild_type="BadRequestData"
        )
    return document


def _depth(document: Any) -> int:
    """How many levels of objects and arrays ``document`` has, counted to just past the limit."""
    depth, level = 0, [document] if isinstance(document, dict | list) else []
    while level and depth <= MAX_DEPTH:
        depth += 1
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, dict | list)
        ]
    return depth
