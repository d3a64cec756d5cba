"""Hot endpoints: documented by FastAPI, served without its dependency solving and routing."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any, ClassVar

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from stadsnav.api.problems import ApiError, problem_response

Reader = Callable[[Request], Any]
Shortcut = Callable[[Scope, Receive, Send], Awaitable[bool]]
"""Answers a request itself and returns True, or returns False having neither received nor sent."""


class PlainRoute(APIRoute):
    """An ``APIRoute`` whose async endpoint gets its arguments straight from the request.

    FastAPI's per-request parameter validation costs more than a SQLite point read. This class
    supports only what needs no validation: the ``Request``, ``str`` path parameters, optional
    ``str`` query parameters and dependencies that take just the request. The OpenAPI document
    is generated from the endpoint's signature as for any other route.
    """

    plain_handler: Callable[[Request], Coroutine[Any, Any, Response]]
    shortcuts: ClassVar[tuple[Shortcut, ...]] = ()

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """A handler that calls the endpoint with arguments read directly from the request."""
        endpoint = self.endpoint
        if not inspect.iscoroutinefunction(endpoint):
            raise TypeError(f"{self.path}: a PlainRoute endpoint must be async")
        readers = _readers(self.dependant, self.path)
        awaited = [sub.name for sub in self.dependant.dependencies if _is_async(sub.call)]

        async def handler(request: Request) -> Response:
            arguments = {name: read(request) for name, read in readers.items()}
            for name in awaited:
                arguments[str(name)] = await arguments[str(name)]
            response: Response = await endpoint(**arguments)
            return response

        self.plain_handler = handler
        return handler


class FastLane:
    """ASGI middleware that serves ``PlainRoute``s before FastAPI's router is consulted.

    Matching a path against every route and the per-route exception and exit-stack layers cost
    more than the hot endpoints themselves. A lane route shadows any other route with the same
    path and method; errors become the same ProblemDetails answers as on the normal path.
    """

    def __init__(self, app: ASGIApp, routes: Sequence[PlainRoute]) -> None:
        self.app = app
        self.routes = [(route, frozenset(route.methods or ())) for route in routes]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a matching lane route, or pass the request on."""
        if scope["type"] == "http":
            path = scope["path"].removeprefix(scope.get("root_path", ""))
            for route, methods in self.routes:
                match = route.path_regex.match(path)
                if match is not None and scope["method"] in methods:
                    await _serve(route, match.groupdict(), scope, receive, send)
                    return
        await self.app(scope, receive, send)


async def _serve(
    route: PlainRoute, params: dict[str, str], scope: Scope, receive: Receive, send: Send
) -> None:
    converters = route.param_convertors
    scope["route"] = route
    scope["path_params"] = {key: converters[key].convert(value) for key, value in params.items()}
    try:
        for shortcut in route.shortcuts:
            if await shortcut(scope, receive, send):
                return
        response = await route.plain_handler(Request(scope, receive, send))
    except ApiError as error:
        response = problem_response(
            Request(scope, receive, send),
            error.status,
            error.detail,
            error.ngsild_type,
            error.headers,
        )
    except Exception:
        # The lane runs outside Starlette's ServerErrorMiddleware, so it answers as that would:
        # a 500 problem if nothing was sent yet, and the error goes on to be logged.
        await _answer_unexpected(scope, receive, send)
        raise
    await response(scope, receive, send)


async def _answer_unexpected(scope: Scope, receive: Receive, send: Send) -> None:
    request = Request(scope, receive, send)
    response = problem_response(request, 500, "an unexpected error occurred; it has been logged")
    try:
        await response(scope, receive, send)
    except RuntimeError:
        return  # the response had already started; the server closes the connection


def _readers(dependant: Dependant, path: str) -> dict[str, Reader]:
    readers: dict[str, Reader] = {}
    if dependant.request_param_name is not None:
        readers[dependant.request_param_name] = _request
    for param in dependant.path_params:
        readers[param.name] = _path_reader(param.alias)
    for param in dependant.query_params:
        if param.field_info.annotation not in (str, str | None):
            raise TypeError(f"{path}: query parameter {param.name} is not a plain string")
        readers[param.name] = _query_reader(param.alias, param.field_info.default)
    for sub in dependant.dependencies:
        readers[str(sub.name)] = _dependency_reader(sub, path)
    other = dependant.header_params or dependant.cookie_params or dependant.body_params
    if other:
        raise TypeError(f"{path}: a PlainRoute reads no headers, cookies or body parameters")
    return readers


def _request(request: Request) -> Request:
    return request


def _path_reader(key: str) -> Reader:
    return lambda request: request.path_params[key]


def _query_reader(key: str, default: Any) -> Reader:
    return lambda request: request.query_params.get(key, default)


def _dependency_reader(sub: Dependant, path: str) -> Reader:
    call = sub.call
    simple = sub.request_param_name is not None and not (
        sub.dependencies or sub.path_params or sub.query_params or sub.header_params
    )
    if call is None or not simple:
        raise TypeError(f"{path}: a PlainRoute dependency must be a function of the request alone")
    return lambda request: call(request)


def _is_async(call: Callable[..., Any] | None) -> bool:
    return inspect.iscoroutinefunction(call)


def with_shortcut(shortcut: Shortcut) -> type[PlainRoute]:
    """A ``PlainRoute`` class whose requests first go to ``shortcut``, a bare ASGI callable.

    The route's endpoint still documents the operation and answers whatever the shortcut
    declines; ``ApiError``s from either become ProblemDetails answers.
    """
    return type("ShortcutRoute", (PlainRoute,), {"shortcuts": (shortcut,)})


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a header (``name`` in lower case), read straight from the scope."""
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


async def send_response(
    send: Send, status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]]
) -> None:
    """Send a complete response without building a Starlette ``Response``."""
    start = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": start})
    await send({"type": "http.response.body", "body": body})
