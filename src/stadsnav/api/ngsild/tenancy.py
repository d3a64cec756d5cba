"""Multi-tenancy: the ``NGSILD-Tenant`` header picks an isolated store (ETSI GS CIM 009, 6.3.14)."""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stadsnav.api.problems import ApiError
from stadsnav.store.base import ContextStore

TENANT_HEADER = "ngsild-tenant"


def tenant_store(request: Request, *, create: bool = False) -> ContextStore:
    """The store of the request's tenant: the default store without the header.

    ``create`` (for requests that create entities or subscriptions) makes a new tenant; any
    other request naming an unknown tenant gets 404 NonexistentTenant.
    """
    store: ContextStore = request.app.state.runtime.store
    tenant = request.headers.get(TENANT_HEADER)
    if tenant is None or tenant == "":
        return store
    try:
        found = store.for_tenant(tenant, create)
    except ValueError as error:
        raise ApiError(400, f"NGSILD-Tenant: {error}", ngsild_type="BadRequestData") from None
    if found is None:
        raise ApiError(404, f"there is no tenant {tenant!r}", ngsild_type="NonexistentTenant")
    return found


class EchoTenant:
    """ASGI middleware: NGSI-LD answers carry the request's ``NGSILD-Tenant`` header back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the header to the response of an NGSI-LD request that named a tenant."""
        tenant = None
        if scope["type"] == "http" and scope["path"].startswith("/ngsi-ld/"):
            tenant = Headers(scope=scope).get(TENANT_HEADER)
        if not tenant:
            await self.app(scope, receive, send)
            return

        async def echo(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["NGSILD-Tenant"] = tenant
            await send(message)

        await self.app(scope, receive, echo)
