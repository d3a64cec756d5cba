"""The context store on SQLite: one file, WAL, one connection per thread."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from stadsnav.model.geo import Box
from stadsnav.store.migrate import split_statements
from stadsnav.store.sql import INSERT_INBOX, TENANT_NAME, SqlStore, check_tenant, utc

MEMORY = ":memory:"


class SqliteStore(SqlStore):
    """A ContextStore in one SQLite file.

    Times are stored as fixed-width ISO-8601 UTC text (``2024-06-01T12:00:00.000000Z``), so text
    order is time order. A tenant's store is the file ``<stem>.tenant-<name>.sqlite`` next to
    this one (in memory when this one is).
    """

    dialect = "sqlite"
    regex_operator = "REGEXP"
    relationship_object = "json_extract({}, '$.object')"
    property_value = "json_extract({}, '$.value')"
    attribute_type = "json_extract({}, '$.type')"
    plain_attribute = (
        "(json_extract({0}, '$.type') = 'Property' "
        "AND json_type({0}, '$.value') IN ('text', 'integer', 'real'))"
    )
    plain_is_text = "(json_type({}, '$.value') = 'text')"
    # BINARY collation compares UTF-8 bytes, which is code point order.
    plain_text = "json_extract({}, '$.value')"
    plain_number = "json_extract({}, '$.value')"

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        # Threads of this process queue for the write lock here: a release wakes the next
        # writer at once, where SQLite's busy handler would have it sleep 1 ms, 2 ms, 5 ms ...
        self._writer = threading.RLock()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path, timeout=10.0, isolation_level=None, check_same_thread=False
        )
        connection.execute("PRAGMA busy_timeout = 10000")
        _enable_wal(connection)
        # FULL: a commit is on disk before the sender is told so, even through a power cut or
        # an OS crash (NORMAL survives only a crash of the process). Senders are acknowledged
        # per inbox group, so the sync is paid per group, not per message.
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute("PRAGMA foreign_keys = ON")
        # History inserts touch one index page per series; a larger cache and rarer
        # checkpoints keep a 1000-write batch from re-reading and re-syncing those pages.
        connection.execute("PRAGMA cache_size = -65536")
        connection.execute("PRAGMA wal_autocheckpoint = 10000")
        # Debian builds default to secure_delete = ON, which zeroes every freed inbox page and
        # writes it again; FAST only clears what costs no extra I/O.
        connection.execute("PRAGMA secure_delete = FAST")
        connection.create_function("regexp", 2, _regexp, deterministic=True)
        return connection

    @contextmanager
    def _transaction(self, connection: Any) -> Iterator[None]:
        # IMMEDIATE takes the write lock up front, so busy_timeout applies instead of a
        # deadlock error when a reader later tries to write.
        with self._writer:
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
        if value.tzinfo is not UTC:
            value = utc(value)
        # isoformat of a UTC datetime ends in "+00:00", always six characters.
        return value.isoformat(timespec="microseconds")[:-6] + "Z"

    def _time_out(self, value: Any) -> datetime:
        return datetime.fromisoformat(value)

    def _in_list(self, column: str) -> str:
        return f"{column} IN (SELECT value FROM json_each(?))"

    def _list_param(self, values: Sequence[Any]) -> str:
        return orjson.dumps(list(values)).decode()

    def _insert_inbox(self, cursor: Any, rows: list[tuple[Any, ...]]) -> list[int]:
        # One multi-row INSERT per chunk rather than executemany: the sqlite3 module gives up
        # and re-takes the GIL around every step, and each re-take waits for the busy event
        # loop's switch interval. BEGIN IMMEDIATE holds the write lock and AUTOINCREMENT gives
        # one statement's rows consecutive ids, so the last id gives them all.
        ids: list[int] = []
        for start in range(0, len(rows), _INSERT_CHUNK):
            chunk = rows[start : start + _INSERT_CHUNK]
            cursor.execute(_insert_rows(len(chunk)), [value for row in chunk for value in row])
            last: int = cursor.lastrowid
            ids += range(last - len(chunk) + 1, last + 1)
        return ids

    def _lock_inbox(self, cursor: Any) -> None:
        """BEGIN IMMEDIATE already serializes writers."""

    def _lock_audit(self, cursor: Any) -> None:
        """BEGIN IMMEDIATE already serializes writers."""

    def execute_script(self, cursor: Any, script: str) -> None:
        """Run the statements one by one: ``executescript`` would commit the transaction."""
        for statement in split_statements(script):
            cursor.execute(statement)

    def _table_exists(self, name: str) -> bool:
        rows = self._query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name])
        return bool(rows)

    def _open_tenant(self, tenant: str, create: bool) -> SqliteStore | None:
        if str(self.path) == MEMORY:
            # An in-memory tenant exists only as long as its cached store.
            path: str | Path = MEMORY
            if not create:
                return None
        else:
            path = self.tenant_path(tenant)
            if not create and not path.exists():
                return None
        store = SqliteStore(path)
        try:
            # Also on opening: a tenant's database is brought up to this version's schema.
            store.migrate()
        except BaseException:
            store.close()
            raise
        return store

    def _tenant_names(self) -> list[str]:
        if str(self.path) == MEMORY:
            return list(self._tenant_stores)
        prefix, suffix = f"{self.path.stem}{_TENANT_INFIX}", _TENANT_SUFFIX
        folder = self.path.parent
        if not folder.is_dir():
            return []
        names = [
            entry.name[len(prefix) : -len(suffix)]
            for entry in folder.iterdir()
            if entry.name.startswith(prefix) and entry.name.endswith(suffix)
        ]
        return [name for name in names if TENANT_NAME.fullmatch(name)]

    def _area_query(self, name: str, box: Box) -> tuple[str, list[Any]]:
        query = (
            "SELECT l.entity_id FROM entity_location_boxes b "
            "JOIN entity_locations l ON l.id = b.id WHERE b.min_lon <= ? AND b.max_lon >= ? "
            "AND b.min_lat <= ? AND b.max_lat >= ? AND l.name = ?"
        )
        return query, [box.max_lon, box.min_lon, box.max_lat, box.min_lat, name]

    def tenant_path(self, tenant: str) -> Path:
        """The database file of a tenant, next to this store's."""
        name = f"{self.path.stem}{_TENANT_INFIX}{check_tenant(tenant)}{_TENANT_SUFFIX}"
        return self.path.with_name(name)


_TENANT_INFIX = ".tenant-"
_TENANT_SUFFIX = ".sqlite"


# Six parameters a row stays far below SQLite's limit of 32,766 parameters a statement.
_INSERT_CHUNK = 1000
_ROW_PLACEHOLDERS = "(?, ?, ?, ?, ?, ?)"


@lru_cache(maxsize=64)
def _insert_rows(count: int) -> str:
    """An INSERT of ``count`` inbox rows, for one statement of a group commit."""
    head = INSERT_INBOX[: INSERT_INBOX.index("VALUES") + len("VALUES")]
    return f"{head} {', '.join([_ROW_PLACEHOLDERS] * count)}"


def _regexp(pattern: str, value: str | None) -> bool:
    # NGSI-LD idPattern matches anywhere in the id, like re.search; re caches compiled patterns.
    return value is not None and re.search(pattern, value) is not None


def _enable_wal(connection: sqlite3.Connection, timeout: float = 10.0) -> None:
    """Switch to WAL; retried, as SQLite does not apply busy_timeout to this switch."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
