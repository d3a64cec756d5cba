"""Tenants (NGSILD-Tenant): isolated stores beside the default one, on every backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from stadsnav.store.base import ContextStore, EntityChange
from stadsnav.store.postgres import PostgresStore, tenant_schema
from stadsnav.store.sql import SqlStore
from stadsnav.store.sqlite import SqliteStore

OpenStore = Callable[[], SqlStore]
BEACH = "urn:ngsi-ld:Beach:se:skelleftea:byske"
NAME = {"type": "Property", "value": "Byske havsbad"}


@pytest.fixture
def tenant_schemas(store: SqlStore) -> Iterator[None]:
    """Drops the schemas the test's PostgreSQL tenants were made in (the store's goes anyway)."""
    yield
    if isinstance(store, PostgresStore) and store.schema is not None:
        with psycopg.connect(store.conninfo, autocommit=True) as connection:
            rows = connection.execute(
                "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)",
                (f"{store.schema}_tenant_",),
            ).fetchall()
            for (schema,) in rows:
                connection.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )


def add_beach(store: ContextStore, entity_id: str = BEACH) -> None:
    change = EntityChange(type="Beach", put=[("name", NAME)])
    store.change_entities({entity_id: lambda _: change})


def tenant(store: ContextStore, name: str, create: bool = True) -> ContextStore:
    found = store.for_tenant(name, create)
    assert found is not None
    return found


@pytest.mark.usefixtures("tenant_schemas")
def test_tenants_are_isolated_from_the_default_and_each_other(store: SqlStore) -> None:
    skelleftea, umea = tenant(store, "skelleftea"), tenant(store, "umea-kommun_2")
    add_beach(skelleftea)
    add_beach(umea, "urn:ngsi-ld:Beach:se:umea:nydala")
    assert [e.id for e in skelleftea.find_entities()] == [BEACH]
    assert [e.id for e in umea.find_entities()] == ["urn:ngsi-ld:Beach:se:umea:nydala"]
    assert store.find_entities() == []
    assert store.get_entity(BEACH) is None
    assert skelleftea.schema_version() == store.schema_version()
    # Asked again, it is the same store; asked of a tenant, it answers for the default store.
    assert store.for_tenant("skelleftea", False) is skelleftea
    assert umea.for_tenant("skelleftea", False) is skelleftea
    assert umea.tenants() == ["skelleftea", "umea-kommun_2"]


@pytest.mark.usefixtures("tenant_schemas")
def test_a_tenant_exists_only_once_created(store: SqlStore) -> None:
    assert store.tenants() == []
    assert store.for_tenant("lulea", False) is None
    assert store.tenants() == []
    tenant(store, "lulea")
    assert store.tenants() == ["lulea"]


@pytest.mark.parametrize("name", ["", "a" * 65, "../main", "bad name", "ö", "a.b"])
def test_names_outside_the_safe_alphabet_are_refused(store: SqlStore, name: str) -> None:
    with pytest.raises(ValueError, match="tenant"):
        store.for_tenant(name, True)
    assert store.tenants() == []


@pytest.mark.usefixtures("tenant_schemas")
def test_tenants_outlive_the_store_and_close_with_it(
    store: SqlStore, open_store: OpenStore
) -> None:
    longest = "T" * 64
    add_beach(tenant(store, longest))
    add_beach(tenant(store, "b"), "urn:ngsi-ld:Beach:b")
    opened = tenant(store, "b")
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        opened.find_entities()

    reopened = open_store()
    assert reopened.tenants() == ["T" * 64, "b"]
    again = reopened.for_tenant(longest, False)
    assert again is not None
    assert [e.id for e in again.find_entities()] == [BEACH]
    assert reopened.find_entities() == []


def test_sqlite_tenants_are_files_next_to_the_store(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "stadsnav.db")
    store.migrate()
    add_beach(tenant(store, "skelleftea"))
    assert (tmp_path / "stadsnav.tenant-skelleftea.sqlite").is_file()
    (tmp_path / "stadsnav.tenant-bad name.sqlite").touch()  # not a tenant name: not listed
    (tmp_path / "other.tenant-umea.sqlite").touch()  # another store's
    assert store.tenants() == ["skelleftea"]
    store.close()


def test_an_in_memory_store_has_in_memory_tenants() -> None:
    store = SqliteStore(":memory:")
    store.migrate()
    assert store.for_tenant("skelleftea", False) is None
    add_beach(tenant(store, "skelleftea"))
    assert store.tenants() == ["skelleftea"]
    assert [e.id for e in tenant(store, "skelleftea", False).find_entities()] == [BEACH]
    assert store.find_entities() == []
    store.close()


def test_tenant_schema_names_fit_postgresql_identifiers() -> None:
    assert tenant_schema(None, "skelleftea") == "tenant_skelleftea"
    assert tenant_schema("stadsnav", "umea") == "stadsnav_tenant_umea"
    long_a, long_b = tenant_schema(None, "a" * 64), tenant_schema(None, "a" * 63 + "b")
    assert len(long_a) == len(long_b) == 63
    assert long_a != long_b
    assert long_a.startswith("tenant_aaaa")
