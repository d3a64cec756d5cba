"""Preconditions every NGSI-LD operation checks before it reads the request (GS CIM 009, 6.3)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.responses import Response

from stadsnav.api.plain import PlainRoute
from stadsnav.api.problems import ApiError

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
BODY_METHODS = frozenset({"POST", "PATCH", "PUT"})


def ngsild_route(route_class: type[APIRoute] = APIRoute) -> type[APIRoute]:
    """``route_class`` whose handler first checks the preconditions of 6.3.4 and 6.3.20.

    A POST, PATCH or PUT without ``Content-Length`` (a chunked body) gets just a 411, without a
    body, before anything else is looked at; an undefined query parameter gets 400
    InvalidRequest before the body is read, so a request with both a bad parameter and a bad
    body learns of the parameter.
    """

    class StrictRoute(route_class):  # type: ignore[valid-type,misc]
        def get_route_handler(self) -> Handler:
            handler: Handler = super().get_route_handler()
            known = sorted(_query_names(self.dependant))

            async def checked(request: Request) -> Response:
                if request.method in BODY_METHODS and "content-length" not in request.headers:
                    return Response(status_code=411)
                _reject_unknown(request, known)
                return await handler(request)

            if isinstance(self, PlainRoute):
                self.plain_handler = checked
            return checked

    return StrictRoute


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _reject_unknown(request: Request, known: list[str]) -> None:
    """400 InvalidRequest naming each query parameter that is not in ``known``."""
    unknown = sorted(set(request.query_params) - set(known))
    if unknown:
        raise ApiError(
            400,
            f"unknown query parameters: {', '.join(unknown)}; "
            + (
                f"this operation takes {', '.join(known)}" if known else "this operation takes none"
            ),
            ngsild_type="InvalidRequest",
        )
