"""NGSI-LD context subscriptions: create, query, retrieve, update and delete them.

ETSI GS CIM 009 clauses 5.8.1-5.8.5 over ``/ngsi-ld/v1/subscriptions``. Names in a request are
its @context terms; they are kept as stored names and answered in each request's terms. The
notifications themselves are the notifier's (:mod:`stadsnav.notify`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Final
from urllib.parse import quote

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from stadsnav.api.gateway import Subscriber, caller_access, subscriber
from stadsnav.api.ngsild.entities import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Offset,
    bad_request,
    check_limit,
)
from stadsnav.api.ngsild.jsonld import (
    body_terms,
    context_terms,
    negotiate,
    ngsild_response,
    read_json,
    request_terms,
)
from stadsnav.api.ngsild.jsonld_contexts import implicit_context
from stadsnav.api.ngsild.routes import ngsild_route
from stadsnav.api.ngsild.tenancy import TENANT_HEADER, tenant_store
from stadsnav.api.problems import FORBIDDEN, ApiError
from stadsnav.gateway.access import Access
from stadsnav.model.context import CORE_CONTEXT_URL
from stadsnav.model.jsonld import Vocabulary, is_core_context
from stadsnav.model.q import QSyntaxError, parse_q
from stadsnav.notify.notifier import Notifier
from stadsnav.notify.subscription import (
    SubscriptionError,
    check_future,
    check_subscription,
    is_uri,
    merge_fragment,
    new_id,
    show,
    status,
    translate,
)
from stadsnav.store.base import ContextStore
from stadsnav.store.sql_subscriptions import EVERYONE, SubscriptionRecord

# Notifications are not yet filtered by their subscriber's access: only holders of the read
# scope for every dataset manage subscriptions, and none reaches personal data.
router = APIRouter(
    prefix="/ngsi-ld/v1",
    tags=["NGSI-LD"],
    route_class=ngsild_route(),
)

PATH: Final = "/ngsi-ld/v1/subscriptions"
Owner = Annotated[Subscriber, Depends(subscriber)]
"""Whose subscriptions the caller manages (gateway.subscriber): a key sees only its own."""
_RESULTS_COUNT: Final = "NGSILD-Results-Count"


async def create_subscription(request: Request, owner: Owner) -> Response:
    """Create a subscription (5.8.1); its URL is in the Location header."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise bad_request("the body must be a Subscription object")
    terms = await body_terms(request, body)
    now = datetime.now(UTC)
    document = _checked(translate(body, terms.to_stored), now, check_expiry=True)
    _refuse_probes(await caller_access(request), document, terms)
    subscription_id = document.get("id") or new_id()
    document = {"id": subscription_id, **document}
    record = SubscriptionRecord(
        id=subscription_id,
        document=document,
        context=terms.reference,
        jsonld_context=await _rendering_context(request, document, terms.reference),
        created_at=now,
        modified_at=now,
        owner=owner.owner,
    )
    store = tenant_store(request, create=True)
    if await anyio.to_thread.run_sync(store.add_subscription, record) is None:
        raise ApiError(
            409, f"a subscription {subscription_id} exists already", ngsild_type="AlreadyExists"
        )
    await _follow(request, store)
    return Response(
        status_code=201, headers={"Location": f"{PATH}/{quote(subscription_id, safe=':')}"}
    )


async def query_subscriptions(
    request: Request,
    owner: Owner,
    limit: Annotated[
        int,
        Query(
            ge=0,
            description=f"Page size, at most {MAX_LIMIT}; 0 with count=true for just the count.",
        ),
    ] = DEFAULT_LIMIT,
    offset: Offset = 0,
    count: Annotated[bool, Query(description="Return the total in NGSILD-Results-Count.")] = False,
) -> Response:
    """The subscriptions, oldest first, a page at a time (5.8.4)."""
    negotiate(request)
    check_limit(limit)
    if limit == 0 and not count:
        raise bad_request("limit=0 returns no subscriptions: use it with count=true")
    terms = await request_terms(request)
    store = tenant_store(request)
    mine = EVERYONE if owner.sees_all else owner.owner
    total, records = await anyio.to_thread.run_sync(store.list_subscriptions, limit, offset, mine)
    now = datetime.now(UTC)
    bodies = [_shown(record, terms, now) for record in records]
    headers = {_RESULTS_COUNT: str(total)} if count else None
    response = ngsild_response(request, bodies, headers, terms)
    for value in _page_links(request, limit, offset, total):
        response.headers.append("Link", value)
    return response


