"""The JSON-LD @context documents the broker hosts (the /jsonldContexts API, GS CIM 009 5.13)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from stadsnav.store.sql_hooks import SqlHooks

HOSTED: Final = "Hosted"
"""Kind of a context a client posted to /jsonldContexts."""
IMPLICIT: Final = "ImplicitlyCreated"
"""Kind of a context the broker made itself, to name a request's @context with one URL."""

_COLUMNS = "local_id, kind, body, created_at"


@dataclass(frozen=True, slots=True)
class StoredContext:
    """One hosted @context document: its local id, kind, JSON body and creation time."""

    local_id: str
    kind: str
    body: bytes
    created_at: datetime


class JsonLdContextRows(SqlHooks):
    """SqlStore methods for hosted @context documents (table ``jsonld_contexts``, 0008)."""

    def add_jsonld_context(self, context: StoredContext) -> None:
        """Store a hosted @context document under its (new) local id."""
        with self._write() as cursor:
            cursor.execute(
                self.sql(
                    "INSERT INTO jsonld_contexts (local_id, kind, body, digest, created_at) "
                    "VALUES (?, ?, ?, ?, ?)"
                ),
                (
                    context.local_id,
                    context.kind,
                    context.body,
                    _digest(context.body),
                    self.time_in(context.created_at),
                ),
            )

    def jsonld_context(self, local_id: str) -> StoredContext | None:
        """The hosted @context document with this local id."""
        rows = self._query(
            f"SELECT {_COLUMNS} FROM jsonld_contexts WHERE local_id = ?", (local_id,)
        )
        return self._stored_context(rows[0]) if rows else None

    def jsonld_contexts(self, kind: str | None = None) -> list[StoredContext]:
        """Every hosted @context document (of one kind), oldest first."""
        query = f"SELECT {_COLUMNS} FROM jsonld_contexts"
        params: tuple[Any, ...] = ()
        if kind is not None:
            query += " WHERE kind = ?"
            params = (kind,)
        rows = self._query(query + " ORDER BY created_at, local_id", params)
        return [self._stored_context(row) for row in rows]

    def same_jsonld_context(self, kind: str, body: bytes) -> StoredContext | None:
        """A hosted @context document of this kind with exactly this body, if one exists."""
        rows = self._query(
            f"SELECT {_COLUMNS} FROM jsonld_contexts WHERE digest = ? AND kind = ? "
            "ORDER BY created_at, local_id",
            (_digest(body), kind),
        )
        matches = [row for row in rows if bytes(row[2]) == body]
        return self._stored_context(matches[0]) if matches else None

    def delete_jsonld_context(self, local_id: str) -> bool:
        """Remove a hosted @context document; whether there was one."""
        with self._write() as cursor:
            cursor.execute(self.sql("DELETE FROM jsonld_contexts WHERE local_id = ?"), (local_id,))
            return bool(cursor.rowcount)

    def _stored_context(self, row: Any) -> StoredContext:
        return StoredContext(row[0], row[1], bytes(row[2]), self._time_out(row[3]))


def _digest(body: bytes) -> bytes:
    return hashlib.sha256(body).digest()
