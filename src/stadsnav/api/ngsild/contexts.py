"""Where @contexts come from: the bundled core, hosted documents, workspace files and the web.

Each URL a request's @context names is looked up in turn: the core context (any version: the
bundled one), a context this broker hosts (``…/ngsi-ld/v1/jsonldContexts/{id}``, from the
tenant's store), the cache of contexts already loaded, a workspace file (``[ngsild] contexts``)
and only then the web: one fetch per URL at a time, with a timeout and a size limit.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote

import anyio.to_thread
import httpx
import orjson
import structlog

from stadsnav.api.problems import ApiError
from stadsnav.model.jsonld import (
    MAX_CONTEXT_DEPTH,
    ActiveContext,
    ContextError,
    context_urls,
    is_core_context,
    user_context,
)
from stadsnav.store.sql_contexts import JsonLdContextRows
from stadsnav.workspace.models import NgsildSettings, Workspace

log = structlog.get_logger("stadsnav.ngsild")

CACHED: Final = "Cached"
"""Kind of a context the broker loaded from its URL (GS CIM 009, 5.13.1)."""
HOSTED_PATH: Final = re.compile(r"/ngsi-ld/v1/jsonldContexts/([^/?#]+)$")
"""The path under which this broker serves the contexts it hosts."""
_PROCESSED_ENTRIES = 128
_RETRY_STALE = timedelta(minutes=1)
_ACCEPT = "application/ld+json, application/json;q=0.9, */*;q=0.1"


@dataclass(slots=True)
class Usage:
    """How often, and when last, a context was used by a request."""

    hits: int = 0
    last: datetime | None = None

    def hit(self) -> None:
        """Count one use, now."""
        self.hits += 1
        self.last = datetime.now(UTC)


@dataclass(slots=True)
class CachedContext:
    """A context document loaded from its URL (the web or a workspace file)."""

    url: str
    document: dict[str, Any]
    size: int
    created_at: datetime
    expires_at: datetime
    serial: int
    """Tells two loads of one URL apart, so what was derived from the older is not reused."""
    usage: Usage = field(default_factory=Usage)
    fresh_until: float = 0.0
    """``time.monotonic()`` after which the document is loaded again."""


@dataclass(frozen=True, slots=True)
class _Found:
    document: dict[str, Any]
    fingerprint: tuple[str, str | int]
    usage: Usage


class ContextResolver:
    """Resolves a request's @context to its active context; loads each document once."""

    def __init__(self, settings: NgsildSettings | None = None, root: Path | None = None) -> None:
        self.settings = NgsildSettings() if settings is None else settings
        self.started_at = datetime.now(UTC)
        self._files = _read_files(self.settings, root)
        self._cache: OrderedDict[str, CachedContext] = OrderedDict()
        self._cache_bytes = 0
        self._serial = 0
        self._loading: dict[str, asyncio.Future[CachedContext]] = {}
        self._processed: OrderedDict[tuple[bytes, tuple[Any, ...]], ActiveContext] = OrderedDict()
        self._hosted_usage: weakref.WeakKeyDictionary[Any, dict[str, Usage]] = (
            weakref.WeakKeyDictionary()
        )

    @classmethod
    def of(cls, workspace: Workspace) -> ContextResolver:
        """The resolver of a workspace's ``[ngsild]`` settings and context files."""
        return cls(workspace.settings.ngsild, workspace.root)

    async def resolve(self, local: Any, store: JsonLdContextRows | None = None) -> ActiveContext:
        """The active context of ``local`` (URLs, objects or a list), core context included.

        ``store`` holds the contexts hosted for the request's tenant.
        """
        found: dict[str, _Found] = {}
        await self._collect(local, None, store, found, ())
        key = (orjson.dumps(local), tuple((url, item.fingerprint) for url, item in found.items()))
        active = self._processed.get(key)
        if active is None:
            active = _process(local, found)
            self._processed[key] = active
            if len(self._processed) > _PROCESSED_ENTRIES:
                self._processed.popitem(last=False)
        else:
            self._processed.move_to_end(key)
        for item in found.values():
            item.usage.hit()
        return active

    async def _collect(
        self,
        local: Any,
        base: str | None,
        store: JsonLdContextRows | None,
        found: dict[str, _Found],
        chain: tuple[str, ...],
    ) -> None:
        # Loops and over-deep nesting are left for the context processing to refuse.
        if len(chain) >= MAX_CONTEXT_DEPTH:
            return
        for url in context_urls(local, base):
            if is_core_context(url) or url in found:
                continue
            item = await self._find(url, store)
            found[url] = item
            await self._collect(item.document["@context"], url, store, found, (*chain, url))

    async def _find(self, url: str, store: JsonLdContextRows | None) -> _Found:
        local_id = hosted_id(url)
        if local_id is not None and store is not None:
            stored = await anyio.to_thread.run_sync(store.jsonld_context, local_id)
            if stored is not None:
                document = parse_document(url, stored.body)
                return _Found(document, ("hosted", local_id), self.hosted_usage(store, local_id))
        entry = await self.cached(url)
        return _Found(entry.document, ("cached", entry.serial), entry.usage)

    def hosted_usage(self, store: JsonLdContextRows, local_id: str) -> Usage:
        """The uses of a hosted context by this process's requests."""
        usage = self._hosted_usage.setdefault(store, {})
        return usage.setdefault(local_id, Usage())

    def forget_hosted(self, store: JsonLdContextRows, local_id: str) -> None:
        """Drop the uses counted for a hosted context that was deleted."""
        self._hosted_usage.get(store, {}).pop(local_id, None)

    async def cached(self, url: str) -> CachedContext:
        """The document at ``url``: from the cache while fresh, else loaded (once at a time)."""
        entry = self._cache.get(url)
        if entry is not None and time.monotonic() < entry.fresh_until:
            self._cache.move_to_end(url)
            return entry
        loading = self._loading.get(url)
        if loading is None:
            loading = asyncio.ensure_future(self._refresh(url, entry))
            self._loading[url] = loading
            loading.add_done_callback(lambda done: self._loaded(url, done))
        # Shielded: a client that gives up does not cancel the load the others wait for.
        return await asyncio.shield(loading)

    def _loaded(self, url: str, done: asyncio.Future[CachedContext]) -> None:
        self._loading.pop(url, None)
        if not done.cancelled():
            done.exception()  # retrieved, so a load nobody waits for any more logs nothing

    async def _refresh(self, url: str, stale: CachedContext | None) -> CachedContext:
        try:
            document, size = await self.load(url)
        except ApiError as error:
            if stale is None:
                raise
            # A context that was fine keeps being used while its server is away or broken.
            log.warning("context_refresh_failed", url=url, reason=error.detail)
            stale.fresh_until = (
                time.monotonic() + min(_RETRY_STALE, self.settings.context_ttl).total_seconds()
            )
            return stale
        return self._keep(url, document, size)

    async def reload(self, url: str) -> CachedContext:
        """Load ``url`` again now and replace its cache entry; 503 if that fails."""
        try:
            document, size = await self.load(url)
        except ApiError as error:
            raise ApiError(
                503, f"cannot reload @context {url}: {error.detail}", ngsild_type=_NOT_AVAILABLE
            ) from None
        return self._keep(url, document, size)

    def forget(self, url: str) -> bool:
        """Drop a cached context; whether there was one."""
        entry = self._cache.pop(url, None)
        if entry is None:
            return False
        self._cache_bytes -= entry.size
        return True

    def cached_contexts(self) -> list[CachedContext]:
        """The contexts in the cache, least recently used first."""
        return list(self._cache.values())

    def cached_context(self, url: str) -> CachedContext | None:
        """The cache entry of ``url``, fresh or not."""
        return self._cache.get(url)

    def _keep(self, url: str, document: dict[str, Any], size: int) -> CachedContext:
        self.forget(url)
        self._serial += 1
        ttl = self.settings.context_ttl
        now = datetime.now(UTC)
        entry = CachedContext(
            url, document, size, now, now + ttl, self._serial,
            fresh_until=time.monotonic() + ttl.total_seconds(),
        )  # fmt: skip
        self._cache[url] = entry
        self._cache_bytes += size
        while len(self._cache) > 1 and (
            len(self._cache) > self.settings.context_cache_entries
            or self._cache_bytes > self.settings.context_cache_bytes
        ):
            _, evicted = self._cache.popitem(last=False)
            self._cache_bytes -= evicted.size
        return entry

    async def load(self, url: str) -> tuple[dict[str, Any], int]:
        """The context document at ``url`` and its size, from a workspace file or the web."""
        body = self._files.get(url)
        if body is None:
            body = await self._download(url)
        return parse_document(url, body), len(body)

    async def _download(self, url: str) -> bytes:
        _check_url(url)
        timeout = self.settings.context_timeout
        try:
            async with asyncio.timeout(timeout):
                return await self._get(url)
        except TimeoutError:
            reason = f"no answer within {timeout:g} s"
        except (httpx.HTTPError, httpx.InvalidURL) as error:  # InvalidURL: a bad redirect
            reason = str(error) or type(error).__name__
        raise ApiError(503, f"cannot load @context {url}: {reason}", ngsild_type=_NOT_AVAILABLE)

    async def _get(self, url: str) -> bytes:
        limit = self.settings.context_max_bytes
        too_large = ApiError(
            503,
            f"cannot load @context {url}: it is larger than {limit} bytes",
            ngsild_type=_NOT_AVAILABLE,
        )
        async with (
            httpx.AsyncClient(follow_redirects=True, verify=_tls()) as client,
            client.stream("GET", url, headers={"Accept": _ACCEPT}) as response,
        ):
            if response.status_code >= 400:
                raise ApiError(
                    503,
                    f"cannot load @context {url}: it answered HTTP {response.status_code}",
                    ngsild_type=_NOT_AVAILABLE,
                )
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise too_large
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    raise too_large
            return bytes(body)


