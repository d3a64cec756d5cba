"""``POST /oauth/token``: the OAuth2 client-credentials grant (RFC 6749, 4.4) for API keys.

A client authenticates with its key: the key's id as ``client_id``, the whole key as
``client_secret`` (HTTP Basic, or in the form), and gets a short-lived access token to send as
``Authorization: Bearer``. Errors are RFC 6749's (5.2), not ProblemDetails: OAuth2 clients read
those.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from stadsnav.api.gateway import KeyCache
from stadsnav.gateway.keys import key_id, matches
from stadsnav.gateway.tokens import issue_token

router = APIRouter(tags=["authentication"])

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_FORM = "application/x-www-form-urlencoded"


def _error(status: int, error: str, description: str) -> Response:
    headers = dict(_NO_STORE)
    if error == "invalid_client":
        headers["WWW-Authenticate"] = 'Basic realm="stadsnav"'
    body = {"error": error, "error_description": description}
    return Response(orjson.dumps(body), status, headers=headers, media_type="application/json")


@router.post(
    "/oauth/token",
    summary="An access token for an API key (OAuth2 client credentials)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                _FORM: {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type"],
                        "properties": {
                            "grant_type": {"type": "string", "enum": ["client_credentials"]},
                            "scope": {"type": "string", "description": "Some of the key's."},
                            "client_id": {"type": "string", "description": "The key's id."},
                            "client_secret": {"type": "string", "description": "The key."},
                        },
                    }
                }
            },
        }
    },
    responses={
        400: {"description": "A request the grant cannot take (RFC 6749, 5.2)."},
        401: {"description": "The client (the key) is not known, valid or active."},
    },
)
async def token(request: Request) -> Response:
    """A token carrying the key's scopes (or those of ``scope``) for ``token_lifetime``."""
    if request.headers.get("content-type", "").split(";")[0].strip() != _FORM:
        return _error(400, "invalid_request", f"send the parameters as {_FORM}")
    fields = {
        name: values[-1] for name, values in parse_qs((await request.body()).decode()).items()
    }
    if fields.get("grant_type") != "client_credentials":
        return _error(400, "unsupported_grant_type", "only grant_type=client_credentials is served")
    client = _client(request, fields)
    if client is None:
        return _error(401, "invalid_client", "give the key's id and the key (HTTP Basic or form)")
    client_id, secret = client
    keys: KeyCache = request.app.state.gatekeeper.keys
    found = await keys.find(client_id) if key_id(secret) == client_id else None
    now = datetime.now(UTC)
    if found is None or not matches(secret, found[1]) or found[0].status(now) != "active":
        return _error(401, "invalid_client", "the key is not valid, or revoked or expired")
    key = found[0]
    asked = fields.get("scope", "").split() or list(key.scopes)
    beyond = [scope for scope in asked if scope not in key.scopes]
    if beyond:
        return _error(400, "invalid_scope", f"the key does not have {', '.join(beyond)}")
    tokens = request.app.state.gatekeeper.tokens
    issued = issue_token(key, asked, tokens.secret, tokens.lifetime, now)
    body: dict[str, Any] = {
        "access_token": issued.text,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": " ".join(issued.scopes),
    }
    return Response(orjson.dumps(body), headers=_NO_STORE, media_type="application/json")


def _client(request: Request, fields: dict[str, str]) -> tuple[str, str] | None:
    """The client id and secret, from HTTP Basic or the form (not both)."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        client_id, colon, secret = decoded.partition(":")
        return (client_id, secret) if colon else None
    if "client_id" in fields and "client_secret" in fields:
        return fields["client_id"], fields["client_secret"]
    return None
