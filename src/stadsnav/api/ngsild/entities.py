"""NGSI-LD entity retrieval and query (ETSI GS CIM 009, 5.7.1, 5.7.2, 6.4.3.2, 6.5.3.1, 6.23).

``GET /entities/{id}``, ``GET /entities`` and ``POST /entityOperations/query``. Candidates come
from the store narrowed by type, id and what SQL can check of ``attrs``, ``q`` and the geo-query,
in chunks, until the page is full; every filter is then tested in Python (see
:mod:`stadsnav.model.entity_query`). Names in a request are the request's
@context terms; they are translated to the stored names and the answer back.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any, Final
from urllib.parse import quote

import anyio.to_thread
import orjson
from anyio.lowlevel import RunVar
from fastapi import APIRouter, Query, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from stadsnav.api.audit import audit_personal_reads, audit_personal_types
from stadsnav.api.deps import read_store
from stadsnav.api.gatekeeper import refuse_complex_body
from stadsnav.api.gateway import note_types, visibility
from stadsnav.api.ngsild.jsonld import (
    GEO_JSON,
    JSON,
    JSON_LD,
    LINK,
    body_terms,
    media_type_for,
    negotiate,
    ngsild_response,
    read_json,
    request_terms,
)
from stadsnav.api.ngsild.params import (
    GeometryProperty,
    Join,
    JoinLevel,
    Lang,
    Local,
    Omit,
    OrderBy,
    Pick,
    ShownDatasets,
)
from stadsnav.api.ngsild.routes import ngsild_route
from stadsnav.api.ngsild.tenancy import TENANT_HEADER, tenant_store
from stadsnav.api.plain import header, send_response, with_shortcut
from stadsnav.api.problems import FORBIDDEN, ApiError
from stadsnav.model.context import CORE_CONTEXT_URL
from stadsnav.model.entity import StoredEntity, as_types
from stadsnav.model.entity_query import (
    ENTITY_MEMBERS,
    EntityQuery,
    EntitySelector,
    OrderBySyntaxError,
    OrderKey,
    Visibility,
    entity_types,
    parse_order_by,
)
from stadsnav.model.geo import GeoQuery, GeoQueryError, parse_geo_query
from stadsnav.model.jsonld import Vocabulary
from stadsnav.model.language import NONE_KEY, LanguageFilter, LanguageFilterError, parse_lang
from stadsnav.model.linked import (
    JOINS,
    MAX_JOIN_LEVEL,
    JoinTooLargeError,
    Node,
    build_nodes,
    flat,
    inline,
    project,
)
from stadsnav.model.projection import (
    Projection,
    ProjectionSyntaxError,
    depth,
    parse_projection,
    rename,
)
from stadsnav.model.q import QExpr, QSyntaxError, parse_q
from stadsnav.model.render import (
    attribute_names,
    geojson_collection,
    geojson_feature,
    render_entity,
)
from stadsnav.model.scope import ScopeExpr, ScopeSyntaxError, parse_scope_query
from stadsnav.model.typequery import TypeExpr, TypeSyntaxError, parse_types
from stadsnav.store.base import ContextStore
from stadsnav.store.sql import SqlStore
from stadsnav.store.sqlite import SqliteStore

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD"], route_class=ngsild_route())

MAX_LIMIT: Final = 1000
DEFAULT_LIMIT: Final = 20
MAX_OFFSET: Final = 2**62
"""Past any count of rows; a larger offset would not fit the databases' integers."""
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Entities to skip.")]
REPRESENTATIONS: Final = ("normalized", "concise", "keyValues", "simplified")
_OPTIONS: Final = frozenset({*REPRESENTATIONS, "sysAttrs"})
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_ENTITY_MEMBERS: Final = frozenset({"id", "type", "scope", "createdAt", "modifiedAt"})
_JSON_HEADERS = ((b"content-type", JSON.encode()), (b"link", LINK.encode()))
_JSON_LD_HEADERS = ((b"content-type", JSON_LD.encode()),)
_CONTEXT_MEMBER = b',"@context":' + orjson.dumps(CORE_CONTEXT_URL) + b"}"
_RESULTS_COUNT: Final = "NGSILD-Results-Count"
MAX_QUERY_BYTES: Final = 1 << 20
# Characters a page link keeps as they are; "<", ">", quotes, spaces and "&" are %-encoded.
_LINK_SAFE: Final = ":/*,;()|!=~[]{}@#$+."