for path, include in (("/subscriptions", True), ("/subscriptions/", False)):
    router.add_api_route(
        path,
        create_subscription,
        methods=["POST"],
        status_code=201,
        summary="Create a subscription",
        include_in_schema=include,
    )
    router.add_api_route(
        path,
        query_subscriptions,
        methods=["GET"],
        summary="Query subscriptions",
        include_in_schema=include,
    )


@router.get("/subscriptions/{subscription_id}", summary="Retrieve a subscription")
async def retrieve_subscription(subscription_id: str, request: Request, owner: Owner) -> Response:
    """One subscription with its status (5.8.3)."""
    negotiate(request)
    _check_id(subscription_id)
    terms = await request_terms(request)
    store = tenant_store(request)
    notifier: Notifier = request.app.state.runtime.notifier
    await notifier.settled(request.headers.get(TENANT_HEADER) or "", subscription_id)
    record = await anyio.to_thread.run_sync(store.get_subscription, subscription_id)
    if record is None or not _managed(record, owner):
        raise _not_found(subscription_id)
    return ngsild_response(request, _shown(record, terms, datetime.now(UTC)), terms=terms)


@router.patch("/subscriptions/{subscription_id}", status_code=204, summary="Update a subscription")
async def update_subscription(subscription_id: str, request: Request, owner: Owner) -> Response:
    """Apply a fragment to a subscription (5.8.2): members given replace, null removes."""
    _check_id(subscription_id)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise bad_request("the body must be a Subscription fragment object")
    terms = await body_terms(request, body)
    fragment = translate(body, terms.to_stored)
    if not set(fragment) - {"id", "type"}:
        raise bad_request("the fragment changes no member of a subscription")
    store = tenant_store(request)
    record = await anyio.to_thread.run_sync(store.get_subscription, subscription_id)
    if record is None or not _managed(record, owner):
        raise _not_found(subscription_id)
    now = datetime.now(UTC)
    try:
        if fragment.get("expiresAt") is not None:
            check_future(fragment, now)
        document = _checked(merge_fragment(record.document, fragment), now, check_expiry=False)
    except SubscriptionError as error:
        raise bad_request(str(error)) from None
    _refuse_probes(await caller_access(request), document, terms)
    # q is read in the @context it was written in; the fragment may bring another one.
    context = terms.reference if "q" in fragment else record.context
    jsonld_context = record.jsonld_context
    if "jsonldContext" in fragment:
        jsonld_context = await _rendering_context(request, document, record.context)
    changed = await anyio.to_thread.run_sync(
        lambda: store.update_subscription(
            subscription_id,
            document,
            context,
            jsonld_context,
            now,
            drop_pending=status(document, now) != "active",
        )
    )
    if not changed:
        raise _not_found(subscription_id)
    await _follow(request, store)
    return Response(status_code=204)


@router.delete("/subscriptions/{subscription_id}", status_code=204, summary="Delete a subscription")
async def delete_subscription(subscription_id: str, request: Request, owner: Owner) -> Response:
    """Delete a subscription; what it had not delivered yet is dropped (5.8.5)."""
    _check_id(subscription_id)
    store = tenant_store(request)
    record = await anyio.to_thread.run_sync(store.get_subscription, subscription_id)
    if (
        record is None
        or not _managed(record, owner)
        or not await anyio.to_thread.run_sync(store.delete_subscription, subscription_id)
    ):
        raise _not_found(subscription_id)
    return Response(status_code=204)


