"""Access tokens at the gate: Stadsnav's own (from ``POST /oauth/token``) and those of the city's
OpenID Connect providers (``[gateway.issuers]``), read into the caller they stand for."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
import jwt
import structlog

from stadsnav.gateway.keys import ApiKey
from stadsnav.gateway.tokens import (
    ISSUER,
    InvalidTokenError,
    issuer_of,
    read_own_token,
    scopes_from_claims,
    token_expiry,
)
from stadsnav.workspace.models import GatewaySettings, IssuerSettings

log = structlog.get_logger("stadsnav.tokens")


class BearerTokens:
    """Reads access tokens: Stadsnav's own with its secret, a provider's with its JWKS."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.secret = settings.token_secret or secrets.token_urlsafe(32)
        if not settings.token_secret:
            log.info("token_secret_random", hint="set [gateway] token_secret for several processes")
        self.lifetime = settings.token_lifetime
        self._issuers = {issuer.issuer: (name, issuer) for name, issuer in settings.issuers.items()}
        self._keys = {
            issuer.issuer: jwt.PyJWKClient(issuer.jwks_url, cache_keys=True, lifespan=300)
            for issuer in settings.issuers.values()
        }

    def own(self, text: str) -> tuple[str, tuple[str, ...]]:
        """The key id and scopes of a token Stadsnav issued; InvalidTokenError otherwise."""
        token = read_own_token(text, self.secret)
        return token.key_id, token.scopes

    def is_own(self, text: str) -> bool:
        """Whether the token claims to be Stadsnav's own (else a provider's)."""
        return issuer_of(text) == ISSUER

    async def provider_caller(self, text: str) -> ApiKey:
        """The caller a provider's token stands for, as a key that lives as long as the token."""
        issuer = issuer_of(text)
        found = None if issuer is None else self._issuers.get(issuer)
        if issuer is None or found is None:
            raise InvalidTokenError(f"tokens of the issuer {issuer!r} are not accepted here")
        name, settings = found
        claims = await self._verified(text, issuer, settings)
        subject = str(claims.get("sub", ""))
        if not subject:
            raise InvalidTokenError("the token names no subject (sub)")
        scopes = scopes_from_claims(claims, settings.scopes_claim, settings.scopes)
        if not scopes:
            raise InvalidTokenError(
                f"the token's {settings.scopes_claim} grants no scope here: ask the city for one"
            )
        issued = claims.get("iat")
        return ApiKey(
            id=f"{name}:{subject}",
            owner=f"{subject} ({name})",
            scopes=tuple(scopes),
            created_at=datetime.fromtimestamp(issued, UTC)
            if isinstance(issued, int | float)
            else datetime.now(UTC),
            expires_at=token_expiry(claims),
            purpose=settings.purpose,
            plan=settings.plan,
        )

    async def _verified(self, text: str, issuer: str, settings: IssuerSettings) -> dict[str, Any]:
        keys = self._keys[issuer]
        try:
            # The provider's keys are fetched (and cached) over HTTP: not on the event loop.
            signing = await anyio.to_thread.run_sync(keys.get_signing_key_from_jwt, text)
            claims: dict[str, Any] = jwt.decode(
                text,
                signing.key,
                algorithms=["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"],
                audience=settings.audience,
                issuer=issuer,
                options={"require": ["exp", "iss", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidTokenError("the token has expired: get a new one") from None
        except jwt.PyJWKClientError as error:
            raise InvalidTokenError(f"the issuer's keys do not check the token: {error}") from None
        except (jwt.PyJWTError, TypeError, ValueError) as error:
            # TypeError: a header naming an algorithm of another kind of key than the JWKS has.
            raise InvalidTokenError(f"the token is not valid: {error}") from None
        return claims


def narrowed(key: ApiKey, scopes: tuple[str, ...]) -> ApiKey:
    """``key`` as a token of it acts: with the token's scopes, which are some of the key's."""
    return replace(key, scopes=tuple(scope for scope in scopes if scope in key.scopes))
