"""API usage in the store (table ``api_usage``, 0013): counts added by every API process, summed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from stadsnav.gateway.usage import UsageCount, UsageKey
from stadsnav.store.sql_hooks import SqlHooks

USAGE_GROUPS: Final = {
    "hour": "hour",
    "key": "key_id",
    "endpoint": "endpoint",
    "dataset": "dataset",
}
"""What usage can be summed by, and the column of each."""


class UsageRows(SqlHooks):
    """SqlStore methods for API usage."""

    def add_usage(self, counts: Mapping[UsageKey, UsageCount]) -> None:
        """Add counts to the stored ones."""
        larger = "max" if self.dialect == "sqlite" else "GREATEST"
        query = self.sql(
            "INSERT INTO api_usage (hour, key_id, endpoint, dataset, requests, errors, limited, "
            "latency_sum, latency_max) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (hour, key_id, endpoint, dataset) DO UPDATE SET "
            "requests = api_usage.requests + excluded.requests, "
            "errors = api_usage.errors + excluded.errors, "
            "limited = api_usage.limited + excluded.limited, "
            "latency_sum = api_usage.latency_sum + excluded.latency_sum, "
            f"latency_max = {larger}(api_usage.latency_max, excluded.latency_max)"
        )
        rows = [
            (
                self.time_in(key.hour),
                key.key_id,
                key.endpoint,
                key.dataset,
                count.requests,
                count.errors,
                count.limited,
                count.latency_sum,
                count.latency_max,
            )
            for key, count in sorted(counts.items(), key=lambda item: _order(item[0]))
        ]
        with self._write() as cursor:
            cursor.executemany(query, rows)

    def usage(
        self,
        since: datetime,
        until: datetime,
        by: Sequence[str],
        key_id: str | None = None,
        dataset: str | None = None,
    ) -> list[tuple[dict[str, Any], UsageCount]]:
        """Usage from ``since`` to ``until`` summed by the groups ``by`` (of USAGE_GROUPS),
        optionally of one key or dataset."""
        columns = [USAGE_GROUPS[group] for group in by]
        conditions, params = ["hour >= ?", "hour < ?"], [self.time_in(since), self.time_in(until)]
        for column, value in (("key_id", key_id), ("dataset", dataset)):
            if value is not None:
                conditions.append(f"{column} = ?")
                params.append(value)
        grouped = f" GROUP BY {', '.join(columns)} ORDER BY {', '.join(columns)}" if columns else ""
        rows = self._query(
            f"SELECT {''.join(c + ', ' for c in columns)}SUM(requests), SUM(errors), "
            "SUM(limited), SUM(latency_sum), MAX(latency_max) FROM api_usage "
            f"WHERE {' AND '.join(conditions)}{grouped}",
            params,
        )
        found = []
        for row in rows:
            if row[len(columns)] is None:
                continue  # no rows at all: the sums of an empty table
            groups = dict(zip(by, row[: len(columns)], strict=True))
            if "hour" in groups:
                groups["hour"] = self._time_out(groups["hour"])
            numbers = row[len(columns) :]
            requests, errors, limited, latency_sum, latency_max = numbers
            count = UsageCount(
                int(requests), int(errors), int(limited), float(latency_sum), float(latency_max)
            )
            found.append((groups, count))
        return found

    def admitted_requests(self, key_id: str, since: datetime) -> int:
        """How many requests of a key were let through (not refused by a limit) since ``since``."""
        rows = self._query(
            "SELECT SUM(requests - limited) FROM api_usage WHERE key_id = ? AND hour >= ?",
            [key_id, self.time_in(since)],
        )
        return int(rows[0][0] or 0)


def _order(key: UsageKey) -> tuple[datetime, str, str, str]:
    # One order for every process's writes, so two flushes cannot deadlock on PostgreSQL.
    return (key.hour, key.key_id, key.endpoint, key.dataset)
