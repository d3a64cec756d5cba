"""NGSI-LD batch operations: ``/ngsi-ld/v1/entityOperations/{create,upsert,update,merge,delete}``.

Every entity of a batch succeeds or fails on its own (GS CIM 009, 5.6.7-5.6.10, 5.6.20); the
answer lists the ids that succeeded and a ProblemDetails per failure. The writes of one batch
share one store transaction, so a batch costs one commit, not one per entity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from stadsnav.api.gateway import caller_access, writer
from stadsnav.api.ngsild.entities import split_list
from stadsnav.api.ngsild.jsonld import (
    JSON,
    JSON_LD,
    body_terms,
    content_media_type,
    context_terms,
    read_json,
)
from stadsnav.api.ngsild.provision import apply, entity_input
from stadsnav.api.ngsild.routes import ngsild_route
from stadsnav.api.ngsild.tenancy import tenant_store
from stadsnav.api.ngsild.writes import (
    AppendAttributes,
    CreateEntity,
    DeleteEntity,
    MergeEntity,
    ReplaceEntity,
    Write,
)
from stadsnav.api.problems import ApiError, ngsild_problem
from stadsnav.model.entity_input import EntityInput, is_uri
from stadsnav.model.jsonld import Vocabulary

router = APIRouter(
    prefix="/ngsi-ld/v1/entityOperations",
    tags=["NGSI-LD"],
    route_class=ngsild_route(),
    dependencies=[Depends(writer)],
)

MAX_BATCH = 1000
"""Entities per batch request; larger batches are refused so one request cannot hold the
store's write lock for long."""

_RESULT: dict[int | str, dict[str, Any]] = {
    207: {"description": "BatchOperationResult: some entities failed"}
}
MakeWrite = Callable[[EntityInput, datetime], Write]


class _Batch:
    """Per-entity writes and refusals of one batch request, in the request's order."""

    def __init__(self) -> None:
        self.entries: list[tuple[Any, Write | ApiError]] = []

    def add(self, entity_id: Any, write: Write | ApiError) -> None:
        """The write for one entity, or why it was refused before reaching the store."""
        self.entries.append((entity_id, write))

    @property
    def writes(self) -> list[tuple[str, Write]]:
        """The entities that reach the store, with their writes."""
        return [(i, write) for i, write in self.entries if isinstance(write, Write)]

    @property
    def errors(self) -> list[dict[str, Any]]:
        """A ProblemDetails per entity that failed, by its id."""
        return [
            {"entityId": entity_id, "error": ngsild_problem(error)}
            for entity_id, error in ((i, _error_of(entry)) for i, entry in self.entries)
            if error is not None
        ]

    @property
    def succeeded(self) -> list[str]:
        """The ids of the entities written in full."""
        return [i for i, write in self.writes if _error_of(write) is None]

    async def run(self, request: Request, create: bool) -> None:
        """Apply the writes; an id given twice goes into a later transaction, so in order."""
        store = tenant_store(request, create=create)
        access = await caller_access(request)
        pending = self.writes
        while pending:
            round_: dict[str, Write] = {}
            later: list[tuple[str, Write]] = []
            for entity_id, write in pending:
                if entity_id in round_:
                    later.append((entity_id, write))
                else:
                    round_[entity_id] = write
            await apply(store, round_, access)
            pending = later

    def result(self) -> Response:
        """204 when every entity succeeded, else 207 with the BatchOperationResult."""
        errors = self.errors
        if not errors:
            return Response(status_code=204)
        body = {"success": self.succeeded, "errors": errors}
        return Response(orjson.dumps(body), status_code=207, media_type=JSON)


def _error_of(entry: Write | ApiError) -> ApiError | None:
    """Why the entity failed; an entity some of whose attributes were not updated (noOverwrite)
    failed in part (5.6.9, ETSI TP 005_02_01)."""
    if isinstance(entry, ApiError):
        return entry
    if entry.error is None and entry.not_updated:
        reasons = "; ".join(f"{name}: {reason}" for name, reason in entry.not_updated)
        return ApiError(400, f"attributes not updated: {reasons}", ngsild_type="BadRequestData")
    return entry.error


async def _items(request: Request) -> list[Any]:
    body = await read_json(request)
    if not isinstance(body, list):
        raise ApiError(400, "a batch body must be a JSON array", ngsild_type="BadRequestData")
    if not body:
        raise ApiError(400, "the batch is empty", ngsild_type="BadRequestData")
    if any(item is None for item in body):
        # A null item fails the whole request, not just its entry (5.6.7.4).
        raise ApiError(400, "a batch cannot hold null items", ngsild_type="BadRequestData")
    if len(body) > MAX_BATCH:
        raise ApiError(413, f"a batch holds at most {MAX_BATCH} entities; this one has {len(body)}")
    return body


