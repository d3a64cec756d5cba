"""The OpenAPI document as the gateway serves it: how to authenticate on every operation, and
the answers the gateway and the APIs may give besides each operation's own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from fastapi import FastAPI

from stadsnav.api.gatekeeper import UNGATED
from stadsnav.api.problems import PROBLEM_JSON

SECURITY_SCHEMES: Final = {
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "An API key (`snk_…`), from `stadsnav keys create` or `POST /admin/keys`.",
    },
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT or API key",
        "description": "An access token from `/oauth/token` or the city's identity provider, "
        "or an API key.",
    },
    "clientCredentials": {
        "type": "oauth2",
        "description": "An API key's id and text as client id and secret.",
        "flows": {
            "clientCredentials": {
                "tokenUrl": "/oauth/token",
                "scopes": {
                    "read": "read every dataset but personal ones",
                    "write": "write every dataset but personal ones",
                    "admin": "administer keys, usage and audit",
                },
            }
        },
    },
}
_ANY_CALLER: Final[list[dict[str, list[str]]]] = [
    {},
    {"apiKey": []},
    {"bearer": []},
    {"clientCredentials": []},
]
"""Open data needs no key; a key or token opens more."""
_ADMIN: Final = [{"apiKey": []}, {"bearer": []}, {"clientCredentials": ["admin"]}]

PROBLEM: Final = {
    "type": "object",
    "description": "RFC 9457 problem details (NGSI-LD error types on the NGSI-LD API).",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
    "required": ["title", "status", "detail"],
}
_GATE_ANSWERS: Final = {
    "400": "A request the operation cannot take, or over the caller's plan (q terms, geometry).",
    "401": "An API key or token that is not valid (or none where one is needed).",
    "403": "A key without the scope this needs, or a page over the plan's size.",
    "404": "Nothing there that the caller may see.",
    "406": "No representation the Accept header takes.",
    "413": "A body over the caller's plan or the server's limit.",
    "415": "A body of a media type the operation does not take.",
    "429": "A rate limit or quota of the caller's plan is reached; see Retry-After.",
    "431": "Headers over the caller's plan or the server's limit.",
    "503": "Over the plan's timeout, or a store or @context not available now.",
}


def document_gateway(app: FastAPI) -> None:
    """Make ``app.openapi`` add the security schemes and the gateway's answers."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {})
        components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
        components.setdefault("schemas", {})["Problem"] = PROBLEM
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                _secure(path, operation)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _secure(path: str, operation: dict[str, Any]) -> None:
    if path.startswith(UNGATED) or path == "/oauth/token":
        operation["security"] = []
        return
    operation["security"] = _ADMIN if path.startswith("/admin") else _ANY_CALLER
    answers = operation.setdefault("responses", {})
    problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for status, description in _GATE_ANSWERS.items():
        answers.setdefault(status, {"description": description, "content": problem})