def split_list(value: str | None) -> list[str] | None:
    """A comma-separated parameter as a list, or None when absent."""
    if value is None:
        return None
    items = [item.strip() for item in value.split(",") if item.strip()]
    return items or None


def parse_format(options: str | None, fmt: str | None) -> tuple[str, bool]:
    """(normalized | concise | keyValues, sysAttrs) from ``options`` and ``format``.

    ``format`` wins over ``options`` (GS CIM 009, 6.3.7); anything unknown is 400 InvalidRequest.
    """
    opts = set(split_list(options) or [])
    unknown = opts - _OPTIONS
    if unknown:
        raise ApiError(
            400,
            f"unknown options: {', '.join(sorted(unknown))}; use {', '.join(sorted(_OPTIONS))}",
            ngsild_type="InvalidRequest",
        )
    if fmt is not None and fmt not in REPRESENTATIONS:
        raise ApiError(
            400,
            f"unknown format {fmt!r}: use normalized, concise, keyValues or simplified",
            ngsild_type="InvalidRequest",
        )
    chosen = fmt or next((o for o in ("keyValues", "simplified", "concise") if o in opts), None)
    representation = "keyValues" if chosen == "simplified" else chosen or "normalized"
    return representation, "sysAttrs" in opts


def check_limit(limit: int) -> None:
    """403 TooManyResults, naming the maximum, for a page larger than ``MAX_LIMIT``."""
    # NGSI-LD (ETSI GS CIM 009) answers a limit above the implementation's maximum with
    # TooManyResults rather than a silently shorter page, so a client cannot miss entities.
    if limit > MAX_LIMIT:
        raise ApiError(
            403,
            f"limit={limit} is over the maximum page size of {MAX_LIMIT}: "
            f"ask for at most {MAX_LIMIT} and page with offset",
            ngsild_type="TooManyResults",
        )


def check_entity_id(entity_id: str) -> None:
    """400 when the id is not a URI."""
    if not _URI.match(entity_id):
        raise ApiError(400, f"entity id {entity_id!r} is not a URI", ngsild_type="BadRequestData")


def bad_request(detail: str) -> ApiError:
    """A 400 BadRequestData error."""
    return ApiError(400, detail, ngsild_type="BadRequestData")


@dataclass(frozen=True, slots=True)
class View:
    """How entities are to be shown: representation, projection, joins, media type."""

    representation: str = "normalized"
    sys_attrs: bool = False
    lang: LanguageFilter | None = None
    pick: Projection | None = None
    omit: Projection | None = None
    join: str | None = None
    join_level: int = 1
    dataset_ids: frozenset[str] | None = None
    media: str = JSON
    geometry_property: str = "location"
    """The GeoProperty (in the request's terms) that is a GeoJSON Feature's geometry."""


def response_media(request: Request) -> str:
    """The negotiated media type: JSON, JSON-LD, or GeoJSON when the client asks for it first."""
    for part in request.headers.get("accept", "").split(","):
        media = part.split(";")[0].strip().lower()
        if media == GEO_JSON:
            return GEO_JSON
        if media in (JSON, JSON_LD, "*/*", "application/*"):
            break
    return negotiate(request)


def parse_view(
    request: Request,
    terms: Vocabulary,
    *,
    options: str | None = None,
    format: str | None = None,
    lang: str | None = None,
    pick: str | None = None,
    omit: str | None = None,
    attrs_given: bool = False,
    join: str | None = None,
    join_level: str | None = None,
    dataset_id: str | None = None,
    geometry_property: str | None = None,
) -> View:
    """The View a request asks for; 400 for anything invalid or contradictory."""
    representation, sys_attrs = parse_format(options, format)
    media = response_media(request)
    if geometry_property is not None and media != GEO_JSON:
        raise bad_request("geometryProperty applies to GeoJSON: send Accept: application/geo+json")
    joined = None if join in (None, "@none") else join
    if joined is not None and joined not in JOINS:
        raise bad_request(f"join must be inline, flat or @none, not {join!r}")
    level = _join_level(join_level) if joined is not None else 0
    picked, omitted = _projections(terms, pick, omit, attrs_given, level)
    return View(
        representation=representation,
        sys_attrs=sys_attrs,
        lang=_lang(lang),
        pick=picked,
        omit=omitted,
        join=joined,
        join_level=level,
        dataset_ids=_dataset_ids(dataset_id),
        media=media,
        geometry_property=_response_name(terms, geometry_property or "location"),
    )


