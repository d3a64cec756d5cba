"""Who is asking: the API key a request presents, checked, and the scopes a route needs.

A key comes in ``X-API-Key`` or as ``Authorization: Bearer <key>``. No key is the anonymous
caller. A key that is unknown, forged, expired or revoked is 401 on every route that looks at
its caller: a caller that sends a key means to be that key's holder, and must learn that it is
not.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, cast

from fastapi import Depends, Request

from stadsnav.api.bearer import BearerTokens, narrowed
from stadsnav.api.deps import read_store
from stadsnav.api.problems import FORBIDDEN, ApiError
from stadsnav.gateway.access import Access, grant_access
from stadsnav.gateway.keys import ApiKey, key_id, matches
from stadsnav.gateway.tokens import InvalidTokenError, looks_like_token
from stadsnav.runtime import Runtime
from stadsnav.store.base import ContextStore, EntityCheck, StoredEntity
from stadsnav.workspace import Workspace

API_KEY_HEADER = "X-API-Key"
DATASET = "dataset"
"""Where a route notes in the request's state the dataset it used, for the usage counts."""
IDENTITY = "identity"
"""Where a request's state keeps its caller: an Identity, or the ApiError its key earned."""
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="stadsnav"'}


@dataclass(frozen=True, slots=True)
class Identity:
    """The caller: the holder of an active key, or anonymous (``key`` None)."""

    key: ApiKey | None = None
    source: Literal["key", "token", "provider"] = "key"
    """What the caller presented: a key, a token of one, or an identity provider's token (whose
    ``key`` lives only as long as the token)."""

    def has(self, scope: str) -> bool:
        """Whether the caller's key grants ``scope`` (``read:parking`` is granted by ``read``)."""
        if self.key is None:
            return False
        general = scope.split(":", 1)[0]
        return scope in self.key.scopes or general in self.key.scopes


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request presents, if any."""
    text = headers.get(API_KEY_HEADER)
    if text is not None:
        return text.strip()
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None


KEY_CACHE_SECONDS: Final = 2.0
"""How long a key read from the store is used before it is read again: a revocation made by
another process (the CLI, another API process) takes effect within this time."""

StoredKey = tuple[ApiKey, str] | None


class KeyCache:
    """Stored keys (and ids that have none) by id, read from the store at most once per
    KEY_CACHE_SECONDS each: a keyed request costs no store read most of the time."""

    def __init__(self, store: ContextStore, seconds: float = KEY_CACHE_SECONDS) -> None:
        self._store = store
        self._seconds = seconds
        self._found: dict[str, tuple[float, StoredKey]] = {}
        self._matched: dict[str, str] = {}

    async def find(self, wanted: str) -> StoredKey:
        """The stored key with id ``wanted`` and its hash; None when there is none."""
        now = time.monotonic()
        hit = self._found.get(wanted)
        if hit is not None and hit[0] > now:
            return hit[1]
        store = self._store
        found = await read_store(store, lambda: store.api_key(wanted))
        if len(self._found) >= 10_000:
            self._found.clear()  # forged ids must not grow the cache without end
            self._matched.clear()
        self._found[wanted] = (now + self._seconds, found)
        return found

    def matches(self, text: str, found: tuple[ApiKey, str]) -> bool:
        """Whether ``text`` is the stored key ``found``; a text that matched once is not hashed
        again while the key is cached."""
        if hmac.compare_digest(self._matched.get(found[0].id, ""), text):
            return True
        if not matches(text, found[1]):
            return False
        self._matched[found[0].id] = text
        return True

    def forget(self, wanted: str) -> None:
        """Read the key from the store at its next use (it was revoked here)."""
        self._found.pop(wanted, None)
        self._matched.pop(wanted, None)


async def identify(
    keys: KeyCache, text: str | None, tokens: BearerTokens | None = None
) -> Identity:
    """The holder of the key or token ``text`` (anonymous for None); 401 for one that opens
    nothing."""
    if text is None:
        return Identity()
    if tokens is not None and looks_like_token(text):
        return await _token_holder(keys, text, tokens)
    found_id = key_id(text)
    found = None if found_id is None else await keys.find(found_id)
    if found is None or not keys.matches(text, found):
        raise ApiError(
            401, "the API key is not valid: check that it is copied whole", headers=_CHALLENGE
        )
    return Identity(_active(found[0]))


def _active(key: ApiKey) -> ApiKey:
    status = key.status(datetime.now(UTC))
    if status != "active":
        raise ApiError(
            401,
            f"the API key {key.id} is {status}: ask its issuer for a new one",
            headers=_CHALLENGE,
        )
    return key


async def _token_holder(keys: KeyCache, text: str, tokens: BearerTokens) -> Identity:
    """The caller an access token stands for: its key (still active), with the token's scopes,
    or the caller of an identity provider's token."""
    try:
        if not tokens.is_own(text):
            return Identity(await tokens.provider_caller(text), "provider")
        key_of, scopes = tokens.own(text)
        found = await keys.find(key_of)
        if found is None:
            raise InvalidTokenError(f"the token's API key {key_of} does not exist")
        return Identity(narrowed(_active(found[0]), scopes), "token")
    except InvalidTokenError as error:
        challenge = 'Bearer realm="stadsnav", error="invalid_token"'
        raise ApiError(401, str(error), headers={"WWW-Authenticate": challenge}) from None


async def identity(request: Request) -> Identity:
    """The caller of this request, as the gatekeeper found it; 401 for a key that does not
    open anything."""
    found = request.scope["state"][IDENTITY]
    if isinstance(found, ApiError):
        raise found
    return cast(Identity, found)


