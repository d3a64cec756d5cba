"""The @context storage of the NGSI-LD API: add, list, serve and delete @contexts.

ETSI GS CIM 009 clauses 5.13.2-5.13.5 and 6.29-6.31 over ``/ngsi-ld/v1/jsonldContexts``. Hosted
and implicitly created contexts are kept in the tenant's store; cached ones are the contexts the
broker loaded from their URLs, shared by every tenant (kept by :class:`ContextResolver`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Final
from urllib.parse import quote

import anyio.to_thread
import orjson
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from stadsnav.api.gateway import writer_of_all
from stadsnav.api.ngsild.contexts import (
    CACHED,
    CachedContext,
    Usage,
    check_context_value,
    hosted_id,
)
from stadsnav.api.ngsild.jsonld import (
    JSON,
    JSON_LD,
    content_media_type,
    hosting_store,
    media_type_for,
    read_json,
    resolver,
)
from stadsnav.api.ngsild.routes import ngsild_route
from stadsnav.api.ngsild.tenancy import tenant_store
from stadsnav.api.problems import ApiError
from stadsnav.model.context import CORE_CONTEXT_URL, core_context
from stadsnav.model.jsonld import ContextError, is_core_context, user_context
from stadsnav.model.render import format_time
from stadsnav.store.sql_contexts import HOSTED, IMPLICIT, JsonLdContextRows, StoredContext

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD"], route_class=ngsild_route())

PATH: Final = "/ngsi-ld/v1/jsonldContexts"
CORE_LOCAL_ID: Final = CORE_CONTEXT_URL.rsplit("/", 1)[1].removesuffix(".jsonld")
_KINDS: Final = (HOSTED, CACHED, IMPLICIT)
_NOT_FOUND = "ResourceNotFound"


@router.post("/jsonldContexts", status_code=201, dependencies=[Depends(writer_of_all)])
async def add_context(request: Request) -> Response:
    """Host a client's @context (5.13.2); its URL is in the Location header."""
    document = await _posted_context(request)
    store = _rows(tenant_store(request, create=True))
    stored = StoredContext(
        uuid.uuid4().hex, HOSTED, orjson.dumps(document), datetime.now(UTC).replace(microsecond=0)
    )
    await anyio.to_thread.run_sync(store.add_jsonld_context, stored)
    return Response(status_code=201, headers={"Location": f"{PATH}/{quote(stored.local_id)}"})


@router.get("/jsonldContexts")
async def list_contexts(
    request: Request,
    details: Annotated[str | None, Query()] = None,
    kind: Annotated[str | None, Query()] = None,
) -> Response:
    """The URLs of the stored @contexts, or with ``details=true`` what is known of each (5.13.3)."""
    detailed = _flag("details", details)
    if kind is not None and kind not in _KINDS:
        raise ApiError(
            400,
            f"kind must be one of {', '.join(_KINDS)}, not {kind!r}",
            ngsild_type="BadRequestData",
        )
    media = media_type_for(request.headers.get("accept", ""))
    entries = await _entries(request, kind)
    body = [entry if detailed else entry["URL"] for entry in entries]
    return Response(orjson.dumps(body), media_type=media)


@router.get("/jsonldContexts/{context_id:path}")
async def serve_context(
    context_id: str, request: Request, details: Annotated[str | None, Query()] = None
) -> Response:
    """A hosted @context, or with ``details=true`` what is known of any stored one (5.13.4)."""
    detailed = _flag("details", details)
    media = media_type_for(request.headers.get("accept", ""))
    if _is_core(context_id):
        body: Any = _core_details(request) if detailed else core_context()
        return Response(orjson.dumps(body), media_type=media)
    store = hosting_store(request)
    stored = await _stored(store, context_id)
    if stored is not None and store is not None:
        usage = resolver(request).hosted_usage(store, stored.local_id)
        if detailed:
            body = _hosted_details(request, stored, usage)
        else:
            usage.hit()
            body = orjson.loads(stored.body)
        return Response(orjson.dumps(body), media_type=media)
    cached = _cached(request, context_id)
    if cached is None:
        raise ApiError(404, f"there is no @context {context_id!r}", ngsild_type=_NOT_FOUND)
    if not detailed:
        raise ApiError(
            422,
            f"{context_id} is a cached @context: load it from its URL, or ask for details=true",
            ngsild_type="OperationNotSupported",
        )
    return Response(orjson.dumps(_cached_details(cached)), media_type=media)


@router.delete(
    "/jsonldContexts/{context_id:path}", status_code=204, dependencies=[Depends(writer_of_all)]
)
async def delete_context(
    context_id: str, request: Request, reload: Annotated[str | None, Query()] = None
) -> Response:
    """Delete a stored @context, or with ``reload=true`` load a cached one again (5.13.5)."""
    again = _flag("reload", reload)
    if _is_core(context_id):
        if not again:
            raise ApiError(400, "the core @context cannot be deleted", ngsild_type="BadRequestData")
        # The bundled core context is the one every request uses; there is nothing to load.
        return Response(status_code=204)
    store = hosting_store(request)
    stored = await _stored(store, context_id)
    if stored is not None and store is not None:
        if again:
            raise ApiError(
                400,
                f"{context_id} is a {stored.kind} @context: only a Cached one can be reloaded",
                ngsild_type="BadRequestData",
            )
        await anyio.to_thread.run_sync(store.delete_jsonld_context, stored.local_id)
        resolver(request).forget_hosted(store, stored.local_id)
        return Response(status_code=204)
    cached = _cached(request, context_id)
    if cached is None:
        if again:
            raise ApiError(
                400,
                f"there is no cached @context {context_id!r} to reload",
                ngsild_type="BadRequestData",
            )
        raise ApiError(404, f"there is no @context {context_id!r}", ngsild_type=_NOT_FOUND)
    if again:
        await resolver(request).reload(cached.url)
    else:
        resolver(request).forget(cached.url)
    return Response(status_code=204)


