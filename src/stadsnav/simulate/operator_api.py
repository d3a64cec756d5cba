"""Operator B's own JSON API: Swedish field names, an API key, offset or cursor pages, bad days.

``GET /api/facilities?offset=0&limit=2`` (or ``?cursor=...`` from the previous page's
``sida.nasta``) answers::

    {"anlaggningar": [{"anlaggningsId": "PN-3101", "namn": ..., "platser": {"totalt": 280,
      "lediga": 97, "upptagna": 183}, "status": "OPPEN", "senastUppdaterad": ...}, ...],
     "sida": {"offset": 0, "limit": 2, "totalt": 5, "nasta": "b2Zmc2V0OjI"}}

With failures enabled, a request now and then is answered late (a timeout for the client), with
a 500, or with a page cut off mid-JSON; and a facility now and then reports counts that do not
add up (``lediga + upptagna != totalt``), as a drifting entrance counter does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stadsnav.simulate.parking_day import DayModel
from stadsnav.simulate.parking_sites import Facility, Operator

API_KEY_HEADER = "X-Api-Key"
PROBLEM_TYPE = "application/problem+json"
FACILITY_TYPES = {"multiStorey": "P-HUS", "underground": "GARAGE", "openSpace": "MARKPARKERING"}


@dataclass(frozen=True)
class Failures:
    """How often the API misbehaves: probabilities per request (per facility for counts)."""

    timeout: float = 0.0
    error: float = 0.0
    malformed: float = 0.0
    inconsistent: float = 0.0
    timeout_seconds: float = 15.0
    """How long a slow answer takes: longer than a client's timeout."""

    @classmethod
    def realistic(cls, timeout_seconds: float = 15.0) -> Failures:
        """A bad but usable operator: about one request in ten goes wrong."""
        return cls(0.03, 0.05, 0.03, 0.04, timeout_seconds)


def encode_cursor(offset: int, limit: int) -> str:
    """The opaque cursor of the page starting at ``offset``."""
    return base64.urlsafe_b64encode(f"offset:{offset}:{limit}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    """(offset, limit) of a cursor; ValueError if it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        label, offset, limit = text.split(":")
        if label != "offset":
            raise ValueError(label)
        return int(offset), int(limit)
    except (ValueError, UnicodeDecodeError):
        raise ValueError(f"cursor {cursor!r} is not one this API gave out") from None


def problem(status: int, title: str, detail: str) -> Response:
    """An RFC 9457 problem response."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_TYPE)


def _opening_hours(facility: Facility) -> str:
    if facility.hours is None:
        return "dygnet runt"
    return f"{facility.hours[0]:02d}-{facility.hours[1]:02d}"


@dataclass
class OperatorApi:
    """Operator B's HTTP server over its facilities, with counts from the day model."""

    operator: Operator
    model: DayModel
    now: Callable[[], datetime]
    api_key: str
    failures: Failures = field(default_factory=Failures)
    seed: int = 2026
    page_size: int = 2
    max_page_size: int = 100
    rng: random.Random = field(init=False)
    closing: asyncio.Event = field(init=False, default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ValueError("the operator API needs a non-empty api_key to check requests against")
        self.rng = random.Random(f"{self.seed}:{self.operator.id}")

    def facility(self, facility: Facility, moment: datetime) -> dict[str, Any]:
        """One facility as the API shows it at ``moment``."""
        updated = moment - facility.reporting_lag(90)
        occupied = self.model.occupied(
            facility.character, facility.ref, facility.capacity, updated, facility.scale
        )
        free = facility.capacity - occupied
        if self.rng.random() < self.failures.inconsistent:
            occupied += self.rng.randint(2, 9)  # the exit counter missed some cars
        is_open = facility.is_open(updated, self.model.zone)
        status = "STANGD" if not is_open else "FULLT" if free <= 0 else "OPPEN"
        return {
            "anlaggningsId": facility.ref,
            "namn": facility.name,
            "typ": FACILITY_TYPES[facility.layout],
            "adress": {
                "gatuadress": facility.street,
                "postnummer": facility.postcode,
                "ort": "Skellefteå",
            },
            "position": {"lat": facility.lat, "lng": facility.lon},
            "oppettider": _opening_hours(facility),
            "platser": {"totalt": facility.capacity, "lediga": free, "upptagna": occupied},
            "status": status,
            "senastUppdaterad": updated.astimezone(self.model.zone).isoformat(timespec="seconds"),
        }

    def page(self, offset: int, limit: int, moment: datetime) -> dict[str, Any]:
        """The page of facilities from ``offset``, at most ``limit`` long."""
        facilities = self.operator.facilities
        following = offset + limit
        return {
            "anlaggningar": [self.facility(f, moment) for f in facilities[offset:following]],
            "sida": {
                "offset": offset,
                "limit": limit,
                "totalt": len(facilities),
                "nasta": encode_cursor(following, limit) if following < len(facilities) else None,
            },
        }

    def close(self) -> None:
        """Let answers that are being held back (simulated timeouts) finish now."""
        self.closing.set()

    def _paging(self, request: Request) -> tuple[int, int]:
        query = request.query_params
        if "cursor" in query:
            return decode_cursor(query["cursor"])
        try:
            offset = int(query.get("offset", "0"))
            limit = int(query.get("limit", str(self.page_size)))
        except ValueError:
            raise ValueError("offset and limit must be whole numbers") from None
        if offset < 0 or not 1 <= limit <= self.max_page_size:
            raise ValueError(f"offset must be >= 0 and limit 1..{self.max_page_size}")
        return offset, limit

    async def _facilities(self, request: Request) -> Response:
        if request.headers.get(API_KEY_HEADER) != self.api_key:
            return problem(401, "Unauthorized", f"missing or wrong {API_KEY_HEADER} header")
        try:
            offset, limit = self._paging(request)
        except ValueError as error:
            return problem(400, "Bad Request", str(error))
        draw = self.rng.random()
        failures = self.failures
        if draw < failures.timeout:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closing.wait(), failures.timeout_seconds)
        elif draw < failures.timeout + failures.error:
            return problem(500, "Internal Server Error", "occupancy service did not answer")
        body = orjson.dumps(self.page(offset, limit, self.now()))
        if (
            failures.timeout + failures.error
            <= draw
            < (failures.timeout + failures.error + failures.malformed)
        ):
            body = body[: len(body) * 3 // 5]  # the connection to the backend dropped mid-page
        return Response(body, media_type="application/json")

    def app(self) -> Starlette:
        """The ASGI app: ``GET /api/facilities``."""
        return Starlette(routes=[Route("/api/facilities", self._facilities, methods=["GET"])])