def _join_level(text: str | None) -> int:
    if text is None:
        return 1
    if not text.isdigit() or not 1 <= int(text) <= MAX_JOIN_LEVEL:
        raise bad_request(f"joinLevel must be a whole number from 1 to {MAX_JOIN_LEVEL}")
    return int(text)


def _projections(
    terms: Vocabulary, pick: str | None, omit: str | None, attrs_given: bool, level: int
) -> tuple[Projection | None, Projection | None]:
    if pick is not None and omit is not None:
        raise bad_request("give pick or omit, not both")
    if (pick is not None or omit is not None) and attrs_given:
        raise bad_request("pick and omit replace attrs: give one of them")
    found: list[Projection | None] = []
    for name, text in (("pick", pick), ("omit", omit)):
        if text is None:
            found.append(None)
            continue
        try:
            projection = parse_projection(text)
        except ProjectionSyntaxError as error:
            raise bad_request(f"{name}: {error}") from None
        hops = depth(projection)
        if hops > level:
            raise bad_request(
                f"{name} reaches {hops} linked entities deep: ask for join with joinLevel>={hops}"
                if level
                else f"{name} selects members of linked entities: ask for them with join"
            )
        found.append(rename(projection, lambda member: _response_name(terms, member)))
    return found[0], found[1]


def _response_name(terms: Vocabulary, name: str) -> str:
    """A request's member name as the answer will spell it."""
    if name in _ENTITY_MEMBERS:
        return name
    return terms.to_request(terms.to_stored(name))


def _lang(text: str | None) -> LanguageFilter | None:
    if text is None:
        return None
    try:
        return parse_lang(text)
    except LanguageFilterError as error:
        raise bad_request(str(error)) from None


def _dataset_ids(text: str | None) -> frozenset[str] | None:
    ids = split_list(text)
    if ids is None:
        return None
    for dataset_id in ids:
        if dataset_id != NONE_KEY and not _URI.match(dataset_id):
            raise bad_request(f"datasetId {dataset_id!r} is not a URI or @none")
    return frozenset(ids)


def refuse_probes(query: EntityQuery) -> None:
    """403 for a query on attributes its caller does not see (they identify a person)."""
    probed = query.probed()
    if probed:
        raise ApiError(
            403,
            f"the query filters on {', '.join(probed)}, which identify a person: that needs the "
            "identify scope of the dataset",
            ngsild_type=FORBIDDEN,
        )


def redacted(entity: StoredEntity, visible: Visibility | None) -> StoredEntity:
    """The entity without the attributes the caller does not see (names, addresses)."""
    hidden = frozenset() if visible is None else visible.hidden_of(entity.types)
    if hidden.isdisjoint(entity.attributes) and hidden.isdisjoint(entity.datasets):
        return entity
    return replace(
        entity,
        attributes={k: v for k, v in entity.attributes.items() if k not in hidden},
        datasets={k: v for k, v in entity.datasets.items() if k not in hidden},
    )


def present(
    entities: Sequence[StoredEntity],
    store: ContextStore,
    terms: Vocabulary,
    view: View,
    attrs: frozenset[str] | None = None,
    visible: Visibility | None = None,
    seen: list[StoredEntity] | None = None,
) -> list[dict[str, Any]]:
    """The entities as the view shows them, linked entities joined (those ``visible`` lets the
    caller read), in the request's terms; every entity shown is added to ``seen``."""
    names = None if terms.identity else terms.to_request
    if seen is not None:
        seen.extend(entities)
    entities = [redacted(entity, visible) for entity in entities]

    def linked(ids: Sequence[str]) -> list[StoredEntity]:
        found = store.find_entities(None, ids, None)
        shown = found if visible is None else [e for e in found if visible.can_read(e.types)]
        if seen is not None:
            seen.extend(shown)
        return [redacted(entity, visible) for entity in shown]

    def render(entity: StoredEntity, level: int) -> dict[str, Any]:
        return render_entity(
            entity,
            attrs=attrs if level == 0 else None,
            key_values=view.representation == "keyValues",
            concise=view.representation == "concise",
            sys_attrs=view.sys_attrs,
            lang=view.lang,
            dataset_ids=view.dataset_ids,
            names=names,
        )

    if view.join is None:
        nodes = [Node(entity.id, render(entity, 0)) for entity in entities]
    else:
        try:
            nodes = build_nodes(
                entities,
                render,
                linked,
                view.join_level,
                terms.to_request,
            )
        except JoinTooLargeError as error:
            raise ApiError(403, str(error), ngsild_type="TooManyResults") from None
    if view.pick is not None or view.omit is not None:
        nodes = [project(node, view.pick, view.omit) for node in nodes]
    if view.join == "flat":
        return flat(nodes)
    key_values = view.representation == "keyValues"
    return [inline(node, key_values) if node.links else node.body for node in nodes]


