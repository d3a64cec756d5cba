"""Errors as RFC 9457 ProblemDetails, with the NGSI-LD error types on the NGSI-LD API."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

NGSILD_ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"
PROBLEM_JSON = "application/problem+json"

FORBIDDEN = "Forbidden"
"""The error type of a 403 on the NGSI-LD API, which names none for it."""
_NGSILD_TYPES = {
    400: "BadRequestData",
    401: "Unauthorized",
    403: FORBIDDEN,
    404: "ResourceNotFound",
    405: "OperationNotSupported",
    406: "NotAcceptable",
    409: "AlreadyExists",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "OperationNotSupported",
    500: "InternalError",
    503: "InternalError",
}
_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Already exists",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    431: "Request header fields too large",
    500: "Internal error",
    503: "Service unavailable",
}


class ApiError(Exception):
    """An error answer; raise it from any route."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        ngsild_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.ngsild_type = ngsild_type
        self.headers = headers or {}


def ngsild_problem(error: ApiError) -> dict[str, Any]:
    """An NGSI-LD ProblemDetails object for an error, as batch results list them."""
    kind = error.ngsild_type or _NGSILD_TYPES.get(error.status, "BadRequestData")
    return {
        "type": NGSILD_ERRORS + kind,
        "title": _TITLES.get(error.status, "Error"),
        "status": error.status,
        "detail": error.detail,
    }


def problem_response(
    request: Request,
    status: int,
    detail: str,
    ngsild_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Render a ProblemDetails body; NGSI-LD paths get the NGSI-LD error type URIs."""
    body: dict[str, Any] = {
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    kind = ngsild_type or _NGSILD_TYPES.get(status)
    # NGSI-LD names no error for a status such as 429: that answer is a plain RFC 9457 one.
    if request.url.path.startswith("/ngsi-ld/") and kind is not None:
        body["type"] = NGSILD_ERRORS + kind
    else:
        body["type"] = "about:blank"
    body["instance"] = request.url.path
    return Response(
        orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error on every route a ProblemDetails answer."""

    async def on_problem(request: Request, error: Exception) -> Response:
        assert isinstance(error, ApiError)
        return problem_response(
            request, error.status, error.detail, error.ngsild_type, error.headers
        )

    async def on_http(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        path = request.url.path
        if error.status_code in (404, 405) and path.startswith("/ngsi-ld/") and "//" in path:
            # No route has an empty segment: an id or a name was left out (ETSI TP 011_02_01).
            return problem_response(
                request,
                400,
                f"the path {path} has an empty segment where an id or a name belongs",
                "BadRequestData",
            )
        return problem_response(
            request, error.status_code, str(error.detail), headers=dict(error.headers or {})
        )

    async def on_validation(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        return problem_response(request, 400, details, "BadRequestData")

    async def on_unexpected(request: Request, error: Exception) -> Response:
        return problem_response(request, 500, "an unexpected error occurred; it has been logged")

    app.add_exception_handler(ApiError, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(Exception, on_unexpected)
