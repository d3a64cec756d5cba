"""Short-lived access tokens (JWT): issued for an API key by the OAuth2 client-credentials grant,
or by the city's own identity provider (OpenID Connect), and read back on each request.

A token of Stadsnav's own is signed with HS256 and names its key (``sub``), the scopes it
carries (at most the key's) and when it expires; the key behind it is still checked on every
request, so revoking the key ends its tokens too. A token of an identity provider is checked
against the provider's published keys (JWKS), issuer and audience, and its claims are mapped to
scopes as the workspace says.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import jwt

from stadsnav.gateway.keys import ApiKey

ISSUER: Final = "stadsnav"
AUDIENCE: Final = "stadsnav"
_ALGORITHM: Final = "HS256"


class InvalidTokenError(ValueError):
    """A token that opens nothing: forged, expired, of an unknown issuer or audience."""


def looks_like_token(text: str) -> bool:
    """Whether ``text`` has the shape of a JWT (three dot-separated parts), not of a key."""
    return text.count(".") == 2 and not text.startswith("snk_")


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token and how the OAuth2 token endpoint describes it."""

    text: str
    expires_in: int
    scopes: tuple[str, ...]


def issue_token(
    key: ApiKey, scopes: Sequence[str], secret: str, lifetime: timedelta, now: datetime
) -> IssuedToken:
    """A token for ``key`` carrying ``scopes`` (each one of the key's) for ``lifetime``."""
    seconds = int(lifetime.total_seconds())
    expires = now + lifetime
    if key.expires_at is not None and key.expires_at < expires:
        expires, seconds = key.expires_at, int((key.expires_at - now).total_seconds())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": key.id,
        "scope": " ".join(scopes),
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": secrets.token_urlsafe(12),
    }
    return IssuedToken(jwt.encode(claims, secret, algorithm=_ALGORITHM), seconds, tuple(scopes))


@dataclass(frozen=True, slots=True)
class OwnToken:
    """What a token of Stadsnav's own says: whose key, which scopes."""

    key_id: str
    scopes: tuple[str, ...]


def issuer_of(text: str) -> str | None:
    """The ``iss`` a token claims, unverified: which issuer's keys to check it with."""
    try:
        claims = jwt.decode(text, options={"verify_signature": False})
    except jwt.PyJWTError as error:
        raise InvalidTokenError(f"the token cannot be read: {error}") from None
    issuer = claims.get("iss")
    return issuer if isinstance(issuer, str) else None


def read_own_token(text: str, secret: str) -> OwnToken:
    """The key and scopes of a token Stadsnav issued; InvalidTokenError if it is not valid."""
    try:
        claims = jwt.decode(
            text,
            secret,
            algorithms=[_ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "sub", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidTokenError(
            "the token has expired: ask the token endpoint for a new one"
        ) from None
    except jwt.PyJWTError as error:
        raise InvalidTokenError(f"the token is not valid: {error}") from None
    return OwnToken(str(claims["sub"]), tuple(str(claims.get("scope", "")).split()))


def scopes_from_claims(
    claims: Mapping[str, Any], claim: str, mapping: Mapping[str, Sequence[str]]
) -> list[str]:
    """The scopes an identity provider's token grants: each value of ``claim`` (a list, or a
    space-separated string) that ``mapping`` names, mapped to Stadsnav scopes."""
    given = claims.get(claim, [])
    values = given.split() if isinstance(given, str) else given if isinstance(given, list) else []
    return list(dict.fromkeys(s for value in values for s in mapping.get(str(value), ())))


def token_expiry(claims: Mapping[str, Any]) -> datetime | None:
    """When a token expires, from its ``exp``."""
    exp = claims.get("exp")
    return datetime.fromtimestamp(exp, UTC) if isinstance(exp, int | float) else None
