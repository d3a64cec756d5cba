"""Webhook connector: network servers POST uplinks to ``/ingest/{integration}``."""

from __future__ import annotations

import hmac
import os
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from stadsnav.api.plain import send_response, with_shortcut
from stadsnav.api.problems import ApiError
from stadsnav.connectors.base import Connector, register
from stadsnav.connectors.envelopes import EnvelopeError, envelope_message_id, reads_status
from stadsnav.pipeline.inbox import InboxRefusedError
from stadsnav.store.base import NewInboxMessage
from stadsnav.workspace.models import WebhookSource

_ACCEPTED = b'{"status":"accepted"}'
_ANSWERS = {
    "duplicate": b'{"status":"duplicate"}',
    # Kept as a dead letter; the sender learns its ids are not unique.
    "conflict": b'{"status":"conflict"}',
}
_IGNORED = b'{"status":"ignored","reason":"not an uplink or status event"}'
# ChirpStack's HTTP integration names the event in the query; status events are kept too.
_KEPT_EVENTS = ("up", "status")
_JSON_TYPES = ("application/json", "application/ld+json", "text/json")
_JSON_HEADERS = ((b"content-type", b"application/json"),)

_BODY_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": (
            "An uplink envelope (The Things Stack v3, ChirpStack `up` event ...), or a ChirpStack "
            "`status` event when posted with `?event=status`."
        ),
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
    "responses": {
        "202": {
            "description": "Committed to the inbox; `duplicate`: this id and body came before; "
            "`conflict`: this id came before with another body (kept as a dead letter)."
        },
        "400": {"description": "Not JSON, or not an uplink envelope (ProblemDetails)."},
        "401": {"description": "Missing or wrong bearer token."},
        "413": {"description": "Body larger than `server.max_body_bytes`."},
        "415": {"description": "Content-Type is not JSON."},
        "503": {
            "description": (
                "Perhaps not committed: the inbox queue is full or the store cannot commit now; "
                "send it again after `Retry-After` seconds (a repeat is recognised)."
            )
        },
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
            route_class_override=with_shortcut(self.serve),
        )
        return router

    async def receive(self, request: Request) -> Response:
        """Check, commit and acknowledge one uplink."""
        body = await self.ingest(request.scope, request.receive)
        return Response(body, status_code=202, media_type="application/json")

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """``receive`` as a bare ASGI shortcut: no Starlette request or response objects."""
        await send_response(send, 202, await self.ingest(scope, receive), _JSON_HEADERS)
        return True

    async def ingest(self, scope: Scope, receive: Receive) -> bytes:
        """Check and commit one uplink; the 202 answer's body, or an ``ApiError``."""
        source = self.integration.source
        assert isinstance(source, WebhookSource)
        headers = _headers(scope)
        self._authorize(headers, source)
        body = await self._read_body(headers, receive)
        event = _event(scope) if scope["query_string"] else "up"
        if event not in _KEPT_EVENTS or (event == "status" and not reads_status(source.format)):
            return _IGNORED
        content_type = headers.get(b"content-type", "").split(";")[0].strip().lower()
        if content_type not in _JSON_TYPES:
            self._reject("content_type")
            raise ApiError(
                415, f"Content-Type must be application/json, not {content_type or 'missing'!r}"
            )
        try:
            message_id = envelope_message_id(body, source.format, event)
        except EnvelopeError as error:
            self._reject("envelope")
            raise ApiError(400, str(error)) from None
        message = NewInboxMessage(
            self.integration.id,
            message_id,
            datetime.now(UTC),
            content_type,
            body,
            self.path,
        )
        try:
            outcome = await self.inbox.submit(message)
        except InboxRefusedError as error:
            self.metrics.messages_deferred.labels(self.integration.id, error.reason).inc()
            raise ApiError(
                503,
                f"not accepted, retry later: {error}",
                headers={"Retry-After": error.retry_after_header},
            ) from None
        self.count_received(outcome)
        return _ACCEPTED if isinstance(outcome, int) else _ANSWERS[outcome]

    def _authorize(self, headers: dict[bytes, str], source: WebhookSource) -> None:
        if source.token_env is None:
            return
        expected = os.environ.get(source.token_env, "")
        given = headers.get(b"authorization", "").removeprefix("Bearer ").strip()
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            self._reject("unauthorized")
            raise ApiError(
                401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
            )

    async def _read_body(self, headers: dict[bytes, str], receive: Receive) -> bytes:
        limit = self.workspace.settings.server.max_body_bytes
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            self._reject("too_large")
            raise ApiError(413, f"body of {declared} bytes is over the limit of {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect
            chunk: bytes = message.get("body", b"")
            more = message.get("more_body", False)
            size += len(chunk)
            if size > limit:
                self._reject("too_large")
                raise ApiError(413, f"body is over the limit of {limit} bytes")
            chunks.append(chunk)
        if not size:
            self._reject("empty")
            raise ApiError(400, "empty body: expected an uplink message as JSON")
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _reject(self, reason: str) -> None:
        self.metrics.messages_rejected.labels(self.integration.id, reason).inc()


def _headers(scope: Scope) -> dict[bytes, str]:
    """Request headers by lower-case name; the first of repeated ones wins, as in Starlette."""
    headers: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name not in headers:
            headers[name] = value.decode("latin-1")
    return headers


def _event(scope: Scope) -> str:
    # The last of repeated parameters wins, as in Starlette's query_params.
    query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
    event: str = query.get("event", "up")
    return event
