"""Rate limits and quotas: may this caller make one more request now, and what is left.

The rate is a GCRA (generic cell rate algorithm): a caller may send ``burst`` requests at once
and then ``rate`` per second; its whole state is one time, the theoretical arrival time of its
next request. Quotas are counters per day and per month in the workspace's time zone. A request
refused by either counts against neither.

Two places hold the state: this process's memory (``MemoryLimits``, one API process) and Redis
(``RedisLimits``, shared by every API process, each decision one atomic script).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import redis.asyncio as redis

from stadsnav.workspace.models import PlanSettings

Seed = Callable[[datetime], Awaitable[int]]
"""How many requests a caller made since a time, from the usage the store has (a restart
starts its quotas from there, not from zero)."""


@dataclass(frozen=True, slots=True)
class Quota:
    """One quota of a plan in the period that holds ``now``."""

    name: str
    """``daily`` or ``monthly``."""
    limit: int
    period: str
    """The period's name (``2026-11-27``, ``2026-11``): part of the counter's key."""
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Standing:
    """Where one limit stands after a request: its size, what is left, and when it is whole."""

    name: str
    limit: int
    window: int
    """Seconds the limit is counted over."""
    remaining: int
    reset: int
    """Seconds until ``remaining`` is back to ``limit``."""


@dataclass(frozen=True, slots=True)
class Decision:
    """May the request go ahead; if not, when to try again; the standing of every limit."""

    allowed: bool
    retry_after: int
    standings: tuple[Standing, ...]
    crossed: tuple[Standing, ...] = ()
    """The quotas this request brought to the warning share, for the owner's notification."""

    def warnings(self, share: float) -> list[Standing]:
        """The quotas used past ``share`` of their limit."""
        return [
            s
            for s in self.standings
            if s.name != "rate" and s.limit - s.remaining >= s.limit * share
        ]


UNLIMITED = Decision(True, 0, ())


def quotas_of(plan: PlanSettings, now: datetime, zone: ZoneInfo) -> list[Quota]:
    """The plan's quotas in the periods that hold ``now`` (local days and months)."""
    local = now.astimezone(zone)
    found = []
    if plan.daily_quota is not None:
        day = local.replace(hour=0, minute=0, second=0, microsecond=0)
        end = (day + timedelta(days=1, hours=3)).replace(hour=0)  # a DST day is 23 or 25 hours
        found.append(Quota("daily", plan.daily_quota, day.date().isoformat(), day, end))
    if plan.monthly_quota is not None:
        month = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (month + timedelta(days=32)).replace(day=1)
        found.append(Quota("monthly", plan.monthly_quota, f"{month:%Y-%m}", month, end))
    return found


class Calendar:
    """The quota periods of plans in a time zone, worked out once per period, not per request."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._known: dict[tuple[int | None, int | None], tuple[float, float, list[Quota]]] = {}

    def quotas(self, plan: PlanSettings, now: datetime) -> list[Quota]:
        """``quotas_of(plan, now, zone)``."""
        moment = now.timestamp()
        sizes = (plan.daily_quota, plan.monthly_quota)
        known = self._known.get(sizes)
        if known is not None and known[0] <= moment < known[1]:
            return known[2]
        found = quotas_of(plan, now, self.zone)
        start = max((q.start.timestamp() for q in found), default=moment)
        end = min((q.end.timestamp() for q in found), default=moment)
        self._known[sizes] = (start, end, found)
        return found


@dataclass(frozen=True, slots=True)
class Counts:
    """What a store of limits answers: allowed, the next arrival time, the quota counts."""

    allowed: bool
    arrival: float
    """The theoretical arrival time of the caller's next request (epoch seconds)."""
    used: tuple[int, ...]
    """Each quota's count after the request (before it, when refused)."""


class Limits(Protocol):
    """Where the limits' state lives."""

    async def take(
        self,
        subject: str,
        interval: float,
        tolerance: float,
        quotas: Sequence[Quota],
        now: float,
        seed: Seed | None,
    ) -> Counts:
        """Count one request of ``subject`` if the rate (one per ``interval`` seconds, up to
        ``tolerance`` seconds ahead) and every quota allow it."""
        ...

    async def close(self) -> None:
        """Let go of connections."""
        ...


async def decide(
    limits: Limits,
    subject: str,
    plan: PlanSettings,
    now: datetime,
    calendar: Calendar,
    seed: Seed | None = None,
    share: float = 0.8,
) -> Decision:
    """Whether ``subject`` on ``plan`` may make a request at ``now``; counted if so."""
    burst = plan.bursts
    if burst is None and plan.daily_quota is None and plan.monthly_quota is None:
        return UNLIMITED
    quotas = calendar.quotas(plan, now)
    interval = 1 / plan.rate if plan.rate is not None else 0.0
    tolerance = (burst or 1) * interval
    moment = now.timestamp()
    counts = await limits.take(subject, interval, tolerance, quotas, moment, seed)
    standings = []
    waits = []
    if burst is not None:
        ahead = max(counts.arrival - moment, 0.0)
        left = math.floor((tolerance - ahead) / interval + 1e-9)
        standings.append(
            Standing("rate", burst, math.ceil(tolerance), max(left, 0), math.ceil(ahead))
        )
        if not counts.allowed and counts.arrival + interval - moment > tolerance:
            waits.append(counts.arrival + interval - tolerance - moment)
    crossed = []
    for quota, used in zip(quotas, counts.used, strict=True):
        reset = math.ceil((quota.end - now).total_seconds())
        window = math.ceil((quota.end - quota.start).total_seconds())
        standing = Standing(quota.name, quota.limit, window, max(quota.limit - used, 0), reset)
        standings.append(standing)
        if not counts.allowed and used >= quota.limit:
            waits.append(reset)
        if counts.allowed and used == math.ceil(quota.limit * share):
            crossed.append(standing)
    retry = 0 if counts.allowed else max(1, math.ceil(max(waits, default=1)))
    return Decision(counts.allowed, retry, tuple(standings), tuple(crossed))


