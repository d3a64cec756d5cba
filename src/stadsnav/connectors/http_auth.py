"""Authentication of polled requests: API-key header, HTTP basic, OAuth2 client credentials."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from typing import Any

import httpx
import orjson

from stadsnav.workspace.sources import ApiKeyAuth, Auth, BasicAuth, OAuth2ClientCredentials

RENEW_BEFORE = 30.0
"""Seconds before a token's ``expires_in`` runs out that a new one is fetched."""

# Each step of the OAuth flow: the request to send, and whether its response body is needed.
_Step = tuple[httpx.Request, bool]


class MissingSecretError(ValueError):
    """An environment variable that a source's ``auth:`` names is not set."""


class TokenError(Exception):
    """The token endpoint refused to issue a token, or answered with something else."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ApiKeyHeader(httpx.Auth):
    """Sends an API key in a request header."""

    def __init__(self, header: str, key: str) -> None:
        self.header = header
        self._key = key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the key header."""
        request.headers[self.header] = self._key
        yield request


class OAuth2ClientCredentialsAuth(httpx.Auth):
    """Bearer tokens from a client-credentials grant, kept until shortly before they expire.

    A 401 renews the token once and sends the request again. One instance serves one client.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str | None = None,
        client_auth: str = "basic",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.scope = scope
        self.client_auth = client_auth
        self.clock = clock
        self._token: str | None = None
        self._renew_at = float("inf")

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """The flow for ``httpx.Client``: token responses are read, others stay streamed."""
        flow = self._flow(request)
        step, read = next(flow)
        while True:
            response = yield step
            if read:
                response.read()
            try:
                step, read = flow.send(response)
            except StopIteration:
                return

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """The flow for ``httpx.AsyncClient``: token responses are read, others stay streamed."""
        flow = self._flow(request)
        step, read = next(flow)
        while True:
            response = yield step
            if read:
                await response.aread()
            try:
                step, read = flow.send(response)
            except StopIteration:
                return

    def _flow(self, request: httpx.Request) -> Generator[_Step, httpx.Response, None]:
        if self._token is None or self.clock() >= self._renew_at:
            self._keep((yield self._token_request(), True))
        sent_with = self._token
        request.headers["Authorization"] = f"Bearer {sent_with}"
        response = yield request, False
        if response.status_code != 401:
            return
        # Revoked or rotated early: renew once; a second 401 is the caller's to handle.
        if self._token == sent_with:
            self._keep((yield self._token_request(), True))
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request, False

    def _token_request(self) -> httpx.Request:
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        headers = {"Accept": "application/json"}
        if self.client_auth == "basic":
            pair = f"{self.client_id}:{self._client_secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        else:
            form |= {"client_id": self.client_id, "client_secret": self._client_secret}
        return httpx.Request("POST", self.token_url, data=form, headers=headers)

    def _keep(self, response: httpx.Response) -> None:
        """Take the token from the endpoint's answer (RFC 6749 §5.1), or raise why not."""
        if response.status_code != 200:
            raise TokenError(
                f"token endpoint {self.token_url} answered {response.status_code}: "
                f"{_oauth_error(response)}",
                response.status_code,
            )
        try:
            answer: Any = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            answer = None
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise TokenError(f"token endpoint {self.token_url} answered without an access_token")
        expires_in = answer.get("expires_in")
        now = self.clock()
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
            self._renew_at = now + expires_in - min(RENEW_BEFORE, expires_in / 10)
        else:
            self._renew_at = float("inf")  # no lifetime given: kept until a 401
        self._token = token


def _oauth_error(response: httpx.Response) -> str:
    try:
        answer = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.text[:200] or "(empty body)"
    if isinstance(answer, dict) and "error" in answer:
        description = answer.get("error_description")
        return f"{answer['error']}" + (f" ({description})" if description else "")
    return response.text[:200]


def auth_for(
    config: Auth | None,
    integration: str,
    environ: Mapping[str, str] = os.environ,
    clock: Callable[[], float] = time.monotonic,
) -> httpx.Auth | None:
    """The ``httpx.Auth`` of a source's ``auth:`` block, with its secret read from ``environ``."""
    if config is None:
        return None
    if isinstance(config, ApiKeyAuth):
        return ApiKeyHeader(config.header, _secret(environ, config.key_env, "key_env", integration))
    if isinstance(config, BasicAuth):
        password = _secret(environ, config.password_env, "password_env", integration)
        return httpx.BasicAuth(config.username, password)
    assert isinstance(config, OAuth2ClientCredentials)
    return OAuth2ClientCredentialsAuth(
        config.token_url,
        config.client_id,
        _secret(environ, config.client_secret_env, "client_secret_env", integration),
        config.scope,
        config.client_auth,
        clock,
    )


def _secret(environ: Mapping[str, str], name: str, field: str, integration: str) -> str:
    value = environ.get(name)
    if not value:
        raise MissingSecretError(
            f"integration {integration!r}: environment variable {name} "
            f"(source.auth.{field}) is not set; set it to the secret before starting"
        )
    return value