_NOT_AVAILABLE: Final = "LdContextNotAvailable"


@cache
def _tls() -> ssl.SSLContext:
    """One TLS configuration for every fetch: building one reads the CA bundle (tens of ms)."""
    return httpx.create_ssl_context()


def _check_url(url: str) -> None:
    """Raise BadRequestData unless ``url`` is an http(s) URL that can be fetched."""
    problem = None if url.startswith(("http://", "https://")) else "is not an http(s) URL"
    if problem is None:
        try:
            port = httpx.URL(url).port
        except httpx.InvalidURL as error:
            problem = f"is not a valid URL: {error}"
        else:
            if port is not None and not 0 < port < 65536:
                problem = f"is not a valid URL: port {port} is out of range"
    if problem is not None:
        raise ApiError(400, f"@context {url!r} {problem}", ngsild_type="BadRequestData")


def hosted_id(url: str) -> str | None:
    """The local id in a URL of this broker's ``/jsonldContexts/{id}``, absolute or not."""
    match = HOSTED_PATH.search(url.split("?", 1)[0])
    return None if match is None else unquote(match.group(1))


def check_context_value(context: Any) -> None:
    """Raise BadRequestData unless ``context`` is a URL, an object, null or a list of them."""
    items = context if isinstance(context, list) else [context]
    for item in items:
        if item is not None and not isinstance(item, str | dict):
            raise ApiError(
                400,
                f"an @context must be a URL, an object or a list of them, not {item!r}",
                ngsild_type="BadRequestData",
            )


