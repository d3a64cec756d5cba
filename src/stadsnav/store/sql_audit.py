"""The audit log in the store (table ``audit_log``, 0014): appended in chain order, read back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from stadsnav.gateway.audit import GENESIS, AuditEvent, AuditRecord, chained
from stadsnav.store.sql_hooks import SqlHooks

_EVENT = "at, actor, action, target, outcome, status, subject, dataset, purpose, client"
_COLUMNS = f"seq, {_EVENT}, previous, hash"


class AuditRows(SqlHooks):
    """SqlStore methods for the audit log."""

    def append_audit(self, events: Sequence[AuditEvent]) -> list[AuditRecord]:
        """Append events to the chain, in one transaction; the records they became."""
        if not events:
            return []
        with self._write() as cursor:
            return self._append_audit(cursor, events)

    def _append_audit(self, cursor: Any, events: Sequence[AuditEvent]) -> list[AuditRecord]:
        """Append events to the chain in the transaction of ``cursor``."""
        # Processes append one at a time, each after the record the last one wrote.
        self._lock_audit(cursor)
        cursor.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        head = cursor.fetchone()
        seq, previous = (int(head[0]), str(head[1])) if head else (0, GENESIS)
        records = chained(events, seq, previous)
        cursor.executemany(
            self.sql(f"INSERT INTO audit_log ({_COLUMNS}) VALUES ({', '.join('?' * 13)})"),
            [self._audit_row(record) for record in records],
        )
        return records

    def audit_records(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        actor: str | None = None,
        action: str | None = None,
        subject: str | None = None,
        after: int = 0,
        limit: int = 1000,
    ) -> list[AuditRecord]:
        """Records in chain order after record ``after``, up to ``limit``, that match."""
        conditions = ["seq > ?"]
        params: list[Any] = [after]
        for column, value in (("actor", actor), ("action", action), ("subject", subject)):
            if value is not None:
                conditions.append(f"{column} = ?")
                params.append(value)
        for condition, moment in (("at >= ?", since), ("at < ?", until)):
            if moment is not None:
                conditions.append(condition)
                params.append(self.time_in(moment))
        rows = self._query(
            f"SELECT {_COLUMNS} FROM audit_log WHERE {' AND '.join(conditions)} "
            "ORDER BY seq LIMIT ?",
            [*params, limit],
        )
        return [self._audit_record(row) for row in rows]

    def _audit_row(self, record: AuditRecord) -> tuple[Any, ...]:
        event = record.event
        return (
            record.seq,
            self.time_in(event.at),
            event.actor,
            event.action,
            event.target,
            event.outcome,
            event.status,
            event.subject,
            event.dataset,
            event.purpose,
            event.client,
            record.previous,
            record.hash,
        )

    def _audit_record(self, row: Any) -> AuditRecord:
        seq, at, actor, action, target, outcome, status, subject, dataset, purpose, client = row[
            :11
        ]
        event = AuditEvent(
            self._time_out(at),
            actor,
            action,
            target,
            outcome,
            status,
            subject,
            dataset,
            purpose,
            client,
        )
        return AuditRecord(int(seq), event, str(row[11]), str(row[12]))
