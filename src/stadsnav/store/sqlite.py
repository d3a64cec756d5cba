"""The context store on SQLite: one file, WAL, one connection per thread."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from stadsnav.store.migrate import split_statements
from stadsnav.store.sql import SqlStore, utc


class SqliteStore(SqlStore):
    """A ContextStore in one SQLite file.

    Times are stored as fixed-width ISO-8601 UTC text (``2024-06-01T12:00:00.000000Z``), so text
    order is time order.
    """

    dialect = "sqlite"
    regex_operator = "REGEXP"

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path, timeout=10.0, isolation_level=None, check_same_thread=False
        )
        connection.execute("PRAGMA busy_timeout = 10000")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA foreign_keys = ON")
        # History inserts touch one index page per series; a larger cache and rarer
        # checkpoints keep a 1000-write batch from re-reading and re-syncing those pages.
        connection.execute("PRAGMA cache_size = -65536")
        connection.execute("PRAGMA wal_autocheckpoint = 10000")
        connection.create_function("regexp", 2, _regexp, deterministic=True)
        return connection

    @contextmanager
    def _transaction(self, connection: Any) -> Iterator[None]:
        # IMMEDIATE takes the write lock up front, so busy_timeout applies instead of a
        # deadlock error when a reader later tries to write.
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise

    def _lock_migrations(self, cursor: Any) -> None:
        """BEGIN IMMEDIATE already serializes writers."""

    def time_in(self, value: datetime) -> str:
        """ISO-8601 UTC text of fixed width."""
        return utc(value).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"

    def _time_out(self, value: Any) -> datetime:
        return datetime.fromisoformat(value)

    def _in_list(self, column: str) -> str:
        return f"{column} IN (SELECT value FROM json_each(?))"

    def _list_param(self, values: Sequence[Any]) -> str:
        return orjson.dumps(list(values)).decode()

    def _insert_returning_ids(self, cursor: Any, query: str, rows: list[Any]) -> list[int | None]:
        ids: list[int | None] = []
        for row in rows:
            found = cursor.execute(query, row).fetchone()
            ids.append(None if found is None else found[0])
        return ids

    def execute_script(self, cursor: Any, script: str) -> None:
        """Run the statements one by one: ``executescript`` would commit the transaction."""
        for statement in split_statements(script):
            cursor.execute(statement)

    def _table_exists(self, name: str) -> bool:
        rows = self._query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name])
        return bool(rows)


def _regexp(pattern: str, value: str | None) -> bool:
    # NGSI-LD idPattern matches anywhere in the id, like re.search; re caches compiled patterns.
    return value is not None and re.search(pattern, value) is not None
