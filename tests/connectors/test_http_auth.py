"""Auth of polled requests: API key, basic, OAuth2 client credentials with a renewed token."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from stadsnav.connectors.http_auth import (
    MissingSecretError,
    OAuth2ClientCredentialsAuth,
    TokenError,
    auth_for,
)
from stadsnav.workspace.sources import ApiKeyAuth, BasicAuth, OAuth2ClientCredentials

LOTS = "https://operator.example/api/lots"
TOKEN_URL = "https://auth.operator.example/oauth/token"
ENV = {"OPERATOR_KEY": "k-123", "OPERATOR_PASSWORD": "p@ss:word", "OPERATOR_SECRET": "s3cret"}


def oauth_config(**fields: Any) -> OAuth2ClientCredentials:
    return OAuth2ClientCredentials.model_validate(
        {
            "type": "oauth2_client_credentials",
            "token_url": TOKEN_URL,
            "client_id": "stadsnav",
            "client_secret_env": "OPERATOR_SECRET",
        }
        | fields
    )


class AuthServer:
    """A token endpoint and an API that accepts only the newest token it issued."""

    def __init__(self, expires_in: int | None = 3600) -> None:
        self.expires_in = expires_in
        self.issued: list[str] = []
        self.token_forms: list[dict[str, list[str]]] = []
        self.token_headers: list[httpx.Headers] = []
        self.api_calls: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url == TOKEN_URL:
            self.token_forms.append(parse_qs(request.content.decode()))
            self.token_headers.append(request.headers)
            self.issued.append(f"token-{len(self.token_forms)}")
            answer: dict[str, Any] = {"access_token": self.issued[-1], "token_type": "Bearer"}
            if self.expires_in is not None:
                answer["expires_in"] = self.expires_in
            return httpx.Response(200, json=answer)
        given = request.headers.get("authorization")
        self.api_calls.append(given)
        if not self.issued or given != f"Bearer {self.issued[-1]}":
            return httpx.Response(401, json={"error": "invalid_token"})
        return httpx.Response(200, json=[{"id": "P1", "free": 12}])

    def revoke(self) -> None:
        """Rotate keys: every token issued so far stops working."""
        self.issued.append("revoked")


def get(
    auth: httpx.Auth, handler: Callable[[httpx.Request], httpx.Response], n: int = 1
) -> list[int]:
    async def run() -> list[int]:
        transport = httpx.MockTransport(handler)
        async with httpx.AsyncClient(auth=auth, transport=transport) as client:
            return [(await client.get(LOTS)).status_code for _ in range(n)]

    return asyncio.run(run())


def test_api_key_goes_in_the_configured_header() -> None:
    seen: list[httpx.Headers] = []
    config = ApiKeyAuth(type="api_key", header="X-Operator-Key", key_env="OPERATOR_KEY")
    auth = auth_for(config, "goldbeck", ENV)
    assert auth is not None

    get(auth, lambda request: seen.append(request.headers) or httpx.Response(200))

    assert seen[0]["x-operator-key"] == "k-123"
    assert "authorization" not in seen[0]


def test_basic_auth_sends_user_and_password() -> None:
    seen: list[str] = []
    config = BasicAuth(type="basic", username="skelleftea", password_env="OPERATOR_PASSWORD")
    auth = auth_for(config, "goldbeck", ENV)
    assert auth is not None

    get(auth, lambda request: seen.append(request.headers["authorization"]) or httpx.Response(200))

    assert base64.b64decode(seen[0].removeprefix("Basic ")) == b"skelleftea:p@ss:word"


def test_no_auth_block_is_no_auth() -> None:
    assert auth_for(None, "goldbeck", ENV) is None


@pytest.mark.parametrize(
    ("config", "variable", "field"),
    [
        (ApiKeyAuth(type="api_key", key_env="GOLDBECK_KEY"), "GOLDBECK_KEY", "key_env"),
        (
            BasicAuth(type="basic", username="u", password_env="GOLDBECK_PW"),
            "GOLDBECK_PW",
            "password_env",
        ),
        (oauth_config(client_secret_env="GOLDBECK_SECRET"), "GOLDBECK_SECRET", "client_secret_env"),
    ],
)
def test_a_missing_secret_names_the_variable_and_the_integration(
    config: Any, variable: str, field: str
) -> None:
    with pytest.raises(MissingSecretError) as caught:
        auth_for(config, "goldbeck-heilbronn", ENV)
    message = str(caught.value)
    assert "'goldbeck-heilbronn'" in message
    assert f"{variable} (source.auth.{field}) is not set" in message


def test_oauth_token_is_fetched_once_and_reused() -> None:
    server = AuthServer()
    auth = auth_for(oauth_config(scope="parking:read"), "goldbeck", ENV, clock=lambda: 0.0)
    assert auth is not None

    assert get(auth, server, n=3) == [200, 200, 200]

    assert server.issued == ["token-1"]
    assert server.token_forms == [{"grant_type": ["client_credentials"], "scope": ["parking:read"]}]
    basic = server.token_headers[0]["authorization"].removeprefix("Basic ")
    assert base64.b64decode(basic) == b"stadsnav:s3cret"


def test_oauth_client_credentials_in_the_form() -> None:
    server = AuthServer()
    auth = auth_for(oauth_config(client_auth="body"), "goldbeck", ENV)
    assert auth is not None

    get(auth, server)

    assert server.token_forms[0]["client_id"] == ["stadsnav"]
    assert server.token_forms[0]["client_secret"] == ["s3cret"]
    assert "authorization" not in server.token_headers[0]


def test_oauth_token_is_renewed_shortly_before_it_expires() -> None:
    now = [1000.0]
    server = AuthServer(expires_in=3600)
    auth = OAuth2ClientCredentialsAuth(TOKEN_URL, "stadsnav", "s3cret", clock=lambda: now[0])

    get(auth, server)
    now[0] = 1000.0 + 3600 - 31  # 31 s left: still used
    get(auth, server)
    assert server.issued == ["token-1"]
    now[0] = 1000.0 + 3600 - 29  # inside the last 30 s: renewed before it runs out
    get(auth, server)

    assert server.issued == ["token-1", "token-2"]
    assert server.api_calls == ["Bearer token-1", "Bearer token-1", "Bearer token-2"]


def test_a_short_lived_token_is_renewed_at_nine_tenths_of_its_life() -> None:
    now = [0.0]
    server = AuthServer(expires_in=60)
    auth = OAuth2ClientCredentialsAuth(TOKEN_URL, "stadsnav", "s3cret", clock=lambda: now[0])
    get(auth, server)
    now[0] = 53.0
    get(auth, server)
    now[0] = 54.0
    get(auth, server)
    assert server.issued == ["token-1", "token-2"]


def test_a_401_renews_the_token_once_and_retries() -> None:
    server = AuthServer(expires_in=None)  # no lifetime: kept until refused
    auth = OAuth2ClientCredentialsAuth(TOKEN_URL, "stadsnav", "s3cret")
    get(auth, server)
    server.revoke()

    assert get(auth, server) == [200]
    assert server.issued == ["token-1", "revoked", "token-2"]
    assert server.api_calls == ["Bearer token-1", "Bearer token-1", "Bearer token-2"]


def test_a_second_401_is_returned_not_retried_forever() -> None:
    calls: list[str] = []

    def refusing(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        if request.url == TOKEN_URL:
            return httpx.Response(200, json={"access_token": f"t{len(calls)}"})
        return httpx.Response(401)

    auth = OAuth2ClientCredentialsAuth(TOKEN_URL, "stadsnav", "s3cret")
    assert get(auth, refusing) == [401]
    assert calls == [TOKEN_URL, LOTS, TOKEN_URL, LOTS]


@pytest.mark.parametrize(
    ("response", "message", "status"),
    [
        (
            httpx.Response(
                401, json={"error": "invalid_client", "error_description": "bad secret"}
            ),
            "answered 401: invalid_client (bad secret)",
            401,
        ),
        (httpx.Response(503, text="maintenance"), "answered 503: maintenance", 503),
        (httpx.Response(200, json={"token_type": "Bearer"}), "without an access_token", None),
        (httpx.Response(200, text="<html>login</html>"), "without an access_token", None),
    ],
)
def test_token_endpoint_refusals_are_clear(
    response: httpx.Response, message: str, status: int | None
) -> None:
    auth = OAuth2ClientCredentialsAuth(TOKEN_URL, "stadsnav", "s3cret")
    with pytest.raises(TokenError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        get(auth, lambda request: response)
    assert caught.value.status_code == status


def test_the_sync_client_works_too() -> None:
    server = AuthServer()
    auth = OAuth2ClientCredentialsAuth(TOKEN_URL, "stadsnav", "s3cret")
    with httpx.Client(auth=auth, transport=httpx.MockTransport(server)) as client:
        assert [client.get(LOTS).status_code for _ in range(2)] == [200, 200]
    assert server.issued == ["token-1"]
