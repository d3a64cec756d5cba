"""Usage of the APIs: requests, errors, refusals and latency per hour, key, endpoint and dataset.

Each API process counts in memory and adds its counts to the store every few seconds and when it
stops, so a request costs a dictionary update, and the store holds every process's sum.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

import structlog

from stadsnav.model.render import format_time

if TYPE_CHECKING:  # the store's protocol names this module's types
    from stadsnav.store.base import ContextStore

log = structlog.get_logger("stadsnav.gateway.usage")

ANONYMOUS = ""
"""The key id of requests made without a key."""


@dataclass(frozen=True, slots=True)
class UsageKey:
    """What usage is counted by."""

    hour: datetime
    key_id: str
    endpoint: str
    """The method and the route's template: ``GET /ngsi-ld/v1/entities/{entity_id}``."""
    dataset: str
    """The dataset the request read or wrote, when one is known; else empty."""


@dataclass(slots=True)
class UsageCount:
    """Counts of requests: all, answered with an error (4xx/5xx but 429), refused by a limit."""

    requests: int = 0
    errors: int = 0
    limited: int = 0
    latency_sum: float = 0.0
    """Seconds, summed over the requests."""
    latency_max: float = 0.0

    def add(self, other: UsageCount) -> None:
        """Add another count to this one."""
        self.requests += other.requests
        self.errors += other.errors
        self.limited += other.limited
        self.latency_sum += other.latency_sum
        self.latency_max = max(self.latency_max, other.latency_max)


class UsageRecorder:
    """Counts requests in memory and adds them to the store now and then."""

    def __init__(self, store: ContextStore, every: float) -> None:
        self._store = store
        self._every = every
        self._counts: dict[UsageKey, UsageCount] = {}
        self._task: asyncio.Task[None] | None = None
        self._hour_index, self._hour = -1, datetime.fromtimestamp(0, UTC)

    def record(
        self, key_id: str, endpoint: str, dataset: str, status: int, seconds: float, at: float
    ) -> None:
        """Count one answered request, made at ``at`` (epoch seconds)."""
        hour_index = int(at // 3600)
        if hour_index != self._hour_index:
            self._hour_index = hour_index
            self._hour = datetime.fromtimestamp(hour_index * 3600, UTC)
        key = UsageKey(self._hour, key_id, endpoint, dataset)
        count = self._counts.get(key)
        if count is None:
            count = self._counts[key] = UsageCount()
        count.requests += 1
        if status == 429:
            count.limited += 1
        elif status >= 400:
            count.errors += 1
        count.latency_sum += seconds
        count.latency_max = max(count.latency_max, seconds)

    async def flush(self) -> int:
        """Add what was counted to the store; kept for the next try if the store fails."""
        # Taken on the event loop, where requests are counted, so none is lost in between.
        counts, self._counts = self._counts, {}
        if not counts:
            return 0
        try:
            await asyncio.to_thread(self._store.add_usage, counts)
        except Exception:
            for key, count in counts.items():
                self._counts.setdefault(key, UsageCount()).add(count)
            raise
        return len(counts)

    def start(self) -> None:
        """Flush every ``every`` seconds until stopped."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop flushing now and then; flush what is left."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            try:
                await self.flush()
            except Exception:
                log.exception("usage_flush_failed")


USAGE_BY: Final = ("hour", "day", "key", "endpoint", "dataset")
"""What a usage report can be summed by."""


def usage_report(
    store: ContextStore,
    since: datetime,
    until: datetime,
    by: Sequence[str],
    zone: ZoneInfo,
    key_id: str | None = None,
    dataset: str | None = None,
) -> list[dict[str, Any]]:
    """Rows of usage from ``since`` to ``until`` summed by ``by`` (USAGE_BY; a day is the
    workspace's local day), as the admin API and the CLI show them."""
    unknown = [group for group in by if group not in USAGE_BY]
    if unknown:
        raise ValueError(f"cannot sum usage by {', '.join(unknown)}: use {', '.join(USAGE_BY)}")
    stored_by = [("hour" if group == "day" else group) for group in dict.fromkeys(by)]
    sums: dict[tuple[Any, ...], UsageCount] = {}
    for groups, count in store.usage(since, until, list(dict.fromkeys(stored_by)), key_id, dataset):
        if "day" in by:
            groups["day"] = groups["hour"].astimezone(zone).date().isoformat()
        row = tuple(_shown(group, groups[group]) for group in by)
        sums.setdefault(row, UsageCount()).add(count)
    rows = []
    for values, count in sums.items():
        shown: dict[str, Any] = dict(zip(by, values, strict=True))
        shown |= {
            "requests": count.requests,
            "errors": count.errors,
            "limited": count.limited,
            "meanLatencyMs": round(1000 * count.latency_sum / max(count.requests, 1), 2),
            "maxLatencyMs": round(1000 * count.latency_max, 2),
        }
        rows.append(shown)
    return rows


def _shown(group: str, value: Any) -> Any:
    if group == "hour":
        return format_time(value)
    if group == "key":
        return value or "anonymous"
    return value
