"""The context store on PostgreSQL: one connection per thread, optional schema per store."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from psycopg import sql as pgsql
from psycopg.types.json import set_json_loads

from stadsnav.store.sql import INSERT_INBOX, SqlStore, utc

_LOCK_KEY = 0x5374_6164_736E_6176  # "Stadsnav": one advisory lock for schema changes
_INBOX_LOCK_KEY = _LOCK_KEY + 1  # serializes inbox appends
_LOCK = "SELECT pg_advisory_xact_lock(%s)"


class PostgresStore(SqlStore):
    """A ContextStore in a PostgreSQL database; ``schema`` (created if missing) isolates it."""

    dialect = "postgres"
    regex_operator = "~"
    relationship_object = "({}->>'object')"
    property_value = "({}->>'value')"
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

    def execute_script(self, cursor: Any, script: str) -> None:
        """Run the script in one call; PostgreSQL accepts several statements without parameters."""
        cursor.execute(script)

    def _table_exists(self, name: str) -> bool:
        rows = self._query("SELECT to_regclass(%s) IS NOT NULL", [name])
        return bool(rows[0][0])