async def implicit_context(request: Request, context: Any) -> str:
    """The URL of an ImplicitlyCreated @context holding ``context`` (a list or an object).

    For a request whose @context must later be named by one URL, as a subscription's is in the
    Link header of notifications sent as JSON (GS CIM 009, 5.13.1). An identical one is reused.
    """
    check_context_value(context)
    store = _rows(tenant_store(request, create=True))
    body = orjson.dumps({"@context": context})

    def find_or_add() -> StoredContext:
        found = store.same_jsonld_context(IMPLICIT, body)
        if found is not None:
            return found
        made = StoredContext(uuid.uuid4().hex, IMPLICIT, body, datetime.now(UTC))
        store.add_jsonld_context(made)
        return made

    stored = await anyio.to_thread.run_sync(find_or_add)
    return hosted_url(request, stored.local_id)


def hosted_url(request: Request, local_id: str) -> str:
    """The absolute URL this broker serves a hosted @context under."""
    return f"{str(request.base_url).rstrip('/')}{PATH}/{quote(local_id, safe='')}"


async def _posted_context(request: Request) -> dict[str, Any]:
    """The posted @context document, checked (5.13.2.4)."""
    media = content_media_type(request)
    if media not in (JSON, JSON_LD):
        raise ApiError(
            415,
            f"Content-Type {media or '(none)'} is not supported here: use {JSON} or {JSON_LD}",
            ngsild_type="UnsupportedMediaType",
        )
    document = await read_json(request, resolver(request).settings.context_max_bytes)
    if not isinstance(document, dict) or "@context" not in document:
        raise ApiError(
            400,
            'the body must be a JSON object with an "@context" member',
            ngsild_type="InvalidRequest",
        )
    check_context_value(document["@context"])
    try:
        # Referenced contexts are loaded when the context is used, not now: only the terms
        # defined here are checked.
        user_context(document["@context"], lambda url: {"@context": {}})
    except ContextError as error:
        raise ApiError(400, f"@context: {error}", ngsild_type="BadRequestData") from None
    return document


def _rows(store: Any) -> JsonLdContextRows:
    if not isinstance(store, JsonLdContextRows):
        raise ApiError(501, "this store cannot keep @contexts", ngsild_type="OperationNotSupported")
    return store


def _flag(name: str, value: str | None) -> bool:
    if value is None or value.lower() == "false":
        return False
    if value.lower() == "true":
        return True
    raise ApiError(
        400, f"{name} must be true or false, not {value!r}", ngsild_type="BadRequestData"
    )


def _is_core(context_id: str) -> bool:
    return context_id == CORE_LOCAL_ID or is_core_context(context_id)


async def _stored(store: JsonLdContextRows | None, context_id: str) -> StoredContext | None:
    """The hosted context a local id (or its URL) names."""
    if store is None:
        return None
    local_id = hosted_id(context_id) or context_id
    return await anyio.to_thread.run_sync(store.jsonld_context, local_id)


def _cached(request: Request, context_id: str) -> CachedContext | None:
    """The cached context a URL (or its local id) names."""
    contexts = resolver(request)
    found = contexts.cached_context(context_id)
    if found is not None:
        return found
    return next(
        (entry for entry in contexts.cached_contexts() if _cached_id(entry.url) == context_id),
        None,
    )


async def _entries(request: Request, kind: str | None) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    if kind in (None, CACHED):
        entries.append(_core_details(request))
        entries += [_cached_details(entry) for entry in resolver(request).cached_contexts()]
    store = hosting_store(request)
    if store is not None and kind != CACHED:
        contexts = resolver(request)
        stored = await anyio.to_thread.run_sync(store.jsonld_contexts, kind)
        entries += [
            _hosted_details(request, item, contexts.hosted_usage(store, item.local_id))
            for item in stored
        ]
    return entries


def _core_details(request: Request) -> dict[str, Any]:
    created = format_time(resolver(request).started_at.replace(microsecond=0))
    return {"URL": CORE_CONTEXT_URL, "localId": CORE_LOCAL_ID, "kind": CACHED, "createdAt": created}


def _cached_details(entry: CachedContext) -> dict[str, Any]:
    details = {
        "URL": entry.url,
        "localId": _cached_id(entry.url),
        "kind": CACHED,
        "createdAt": format_time(entry.created_at),
        "expiresAt": format_time(entry.expires_at),
    }
    return details | _usage(entry.usage)


def _hosted_details(request: Request, stored: StoredContext, usage: Usage) -> dict[str, Any]:
    details = {
        "URL": hosted_url(request, stored.local_id),
        "localId": stored.local_id,
        "kind": stored.kind,
        "createdAt": format_time(stored.created_at),
    }
    return details | _usage(usage)


def _usage(usage: Usage) -> dict[str, Any]:
    found: dict[str, Any] = {"numberOfHits": usage.hits}
    if usage.last is not None:
        found["lastUsage"] = format_time(usage.last)
    return found


def _cached_id(url: str) -> str:
    """A cached context's local id: the same for its URL in every process."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, url))
