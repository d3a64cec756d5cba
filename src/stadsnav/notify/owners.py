"""The API keys that own subscriptions: whether each may be notified now, and of what.

A subscription's notifications carry only what its creator's key may read, never an entity of a
personal dataset, and stop once that key is revoked or expired. A subscription made without a
key (a laboratory's anonymous scopes, or one older than keys) notifies what anyone may read.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Final

from stadsnav.gateway.access import Access, grant_access, without_personal
from stadsnav.gateway.keys import ApiKey
from stadsnav.store.base import ContextStore
from stadsnav.workspace import Workspace

LOOK_AGAIN_SECONDS: Final = 2.0
"""How long a key read from the store is used: a revocation silences its subscriptions within
this time."""


class SubscriptionOwners:
    """Keys by id, read from the store at most every LOOK_AGAIN_SECONDS each."""

    def __init__(self, store: ContextStore, workspace: Workspace) -> None:
        self._store = store
        self._workspace = workspace
        self._keys: dict[str, tuple[float, ApiKey | None]] = {}
        self._accesses: dict[str | None, Access] = {}

    def visible(self, owner: str | None) -> Access:
        """What notifications of ``owner``'s subscriptions may carry."""
        found = self._accesses.get(owner)
        if found is None:
            key = None if owner is None else self._key(owner)
            scopes = None if key is None else key.scopes
            purpose = None if key is None else key.purpose
            found = without_personal(grant_access(scopes, purpose, self._workspace))
            self._accesses[owner] = found
        return found

    def active(self, owner: str | None, now: datetime) -> bool:
        """Whether ``owner``'s subscriptions are notified now: its key exists and is active."""
        if owner is None:
            return True
        key = self._key(owner)
        return key is not None and key.status(now) == "active"

    def _key(self, owner: str) -> ApiKey | None:
        now = time.monotonic()
        known = self._keys.get(owner)
        if known is not None and known[0] > now:
            return known[1]
        found = self._store.api_key(owner)
        key = None if found is None else found[0]
        self._keys[owner] = (now + LOOK_AGAIN_SECONDS, key)
        return key