async def _entities(
    request: Request, make: MakeWrite, *, need_type: bool = True, merge: bool = False
) -> _Batch:
    """Check each entity of the body in its own @context, and build its write."""
    items = await _items(request)
    ld = content_media_type(request) == JSON_LD
    shared = await body_terms(request, items)
    vocabularies: dict[bytes, Vocabulary] = {}
    batch = _Batch()
    now = datetime.now(UTC)
    for item in items:
        entity_id = item.get("id") if isinstance(item, dict) else None
        try:
            terms = shared
            if ld:
                terms = await _own_terms(request, item, vocabularies)
            elif isinstance(item, dict) and "@context" in item:
                raise ApiError(
                    400,
                    "an entity with @context must be sent as application/ld+json",
                    ngsild_type="BadRequestData",
                )
            entity = entity_input(
                item, terms, need_type=need_type, nulls="merge" if merge else "refused"
            )
        except ApiError as error:
            batch.add(entity_id, error)
            continue
        batch.add(entity.id, make(entity, now))
    return batch


async def _own_terms(request: Request, item: Any, known: dict[bytes, Vocabulary]) -> Vocabulary:
    if not isinstance(item, dict) or "@context" not in item:
        raise ApiError(
            400,
            "with application/ld+json every entity of a batch needs its @context",
            ngsild_type="BadRequestData",
        )
    key = orjson.dumps(item["@context"])
    terms = known.get(key)
    if terms is None:
        terms = known[key] = await context_terms(request, item["@context"])
    return terms


@router.post("/create", status_code=201, summary="Create entities", responses=_RESULT)
async def batch_create(request: Request) -> Response:
    """Create each entity: 201 with their ids, or 207 when some failed."""
    batch = await _entities(request, lambda entity, now: CreateEntity(now=now, entity=entity))
    await batch.run(request, create=True)
    if batch.errors:
        return batch.result()
    return Response(orjson.dumps(batch.succeeded), status_code=201, media_type=JSON)


@router.post("/upsert", status_code=201, summary="Create or update entities", responses=_RESULT)
async def batch_upsert(
    request: Request,
    options: Annotated[str | None, Query(description="replace (default) or update")] = None,
) -> Response:
    """Create missing entities; replace existing ones, or with ``options=update`` append."""
    mode = _option(options, ("replace", "update"), "replace")

    def make(entity: EntityInput, now: datetime) -> Write:
        if mode == "update":
            return AppendAttributes(now=now, entity=entity, entity_id=str(entity.id), create=True)
        return ReplaceEntity(now=now, entity=entity, upsert=True)

    batch = await _entities(request, make)
    await batch.run(request, create=True)
    created = [i for i, write in batch.writes if write.created]
    if created and not batch.errors:
        return Response(orjson.dumps(created), status_code=201, media_type=JSON)
    return batch.result()


@router.post("/update", status_code=204, summary="Update entities", responses=_RESULT)
async def batch_update(
    request: Request,
    options: Annotated[str | None, Query(description="noOverwrite")] = None,
) -> Response:
    """Append attributes to existing entities; ``options=noOverwrite`` keeps existing ones."""
    overwrite = _option(options, ("noOverwrite",), "") != "noOverwrite"
    batch = await _entities(
        request,
        lambda entity, now: AppendAttributes(
            now=now, entity=entity, entity_id=str(entity.id), overwrite=overwrite
        ),
        need_type=False,
    )
    await batch.run(request, create=False)
    return batch.result()


@router.post("/merge", status_code=204, summary="Merge into entities", responses=_RESULT)
async def batch_merge(request: Request) -> Response:
    """Merge each fragment into its entity, as PATCH /entities/{id} does."""
    batch = await _entities(
        request,
        lambda entity, now: MergeEntity(now=now, entity=entity, entity_id=str(entity.id)),
        need_type=False,
        merge=True,
    )
    await batch.run(request, create=False)
    return batch.result()


@router.post("/delete", status_code=204, summary="Delete entities", responses=_RESULT)
async def batch_delete(request: Request) -> Response:
    """Delete each entity whose id the body lists."""
    items = await _items(request)
    batch = _Batch()
    now = datetime.now(UTC)
    for entity_id in items:
        if not is_uri(entity_id):
            batch.add(entity_id, ApiError(400, f"{entity_id!r} is not an entity id (a URI)"))
        else:
            batch.add(entity_id, DeleteEntity(now=now, entity_id=entity_id))
    await batch.run(request, create=False)
    return batch.result()


def _option(options: str | None, allowed: Sequence[str], default: str) -> str:
    given = split_list(options) or []
    unknown = [option for option in given if option not in allowed]
    if unknown:
        raise ApiError(
            400,
            f"unknown options {', '.join(unknown)}: use {' or '.join(allowed)}",
            ngsild_type="BadRequestData",
        )
    return given[-1] if given else default