def entities_response(
    request: Request,
    bodies: list[dict[str, Any]],
    terms: Vocabulary,
    view: View,
    headers: dict[str, str] | None = None,
    *,
    single: bool = False,
) -> Response:
    """The answer: one entity (or, joined flat, a list), or a list, as JSON, JSON-LD or GeoJSON."""
    one = single and len(bodies) == 1
    if view.media == GEO_JSON:
        context = terms.reference
        geo: dict[str, Any] = (
            geojson_feature(bodies[0], view.geometry_property, context)
            if one
            else geojson_collection(bodies, view.geometry_property, context)
        )
        return Response(orjson.dumps(geo), media_type=GEO_JSON, headers=headers)
    return ngsild_response(request, bodies[0] if one else bodies, headers, terms)


async def retrieve_entity(
    entity_id: str,
    request: Request,
    attrs: Annotated[
        str | None, Query(description="Comma-separated attribute names to return.")
    ] = None,
    type: Annotated[str | None, Query(description="The type(s) the entity must have.")] = None,
    options: Annotated[str | None, Query(description="keyValues, concise, sysAttrs")] = None,
    format: Annotated[
        str | None, Query(description="normalized, concise, keyValues or simplified")
    ] = None,
    lang: Lang = None,
    pick: Pick = None,
    omit: Omit = None,
    join: Join = None,
    join_level: JoinLevel = None,
    dataset_id: ShownDatasets = None,
    geometry_property: GeometryProperty = None,
    local: Annotated[
        str | None, Query(description="true or false: this broker has only local entities.")
    ] = None,
) -> Response:
    """The latest state of the entity."""
    check_entity_id(entity_id)
    if local not in (None, "true", "false"):
        raise bad_request(f"local must be true or false, not {local!r}")
    terms = await request_terms(request)
    view = parse_view(
        request,
        terms,
        options=options,
        format=format,
        lang=lang,
        pick=pick,
        omit=omit,
        attrs_given=attrs is not None,
        join=join,
        join_level=join_level,
        dataset_id=dataset_id,
        geometry_property=geometry_property,
    )
    wanted_types = type_expression(type, terms)
    names = _attrs(attrs, terms)
    store = tenant_store(request)
    visible = await visibility(request)

    seen: list[StoredEntity] = []

    def work() -> list[dict[str, Any]] | None:
        entity = store.get_entity(entity_id)
        if entity is not None and visible is not None and not visible.can_read(entity.types):
            request.state.hidden = True  # audited as a refusal; the caller is not told
            return None  # whether an entity the caller may not read exists is not its to know
        if entity is None:
            return None
        if wanted_types is not None and not wanted_types.matches(entity_types(entity)):
            return None
        # attrs on an attribute the caller does not see would tell whether the entity has it.
        if names is not None and not names.intersection(attribute_names(redacted(entity, visible))):
            return None
        note_types(request, entity.types)
        return present([entity], store, terms, view, names, visible, seen)

    bodies = await read_store(store, work)
    await audit_personal_reads(request, seen)
    if bodies is None:
        raise ApiError(404, f"no entity with id {entity_id}{_with(type, attrs)}")
    if not bodies[0]:
        raise ApiError(404, f"entity {entity_id} has none of the members asked for")
    return entities_response(request, bodies, terms, view, single=True)


def _with(type: str | None, attrs: str | None) -> str:
    parts = [f"type {type}" if type else "", f"any of the attributes {attrs}" if attrs else ""]
    found = " and ".join(part for part in parts if part)
    return f" with {found}" if found else ""


