"""Fixtures that give every contract test a fresh store on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stadsnav.store.postgres import PostgresStore
from stadsnav.store.sql import SqlStore
from stadsnav.store.sqlite import SqliteStore
from support import drop_schema, fresh_schema, postgres_url

OpenStore = Callable[[], SqlStore]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    """Opens stores (several may share one database) on the parametrized backend."""
    opened: list[SqlStore] = []
    schema = fresh_schema()
    url = postgres_url() if request.param == "postgres" else ""

    def open_one() -> SqlStore:
        store: SqlStore
        if request.param == "sqlite":
            store = SqliteStore(tmp_path / "context.db")
        else:
            store = PostgresStore(url, schema=schema)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()
    if request.param == "postgres":
        drop_schema(url, schema)


@pytest.fixture
def empty_store(open_store: OpenStore) -> SqlStore:
    """A store on an empty database, not migrated."""
    return open_store()


@pytest.fixture
def store(empty_store: SqlStore) -> SqlStore:
    """A migrated store on an empty database."""
    empty_store.migrate()
    return empty_store
