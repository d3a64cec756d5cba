"""API keys: shown once, stored as a hash, named by a public id that is part of the key.

A key reads ``snk_<id>_<secret>``: the id (8 characters) finds the stored key without a scan and
lets an operator tell keys apart in logs and listings; only the SHA-256 of the whole key is kept,
which suffices for 256 random bits and is cheap enough to check on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from stadsnav.model.render import format_time

PREFIX: Final = "snk_"
_ID_ALPHABET: Final = "abcdefghijkmnpqrstuvwxyz23456789"
"""Lower case without look-alikes (l, o, 0, 1): ids are read aloud and typed."""
_KEY = re.compile(rf"{PREFIX}([{_ID_ALPHABET}]{{8}})_[A-Za-z0-9_-]{{43}}")
SCOPE: Final = re.compile(
    r"admin|(read|write)(:[a-z0-9][a-z0-9-]{0,63})?|identify:[a-z0-9][a-z0-9-]{0,63}"
)
"""``admin``, ``read`` or ``write``, alone (every dataset) or for one dataset: ``read:parking``;
``identify:<dataset>`` also shows the attributes that identify a person."""

Status = Literal["active", "expired", "revoked"]


class InvalidKeyError(ValueError):
    """A key's fields that cannot be used (an unknown scope, an expiry in the past)."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored API key, without its secret."""

    id: str
    owner: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    purpose: str | None = None
    """Why the holder reads personal data, recorded with each such read."""
    plan: str | None = None
    """The plan that limits the key's use; None for the workspace's ``key_plan``."""
    notify_url: str | None = None
    """Where the owner is told (an HTTP POST) that the key has used most of a quota."""

    def status(self, now: datetime) -> Status:
        """Revoked, expired or active at ``now``."""
        if self.revoked_at is not None and self.revoked_at <= now:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def as_json(self, now: datetime) -> dict[str, Any]:
        """The key as the admin API and the CLI show it: never its secret or hash."""
        shown: dict[str, Any] = {
            "id": self.id,
            "owner": self.owner,
            "scopes": list(self.scopes),
            "status": self.status(now),
            "createdAt": format_time(self.created_at),
        }
        for name, value in (("purpose", self.purpose), ("plan", self.plan)):
            if value is not None:
                shown[name] = value
        if self.notify_url is not None:
            shown["notifyUrl"] = self.notify_url
        if self.expires_at is not None:
            shown["expiresAt"] = format_time(self.expires_at)
        if self.revoked_at is not None:
            shown["revokedAt"] = format_time(self.revoked_at)
        return shown


def new_key(
    owner: str,
    scopes: list[str],
    now: datetime,
    *,
    expires_at: datetime | None = None,
    purpose: str | None = None,
    plan: str | None = None,
    notify_url: str | None = None,
    plans: Collection[str] = (),
) -> tuple[ApiKey, str]:
    """A new key and its full text, to show once; InvalidKeyError for fields that cannot be
    (``plan`` must be one of ``plans``)."""
    if not owner.strip():
        raise InvalidKeyError("a key needs an owner: who holds it and answers for its use")
    bad = [scope for scope in scopes if not SCOPE.fullmatch(scope)]
    if bad or not scopes:
        raise InvalidKeyError(
            f"scopes {bad or scopes!r}: give admin, read or write, alone or for a dataset "
            "(read:parking), or identify:<dataset>"
        )
    if expires_at is not None and expires_at <= now:
        raise InvalidKeyError(f"the expiry {format_time(expires_at)} is not in the future")
    if plan is not None and plan not in plans:
        raise InvalidKeyError(f"there is no plan {plan!r}: give one of {', '.join(sorted(plans))}")
    if notify_url is not None and not notify_url.startswith(("http://", "https://")):
        raise InvalidKeyError(f"the notification URL {notify_url!r} is not an http(s) URL")
    key_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))
    text = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        key_id,
        owner.strip(),
        tuple(dict.fromkeys(scopes)),
        now,
        expires_at,
        None,
        purpose,
        plan,
        notify_url,
    )
    return key, text


def key_id(text: str) -> str | None:
    """The id in a key's text; None when the text is not shaped like a key."""
    found = _KEY.fullmatch(text)
    return None if found is None else found.group(1)


def secret_hash(text: str) -> str:
    """What is stored of a key: the hex SHA-256 of its text."""
    return hashlib.sha256(text.encode()).hexdigest()


def matches(text: str, stored_hash: str) -> bool:
    """Whether a presented key is the one stored, compared in constant time."""
    return hmac.compare_digest(secret_hash(text), stored_hash)
