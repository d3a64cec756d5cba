"""Operations endpoints: health and Prometheus metrics."""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import JSONResponse, Response

from stadsnav.api.deps import RuntimeDep

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Is the platform able to store and serve data?")
def healthz(runtime: RuntimeDep) -> Response:
    """200 when the store answers; 503 with the reason otherwise."""
    body: dict[str, Any] = {"status": "ok", "workspace": runtime.workspace.settings.workspace.name}
    body["inbox"] = {"waiting": runtime.inbox.waiting}
    refusal = runtime.inbox.refusal()
    try:
        if refusal is not None and refusal.reason != "full":
            # The store already refuses or hangs: pinging it would hang this answer too.
            raise refusal
        runtime.store.ping()
        pending, _ = runtime.store.inbox_stats()
        body["store"] = {
            "status": "ok",
            "schema": runtime.store.schema_version(),
            "inboxPending": pending,
        }
    except Exception as error:
        body["status"] = "failing"
        body["store"] = {"status": "failing", "error": str(error)}
    body["connectors"] = [connector.status() for connector in runtime.connectors]
    return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)


@router.get("/metrics", summary="Prometheus metrics")
def metrics(runtime: RuntimeDep) -> Response:
    """Counters of messages in, stored and dead-lettered; inbox depth and pipeline lag."""
    # A failing store must not hide the other metrics.
    with contextlib.suppress(Exception):
        runtime.runner.update_gauges()
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)