async def retrieve_stored_json(scope: Scope, receive: Receive, send: Send) -> bool:
    """Answer a retrieval without parameters with the stored JSON, neither decoded nor encoded.

    Declines (False) for anything else: query parameters, a tenant, a Link @context (which
    changes the names), GeoJSON, or when the store cannot give the entity that way.
    """
    if scope["query_string"]:
        return False
    if header(scope, TENANT_HEADER.encode()) is not None or header(scope, b"link") is not None:
        return False
    store = scope["app"].state.runtime.store
    if not isinstance(store, SqlStore):
        return False
    accept = header(scope, b"accept") or ""
    if "geo+json" in accept.lower():
        return False
    entity_id: str = scope["path_params"]["entity_id"]
    check_entity_id(entity_id)
    visible = await visibility(Request(scope, receive))
    body = await read_store(store, lambda: store.entity_json(entity_id))
    if body is None:
        return False
    types = as_types(orjson.loads(body)["type"])
    if visible is not None and not visible.can_read(types):
        return False  # the normal path answers 404, as for an entity that does not exist
    if visible is not None and visible.hidden_of(types):
        return False  # the normal path leaves out what the caller does not see
    request = Request(scope, receive)
    note_types(request, types)
    await audit_personal_types(request, [(entity_id, types)])
    media = media_type_for(accept)
    if media == JSON_LD:
        await send_response(send, 200, body[:-1] + _CONTEXT_MEMBER, _JSON_LD_HEADERS)
    else:
        await send_response(send, 200, body, _JSON_HEADERS)
    return True


# The hottest read: served in the fast lane, with the SQLite point read (well under a
# millisecond) on the event loop rather than behind a thread hop.
router.add_api_route(
    "/entities/{entity_id}",
    retrieve_entity,
    methods=["GET"],
    summary="Retrieve one entity",
    route_class_override=ngsild_route(with_shortcut(retrieve_stored_json)),
)


_SQLITE_QUERIES: RunVar[anyio.CapacityLimiter] = RunVar("sqlite_queries")


def _sqlite_query_limiter() -> anyio.CapacityLimiter:
    """Queries on SQLite run in at most as many threads as there are CPUs (at least two).

    The Python part holds the GIL, so more threads add no throughput; and each thread reads
    through its own connection, whose page cache must warm up on its own. Few threads, reused,
    keep their caches warm (on two cores at 100,000 entities: about 45 → 70 q + near queries a
    second).
    """
    try:
        return _SQLITE_QUERIES.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(max(2, os.cpu_count() or 2))
        _SQLITE_QUERIES.set(limiter)
        return limiter


@dataclass(frozen=True, slots=True)
class Page:
    """Which slice of the matches to answer with, and whether to count them."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0
    count: bool = False

    def check(self) -> None:
        """403 for a page over the maximum; 400 for an empty page without count."""
        check_limit(self.limit)
        if self.limit == 0 and not self.count:
            raise bad_request("limit=0 returns no entities: use it with count=true")


async def answer_query(
    request: Request, query: EntityQuery, view: View, page: Page, terms: Vocabulary
) -> Response:
    """Run a query on the request's tenant and answer with the page."""
    page.check()
    query = replace(_picking(query, view, terms), visible=await visibility(request))
    refuse_probes(query)
    store = tenant_store(request)

    def work() -> tuple[int, list[dict[str, Any]]]:
        # Without count the store is read only until one match past the page: enough to know
        # whether there is a next page.
        matches = query.page(store.find_entities, page.offset, page.limit, page.count)
        note_types(request, (name for entity in matches.entities for name in entity.types))
        bodies = present(matches.entities, store, terms, view, query.attrs, query.visible, shown)
        return matches.seen, bodies

    shown: list[StoredEntity] = []
    limiter = _sqlite_query_limiter() if isinstance(store, SqliteStore) else None
    seen, bodies = await anyio.to_thread.run_sync(work, limiter=limiter)
    await audit_personal_reads(request, shown)
    headers = {_RESULTS_COUNT: str(seen)} if page.count else None
    response = entities_response(request, bodies, terms, view, headers)
    if request.method == "GET":
        for value in page_links(request, page, seen, view.media):
            response.headers.append("Link", value)
    return response


def _picking(query: EntityQuery, view: View, terms: Vocabulary) -> EntityQuery:
    """The query, needing one of the picked attributes when ``pick`` names attributes only.

    An entity with none of them would be answered empty; it is no match, as with ``attrs``
    (GS CIM 009, 4.21), and so the page and the count leave it out.
    """
    if view.pick is None or query.attrs is not None or not ENTITY_MEMBERS.isdisjoint(view.pick):
        return query
    return replace(query, attrs=frozenset(terms.to_stored(name) for name in view.pick))


def page_links(request: Request, page: Page, total: int, media: str) -> list[str]:
    """``Link`` values to the previous and next pages (GS CIM 009, 5.5.9 and 6.3.11).

    ``total`` may be a lower bound: the next page is linked when it exceeds the page's end.
    """
    if page.limit == 0:
        return []
    links: list[str] = []
    if page.offset > 0:
        links.append(
            _page_link(request, page.limit, max(0, page.offset - page.limit), "prev", media)
        )
    if page.offset + page.limit < total:
        links.append(_page_link(request, page.limit, page.offset + page.limit, "next", media))
    return links


