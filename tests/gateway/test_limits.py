"""Rate limits and quotas, the same on both places their state lives: memory and Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from stadsnav.gateway.limits import (
    Calendar,
    Limits,
    MemoryLimits,
    RedisLimits,
    decide,
    quotas_of,
)
from stadsnav.workspace.models import PlanSettings
from support import redis_url

pytestmark = pytest.mark.anyio

STOCKHOLM = ZoneInfo("Europe/Stockholm")
CALENDAR = Calendar(STOCKHOLM)
NOON = datetime(2026, 11, 27, 11, 0, tzinfo=UTC)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["memory", "redis"])
async def limits(request: pytest.FixtureRequest) -> AsyncIterator[Limits]:
    if request.param == "memory":
        yield MemoryLimits()
        return
    found = RedisLimits(redis_url(), prefix=f"test:{uuid.uuid4().hex}:")
    try:
        yield found
    finally:
        await found.close()


def subject() -> str:
    return f"key:{uuid.uuid4().hex[:8]}"


async def test_a_burst_goes_through_and_the_next_request_waits_for_the_rate(
    limits: Limits,
) -> None:
    plan = PlanSettings(rate=2, burst=5)
    who = subject()
    decisions = [await decide(limits, who, plan, NOON, CALENDAR) for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.standings[0].remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    refused = decisions[5]
    assert refused.retry_after == 1  # one request's worth at 2 per second: 0.5 s, rounded up
    assert refused.standings[0].limit == 5
    assert refused.standings[0].window == 3
    later = await decide(limits, who, plan, NOON + timedelta(seconds=0.5), CALENDAR)
    assert later.allowed
    after = await decide(limits, who, plan, NOON + timedelta(seconds=0.5), CALENDAR)
    assert not after.allowed, "half a second refills exactly one request"


async def test_callers_are_limited_each_on_their_own(limits: Limits) -> None:
    plan = PlanSettings(rate=1, burst=1)
    first, second = subject(), subject()
    assert (await decide(limits, first, plan, NOON, CALENDAR)).allowed
    assert not (await decide(limits, first, plan, NOON, CALENDAR)).allowed
    assert (await decide(limits, second, plan, NOON, CALENDAR)).allowed


async def test_a_daily_quota_ends_at_local_midnight_and_warns_once_at_its_share(
    limits: Limits,
) -> None:
    plan = PlanSettings(daily_quota=10)
    who = subject()
    decisions = [await decide(limits, who, plan, NOON, CALENDAR) for _ in range(11)]
    assert [d.allowed for d in decisions] == [True] * 10 + [False]
    assert [len(d.crossed) for d in decisions].count(1) == 1
    assert decisions[7].crossed
    assert decisions[7].crossed[0].name == "daily"
    assert decisions[8].warnings(0.8)
    assert not decisions[6].warnings(0.8)
    refused = decisions[10]
    midnight = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)  # 00:00 in Stockholm (UTC+1)
    assert refused.retry_after == int((midnight - NOON).total_seconds())
    assert (await decide(limits, who, plan, midnight, CALENDAR)).allowed


async def test_a_refused_request_counts_against_no_limit(limits: Limits) -> None:
    plan = PlanSettings(rate=1, burst=1, daily_quota=3)
    who = subject()
    for second in range(3):
        moment = NOON + timedelta(seconds=second)
        assert (await decide(limits, who, plan, moment, CALENDAR)).allowed
        assert not (await decide(limits, who, plan, moment, CALENDAR)).allowed
    spent = await decide(limits, who, plan, NOON + timedelta(seconds=9), CALENDAR)
    assert not spent.allowed
    assert spent.standings[1].remaining == 0


async def test_a_quota_starts_from_the_usage_the_store_has(limits: Limits) -> None:
    plan = PlanSettings(daily_quota=100, monthly_quota=1000)
    asked: list[datetime] = []

    async def seed(since: datetime) -> int:
        asked.append(since)
        return 99 if since.day == 27 else 500

    decision = await decide(limits, subject(), plan, NOON, CALENDAR, seed)
    assert decision.allowed
    assert [(s.name, s.remaining) for s in decision.standings] == [("daily", 0), ("monthly", 499)]
    assert asked == [
        datetime(2026, 11, 27, tzinfo=STOCKHOLM),
        datetime(2026, 11, 1, tzinfo=STOCKHOLM),
    ]


async def test_a_plan_without_limits_counts_nothing(limits: Limits) -> None:
    decision = await decide(limits, subject(), PlanSettings(), NOON, CALENDAR)
    assert decision.allowed
    assert decision.standings == ()


async def test_concurrent_requests_never_exceed_the_burst(limits: Limits) -> None:
    plan = PlanSettings(rate=0.001, burst=10, daily_quota=1000)
    who = subject()
    decisions = await asyncio.gather(
        *(decide(limits, who, plan, NOON, CALENDAR) for _ in range(40))
    )
    assert sum(d.allowed for d in decisions) == 10


async def test_two_processes_sharing_redis_share_the_limit() -> None:
    url, prefix = redis_url(), f"test:{uuid.uuid4().hex}:"
    one, other = RedisLimits(url, prefix), RedisLimits(url, prefix)
    try:
        plan = PlanSettings(rate=1, burst=4)
        who = subject()
        allowed = [
            (await decide(limits, who, plan, NOON, CALENDAR)).allowed
            for limits in (one, other, one, other, one, other)
        ]
        assert allowed == [True, True, True, True, False, False]
    finally:
        await one.close()
        await other.close()


def test_quota_periods_follow_local_days_and_months_across_daylight_saving() -> None:
    plan = PlanSettings(daily_quota=1, monthly_quota=1)
    # 26 October 2025: Sweden turns its clocks back; the local day has 25 hours.
    day, month = quotas_of(plan, datetime(2025, 10, 26, 12, 0, tzinfo=UTC), STOCKHOLM)
    assert day.period == "2025-10-26"
    assert month.period == "2025-10"
    assert day.end.astimezone(UTC) - day.start.astimezone(UTC) == timedelta(hours=25)
    assert day.end == datetime(2025, 10, 27, tzinfo=STOCKHOLM)
    assert month.end == datetime(2025, 11, 1, tzinfo=STOCKHOLM)
