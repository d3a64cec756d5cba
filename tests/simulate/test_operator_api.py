"""Operator B's JSON API over real HTTP: its own field names, a key, pages, and its bad days."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest

from stadsnav.simulate.operator_api import (
    Failures,
    OperatorApi,
    decode_cursor,
    encode_cursor,
)
from stadsnav.simulate.parking import LoopbackServer
from stadsnav.simulate.parking_day import DayModel
from stadsnav.simulate.parking_sites import PRIVATE

KEY = "test-key-3f9a"
SATURDAY_1PM = datetime(2026, 3, 14, 12, tzinfo=UTC)  # 13:00 in Skellefteå
TUESDAY_3AM = datetime(2026, 3, 10, 2, tzinfo=UTC)


def api(
    failures: Failures | None = None, seed: int = 2026, now: datetime = SATURDAY_1PM
) -> OperatorApi:
    return OperatorApi(PRIVATE, DayModel(seed=seed), lambda: now, KEY, failures or Failures(), seed)


@asynccontextmanager
async def served(operator: OperatorApi, timeout: float = 5) -> AsyncIterator[httpx.AsyncClient]:
    server = LoopbackServer(operator.app())
    await server.start()
    try:
        async with httpx.AsyncClient(
            base_url=server.url, timeout=timeout, headers={"X-Api-Key": KEY}
        ) as client:
            yield client
    finally:
        operator.close()
        await server.stop()


def run(operator: OperatorApi, scenario: Callable[[httpx.AsyncClient], Awaitable[None]]) -> None:
    async def main() -> None:
        async with served(operator) as client:
            await scenario(client)

    asyncio.run(main())


def test_without_the_right_key_the_answer_is_a_401_problem() -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        for headers in ({"X-Api-Key": ""}, {"X-Api-Key": "wrong"}):
            response = await client.get("/api/facilities", headers=headers)
            assert response.status_code == 401
            assert response.headers["content-type"] == "application/problem+json"
            body = response.json()
            assert body["status"] == 401
            assert "X-Api-Key" in body["detail"]
        async with httpx.AsyncClient(base_url=client.base_url) as anonymous:
            assert (await anonymous.get("/api/facilities")).status_code == 401

    run(api(), scenario)
    with pytest.raises(ValueError, match="api_key"):
        OperatorApi(PRIVATE, DayModel(), lambda: SATURDAY_1PM, "")


async def walk_offsets(client: httpx.AsyncClient, limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    offset = 0
    while True:
        response = await client.get("/api/facilities", params={"offset": offset, "limit": limit})
        assert response.status_code == 200
        page = response.json()["anlaggningar"]
        items += page
        if len(page) < limit:
            return items
        offset += limit


async def walk_cursors(client: httpx.AsyncClient) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    response = await client.get("/api/facilities")
    pages = 1
    while True:
        body = response.json()
        items += body["anlaggningar"]
        if body["sida"]["nasta"] is None:
            return items, pages
        response = await client.get("/api/facilities", params={"cursor": body["sida"]["nasta"]})
        pages += 1


def test_offset_and_cursor_pages_both_list_every_facility_once() -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        ids = [f.ref for f in PRIVATE.facilities]
        assert [f["anlaggningsId"] for f in await walk_offsets(client, 2)] == ids
        assert [f["anlaggningsId"] for f in await walk_offsets(client, 5)] == ids
        by_cursor, pages = await walk_cursors(client)
        assert [f["anlaggningsId"] for f in by_cursor] == ids
        assert pages == 3  # two per page by default
        first = (await client.get("/api/facilities")).json()["sida"]
        assert first == {"offset": 0, "limit": 2, "totalt": 5, "nasta": encode_cursor(2, 2)}

    run(api(), scenario)


def test_bad_paging_parameters_are_a_400_problem() -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        for params in ({"cursor": "bm9wZQ"}, {"limit": "0"}, {"offset": "-1"}, {"limit": "x"}):
            response = await client.get("/api/facilities", params=params)
            assert response.status_code == 400, params
            assert response.json()["title"] == "Bad Request"

    run(api(), scenario)
    assert decode_cursor(encode_cursor(4, 2)) == (4, 2)


def test_facilities_have_the_operators_own_field_names_and_counts_that_add_up() -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        facilities = await walk_offsets(client, 100)
        for item, facility in zip(facilities, PRIVATE.facilities, strict=True):
            assert item["namn"] == facility.name
            assert item["adress"]["gatuadress"] == facility.street
            assert item["position"] == {"lat": facility.lat, "lng": facility.lon}
            places = item["platser"]
            assert places["totalt"] == facility.capacity
            assert places["lediga"] + places["upptagna"] == places["totalt"]
            updated = datetime.fromisoformat(item["senastUppdaterad"])
            assert updated.utcoffset() is not None
            assert 0 <= (SATURDAY_1PM - updated).total_seconds() < 90
        statuses = {item["anlaggningsId"]: item["status"] for item in facilities}
        assert set(statuses.values()) <= {"OPPEN", "FULLT"}

    run(api(), scenario)


def test_a_garage_with_opening_hours_says_closed_at_night() -> None:
    facility = next(f for f in PRIVATE.facilities if f.hours is not None)
    item = api(now=TUESDAY_3AM).facility(facility, TUESDAY_3AM)
    assert (item["status"], item["oppettider"]) == ("STANGD", "06-22")


def test_a_500_is_a_problem_document() -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        response = await client.get("/api/facilities")
        assert response.status_code == 500
        assert response.json()["status"] == 500

    run(api(Failures(error=1.0)), scenario)


def test_a_malformed_page_is_truncated_json_with_a_200() -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        response = await client.get("/api/facilities")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.content.startswith(b'{"anlaggningar":[')
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(response.content)

    run(api(Failures(malformed=1.0)), scenario)


def test_a_slow_answer_outlasts_the_clients_timeout_and_stopping_is_not_held_up() -> None:
    operator = api(Failures(timeout=1.0, timeout_seconds=30))

    async def main() -> float:
        async with served(operator, timeout=0.3) as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.get("/api/facilities")
            started = time.monotonic()
        return time.monotonic() - started

    assert asyncio.run(main()) < 5


def test_counts_that_do_not_add_up_are_served_as_they_are() -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        for item in await walk_offsets(client, 100):
            places = item["platser"]
            assert places["lediga"] + places["upptagna"] > places["totalt"]

    run(api(Failures(inconsistent=1.0)), scenario)


def outcomes(operator: OperatorApi, requests: int) -> list[str]:
    async def scenario() -> list[str]:
        seen = []
        async with served(operator) as client:
            for _ in range(requests):
                response = await client.get("/api/facilities", params={"limit": 5})
                if response.status_code != 200:
                    seen.append(str(response.status_code))
                    continue
                try:
                    items = orjson.loads(response.content)["anlaggningar"]
                except orjson.JSONDecodeError:
                    seen.append("malformed")
                    continue
                odd = [
                    i
                    for i in items
                    if i["platser"]["lediga"] + i["platser"]["upptagna"] != i["platser"]["totalt"]
                ]
                seen.append("inconsistent" if odd else "ok")
        return seen

    return asyncio.run(scenario())


def test_realistic_failures_are_occasional_and_the_same_for_the_same_seed() -> None:
    failures = Failures(error=0.05, malformed=0.03, inconsistent=0.04)
    first = outcomes(api(failures, seed=8), 300)
    assert first == outcomes(api(failures, seed=8), 300)
    assert first != outcomes(api(failures, seed=9), 300)
    counts = Counter(first)
    assert 5 <= counts["500"] <= 30
    assert 2 <= counts["malformed"] <= 20
    assert 20 <= counts["inconsistent"] <= 90  # about 1 - 0.96**5 of the good pages
    assert counts["ok"] > 150
    assert Failures.realistic().timeout > 0