def _refuse_probes(access: Access, document: Mapping[str, Any], terms: Vocabulary) -> None:
    """403 for a subscription whose q, watchedAttributes or geoQ names an attribute its key
    does not see: whether a notification came would tell of its values."""
    names = set(document.get("watchedAttributes") or ())
    if isinstance(document.get("q"), str):
        try:
            names |= parse_q(document["q"]).rename(terms.to_stored).attribute_names()
        except QSyntaxError:
            return  # the notifier refuses it as it compiles it
    geo = document.get("geoQ")
    if isinstance(geo, Mapping):
        names.add(str(geo.get("geoproperty", "location")))
    selected = [entity.get("type") for entity in document.get("entities") or ()]
    types = None
    if selected and all(isinstance(t, str) for t in selected):
        types = {name for t in selected for name in re.split(r"[,;|()]", t) if name}
    probed = access.probed(types, names)
    if probed:
        raise ApiError(
            403,
            f"the subscription tests {', '.join(probed)}, which identify a person: that needs "
            "the identify scope of the dataset",
            ngsild_type=FORBIDDEN,
        )


def _managed(record: SubscriptionRecord, owner: Subscriber) -> bool:
    """Whether the caller manages the subscription: another key's is not there for it."""
    return owner.sees_all or record.owner == owner.owner


def _checked(document: Mapping[str, Any], now: datetime, *, check_expiry: bool) -> dict[str, Any]:
    try:
        checked = check_subscription(document)
        if check_expiry:
            check_future(checked, now)
    except SubscriptionError as error:
        raise bad_request(str(error)) from None
    return checked


async def _rendering_context(request: Request, document: Mapping[str, Any], reference: Any) -> str:
    """The URL of the @context notifications are rendered in: jsonldContext when given (it must
    load), else the request's @context, hosted by this broker when it is not one URL."""
    given = document.get("jsonldContext")
    if isinstance(given, str):
        await context_terms(request, given)
        return given
    named = _named_context(reference)
    return named if named is not None else await implicit_context(request, reference)


def _named_context(reference: Any) -> str | None:
    """The one @context URL a request named (the core context's when none); None when it gave
    a context that no single URL names, which the broker then hosts (5.13)."""
    if isinstance(reference, list) and len(reference) == 1:
        reference = reference[0]
    if reference is None or (isinstance(reference, str) and is_core_context(reference)):
        return CORE_CONTEXT_URL
    return reference if isinstance(reference, str) else None


async def _follow(request: Request, store: ContextStore) -> None:
    """Have the notifier take in the tenant's subscriptions before the answer: a change made
    after it is then compared with the entities as they were (5.8.6)."""
    notifier: Notifier = request.app.state.runtime.notifier
    await notifier.follow(request.headers.get(TENANT_HEADER) or "", store)


def _shown(record: SubscriptionRecord, terms: Vocabulary, now: datetime) -> dict[str, Any]:
    # jsonldContext is shown when it was given, and when the broker created one to host the
    # request's @context (5.2.12, 5.13); one named by the request's single @context URL is not.
    document = record.document
    if "jsonldContext" not in document and record.jsonld_context != _named_context(record.context):
        document = {**document, "jsonldContext": record.jsonld_context}
    return show(document, terms.to_request, record.status, now)


def _check_id(subscription_id: str) -> None:
    if not is_uri(subscription_id):
        raise bad_request(f"subscription id {subscription_id!r} is not a URI")


def _not_found(subscription_id: str) -> ApiError:
    return ApiError(404, f"there is no subscription {subscription_id}")


def _page_links(request: Request, limit: int, offset: int, total: int) -> list[str]:
    """``Link`` values to the previous and next pages (GS CIM 009, 6.3.11)."""
    if limit == 0:
        return []
    media = negotiate(request)
    links = []
    if offset > 0:
        links.append(_page_link(request, limit, max(0, offset - limit), "prev", media))
    if offset + limit < total:
        links.append(_page_link(request, limit, offset + limit, "next", media))
    return links


def _page_link(request: Request, limit: int, offset: int, rel: str, media: str) -> str:
    params = dict(request.query_params)
    params.update(limit=str(limit), offset=str(offset))
    query = "&".join(f"{quote(key)}={quote(value)}" for key, value in sorted(params.items()))
    return f'<{PATH}?{query}>;rel="{rel}";type="{media}"'


__all__ = ["PATH", "router"]
