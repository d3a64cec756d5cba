"""NGSI-LD entity retrieval and query: ``GET /ngsi-ld/v1/entities[/{id}]``."""

from __future__ import annotations

import re
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from stadsnav.api.deps import RuntimeDep, read_store
from stadsnav.api.ngsild.jsonld import JSON, JSON_LD, LINK, media_type_for, ngsild_response
from stadsnav.api.plain import header, send_response, with_shortcut
from stadsnav.api.problems import ApiError
from stadsnav.model.context import CORE_CONTEXT_URL
from stadsnav.model.geo import GeoQuery, GeoQueryError, parse_geo_query
from stadsnav.model.q import QExpr, QSyntaxError, parse_q
from stadsnav.model.render import render_entity
from stadsnav.store.base import StoredEntity
from stadsnav.store.sql import SqlStore

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD"])

MAX_LIMIT = 1000
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_JSON_HEADERS = ((b"content-type", JSON.encode()), (b"link", LINK.encode()))
_JSON_LD_HEADERS = ((b"content-type", JSON_LD.encode()),)
_CONTEXT_MEMBER = b',"@context":' + orjson.dumps(CORE_CONTEXT_URL) + b"}"


def split_list(value: str | None) -> list[str] | None:
    """A comma-separated parameter as a list, or None when absent."""
    if value is None:
        return None
    items = [item.strip() for item in value.split(",") if item.strip()]
    return items or None


def parse_options(options: str | None, fmt: str | None) -> tuple[bool, bool]:
    """(keyValues, sysAttrs) from ``options`` and ``format``."""
    opts = set(split_list(options) or [])
    unknown = opts - {"keyValues", "simplified", "normalized", "sysAttrs"}
    if unknown:
        raise ApiError(400, f"unknown options: {', '.join(sorted(unknown))}")
    if fmt is not None and fmt not in ("keyValues", "simplified", "normalized"):
        raise ApiError(400, f"unknown format {fmt!r}: use normalized, keyValues or simplified")
    key_values = bool(opts & {"keyValues", "simplified"}) or fmt in ("keyValues", "simplified")
    return key_values, "sysAttrs" in opts


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
        raise ApiError(400, f"entity id {entity_id!r} is not a URI")


async def retrieve_entity(
    entity_id: str,
    request: Request,
    runtime: RuntimeDep,
    attrs: Annotated[
        str | None, Query(description="Comma-separated attribute names to return.")
    ] = None,
    options: Annotated[str | None, Query(description="keyValues, sysAttrs")] = None,
    format: Annotated[str | None, Query(description="normalized, keyValues or simplified")] = None,
) -> Response:
    """The latest state of the entity."""
    check_entity_id(entity_id)
    key_values, sys_attrs = parse_options(options, format)
    entity = await read_store(runtime.store, lambda: runtime.store.get_entity(entity_id))
    if entity is None:
        raise ApiError(404, f"no entity with id {entity_id}")
    body = render_entity(
        entity, attrs=split_list(attrs), key_values=key_values, sys_attrs=sys_attrs
    )
    return ngsild_response(request, body)


async def retrieve_stored_json(scope: Scope, receive: Receive, send: Send) -> bool:
    """Answer a retrieval without parameters with the stored JSON, neither decoded nor encoded.

    Declines (False) for anything else, and when the store cannot give the entity that way.
    """
    if scope["query_string"]:
        return False
    store = scope["app"].state.runtime.store
    if not isinstance(store, SqlStore):
        return False
    entity_id: str = scope["path_params"]["entity_id"]
    check_entity_id(entity_id)
    body = await read_store(store, lambda: store.entity_json(entity_id))
    if body is None:
        return False
    media = media_type_for(header(scope, b"accept") or "")
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
    route_class_override=with_shortcut(retrieve_stored_json),
)


@router.get(
    "/entities",
    summary="Query entities",
    responses={403: {"description": f"TooManyResults: `limit` is over {MAX_LIMIT}."}},
)
def query_entities(
    request: Request,
    runtime: RuntimeDep,
    type: Annotated[str | None, Query(description="Entity types, comma-separated.")] = None,
    id: Annotated[str | None, Query(description="Entity ids, comma-separated.")] = None,
    id_pattern: Annotated[
        str | None, Query(alias="idPattern", description="Regular expression the id must match.")
    ] = None,
    attrs: Annotated[
        str | None, Query(description="Attributes to return (and to require).")
    ] = None,
    q: Annotated[str | None, Query(description="NGSI-LD query, e.g. temperature>20")] = None,
    georel: Annotated[str | None, Query(description="e.g. near;maxDistance==2000")] = None,
    geometry: Annotated[str | None, Query(description="Point, Polygon ...")] = None,
    coordinates: Annotated[
        str | None, Query(description="GeoJSON coordinates, e.g. [20.95,64.75]")
    ] = None,
    geoproperty: Annotated[str, Query(description="The GeoProperty to compare.")] = "location",
    limit: Annotated[
        int,
        Query(
            ge=0,
            description=f"Page size, at most {MAX_LIMIT}.",
            json_schema_extra={"maximum": MAX_LIMIT},
        ),
    ] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
    count: Annotated[bool, Query(description="Return the total in NGSILD-Results-Count.")] = False,
    options: Annotated[str | None, Query(description="keyValues, sysAttrs")] = None,
    format: Annotated[str | None, Query(description="normalized, keyValues or simplified")] = None,
) -> Response:
    """Entities matching every given filter, ordered by id."""
    check_limit(limit)
    types, ids, attr_names = split_list(type), split_list(id), split_list(attrs)
    if not (types or ids or id_pattern or attr_names or q or georel):
        raise ApiError(400, "give at least one of type, id, idPattern, attrs, q or georel")
    key_values, sys_attrs = parse_options(options, format)
    for entity_id in ids or []:
        check_entity_id(entity_id)
    if id_pattern is not None:
        try:
            re.compile(id_pattern)
        except re.error as error:
            raise ApiError(400, f"idPattern is not a valid regular expression: {error}") from None
    query = _parse_q(q)
    geo = _parse_geo(georel, geometry, coordinates, geoproperty)
    candidates = runtime.store.find_entities(types, ids, id_pattern)
    matches = [e for e in candidates if _matches(e, attr_names, query, geo)]
    page = matches[offset : offset + limit]
    body = [
        render_entity(e, attrs=attr_names, key_values=key_values, sys_attrs=sys_attrs) for e in page
    ]
    headers = {"NGSILD-Results-Count": str(len(matches))} if count else None
    return ngsild_response(request, body, headers)


def _parse_q(q: str | None) -> QExpr | None:
    if q is None:
        return None
    try:
        return parse_q(q)
    except QSyntaxError as error:
        raise ApiError(400, f"q: {error}") from None


def _parse_geo(
    georel: str | None, geometry: str | None, coordinates: str | None, geoproperty: str
) -> GeoQuery | None:
    given = [georel, geometry, coordinates]
    if all(p is None for p in given):
        return None
    if georel is None or geometry is None or coordinates is None:
        raise ApiError(400, "a geo-query needs georel, geometry and coordinates together")
    try:
        return parse_geo_query(georel, geometry, coordinates, geoproperty)
    except GeoQueryError as error:
        raise ApiError(400, f"geo-query: {error}") from None


def _matches(
    entity: StoredEntity, attr_names: list[str] | None, query: QExpr | None, geo: GeoQuery | None
) -> bool:
    if attr_names and not any(name in entity.attributes for name in attr_names):
        return False
    if query is not None and not query.matches(entity.attributes):
        return False
    return geo is None or geo.matches(entity.attributes)
