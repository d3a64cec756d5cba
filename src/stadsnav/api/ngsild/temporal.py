"""NGSI-LD temporal retrieval: ``GET /ngsi-ld/v1/temporal/entities/{id}``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from stadsnav.api.deps import RuntimeDep
from stadsnav.api.ngsild.entities import check_entity_id, split_list
from stadsnav.api.ngsild.jsonld import ngsild_response
from stadsnav.api.problems import ApiError
from stadsnav.model.render import render_temporal, render_temporal_values
from stadsnav.model.times import parse_time

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD"])

MAX_LAST_N = 10_000


def time_window(
    timerel: str | None, time_at: str | None, end_time_at: str | None
) -> tuple[datetime | None, datetime | None]:
    """``[from, to)`` from the NGSI-LD temporal query parameters."""
    if timerel is None:
        if time_at is not None or end_time_at is not None:
            raise ApiError(400, "timeAt and endTimeAt need timerel (before, after or between)")
        return None, None
    if time_at is None:
        raise ApiError(400, f"timerel={timerel} needs timeAt")
    start = _time("timeAt", time_at)
    if timerel == "after":
        return start, None
    if timerel == "before":
        return None, start
    if timerel == "between":
        if end_time_at is None:
            raise ApiError(400, "timerel=between needs endTimeAt")
        end = _time("endTimeAt", end_time_at)
        if end <= start:
            raise ApiError(400, "endTimeAt must be after timeAt")
        return start, end
    raise ApiError(400, f"unknown timerel {timerel!r}: use before, after or between")


def _time(name: str, text: str) -> datetime:
    try:
        return parse_time(text)
    except ValueError as error:
        raise ApiError(400, f"{name}: {error}") from None


@router.get("/temporal/entities/{entity_id}", summary="Retrieve the history of one entity")
def retrieve_temporal(
    entity_id: str,
    request: Request,
    runtime: RuntimeDep,
    attrs: Annotated[str | None, Query(description="Attributes, comma-separated.")] = None,
    timerel: Annotated[str | None, Query(description="before, after or between")] = None,
    time_at: Annotated[str | None, Query(alias="timeAt", description="RFC 3339 time")] = None,
    end_time_at: Annotated[
        str | None, Query(alias="endTimeAt", description="RFC 3339 time, with timerel=between")
    ] = None,
    last_n: Annotated[
        int | None, Query(alias="lastN", ge=1, le=MAX_LAST_N, description="Newest n instances")
    ] = None,
    options: Annotated[str | None, Query(description="temporalValues")] = None,
    format: Annotated[str | None, Query(description="normalized or temporalValues")] = None,
) -> Response:
    """Every stored instance of the entity's observed attributes in the window."""
    check_entity_id(entity_id)
    opts = set(split_list(options) or [])
    unknown = opts - {"temporalValues", "normalized"}
    if unknown:
        raise ApiError(400, f"unknown options: {', '.join(sorted(unknown))}")
    if format not in (None, "normalized", "temporalValues"):
        raise ApiError(400, f"unknown format {format!r}: use normalized or temporalValues")
    values_only = "temporalValues" in opts or format == "temporalValues"
    start, end = time_window(timerel, time_at, end_time_at)
    entity = runtime.store.get_entity(entity_id)
    if entity is None:
        raise ApiError(404, f"no entity with id {entity_id}")
    history = runtime.store.history(entity_id, split_list(attrs), start, end, last_n)
    render = render_temporal_values if values_only else render_temporal
    body = render(entity.id, entity.type, history)
    return ngsild_response(request, body)
