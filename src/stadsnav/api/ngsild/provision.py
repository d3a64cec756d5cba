"""NGSI-LD context provision: create, replace, merge and delete entities and their attributes.

ETSI GS CIM 009 clauses 5.6.1-5.6.6, 5.6.17-5.6.19 over ``/ngsi-ld/v1/entities``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

import anyio.to_thread
import orjson
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from stadsnav.api.gateway import caller_access, write_refusal, writer
from stadsnav.api.ngsild.entities import check_entity_id, split_list, type_expression
from stadsnav.api.ngsild.jsonld import (
    JSON,
    body_terms,
    core_vocabulary,
    read_json,
    request_terms,
)
from stadsnav.api.ngsild.params import DeleteAll, DeletedDataset, check_deleted_dataset
from stadsnav.api.ngsild.routes import ngsild_route
from stadsnav.api.ngsild.tenancy import tenant_store
from stadsnav.api.ngsild.writes import (
    AppendAttributes,
    CreateEntity,
    DeleteAttribute,
    DeleteEntity,
    MergeEntity,
    PatchAttribute,
    ReplaceEntity,
    UpdateAttributes,
    Write,
)
from stadsnav.api.problems import ApiError
from stadsnav.gateway.access import Access
from stadsnav.model.entity import as_types
from stadsnav.model.entity_input import (
    EntityInput,
    InvalidEntityError,
    Nulls,
    parse_attribute,
    parse_entity,
    parse_fragment,
)
from stadsnav.model.jsonld import Vocabulary
from stadsnav.model.render import SCOPE
from stadsnav.store.base import ContextStore, EntityChange, StoredEntity

router = APIRouter(
    prefix="/ngsi-ld/v1",
    tags=["NGSI-LD"],
    route_class=ngsild_route(),
    dependencies=[Depends(writer)],
)

_NO_CONTENT = Response(status_code=204)


async def apply(store: ContextStore, writes: Mapping[str, Write], access: Access) -> None:
    """Run the writes in one store transaction, off the event loop, each only on an entity of
    types ``access`` may write (decided on the entity as it is in that transaction)."""
    guarded = {entity_id: _guarded(write, access) for entity_id, write in writes.items()}
    await anyio.to_thread.run_sync(lambda: store.change_entities(guarded))


def _guarded(write: Write, access: Access) -> Callable[[StoredEntity | None], EntityChange | None]:
    def run(current: StoredEntity | None) -> EntityChange | None:
        write.error = write_refusal(access, current)
        change = None if write.error is not None else write(current)
        if change is not None and change.type is not None:
            write.error = write_refusal(access, None, as_types(change.type))
            if write.error is not None:
                return None
        return change

    return run


def entity_input(
    body: Any,
    terms: Vocabulary,
    *,
    need_id: bool = True,
    need_type: bool = True,
    nulls: Nulls = "refused",
) -> EntityInput:
    """The body checked and in stored names; 400 BadRequestData saying what is wrong.

    ``nulls`` says where ``urn:ngsi-ld:null`` may be (the writes that delete with it).
    """
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object", ngsild_type="BadRequestData")
    try:
        stored = terms.entity_to_stored(body)
        return parse_entity(stored, need_id=need_id, need_type=need_type, nulls=nulls)
    except InvalidEntityError as error:
        raise ApiError(400, str(error), ngsild_type="BadRequestData") from None


def finished(write: Write, terms: Vocabulary) -> Response:
    """204, or 207 with an UpdateResult when some attributes were not updated.

    The UpdateResult names attributes by their full IRI: its names are string values, which
    JSON-LD compaction leaves as they are (ETSI TP 010_04_01).
    """
    if write.error is not None:
        raise write.error
    if not write.not_updated:
        return _NO_CONTENT
    expand = terms.stored.expand
    body = {
        "updated": sorted({expand(name) for name in write.updated}),
        "notUpdated": [
            {"attributeName": expand(name), "reason": reason} for name, reason in write.not_updated
        ],
    }
    return Response(orjson.dumps(body), status_code=207, media_type=JSON)


def _now() -> datetime:
    return datetime.now(UTC)


def _path_entity(entity_id: str, body_id: Any) -> None:
    check_entity_id(entity_id)
    if body_id is not None and body_id != entity_id:
        raise ApiError(
            400,
            f"the body's id {body_id} differs from the id in the path {entity_id}",
            ngsild_type="BadRequestData",
        )


@router.post(
    "/entities",
    status_code=201,
    summary="Create an entity",
    responses={409: {"description": "AlreadyExists"}},
)
async def create_entity(request: Request) -> Response:
    """Create one entity; 201 with its Location."""
    body = await read_json(request)
    terms = await body_terms(request, body)
    entity = entity_input(body, terms)
    write = CreateEntity(now=_now(), entity=entity)
    assert entity.id is not None
    await apply(
        tenant_store(request, create=True), {entity.id: write}, await caller_access(request)
    )
    if write.error is not None:
        raise write.error
    location = f"/ngsi-ld/v1/entities/{quote(entity.id, safe=':')}"
    return Response(status_code=201, headers={"Location": location})


@router.put("/entities/{entity_id}", status_code=204, summary="Replace an entity")
async def replace_entity(entity_id: str, request: Request) -> Response:
    """Replace all of the entity's attributes (and its type) with the body's."""
    body = await read_json(request)
    terms = await body_terms(request, body)
    _path_entity(entity_id, body.get("id") if isinstance(body, dict) else None)
    entity = entity_input(body, terms, need_id=False, need_type=False)
    write = ReplaceEntity(now=_now(), entity=_with_id(entity, entity_id))
    await apply(tenant_store(request), {entity_id: write}, await caller_access(request))
    return finished(write, terms)


@router.patch("/entities/{entity_id}", status_code=204, summary="Merge into an entity")
async def merge_entity(entity_id: str, request: Request) -> Response:
    """Merge the body into the entity; ``urn:ngsi-ld:null`` deletes what it names."""
    body = await read_json(request)
    terms = await body_terms(request, body)
    _path_entity(entity_id, body.get("id") if isinstance(body, dict) else None)
    entity = entity_input(body, terms, need_id=False, need_type=False, nulls="merge")
    write = MergeEntity(now=_now(), entity=entity, entity_id=entity_id)
    await apply(tenant_store(request), {entity_id: write}, await caller_access(request))
    return finished(write, terms)


@router.delete("/entities/{entity_id}", status_code=204, summary="Delete an entity")
async def delete_entity(entity_id: str, request: Request) -> Response:
    """Delete the entity, its attributes and its history."""
    check_entity_id(entity_id)
    write = DeleteEntity(now=_now(), entity_id=entity_id)
    await apply(tenant_store(request), {entity_id: write}, await caller_access(request))
    return finished(write, core_vocabulary())


@router.post(
    "/entities/{entity_id}/attrs",
    status_code=204,
    summary="Append attributes",
    responses={207: {"description": "UpdateResult: some attributes were not appended"}},
)
async def append_attributes(
    entity_id: str,
    request: Request,
    options: Annotated[str | None, Query(description="noOverwrite")] = None,
) -> Response:
    """Add attributes; existing ones are overwritten unless ``options=noOverwrite``."""
    body = await read_json(request)
    terms = await body_terms(request, body)
    _path_entity(entity_id, body.get("id") if isinstance(body, dict) else None)
    overwrite = "noOverwrite" not in (split_list(options) or [])
    entity = entity_input(body, terms, need_id=False, need_type=False)
    write = AppendAttributes(now=_now(), entity=entity, entity_id=entity_id, overwrite=overwrite)
    await apply(tenant_store(request), {entity_id: write}, await caller_access(request))
    return finished(write, terms)


@router.patch(
    "/entities/{entity_id}/attrs",
    status_code=204,
    summary="Update attributes",
    responses={207: {"description": "UpdateResult: some attributes were not updated"}},
)
async def update_attributes(
    entity_id: str,
    request: Request,
    type: Annotated[
        str | None, Query(description="Update only an entity of these types: A,B A|B A;B ( ).")
    ] = None,
) -> Response:
    """Replace the attributes given and add the others; ``urn:ngsi-ld:null`` deletes one."""
    body = await read_json(request)
    terms = await body_terms(request, body)
    _path_entity(entity_id, body.get("id") if isinstance(body, dict) else None)
    entity = entity_input(body, terms, need_id=False, need_type=False, nulls="delete")
    types = type_expression(type, terms)
    write = UpdateAttributes(now=_now(), entity=entity, entity_id=entity_id, types=types)
    await apply(tenant_store(request), {entity_id: write}, await caller_access(request))
    return finished(write, terms)


@router.patch(
    "/entities/{entity_id}/attrs/{attr_id}",
    status_code=204,
    summary="Partially update an attribute",
)
async def patch_attribute(entity_id: str, attr_id: str, request: Request) -> Response:
    """Replace the given members of one attribute instance (picked by its datasetId)."""
    return await _one_attribute(entity_id, attr_id, request, replace=False)


@router.put(
    "/entities/{entity_id}/attrs/{attr_id}", status_code=204, summary="Replace an attribute"
)
async def replace_attribute(entity_id: str, attr_id: str, request: Request) -> Response:
    """Replace one attribute instance (picked by its datasetId) with the body."""
    return await _one_attribute(entity_id, attr_id, request, replace=True)


async def attribute_body(request: Request, attr_id: str) -> tuple[Vocabulary, str, Any]:
    """A one-attribute request's vocabulary, the attribute's stored name, and the body's
    attribute in stored names (without ``@context``)."""
    body = await read_json(request)
    terms = await body_terms(request, body)
    if not isinstance(body, dict):
        raise ApiError(
            400, "the body must be one attribute as a JSON object", ngsild_type="BadRequestData"
        )
    fragment = {key: value for key, value in body.items() if key != "@context"}
    return terms, terms.to_stored(attr_id), terms.attribute_to_stored(fragment)


async def _one_attribute(entity_id: str, attr_id: str, request: Request, replace: bool) -> Response:
    terms, name, attribute = await attribute_body(request, attr_id)
    check_entity_id(entity_id)
    if name == SCOPE:
        # The scope is a member of the entity, not an attribute (4.18, ETSI TP 055_03_05).
        raise ApiError(
            400,
            "scope is not an attribute: change it by updating, appending or merging the entity",
            ngsild_type="BadRequestData",
        )
    try:
        if replace:
            [instance] = parse_attribute(name, attribute)
        else:
            instance = parse_fragment(name, attribute)
    except InvalidEntityError as error:
        raise ApiError(400, str(error), ngsild_type="BadRequestData") from None
    write = PatchAttribute(
        now=_now(), name=name, instance=instance, entity_id=entity_id, replace=replace
    )
    await apply(tenant_store(request), {entity_id: write}, await caller_access(request))
    return finished(write, terms)


@router.delete(
    "/entities/{entity_id}/attrs/{attr_id}", status_code=204, summary="Delete an attribute"
)
async def delete_attribute(
    entity_id: str,
    attr_id: str,
    request: Request,
    dataset_id: DeletedDataset = None,
    delete_all: DeleteAll = False,
) -> Response:
    """Delete the default instance of an attribute, the one with ``datasetId``, or all."""
    check_entity_id(entity_id)
    check_deleted_dataset(dataset_id)
    terms = await request_terms(request)
    write = DeleteAttribute(
        now=_now(),
        name=terms.to_stored(attr_id),
        dataset_id=dataset_id,
        delete_all=delete_all,
        entity_id=entity_id,
    )
    await apply(tenant_store(request), {entity_id: write}, await caller_access(request))
    return finished(write, terms)


def _with_id(entity: EntityInput, entity_id: str) -> EntityInput:
    return EntityInput(entity_id, entity.type, entity.attributes)