def _page_link(request: Request, limit: int, offset: int, rel: str, media: str) -> str:
    params = dict(request.query_params)
    params.update(limit=str(limit), offset=str(offset))
    query = "&".join(
        f"{quote(key, safe=_LINK_SAFE)}={quote(value, safe=_LINK_SAFE)}"
        for key, value in sorted(params.items())
    )
    return f'<{request.url.path}?{query}>; rel="{rel}";type="{media}"'


@router.get(
    "/entities",
    summary="Query entities",
    responses={403: {"description": f"TooManyResults: `limit` is over {MAX_LIMIT}."}},
)
async def query_entities(
    request: Request,
    type: Annotated[
        str | None, Query(description="Entity types: A,B or A|B (or), A;B (and), ( ), *.")
    ] = None,
    id: Annotated[str | None, Query(description="Entity ids, comma-separated.")] = None,
    id_pattern: Annotated[
        str | None, Query(alias="idPattern", description="Regular expression the id must match.")
    ] = None,
    attrs: Annotated[
        str | None, Query(description="Attributes to return (and to require one of).")
    ] = None,
    q: Annotated[str | None, Query(description="NGSI-LD query, e.g. temperature>20")] = None,
    georel: Annotated[str | None, Query(description="e.g. near;maxDistance==2000")] = None,
    geometry: Annotated[str | None, Query(description="Point, Polygon ...")] = None,
    coordinates: Annotated[
        str | None, Query(description="GeoJSON coordinates, e.g. [20.95,64.75]")
    ] = None,
    geoproperty: Annotated[str, Query(description="The GeoProperty to compare.")] = "location",
    scope_q: Annotated[
        str | None, Query(alias="scopeQ", description="Scopes, e.g. /Madrid/#")
    ] = None,
    csf: Annotated[
        str | None, Query(description="Context source filter (no sources here: checked only).")
    ] = None,
    lang: Lang = None,
    pick: Pick = None,
    omit: Omit = None,
    join: Join = None,
    join_level: JoinLevel = None,
    dataset_id: ShownDatasets = None,
    geometry_property: GeometryProperty = None,
    limit: Annotated[
        int,
        Query(
            ge=0,
            description=f"Page size, at most {MAX_LIMIT}; 0 with count=true for just the count.",
            json_schema_extra={"maximum": MAX_LIMIT},
        ),
    ] = DEFAULT_LIMIT,
    offset: Offset = 0,
    count: Annotated[bool, Query(description="Return the total in NGSILD-Results-Count.")] = False,
    options: Annotated[str | None, Query(description="keyValues, concise, sysAttrs")] = None,
    format: Annotated[
        str | None, Query(description="normalized, concise, keyValues or simplified")
    ] = None,
    local: Local = None,
    order_by: OrderBy = None,
) -> Response:
    """Entities matching every given filter, ordered by id."""
    wildcard = type is not None and type.strip() == "*"
    if wildcard and local is False:
        raise bad_request("type=* implies local=true; it cannot be combined with local=false")
    check_csf(csf)
    terms = await request_terms(request)
    ids = split_list(id)
    query = build_query(
        terms,
        selectors=[(type, ids, id_pattern)] if type or ids or id_pattern else [],
        attrs=split_list(attrs),
        q=q,
        geo=_geo_from_params(georel, geometry, coordinates, geoproperty),
        scope_q=scope_q,
        order_by=order_by,
    )
    if not (local or wildcard):
        check_narrowed(query)
    view = parse_view(
        request,
        terms,
        options=options,
        format=format,
        lang=lang,
        pick=pick,
        omit=omit,
        attrs_given=attrs is not None,
        join=join,
        join_level=join_level,
        dataset_id=dataset_id,
        geometry_property=geometry_property,
    )
    return await answer_query(request, query, view, Page(limit, offset, count), terms)


GeoParams = tuple[str, str, Any, str]
"""(georel, geometry, coordinates, geoproperty) as a request gives them."""


def _geo_from_params(
    georel: str | None, geometry: str | None, coordinates: str | None, geoproperty: str
) -> GeoParams | None:
    given = [georel, geometry, coordinates]
    if all(p is None for p in given):
        return None
    if georel is None or geometry is None or coordinates is None:
        raise bad_request("a geo-query needs georel, geometry and coordinates together")
    return georel, geometry, coordinates, geoproperty


