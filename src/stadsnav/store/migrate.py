"""Versioned schema migrations: numbered SQL files applied in order, each in one transaction."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Protocol

_BOOTSTRAP = {
    "sqlite": (
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    ),
    "postgres": (
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
    ),
}


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file: its version (the file name without ``.sql``) and its SQL."""

    version: str
    script: str


class MigrationTarget(Protocol):
    """What the runner needs from a store."""

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgres``: the migrations folder to apply."""
        ...

    def migration_transaction(self) -> AbstractContextManager[Any]:
        """A write transaction that holds the migration lock; yields a cursor."""
        ...

    def execute_script(self, cursor: Any, script: str) -> None:
        """Run a multi-statement script inside the current transaction."""
        ...

    def sql(self, query: str) -> str:
        """The query with ``?`` placeholders in the driver's style."""
        ...

    def time_in(self, value: datetime) -> Any:
        """A datetime as the database stores it."""
        ...


def load_migrations(dialect: str) -> list[Migration]:
    """The migrations bundled for a dialect, oldest first."""
    folder = resources.files("stadsnav.store") / "migrations" / dialect
    files = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".sql")),
        key=lambda entry: entry.name,
    )
    return [
        Migration(entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8"))
        for entry in files
    ]


def split_statements(script: str) -> list[str]:
    """Split an SQLite script into complete statements (comment-only chunks dropped)."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if _has_code(buffer):
        raise ValueError(f"incomplete SQL statement at the end of the script: {buffer.strip()!r}")
    return [statement for statement in statements if _has_code(statement)]


def _has_code(text: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in text.splitlines())


def apply_migrations(target: MigrationTarget, until: str | None = None) -> list[str]:
    """Apply every pending migration (up to and including ``until``); the versions applied now."""
    migrations = load_migrations(target.dialect)
    if until is not None:
        versions = [migration.version for migration in migrations]
        if until not in versions:
            raise ValueError(f"unknown migration {until!r}; known: {', '.join(versions)}")
        migrations = migrations[: versions.index(until) + 1]
    applied: list[str] = []
    for migration in migrations:
        # The applied check runs under the lock, so two processes starting together apply once.
        with target.migration_transaction() as cursor:
            cursor.execute(_BOOTSTRAP[target.dialect])
            cursor.execute(
                target.sql("SELECT 1 FROM schema_migrations WHERE version = ?"),
                (migration.version,),
            )
            if cursor.fetchone() is not None:
                continue
            target.execute_script(cursor, migration.script)
            cursor.execute(
                target.sql("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)"),
                (migration.version, target.time_in(datetime.now(UTC))),
            )
        applied.append(migration.version)
    return applied