IdentityDep = Annotated[Identity, Depends(identity)]


async def caller_access(request: Request) -> Access:
    """What the caller of this request may read and write; worked out once per request."""
    found: Access | None = getattr(request.state, "access", None)
    if found is None:
        runtime: Runtime = request.app.state.runtime
        who = await identity(request)
        known: dict[Any, Access] = request.app.state.accesses
        # A key's access follows from its scopes and purpose alone: worked out once for all.
        grant = None if who.key is None else (who.key.scopes, who.key.purpose)
        found = known.get(grant)
        if found is None:
            found = known[grant] = access_for(who, runtime.workspace)
        request.state.access = found
        request.scope["state"][IDENTITY] = who
    return found


async def visibility(request: Request) -> Access | None:
    """The caller's access when it limits what it may read; None when it may read anything."""
    access = await caller_access(request)
    everything = access.read_all and not access.personal and not access.hidden
    return None if everything else access


def access_for(who: Identity, workspace: Workspace) -> Access:
    """The access of a caller: its key's scopes and the workspace's anonymous ones."""
    key = who.key
    return grant_access(
        None if key is None else key.scopes, None if key is None else key.purpose, workspace
    )


def refused(request: Request, what: str) -> ApiError:
    """401 for an anonymous caller (with the challenge to send a key), 403 for a key holder."""
    who = request.scope.get("state", {}).get(IDENTITY)
    if not isinstance(who, Identity) or who.key is None:
        return ApiError(401, f"{what} needs an API key that grants it", headers=_CHALLENGE)
    return ApiError(403, f"the API key {who.key.id} does not grant {what}")


async def writer(request: Request) -> None:
    """Let through only callers that may write some entities (per-entity checks follow)."""
    access = await caller_access(request)
    if not (access.write_all or access.writable):
        raise refused(request, "writing entities")


@dataclass(frozen=True, slots=True)
class Subscriber:
    """Who manages subscriptions: the owner of those it creates, and whether it manages all."""

    owner: str | None
    """Its key's id; None without a key (where anonymous scopes are given)."""
    sees_all: bool = False
    """An admin key manages every subscription."""


async def subscriber(request: Request) -> Subscriber:
    """Let through callers with a key (or every caller where anonymous scopes are given, in a
    laboratory): a subscription notifies what its owner's key reads, so it needs a key."""
    await caller_access(request)
    who: Identity = request.scope["state"][IDENTITY]
    if who.key is None:
        if not request.app.state.runtime.workspace.settings.gateway.anonymous_scopes:
            raise refused(request, "subscriptions")
        return Subscriber(None)
    if who.source == "provider":
        # Notifications go out when no token is at hand: a subscription needs a stored key.
        raise ApiError(403, "subscriptions need an API key (or a token of one), not a login token")
    if who.source == "token":
        stored = await request.app.state.gatekeeper.keys.find(who.key.id)
        if stored is None or set(stored[0].scopes) != set(who.key.scopes):
            raise ApiError(
                403,
                "a token of some of its key's scopes cannot subscribe: notifications carry "
                "what the key reads; use the key, or a token of all its scopes",
            )
    return Subscriber(who.key.id, who.has("admin"))


async def writer_of_all(request: Request) -> None:
    """Let through only callers that may write every non-personal dataset (``write``)."""
    if not (await caller_access(request)).write_all:
        raise refused(request, "this operation (the write scope for every dataset)")


def require(scope: str) -> Callable[[Identity], Awaitable[Identity]]:
    """A dependency that lets through only callers whose key grants ``scope``: 401 without a
    key, 403 with one that does not grant it."""

    async def check(caller: IdentityDep) -> Identity:
        if caller.key is None:
            raise ApiError(401, f"this needs an API key with the {scope} scope", headers=_CHALLENGE)
        if not caller.has(scope):
            raise ApiError(403, f"the API key {caller.key.id} does not have the {scope} scope")
        return caller

    return check


def write_refusal(
    access: Access, current: StoredEntity | None, types: tuple[str, ...] | None = None
) -> ApiError | None:
    """Why the caller may not write ``current`` (or give an entity ``types``); None if it may.

    An entity it may not even read is 404, as if it did not exist.
    """
    if current is not None and not access.can_write(current.types):
        if not access.can_read(current.types):
            return ApiError(404, f"there is no entity {current.id}", ngsild_type="ResourceNotFound")
        detail = f"the caller may not write entities of {current.id}'s types"
        return ApiError(403, detail, ngsild_type=FORBIDDEN)
    if types is not None and not access.can_write(types):
        detail = f"the caller may not write entities of type {', '.join(types)}"
        return ApiError(403, detail, ngsild_type=FORBIDDEN)
    return None


def write_check(access: Access, types: tuple[str, ...] | None = None) -> EntityCheck:
    """A store write's check that refuses what ``access`` may not write (see write_refusal)."""

    def check(current: StoredEntity | None) -> None:
        refusal = write_refusal(access, current, types)
        if refusal is not None:
            raise refusal

    return check


def note_types(request: Request, types: Iterable[str]) -> None:
    """Note, for the usage counts, the dataset of the entity types a request used (when one)."""
    datasets: dict[str, str] = request.app.state.type_datasets
    found = {datasets[name] for name in set(types) if name in datasets}
    if len(found) == 1:
        request.scope.setdefault("state", {})[DATASET] = found.pop()