def build_query(
    terms: Vocabulary,
    *,
    selectors: Sequence[tuple[str | None, Sequence[str] | None, str | None]] = (),
    attrs: Sequence[str] | None = None,
    q: str | None = None,
    geo: GeoParams | None = None,
    scope_q: str | None = None,
    order_by: str | None = None,
) -> EntityQuery:
    """An EntityQuery in stored names from a request's parameters; 400 for invalid ones.

    ``selectors`` are (type selection, ids, idPattern), any of which may be None.
    """
    return EntityQuery(
        selectors=tuple(_selector(terms, *selector) for selector in selectors),
        attrs=None if attrs is None else frozenset(terms.to_stored(a) for a in attrs),
        q=_q(q, terms),
        geo=None if geo is None else _geo(terms, *geo),
        scope=_scope(scope_q),
        order_by=_order_by(order_by, terms),
    )


def check_csf(text: str | None) -> None:
    """400 BadRequestData for a context source filter that is not in the query language.

    A csf selects the registered context sources a query also asks (5.7.2.4); this broker
    answers from its own entities only, so a valid one changes nothing.
    """
    if text is None:
        return
    try:
        parse_q(text)
    except QSyntaxError as error:
        raise bad_request(f"csf: {error}") from None


def check_narrowed(query: EntityQuery) -> None:
    """400 BadRequestData for a query too wide to answer: one that selects every entity."""
    if query.too_wide():
        raise bad_request(
            "the query selects every entity: give a type, an attribute in attrs or q, "
            "a geo-query or scopeQ (ids need a type; id, type, scope and the system times "
            "are no attributes), or ask for all of them with type=* or local=true"
        )


def _selector(
    terms: Vocabulary, types: str | None, ids: Sequence[str] | None, id_pattern: str | None
) -> EntitySelector:
    for entity_id in ids or []:
        check_entity_id(entity_id)
    if id_pattern is not None:
        try:
            re.compile(id_pattern)
        except re.error as error:
            raise bad_request(f"idPattern is not a valid regular expression: {error}") from None
    chosen = None if ids is None else tuple(ids)
    return EntitySelector(type_expression(types, terms), chosen, id_pattern)


def type_expression(text: str | None, terms: Vocabulary) -> TypeExpr | None:
    """The ``type`` parameter (4.17) in stored names; None selects every type."""
    if text is None:
        return None
    try:
        expression = parse_types(text)
    except TypeSyntaxError as error:
        raise bad_request(f"type: {error}") from None
    return None if expression is None else expression.rename(terms.to_stored)


def _attrs(text: str | None, terms: Vocabulary) -> frozenset[str] | None:
    names = split_list(text)
    return None if names is None else frozenset(terms.to_stored(name) for name in names)


def _q(text: str | None, terms: Vocabulary) -> QExpr | None:
    if text is None:
        return None
    try:
        return parse_q(text).rename(terms.to_stored)
    except QSyntaxError as error:
        raise bad_request(f"q: {error}") from None


def _geo(
    terms: Vocabulary, georel: str, geometry: str, coordinates: Any, geoproperty: str
) -> GeoQuery:
    try:
        return parse_geo_query(georel, geometry, coordinates, terms.to_stored(geoproperty))
    except GeoQueryError as error:
        raise bad_request(f"geo-query: {error}") from None


def _order_by(text: str | None, terms: Vocabulary) -> tuple[OrderKey, ...]:
    if text is None:
        return ()
    try:
        return parse_order_by(text, terms.to_stored)
    except OrderBySyntaxError as error:
        raise bad_request(f"orderBy: {error}") from None


def _scope(text: str | None) -> ScopeExpr | None:
    if text is None:
        return None
    try:
        return parse_scope_query(text)
    except ScopeSyntaxError as error:
        raise bad_request(f"scopeQ: {error}") from None


