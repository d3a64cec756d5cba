"""A fresh, migrated store on each backend for the notifier's store tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stadsnav.store.postgres import PostgresStore
from stadsnav.store.sql import SqlStore
from stadsnav.store.sqlite import SqliteStore
from support import drop_schema, fresh_schema, postgres_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """A migrated store on an empty database, on each backend."""
    opened: SqlStore
    if request.param == "sqlite":
        opened = SqliteStore(tmp_path / "context.db")
    else:
        url, schema = postgres_url(), fresh_schema()
        opened = PostgresStore(url, schema=schema)
    opened.migrate()
    yield opened
    opened.close()
    if request.param == "postgres":
        drop_schema(url, schema)
