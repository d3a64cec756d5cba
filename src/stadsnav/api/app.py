"""Build the ASGI application for a runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from stadsnav import __version__
from stadsnav.api import admin, oauth, ops, portal
from stadsnav.api.gatekeeper import Gatekeeper
from stadsnav.api.ngsild import (
    batch,
    discovery,
    entities,
    jsonld_contexts,
    provision,
    subscriptions,
    temporal,
)
from stadsnav.api.ngsild.contexts import ContextResolver
from stadsnav.api.ngsild.tenancy import EchoTenant
from stadsnav.api.openapi import document_gateway
from stadsnav.api.plain import FastLane, PlainRoute
from stadsnav.api.problems import install_problem_handlers
from stadsnav.api.products.router import product_router
from stadsnav.runtime import Runtime

DESCRIPTION = """Open data and context information of the municipality.

* `/api/v1/...` — data products: simple JSON, GeoJSON and CSV views for apps and analysts.
* `/ngsi-ld/v1/...` — the ETSI NGSI-LD context API (GS CIM 009).
* `/ingest/...` — where network servers deliver sensor uplinks.
"""


def create_app(runtime: Runtime) -> FastAPI:
    """The app serving one runtime; starting the app starts the runtime."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        gatekeeper.start()
        try:
            yield
        finally:
            await gatekeeper.stop()
            await runtime.stop()

    # Swagger UI and ReDoc assets come from the fastapi-offline package, never from a CDN.
    app = FastAPIOffline(
        title=f"Stadsnav — {runtime.workspace.settings.workspace.name}",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # Stadsnav exports Prometheus metrics; FastAPI's OpenTelemetry hooks cost every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.runtime = runtime
    app.state.accesses = {}  # the access of each grant of scopes, worked out once (gateway.py)
    app.state.type_datasets = {
        name: dataset.id
        for dataset in reversed(runtime.workspace.datasets.values())
        for name in dataset.entity_types
    }
    app.state.ldcontexts = ContextResolver.of(runtime.workspace)
    app.state.temporal_instance_limit = runtime.workspace.settings.ngsild.temporal_instances
    install_problem_handlers(app)
    routers = [ops.router, oauth.router, admin.router, entities.router, temporal.router]
    routers += [jsonld_contexts.router, portal.router]
    routers += [provision.router, batch.router, discovery.router]
    routers += [subscriptions.router]
    routers += [product_router(p, runtime.workspace) for p in runtime.workspace.products.values()]
    routers += [r for r in (connector.router() for connector in runtime.connectors) if r]
    for router in routers:
        app.include_router(router)
    document_gateway(app)
    routes = [route for router in routers for route in router.routes]
    lane = [route for route in routes if isinstance(route, PlainRoute)]
    gatekeeper = app.state.gatekeeper = Gatekeeper(runtime, routes)
    _serve_lane_first(app, lane, gatekeeper)
    return app


def _serve_lane_first(app: FastAPI, lane: list[PlainRoute], gatekeeper: Gatekeeper) -> None:
    """Put the fast lane in front of Starlette's whole middleware stack, behind the gate.

    The error, exception and body-limit layers each wrap every request and every ``send``;
    the lane answers its errors itself, so its requests skip them. The gate comes first: every
    request, the lane's too, is authenticated, limited and counted.
    """
    build = app.build_middleware_stack
    # Outside the lane too: the lane's answers must also name the tenant they are for.
    app.build_middleware_stack = lambda: gatekeeper.wrapping(EchoTenant(FastLane(build(), lane)))  # type: ignore[method-assign]
