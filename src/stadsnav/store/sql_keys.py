"""API keys in the store (table ``api_keys``, 0012): added, listed, found by id, revoked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from stadsnav.gateway.audit import AuditEvent
from stadsnav.gateway.keys import ApiKey
from stadsnav.store.sql_hooks import SqlHooks

_COLUMNS = "id, owner, scopes, created_at, expires_at, revoked_at, purpose, plan, notify_url"


class ApiKeyRows(SqlHooks):
    """SqlStore methods for API keys."""

    def add_api_key(self, key: ApiKey, secret_hash: str, audit: AuditEvent | None = None) -> None:
        """Store a new key with the hash of its text (and the audit record of its issue)."""
        with self._write() as cursor:
            if audit is not None:
                self._append_audit(cursor, [audit])
            cursor.execute(
                self.sql(
                    f"INSERT INTO api_keys ({_COLUMNS}, secret_hash) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ),
                (
                    key.id,
                    key.owner,
                    orjson.dumps(list(key.scopes)).decode(),
                    self.time_in(key.created_at),
                    self._optional_time(key.expires_at),
                    self._optional_time(key.revoked_at),
                    key.purpose,
                    key.plan,
                    key.notify_url,
                    secret_hash,
                ),
            )

    def api_keys(self) -> list[ApiKey]:
        """Every key, revoked and expired ones too, oldest first."""
        rows = self._query(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at, id")
        return [self._api_key(row) for row in rows]

    def api_key(self, key_id: str) -> tuple[ApiKey, str] | None:
        """The key with this id and the hash of its text; None when there is none."""
        rows = self._query(f"SELECT {_COLUMNS}, secret_hash FROM api_keys WHERE id = ?", [key_id])
        return None if not rows else (self._api_key(rows[0][:9]), str(rows[0][9]))

    def revoke_api_key(
        self, key_id: str, at: datetime, audit: AuditEvent | None = None
    ) -> ApiKey | None:
        """Revoke a key from ``at`` on (a revoked one keeps its first revocation time); the key
        as it is then, None when there is none. ``audit`` is recorded when the key exists."""
        with self._write() as cursor:
            cursor.execute(
                self.sql("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"),
                (self.time_in(at), key_id),
            )
            cursor.execute(self.sql("SELECT 1 FROM api_keys WHERE id = ?"), (key_id,))
            if audit is not None and cursor.fetchone() is not None:
                self._append_audit(cursor, [audit])
        found = self.api_key(key_id)
        return None if found is None else found[0]

    def _optional_time(self, moment: datetime | None) -> Any:
        return None if moment is None else self.time_in(moment)

    def _api_key(self, row: Any) -> ApiKey:
        key_id, owner, scopes, created_at, expires_at, revoked_at, purpose, plan, notify_url = row
        return ApiKey(
            str(key_id),
            str(owner),
            tuple(orjson.loads(scopes)),
            self._time_out(created_at),
            None if expires_at is None else self._time_out(expires_at),
            None if revoked_at is None else self._time_out(revoked_at),
            purpose,
            plan,
            notify_url,
        )
