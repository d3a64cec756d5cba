"""Webhook connector: network servers POST uplinks to ``/ingest/{integration}``."""

from __future__ import annotations

import hmac
import os
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from stadsnav.api.plain import PlainRoute
from stadsnav.api.problems import ApiError
from stadsnav.connectors.base import Connector, register
from stadsnav.connectors.envelopes import EnvelopeError, parse_uplink
from stadsnav.pipeline.inbox import InboxFullError, InboxUnavailableError
from stadsnav.store.base import NewInboxMessage
from stadsnav.workspace.models import WebhookSource

_ACCEPTED = b'{"status":"accepted"}'
_DUPLICATE = b'{"status":"duplicate"}'
_IGNORED = b'{"status":"ignored","reason":"not an uplink event"}'
_JSON_TYPES = ("application/json", "application/ld+json", "text/json")

_BODY_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A The Things Stack v3 uplink message or a ChirpStack v4 `up` event.",
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
    "responses": {
        "202": {"description": "Committed to the inbox (or already held: `duplicate`)."},
        "400": {"description": "Not JSON, or not an uplink envelope (ProblemDetails)."},
        "401": {"description": "Missing or wrong bearer token."},
        "413": {"description": "Body larger than `server.max_body_bytes`."},
        "415": {"description": "Content-Type is not JSON."},
        "503": {"description": "The inbox cannot take it now; retry after `Retry-After`."},
    },
}


@register
class WebhookConnector(Connector):
    """Accepts uplinks over HTTP; answers 202 only once the message is committed."""

    type = "webhook"

    @property
    def path(self) -> str:
        """Where this integration's uplinks are POSTed."""
        return f"/ingest/{self.integration.id}"

    def router(self) -> APIRouter:
        """One POST route for this integration."""
        router = APIRouter(tags=["ingest"])
        router.add_api_route(
            self.path,
            self.receive,
            methods=["POST"],
            status_code=202,
            summary=f"Receive uplinks for {self.integration.title}",
            openapi_extra=_BODY_SCHEMA,
            route_class_override=PlainRoute,
        )
        return router

    async def receive(self, request: Request) -> Response:
        """Check, commit and acknowledge one uplink."""
        source = self.integration.source
        assert isinstance(source, WebhookSource)
        self._authorize(request, source)
        body = await self._read_body(request)
        if request.scope["query_string"] and request.query_params.get("event", "up") != "up":
            return Response(_IGNORED, status_code=202, media_type="application/json")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in _JSON_TYPES:
            self._reject("content_type")
            raise ApiError(
                415, f"Content-Type must be application/json, not {content_type or 'missing'!r}"
            )
        try:
            uplink = parse_uplink(body, source.format)
        except EnvelopeError as error:
            self._reject("envelope")
            raise ApiError(400, str(error)) from None
        message = NewInboxMessage(
            self.integration.id,
            uplink.message_id,
            datetime.now(UTC),
            content_type,
            body,
            self.path,
        )
        try:
            new = await self.inbox.submit(message)
        except (InboxFullError, InboxUnavailableError) as error:
            raise ApiError(
                503, f"not accepted, retry later: {error}", headers={"Retry-After": "5"}
            ) from None
        if not new:
            self.metrics.messages_duplicate.labels(self.integration.id).inc()
            return Response(_DUPLICATE, status_code=202, media_type="application/json")
        self.metrics.messages_in.labels(self.integration.id).inc()
        return Response(_ACCEPTED, status_code=202, media_type="application/json")

    def _authorize(self, request: Request, source: WebhookSource) -> None:
        if source.token_env is None:
            return
        expected = os.environ.get(source.token_env, "")
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            self._reject("unauthorized")
            raise ApiError(
                401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
            )

    async def _read_body(self, request: Request) -> bytes:
        limit = self.workspace.settings.server.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            self._reject("too_large")
            raise ApiError(413, f"body of {declared} bytes is over the limit of {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                self._reject("too_large")
                raise ApiError(413, f"body is over the limit of {limit} bytes")
            chunks.append(chunk)
        if not size:
            self._reject("empty")
            raise ApiError(400, "empty body: expected an uplink message as JSON")
        return b"".join(chunks)

    def _reject(self, reason: str) -> None:
        self.metrics.messages_rejected.labels(self.integration.id, reason).inc()
