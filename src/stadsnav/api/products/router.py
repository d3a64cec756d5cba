"""Routes of one data product: list, one item, its time series and its weekly profile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from stadsnav.api.deps import RuntimeDep, read_store
from stadsnav.api.gateway import DATASET, caller_access, refused
from stadsnav.api.problems import ApiError
from stadsnav.api.products.filters import filter_parameters, parse_filters
from stadsnav.api.products.formats import choose_format, render_items, render_one, render_rows
from stadsnav.api.products.openapi import list_responses, one_responses, profile_responses
from stadsnav.api.products.profile import DEFAULT_WEEKS, MAX_WEEKS
from stadsnav.api.products.view import Near, ProductView
from stadsnav.model.render import format_time
from stadsnav.model.times import parse_time
from stadsnav.store.base import ContextStore, StoredEntity
from stadsnav.workspace import Product, Workspace

FormatParam = Annotated[
    str | None, Query(description="json (default), geojson or csv; or use Accept")
]
DEFAULT_HISTORY = timedelta(days=7)
MAX_HISTORY_ROWS = 10_000


def parse_near(near: str | None, radius: float | None) -> Near | None:
    """``near=lon,lat`` and ``radius`` (metres) as a filter."""
    if near is None:
        if radius is not None:
            raise ApiError(400, "radius needs near=lon,lat")
        return None
    try:
        lon_text, lat_text = near.split(",")
        lon, lat = float(lon_text), float(lat_text)
    except ValueError:
        raise ApiError(
            400, f"near={near!r}: expected longitude,latitude like 20.95,64.75"
        ) from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ApiError(400, f"near={near!r}: longitude must be within ±180 and latitude within ±90")
    if radius is not None and radius <= 0:
        raise ApiError(400, "radius must be positive (metres)")
    return Near(lon, lat, radius)


def product_router(product: Product, workspace: Workspace) -> APIRouter:
    """The routes of one product under ``/api/v1/{path}``."""
    view = ProductView(product, workspace)
    dataset = workspace.datasets[product.dataset]
    timezone = workspace.settings.workspace.timezone
    types = " or ".join(product.entity_types)

    async def readable(request: Request) -> None:
        """Let through only callers that may read every type the product shows."""
        if not (await caller_access(request)).can_read(view.types):
            raise refused(request, f"reading {product.path}")
        request.scope.setdefault("state", {})[DATASET] = product.dataset

    router = APIRouter(
        prefix=f"/api/v1/{product.path}",
        tags=[product.title],
        dependencies=[Depends(readable)],
    )

    def meta() -> dict[str, Any]:
        body: dict[str, Any] = {
            "product": product.id,
            "title": product.title,
            "licence": dataset.licence,
            "generatedAt": format_time(datetime.now(UTC)),
        }
        if view.freshness is not None:
            body["staleAfterSeconds"] = int(view.freshness.total_seconds())
        if view.units:
            body["units"] = view.units
        return body

    def found(store: ContextStore, item_id: str) -> StoredEntity:
        entity = view.find(store, item_id)
        if entity is None:
            raise ApiError(404, f"no {types} with id {item_id!r} in {product.path}")
        return entity

    @router.get(
        "",
        summary=f"All {product.title.lower()}",
        description=product.description,
        responses=list_responses(view),
        openapi_extra={"parameters": filter_parameters(product.filters)},
    )
    async def list_items(
        request: Request,
        runtime: RuntimeDep,
        near: Annotated[str | None, Query(description="longitude,latitude: nearest first")] = None,
        radius: Annotated[float | None, Query(description="metres around `near`")] = None,
        format: FormatParam = None,
    ) -> Response:
        fmt = choose_format(request, format)
        filters = parse_filters(product.filters, request.query_params)
        where = parse_near(near, radius)
        # Items come from the cached snapshot: on SQLite cheaper than a hop to a worker thread.
        items = await read_store(runtime.store, lambda: view.items(runtime.store, where, filters))
        return render_items(items, fmt, meta())

    @router.get(
        "/{item_id}", summary=f"One of the {product.title.lower()}", responses=one_responses(view)
    )
    def get_item(
        item_id: str, request: Request, runtime: RuntimeDep, format: FormatParam = None
    ) -> Response:
        fmt = choose_format(request, format)
        entity = found(runtime.store, item_id)
        return render_one(view.item(runtime.store, entity), fmt, meta())

    observation = product.observation
    if observation is not None and observation.history:

        @router.get(
            f"/{{item_id}}/{observation.history}",
            summary=f"Time series of {', '.join(observation.values)}",
        )
        def get_history(
            item_id: str,
            request: Request,
            runtime: RuntimeDep,
            from_: Annotated[
                str | None, Query(alias="from", description="RFC 3339; default 7 days ago")
            ] = None,
            to: Annotated[str | None, Query(description="RFC 3339; default now")] = None,
            format: Annotated[str | None, Query(description="json (default) or csv")] = None,
        ) -> Response:
            fmt = choose_format(request, format)
            entity = found(runtime.store, item_id)
            end = _time("to", to) if to else view.clock()
            start = _time("from", from_) if from_ else end - DEFAULT_HISTORY
            if start >= end:
                raise ApiError(400, "from must be before to")
            rows = view.history(runtime.store, entity, start, end, MAX_HISTORY_ROWS)
            body = meta() | {"id": entity.id, "from": format_time(start), "to": format_time(end)}
            return render_rows(rows, fmt, body, "a time series")

    if observation is not None and observation.profile:

        @router.get(
            f"/{{item_id}}/{observation.profile}",
            summary=f"Typical {', '.join(observation.values)} by weekday and hour",
            description=(
                f"The mean of each observed value per ISO weekday (1 = Monday) and hour in "
                f"{timezone} time, from the history of the last `weeks` weeks. Hours without "
                "observations are left out."
            ),
            responses=profile_responses(view),
        )
        def get_profile(
            item_id: str,
            request: Request,
            runtime: RuntimeDep,
            weeks: Annotated[
                int,
                Query(ge=1, le=MAX_WEEKS, description="how many weeks of history to average"),
            ] = DEFAULT_WEEKS,
            format: Annotated[str | None, Query(description="json (default) or csv")] = None,
        ) -> Response:
            fmt = choose_format(request, format)
            entity = found(runtime.store, item_id)
            end = view.clock()
            start = end - timedelta(weeks=weeks)
            rows = view.profile(runtime.store, entity, start, end, timezone)
            body = meta() | {
                "id": entity.id,
                "from": format_time(start),
                "to": format_time(end),
                "weeks": weeks,
                "timezone": timezone,
            }
            return render_rows(rows, fmt, body, "a profile")

    return router


def _time(name: str, text: str) -> datetime:
    try:
        return parse_time(text)
    except ValueError as error:
        raise ApiError(400, f"{name}: {error}") from None