def parse_document(url: str, body: bytes) -> dict[str, Any]:
    """A context document's JSON; BadRequestData if it is not one (GS CIM 009, 5.5.6)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ApiError(
            400, f"the @context at {url} is not JSON", ngsild_type="BadRequestData"
        ) from None
    if not isinstance(document, dict) or "@context" not in document:
        raise ApiError(
            400,
            f"the document at {url} is not a JSON-LD context: it has no @context member",
            ngsild_type="BadRequestData",
        )
    check_context_value(document["@context"])
    return document


def _process(local: Any, found: dict[str, _Found]) -> ActiveContext:
    def load(url: str) -> Any:
        item = found.get(url)
        if item is None:
            raise ContextError(f"the context {url} was not loaded")
        return item.document

    try:
        return user_context(local, load)
    except ContextError as error:
        raise ApiError(400, f"@context: {error}", ngsild_type="BadRequestData") from None


def _read_files(settings: NgsildSettings, root: Path | None) -> dict[str, bytes]:
    """The workspace's context files, read once, so a city without internet needs no fetch."""
    files: dict[str, bytes] = {}
    for url, path in settings.contexts.items():
        file = Path(path) if root is None else root / path
        try:
            body = file.read_bytes()
        except OSError as error:
            raise ValueError(f"[ngsild] contexts: cannot read {file} for {url}: {error}") from None
        try:
            parse_document(url, body)
        except ApiError as error:
            raise ValueError(f"[ngsild] contexts: {file}: {error.detail}") from None
        files[url] = body
    return files
