"""Fixtures that give every contract test a fresh store on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from stadsnav.store.postgres import PostgresStore
from stadsnav.store.sql import SqlStore
from stadsnav.store.sqlite import SqliteStore

POSTGRES_URLS = ("postgresql://postgres@127.0.0.1:5432/test", "postgresql:///test")

OpenStore = Callable[[], SqlStore]


def _postgres_url() -> str:
    errors = []
    for url in POSTGRES_URLS:
        try:
            with psycopg.connect(url, connect_timeout=3):
                return url
        except psycopg.Error as error:
            errors.append(f"{url}: {error}")
    message = "PostgreSQL not reachable at 127.0.0.1:5432: " + "; ".join(errors)
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    """Opens stores (several may share one database) on the parametrized backend."""
    opened: list[SqlStore] = []
    schema = f"test_{uuid.uuid4().hex}"
    url = _postgres_url() if request.param == "postgres" else ""

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
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )


@pytest.fixture
def empty_store(open_store: OpenStore) -> SqlStore:
    """A store on an empty database, not migrated."""
    return open_store()


@pytest.fixture
def store(empty_store: SqlStore) -> SqlStore:
    """A migrated store on an empty database."""
    empty_store.migrate()
    return empty_store
