"""Fixtures of the reliability suite: a workspace copy and a store URL per backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from platform_harness import Platform, reliability_workspace
from support import drop_schema, fresh_schema, postgres_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store URL on each backend: a SQLite file, or a fresh PostgreSQL schema (dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'stadsnav.db'}"
        return
    url = postgres_url()
    schema = fresh_schema()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    separator = "&" if "?" in url else "?"
    yield f"{url}{separator}options=-csearch_path%3D{schema}"
    drop_schema(url, schema)


@pytest.fixture
def platform(tmp_path: Path, storage_url: str) -> Iterator[Platform]:
    """The demo's beach webhook on a `stadsnav run` process (not started yet)."""
    running = Platform(reliability_workspace(tmp_path / "workspace"), storage_url)
    yield running
    running.close()
