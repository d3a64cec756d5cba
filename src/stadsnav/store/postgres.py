"""The context store on PostgreSQL: one connection per thread, optional schema per store."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from psycopg import sql as pgsql
from psycopg.types.json import set_json_loads

from stadsnav.model.geo import Box
from stadsnav.store.sql import INSERT_INBOX, SqlStore, utc

_LOCK_KEY = 0x5374_6164_736E_6176  # "Stadsnav": one advisory lock for schema changes
_INBOX_LOCK_KEY = _LOCK_KEY + 1  # serializes inbox appends
_AUDIT_LOCK_KEY = _LOCK_KEY + 2  # serializes audit log appends: one chain
_LOCK = "SELECT pg_advisory_xact_lock(%s)"
# In sorted order, so two writers of overlapping entities never wait for each other in a cycle.
_LOCK_ENTITIES = (
    "SELECT count(pg_advisory_xact_lock(key)) "
    "FROM (SELECT unnest(%s::bigint[]) AS key ORDER BY 1) AS keys"
)
_MAX_IDENTIFIER = 63
"""Bytes of a PostgreSQL identifier; longer ones are cut."""


class PostgresStore(SqlStore):
    """A ContextStore in a PostgreSQL database; ``schema`` (created if missing) isolates it.

    A tenant's store is the schema ``tenant_<name>`` in the same database (``<schema>_tenant_
    <name>`` when this store has a schema), listed in this store's ``tenant_schemas``.
    """

    dialect = "postgres"
    regex_operator = "~"
    relationship_object = "({}->>'object')"
    property_value = "({}->>'value')"
    attribute_type = "({}->>'type')"
    plain_attribute = (
        "({0}->>'type' = 'Property' AND jsonb_typeof({0}->'value') IN ('string', 'number'))"
    )
    plain_is_text = "(jsonb_typeof({}->'value') = 'string')"
    # "C" compares bytes, which in UTF-8 is code point order (Python's), whatever the database's.
    plain_text = "(({}->>'value') COLLATE \"C\")"
    # The CASE keeps the cast off strings, whatever order the planner tests conditions in.
    plain_number = (
        "(CASE WHEN jsonb_typeof({0}->'value') = 'number' THEN ({0}->>'value')::float8 END)"
    )
    # Without the locks, a claim that started before another worker claimed, stored and
    # deleted a message would still try to claim it, and fail on the deleted inbox row.
    claim_row_locks = " FOR UPDATE OF i SKIP LOCKED"

    def __init__(self, conninfo: str, schema: str | None = None) -> None:
        super().__init__()
        self.conninfo = conninfo
        self.schema = schema

    def _connect(self) -> psycopg.Connection[Any]:
        connection = psycopg.connect(self.conninfo, autocommit=True)
        set_json_loads(orjson.loads, connection)
        connection.execute("SET TIME ZONE 'UTC'")
        if self.schema is not None:
            self._use_schema(connection, self.schema)
        return connection

    @staticmethod
    def _use_schema(connection: psycopg.Connection[Any], schema: str) -> None:
        exists = connection.execute(
            "SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)
        ).fetchone()
        if exists is None:
            # Two connections creating the same schema at once would collide in pg_namespace.
            with connection.transaction():
                connection.execute(_LOCK, (_LOCK_KEY,))
                connection.execute(
                    pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(pgsql.Identifier(schema))
                )
        connection.execute(pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(schema)))

    def _query_planned(self, query: str, params: Sequence[Any] = ()) -> list[Any]:
        # Never prepared: after five runs PostgreSQL may switch a prepared statement to a generic
        # plan, which cannot know how few entities a box or a value selects; for a near query
        # it walks every entity in id order (80 ms instead of 10 at 100,000 entities).
        cursor = self._connection().execute(self.sql(query), params, prepare=False)
        return list(cursor.fetchall())

    def _lost(self, connection: Any) -> bool:
        """A psycopg connection is closed once the server has gone away."""
        return bool(connection.closed)

    @contextmanager
    def _transaction(self, connection: Any) -> Iterator[None]:
        with connection.transaction():
            yield

    def _lock_migrations(self, cursor: Any) -> None:
        cursor.execute(_LOCK, (_LOCK_KEY,))

    def sql(self, query: str) -> str:
        """The query with ``%s`` placeholders."""
        return query.replace("?", "%s")

    def time_in(self, value: datetime) -> datetime:
        """The datetime in UTC, for a TIMESTAMPTZ column."""
        return utc(value)

    def _time_out(self, value: Any) -> datetime:
        result: datetime = value.astimezone(UTC)
        return result

    def _in_list(self, column: str) -> str:
        return f"{column} = ANY(?)"

    def _list_param(self, values: Sequence[Any]) -> list[Any]:
        return list(values)

    def _insert_inbox(self, cursor: Any, rows: list[tuple[Any, ...]]) -> list[int]:
        if not rows:
            return []
        cursor.executemany(self.sql(INSERT_INBOX + " RETURNING id"), rows, returning=True)
        ids: list[int] = []
        while True:
            ids.append(cursor.fetchone()[0])
            if not cursor.nextset():
                return ids

    def _lock_inbox(self, cursor: Any) -> None:
        # Two appends of the same message must not both find it missing and both insert it.
        cursor.execute(_LOCK, (_INBOX_LOCK_KEY,))

    def _lock_audit(self, cursor: Any) -> None:
        # Two appends must not both chain to the same head.
        cursor.execute(_LOCK, (_AUDIT_LOCK_KEY,))

    def execute_script(self, cursor: Any, script: str) -> None:
        """Run the script in one call; PostgreSQL accepts several statements without parameters."""
        cursor.execute(script)

    def _table_exists(self, name: str) -> bool:
        rows = self._query("SELECT to_regclass(%s) IS NOT NULL", [name])
        return bool(rows[0][0])

    def _lock_entities(self, cursor: Any, entity_ids: Sequence[str]) -> None:
        # Advisory locks by id rather than row locks: they cover ids not created yet, and they
        # leave entity rows alone, which the pipeline locks after its attribute rows; taking
        # entity rows first here could deadlock with it.
        keys = sorted({_entity_key(self.schema, entity_id) for entity_id in entity_ids})
        cursor.execute(_LOCK_ENTITIES, (keys,))

    def _area_query(self, name: str, box: Box) -> tuple[str, list[Any]]:
        # The box expression of the entity_locations_box GiST index, so the index answers.
        query = (
            "SELECT l.entity_id FROM entity_locations l "
            "WHERE box(point(l.min_lon, l.min_lat), point(l.max_lon, l.max_lat)) "
            "&& box(point(?, ?), point(?, ?)) AND l.name = ?"
        )
        return query, [box.min_lon, box.min_lat, box.max_lon, box.max_lat, name]

    def _open_tenant(self, tenant: str, create: bool) -> PostgresStore | None:
        schema = self._registered_schema(tenant)
        if schema is None:
            if not create:
                return None
            schema = tenant_schema(self.schema, tenant)
        store = PostgresStore(self.conninfo, schema=schema)
        try:
            # Also on opening: a tenant's schema is brought up to this version's.
            store.migrate()
            # Listed only once migrated, so a half-made tenant is not handed out.
            with self._write() as cursor:
                cursor.execute(
                    "INSERT INTO tenant_schemas (name, schema_name, created_at) "
                    "VALUES (%s, %s, now()) ON CONFLICT (name) DO NOTHING",
                    (tenant, schema),
                )
        except BaseException:
            store.close()
            raise
        return store

    def _registered_schema(self, tenant: str) -> str | None:
        if not self._table_exists("tenant_schemas"):
            return None
        rows = self._query("SELECT schema_name FROM tenant_schemas WHERE name = %s", [tenant])
        return str(rows[0][0]) if rows else None

    def _tenant_names(self) -> list[str]:
        if not self._table_exists("tenant_schemas"):
            return []
        return [str(row[0]) for row in self._query("SELECT name FROM tenant_schemas")]


def tenant_schema(main_schema: str | None, tenant: str) -> str:
    """The schema of a tenant: ``tenant_<name>``, after the main store's schema if it has one.

    A name longer than PostgreSQL keeps is cut and given a hash of the whole, so it stays unique.
    """
    name = f"tenant_{tenant}" if main_schema is None else f"{main_schema}_tenant_{tenant}"
    encoded = name.encode()
    if len(encoded) <= _MAX_IDENTIFIER:
        return name
    digest = hashlib.sha256(encoded).hexdigest()[:16]
    head = encoded[: _MAX_IDENTIFIER - len(digest) - 1].decode(errors="ignore")
    return f"{head}_{digest}"


def _entity_key(schema: str | None, entity_id: str) -> int:
    """The advisory lock key of one entity id of one schema: 64 bits of a hash."""
    digest = hashlib.blake2b(f"{schema or ''}\0{entity_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