@router.post(
    "/entityOperations/query",
    summary="Query entities with a Query in the body",
    responses={403: {"description": f"TooManyResults: `limit` is over {MAX_LIMIT}."}},
)
async def query_entities_post(
    request: Request,
    limit: Annotated[
        int, Query(ge=0, description=f"Page size, at most {MAX_LIMIT}.")
    ] = DEFAULT_LIMIT,
    offset: Offset = 0,
    count: Annotated[bool, Query(description="Return the total in NGSILD-Results-Count.")] = False,
    options: Annotated[str | None, Query(description="keyValues, concise, sysAttrs")] = None,
    format: Annotated[
        str | None, Query(description="normalized, concise, keyValues or simplified")
    ] = None,
) -> Response:
    """Entities matching the Query data type in the body (GS CIM 009, 5.2.23), paged."""
    body = await read_json(request, MAX_QUERY_BYTES)
    if not isinstance(body, dict):
        raise bad_request("the body must be a Query object")
    terms = await body_terms(request, body)
    members = QueryBody(body)
    refuse_complex_body(request, body)
    check_csf(members.text("csf"))
    query = build_query(
        terms,
        selectors=members.selectors(),
        attrs=members.names("attrs"),
        q=members.text("q"),
        geo=members.geo(),
        scope_q=members.text("scopeQ"),
        order_by=members.text("orderBy"),
    )
    check_narrowed(query)
    view = parse_view(
        request,
        terms,
        options=options,
        format=format,
        lang=members.text("lang"),
        pick=members.projection("pick"),
        omit=members.projection("omit"),
        attrs_given=members.names("attrs") is not None,
        join=members.text("join"),
        join_level=members.join_level(),
        dataset_id=members.projection("datasetId"),
    )
    return await answer_query(request, query, view, Page(limit, offset, count), terms)


class QueryBody:
    """The members of a Query object, checked as Table 5.2.23-1 types them."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        if body.get("type") != "Query":
            raise bad_request('a Query body needs "type": "Query"')
        if "temporalQ" in body:
            raise bad_request(
                "temporalQ belongs to the temporal query (/temporal/entityOperations)"
            )
        self.body = body

    def text(self, name: str) -> str | None:
        """A String member, or None."""
        value = self.body.get(name)
        if value is not None and not isinstance(value, str):
            raise bad_request(f"{name} must be a string")
        return value

    def names(self, name: str) -> list[str] | None:
        """A non-empty String[] member, or None."""
        value = self.body.get(name)
        if value is None:
            return None
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise bad_request(f"{name} must be a non-empty array of strings")
        return value

    def projection(self, name: str) -> str | None:
        """A String or String[] member as one comma-separated text, or None."""
        value = self.body.get(name)
        if value is None or isinstance(value, str):
            return value
        return ",".join(self.names(name) or [])

    def join_level(self) -> str | None:
        """joinLevel, a positive integer, as text."""
        value = self.body.get("joinLevel")
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise bad_request("joinLevel must be a positive integer")
        return str(value)

    def selectors(self) -> list[tuple[str | None, list[str] | None, str | None]]:
        """The entities member: (type, ids, idPattern) per selector."""
        entities = self.body.get("entities")
        if entities is None:
            return []
        if not isinstance(entities, list) or not entities:
            raise bad_request("entities must be a non-empty array of entity selectors")
        return [_body_selector(item) for item in entities]

    def geo(self) -> GeoParams | None:
        """The geoQ member."""
        geo_q = self.body.get("geoQ")
        if geo_q is None:
            return None
        if not isinstance(geo_q, Mapping):
            raise bad_request("geoQ must be an object with geometry, coordinates and georel")
        geometry, georel = geo_q.get("geometry"), geo_q.get("georel")
        coordinates = geo_q.get("coordinates")
        geoproperty = geo_q.get("geoproperty", "location")
        if not isinstance(geometry, str) or not isinstance(georel, str):
            raise bad_request("geoQ needs geometry and georel strings")
        if not isinstance(coordinates, list | str) or not isinstance(geoproperty, str):
            raise bad_request("geoQ needs coordinates (an array) and a geoproperty string")
        return georel, geometry, coordinates, geoproperty


def _body_selector(item: Any) -> tuple[str | None, list[str] | None, str | None]:
    if not isinstance(item, Mapping):
        raise bad_request("each entity selector must be an object")
    types, ids, pattern = item.get("type"), item.get("id"), item.get("idPattern")
    if not isinstance(types, str) or not types:
        raise bad_request("each entity selector needs a type")
    if isinstance(ids, str):
        ids = [ids]
    if ids is not None and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
        raise bad_request("an entity selector's id must be a URI or an array of URIs")
    if pattern is not None and not isinstance(pattern, str):
        raise bad_request("an entity selector's idPattern must be a string")
    return types, ids, pattern


__all__ = [
    "MAX_LIMIT",
    "View",
    "build_query",
    "check_entity_id",
    "check_limit",
    "parse_format",
    "parse_view",
    "present",
    "router",
    "split_list",
]
