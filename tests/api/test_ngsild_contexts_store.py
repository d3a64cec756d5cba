"""Hosted @context documents in the store (table jsonld_contexts), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from stadsnav.store.postgres import PostgresStore
from stadsnav.store.sql import SqlStore
from stadsnav.store.sql_contexts import HOSTED, IMPLICIT, StoredContext
from stadsnav.store.sqlite import SqliteStore
from support import drop_schema, fresh_schema, postgres_url

T0 = datetime(2026, 5, 4, 10, 30, 15, tzinfo=UTC)
MINIMAL = orjson.dumps({"@context": {"A1": "urn:ngsi-ld:attributes:A1"}})
LIST = orjson.dumps({"@context": ["http://smartdatamodels.org/context.jsonld"]})


@pytest.fixture
def store(backend: str, tmp_path: Path) -> Iterator[SqlStore]:
    """A migrated store on an empty database of the backend."""
    opened: SqlStore
    schema = fresh_schema()
    if backend == "sqlite":
        opened = SqliteStore(tmp_path / "contexts.db")
    else:
        opened = PostgresStore(postgres_url(), schema=schema)
    opened.migrate()
    yield opened
    opened.close()
    if backend == "postgres":
        drop_schema(postgres_url(), schema)


def test_hosted_contexts_are_kept_listed_and_deleted(store: SqlStore) -> None:
    hosted = StoredContext("a1", HOSTED, MINIMAL, T0)
    implicit = StoredContext("b2", IMPLICIT, LIST, T0 + timedelta(seconds=1))
    store.add_jsonld_context(implicit)
    store.add_jsonld_context(hosted)

    assert store.jsonld_context("a1") == hosted
    assert store.jsonld_context("nope") is None
    assert store.jsonld_contexts() == [hosted, implicit]
    assert store.jsonld_contexts(IMPLICIT) == [implicit]
    assert store.delete_jsonld_context("a1") is True
    assert store.delete_jsonld_context("a1") is False
    assert store.jsonld_contexts() == [implicit]


def test_an_identical_context_of_a_kind_is_found_again(store: SqlStore) -> None:
    store.add_jsonld_context(StoredContext("h", HOSTED, LIST, T0))
    store.add_jsonld_context(StoredContext("i", IMPLICIT, LIST, T0))

    found = store.same_jsonld_context(IMPLICIT, LIST)

    assert found is not None
    assert found.local_id == "i"
    assert store.same_jsonld_context(IMPLICIT, MINIMAL) is None


def test_a_local_id_is_taken_once(store: SqlStore) -> None:
    store.add_jsonld_context(StoredContext("a1", HOSTED, MINIMAL, T0))

    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        store.add_jsonld_context(StoredContext("a1", HOSTED, LIST, T0))
    assert store.jsonld_context("a1") == StoredContext("a1", HOSTED, MINIMAL, T0)


def test_only_the_known_kinds_are_stored(store: SqlStore) -> None:
    with pytest.raises(Exception, match=r"(?i)check"):
        store.add_jsonld_context(StoredContext("c", "Cached", MINIMAL, T0))
