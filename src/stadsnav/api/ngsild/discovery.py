"""NGSI-LD discovery: which entity types and attributes exist (GS CIM 009, 5.7.5-5.7.10)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from stadsnav.api.gateway import visibility
from stadsnav.api.ngsild.jsonld import ngsild_response, request_terms
from stadsnav.api.ngsild.routes import ngsild_route
from stadsnav.api.ngsild.tenancy import tenant_store
from stadsnav.api.problems import ApiError
from stadsnav.model.jsonld import Vocabulary
from stadsnav.store.base import ContextStore

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD"], route_class=ngsild_route())
T = TypeVar("T")

Details = Annotated[bool, Query(description="Objects with details instead of a list of names.")]


def _iri(terms: Vocabulary, name: str) -> str:
    return terms.stored.expand(name)


async def _read(read: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(read)


async def _hidden(request: Request, store: ContextStore) -> list[str]:
    """The types the caller may not read: it learns neither of them nor of any entity that has
    one (an entity with several types is counted only when it may read them all)."""
    visible = await visibility(request)
    if visible is None:
        return []
    return [name for name in await _read(store.entity_types) if not visible.can_read([name])]


@router.get("/types", summary="Entity types")
# The list also answers at "/types/" (as clients build it from the collection's path), ahead
# of the one-type route, whose empty name would otherwise take it.
@router.get("/types/", include_in_schema=False)
async def entity_types(request: Request, details: Details = False) -> Response:
    """The entity types there are: an EntityTypeList, or with ``details`` EntityType objects."""
    terms = await request_terms(request)
    store = tenant_store(request)
    hidden = await _hidden(request, store)
    types = await _read(lambda: store.entity_types(hidden))
    if not details:
        names = [terms.to_request(name) for name in types]
        body: Any = {
            "id": f"urn:ngsi-ld:EntityTypeList:{uuid.uuid4()}",
            "type": "EntityTypeList",
            "typeList": names,
        }
        return ngsild_response(request, body, terms=terms)
    attributes = await _read(lambda: store.attribute_names(None, hidden))
    body = [
        {
            "id": _iri(terms, entity_type),
            "type": "EntityType",
            "typeName": terms.to_request(entity_type),
            "attributeNames": [
                terms.to_request(name) for name, used in attributes.items() if entity_type in used
            ],
        }
        for entity_type in types
    ]
    return ngsild_response(request, body, terms=terms)


@router.get("/types/{type_name:path}", summary="One entity type")
async def entity_type(type_name: str, request: Request) -> Response:
    """An EntityTypeInfo: how many entities of the type there are and their attributes."""
    terms = await request_terms(request)
    store = tenant_store(request)
    stored = terms.to_stored(type_name)
    hidden = await _hidden(request, store)
    count = (await _read(lambda: store.entity_types(hidden))).get(stored)
    if not count:
        detail = f"there are no entities of type {type_name}"
        raise ApiError(404, detail, ngsild_type="ResourceNotFound")
    names = await _read(lambda: store.attribute_names([stored], hidden))
    kinds = await _read(lambda: store.attribute_kinds([stored], hidden))
    body = {
        "id": _iri(terms, stored),
        "type": "EntityTypeInfo",
        "typeName": terms.to_request(stored),
        "entityCount": count,
        "attributeDetails": [
            {
                "id": _iri(terms, name),
                "type": "Attribute",
                "attributeName": terms.to_request(name),
                "attributeTypes": kinds.get(name, []),
            }
            for name in names
        ],
    }
    return ngsild_response(request, body, terms=terms)


@router.get("/attributes", summary="Attributes")
@router.get("/attributes/", include_in_schema=False)
async def attributes(request: Request, details: Details = False) -> Response:
    """The attributes there are: an AttributeList, or with ``details`` Attribute objects."""
    terms = await request_terms(request)
    store = tenant_store(request)
    hidden = await _hidden(request, store)
    names = await _read(lambda: store.attribute_names(None, hidden))
    if not details:
        body: Any = {
            "id": f"urn:ngsi-ld:AttributeList:{uuid.uuid4()}",
            "type": "AttributeList",
            "attributeList": [terms.to_request(name) for name in names],
        }
        return ngsild_response(request, body, terms=terms)
    # 5.7.9 lists each Attribute with its name and entity types; counts and attribute types
    # are what 5.7.10 adds for one attribute.
    body = [
        {
            "id": _iri(terms, name),
            "type": "Attribute",
            "attributeName": terms.to_request(name),
            "typeNames": [terms.to_request(entity_type) for entity_type in used],
        }
        for name, used in names.items()
    ]
    return ngsild_response(request, body, terms=terms)


@router.get("/attributes/{attr_name:path}", summary="One attribute")
async def attribute(attr_name: str, request: Request) -> Response:
    """An Attribute: how many entities have it, of which types, as which attribute types."""
    terms = await request_terms(request)
    store = tenant_store(request)
    stored = terms.to_stored(attr_name)
    hidden = await _hidden(request, store)
    names = await _read(lambda: store.attribute_names(None, hidden))
    if stored not in names:
        detail = f"no entity has an attribute {attr_name}"
        raise ApiError(404, detail, ngsild_type="ResourceNotFound")
    kinds = await _read(lambda: store.attribute_kinds(None, hidden))
    body = _attribute(terms, stored, names[stored], kinds.get(stored, []))
    return ngsild_response(request, body, terms=terms)


def _attribute(
    terms: Vocabulary, name: str, used: dict[str, int], kinds: list[str]
) -> dict[str, Any]:
    return {
        "id": _iri(terms, name),
        "type": "Attribute",
        "attributeName": terms.to_request(name),
        "attributeCount": sum(used.values()),
        "attributeTypes": kinds,
        "typeNames": [terms.to_request(entity_type) for entity_type in used],
    }