class MemoryLimits:
    """Limits kept in this process: right for one API process, forgotten at restart but for
    the quotas, which start again from the usage in the store."""

    _PRUNE_EVERY = 10_000

    def __init__(self) -> None:
        self._arrivals: dict[str, float] = {}
        self._counters: dict[str, int] = {}
        self._taken = 0

    async def take(
        self,
        subject: str,
        interval: float,
        tolerance: float,
        quotas: Sequence[Quota],
        now: float,
        seed: Seed | None,
    ) -> Counts:
        """See ``Limits.take``."""
        self._taken += 1
        if self._taken % self._PRUNE_EVERY == 0:
            self._prune(now)
        names = [f"{subject}|{quota.period}" for quota in quotas]
        for name, quota in zip(names, quotas, strict=True):
            if name not in self._counters:
                count = 0 if seed is None else await seed(quota.start)
                self._counters.setdefault(name, count)
        used = [self._counters[name] for name in names]
        arrival = max(self._arrivals.get(subject, now), now)
        rate_ok = interval == 0 or arrival + interval - now <= tolerance
        quota_ok = all(count < quota.limit for count, quota in zip(used, quotas, strict=True))
        if not (rate_ok and quota_ok):
            return Counts(False, arrival, tuple(used))
        if interval:
            self._arrivals[subject] = arrival + interval
        for name in names:
            self._counters[name] += 1
        return Counts(True, arrival + interval, tuple(count + 1 for count in used))

    def _prune(self, now: float) -> None:
        self._arrivals = {name: at for name, at in self._arrivals.items() if at > now}
        # Counters of past periods are never read again; a week keeps every current one.
        if len(self._counters) > 100_000:
            self._counters.clear()

    async def close(self) -> None:
        """Nothing to let go of."""


_TAKE = """
local arrival = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
local now, interval, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if arrival < now then arrival = now end
local used = {}
local allowed = interval == 0 or arrival + interval - now <= tolerance
for i = 2, #KEYS do
  local count = redis.call('GET', KEYS[i])
  if not count then
    count = ARGV[3 * i - 1]
    redis.call('SET', KEYS[i], count, 'EX', ARGV[3 * i])
  end
  used[i - 1] = tonumber(count)
  if used[i - 1] >= tonumber(ARGV[3 * i - 2]) then allowed = false end
end
if not allowed then return {0, tostring(arrival), used} end
if interval > 0 then
  redis.call('SET', KEYS[1], tostring(arrival + interval), 'PX',
             math.ceil((arrival + interval - now) * 1000) + 1)
end
for i = 2, #KEYS do used[i - 1] = redis.call('INCR', KEYS[i]) end
return {1, tostring(arrival + interval), used}
"""


class RedisLimits:
    """Limits in Redis, shared by every API process that names the same server."""

    def __init__(self, url: str, prefix: str = "stadsnav:limits:") -> None:
        self._client: Any = redis.Redis.from_url(url)
        self._script = self._client.register_script(_TAKE)
        self._prefix = prefix

    async def take(
        self,
        subject: str,
        interval: float,
        tolerance: float,
        quotas: Sequence[Quota],
        now: float,
        seed: Seed | None,
    ) -> Counts:
        """See ``Limits.take``; a quota counter Redis lacks starts from ``seed``."""
        keys = [f"{self._prefix}rate:{subject}"]
        args: list[Any] = [repr(now), repr(interval), repr(tolerance)]
        for quota in quotas:
            keys.append(f"{self._prefix}quota:{subject}|{quota.period}")
            # Seeded only if missing; reading the store for a counter Redis has is wasted, so
            # look first (a race only reads the store twice: SET runs once in the script).
            missing = seed is not None and not await self._client.exists(keys[-1])
            start = await seed(quota.start) if missing and seed is not None else 0
            expiry = math.ceil(quota.end.timestamp() - now) + 3600
            args += [quota.limit, start, expiry]
        allowed, arrival, used = await self._script(keys=keys, args=args)
        return Counts(bool(allowed), float(arrival), tuple(int(count) for count in used))

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


def open_limits(url: str) -> Limits:
    """The limits' state for ``[gateway] limits_url``: memory when empty, else Redis."""
    return RedisLimits(url) if url else MemoryLimits()
