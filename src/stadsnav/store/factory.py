"""Open a context store from a URL."""

from __future__ import annotations

from pathlib import Path

from stadsnav.store.base import ContextStore
from stadsnav.store.postgres import PostgresStore
from stadsnav.store.sqlite import SqliteStore

SUPPORTED = "sqlite:///relative/path.db, sqlite:////absolute/path.db, postgresql://…, postgres://…"
SQLITE_SCHEME = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SCHEMES = (SQLITE_SCHEME, *POSTGRES_SCHEMES)


def open_store(url: str) -> ContextStore:
    """The store a URL names; the schema is not migrated here."""
    if url.startswith(SQLITE_SCHEME):
        return SqliteStore(_sqlite_path(url.removeprefix(SQLITE_SCHEME)))
    if url.startswith(POSTGRES_SCHEMES):
        return PostgresStore(url)
    # Only the scheme is echoed: a database URL may hold a password.
    if "://" not in url:
        raise ValueError(f"not a store URL; supported: {SUPPORTED}")
    scheme = url.partition("://")[0]
    raise ValueError(f"unsupported store URL scheme {scheme!r}; supported: {SUPPORTED}")


def _sqlite_path(text: str) -> Path:
    if not text or text.endswith("/") or text == ":memory:":
        raise ValueError(
            "a sqlite store URL needs a file path (in-memory databases are not shared between "
            f"threads); supported: {SUPPORTED}"
        )
    path = Path(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
