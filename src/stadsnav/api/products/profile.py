"""Typical values by weekday and hour, averaged from an item's history."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

DEFAULT_WEEKS = 8
MAX_WEEKS = 52
DECIMALS = 2
"""Enough for a mean count (41.25 spaces) and a mean share (0.67) alike."""


@dataclass(slots=True)
class _Bucket:
    samples: int = 0
    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


class Profile:
    """Means of numeric fields per ISO weekday (1 = Monday) and hour, in one time zone."""

    def __init__(self, fields: Iterable[str], timezone: str) -> None:
        self.fields = list(fields)
        self.zone = ZoneInfo(timezone)
        self._buckets: dict[tuple[int, int], _Bucket] = {}

    def add(self, moment: datetime, row: Mapping[str, Any]) -> None:
        """Count one observation: its numeric values go into the bucket of its local hour."""
        local = moment.astimezone(self.zone)
        bucket = self._buckets.setdefault((local.isoweekday(), local.hour), _Bucket())
        bucket.samples += 1
        for name in self.fields:
            value = row.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                bucket.sums[name] = bucket.sums.get(name, 0.0) + value
                bucket.counts[name] = bucket.counts.get(name, 0) + 1

    def rows(self) -> list[dict[str, Any]]:
        """A row per weekday and hour with data, in week order.

        Fields that never had a number (a status text) are left out; a numeric field without a
        number in one hour is null there.
        """
        numeric = [f for f in self.fields if any(f in b.counts for b in self._buckets.values())]
        rows = []
        for (weekday, hour), bucket in sorted(self._buckets.items()):
            row: dict[str, Any] = {"weekday": weekday, "hour": hour}
            for name in numeric:
                count = bucket.counts.get(name)
                row[name] = round(bucket.sums[name] / count, DECIMALS) if count else None
            row["samples"] = bucket.samples
            rows.append(row)
        return rows
