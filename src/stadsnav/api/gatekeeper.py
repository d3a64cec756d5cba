"""The gate every API request passes: who is asking, on which plan, within its limits; counted.

An ASGI middleware in front of everything else (the fast lane too). It finds the caller once
(routes read it from the request's state), refuses a request over its plan's rate, quota or
request limits, tells the caller where its limits stand, ends a request that runs past its
plan's timeout, counts every answer in the usage and records admin requests and refusals in the
audit log. The routes that serve no client's data
(``/healthz``, ``/metrics``) and the network servers' ``/ingest`` webhooks, which have their
own tokens and must never lose an uplink to a limit, pass untouched.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import structlog
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stadsnav.api.audit import gate_events
from stadsnav.api.bearer import BearerTokens
from stadsnav.api.deps import read_store
from stadsnav.api.gateway import (
    API_KEY_HEADER,
    DATASET,
    IDENTITY,
    Identity,
    KeyCache,
    identify,
    presented_key,
)
from stadsnav.api.plain import header
from stadsnav.api.problems import ApiError, problem_response
from stadsnav.gateway.audit import AuditEvent
from stadsnav.gateway.keys import ApiKey
from stadsnav.gateway.limits import Calendar, Decision, Limits, Standing, decide, open_limits
from stadsnav.gateway.usage import ANONYMOUS, UsageRecorder
from stadsnav.model.render import format_time
from stadsnav.runtime import Runtime
from stadsnav.workspace.models import PlanSettings

log = structlog.get_logger("stadsnav.gatekeeper")

UNGATED = ("/healthz", "/metrics", "/ingest/")
QUOTA_WARNING = "Stadsnav-Quota-Warning"
PLAN = "plan"
"""Where the request's state keeps the caller's plan, for the routes' own limit checks."""
_TERM_SEPARATORS = re.compile(r"[;|]")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


class Gatekeeper:
    """ASGI middleware: authenticate, limit, count (see the module's docstring)."""

    def __init__(self, runtime: Runtime, routes: Sequence[BaseRoute]) -> None:
        self.app: ASGIApp = _unbuilt
        """What the gate lets requests on to: set by ``wrapping`` as the app's stack is built."""
        self.runtime = runtime
        self.routes = routes
        """The app's routes, to name the endpoint of a request refused before routing."""
        settings = runtime.workspace.settings
        self.gateway = settings.gateway
        self.calendar = Calendar(ZoneInfo(settings.workspace.timezone))
        self.max_body = settings.server.max_body_bytes
        self.max_headers = settings.server.max_header_bytes
        self.limits: Limits = open_limits(self.gateway.limits_url)
        self.usage = UsageRecorder(runtime.store, self.gateway.usage_flush)
        self.keys = KeyCache(runtime.store)
        self.tokens = BearerTokens(self.gateway)
        self._notices: set[asyncio.Task[None]] = set()

    def wrapping(self, app: ASGIApp) -> Gatekeeper:
        """The gate in front of ``app``."""
        self.app = app
        return self

    def start(self) -> None:
        """Start adding the usage to the store now and then."""
        self.usage.start()

    async def stop(self) -> None:
        """Write the last usage, finish the notices being sent, let go of the limits' state."""
        await self.usage.stop()
        await asyncio.gather(*self._notices, return_exceptions=True)
        await self.limits.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Gate one request (see the module's docstring)."""
        if scope["type"] != "http" or scope["path"].startswith(UNGATED):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        now = datetime.now(UTC)
        state: dict[str, Any] = scope.setdefault("state", {})
        try:
            who: Identity | None = await identify(self.keys, _presented(scope), self.tokens)
        except ApiError as error:
            state[IDENTITY], who = error, None  # the route answers 401, if it looks at callers
        else:
            state[IDENTITY] = who
        key = who.key if who is not None else None
        plan = state[PLAN] = self._plan_of(key)
        decision = await self._decide(scope, key, plan, now)
        extra = _limit_headers(decision, self.gateway.quota_warning)
        if key is not None and key.notify_url:
            for crossed in decision.crossed:
                self._notify(key, crossed)
        status = [500]

        async def send_counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        try:
            refusal = self._refusal(scope, plan, decision)
            if refusal is not None:
                await _answer(scope, receive, send_counted, refusal)
            elif plan.timeout is None:
                await self.app(scope, self._bounded(scope, receive, plan), send_counted)
            else:
                await self._timed(scope, receive, send_counted, plan)
        finally:
            events = gate_events(scope, status[0], now)
            if events:
                await self._audit(events)
            endpoint = self._endpoint(scope)
            self.usage.record(
                key.id if key is not None else ANONYMOUS,
                endpoint,
                str(state.get(DATASET, "")),
                status[0],
                time.perf_counter() - started,
                now.timestamp(),
            )

    async def _audit(self, events: list[AuditEvent]) -> None:
        store = self.runtime.store
        try:
            await read_store(store, lambda: store.append_audit(events))
        except Exception:
            # The answer is already sent: the log keeps what the store could not.
            log.exception("audit_write_failed", events=[e.as_json() for e in events])

    def _endpoint(self, scope: Scope) -> str:
        """The method and route template; a refused request never reached its route: match it."""
        route = scope.get("route")
        if route is None:
            route = next((r for r in self.routes if r.matches(scope)[0] == Match.FULL), None)
        path = getattr(route, "path", None)
        return f"{scope['method']} {path}" if path else f"{scope['method']} (no route)"

    def _plan_of(self, key: ApiKey | None) -> PlanSettings:
        plans = self.gateway.plans
        if key is None:
            return plans[self.gateway.anonymous_plan]
        # A key whose plan was removed from the workspace falls back to the default key plan.
        return plans.get(key.plan or self.gateway.key_plan) or plans[self.gateway.key_plan]

    async def _decide(
        self, scope: Scope, key: ApiKey | None, plan: PlanSettings, now: datetime
    ) -> Decision:
        store = self.runtime.store
        if key is None:
            client = scope.get("client")
            subject = f"ip:{_network(client[0]) if client else 'unknown'}"
            seed = None
        else:
            subject, key_id = f"key:{key.id}", key.id

            async def seed(since: datetime) -> int:
                return await read_store(store, lambda: store.admitted_requests(key_id, since))

        return await decide(
            self.limits, subject, plan, now, self.calendar, seed, self.gateway.quota_warning
        )

    def _refusal(self, scope: Scope, plan: PlanSettings, decision: Decision) -> ApiError | None:
        """Why the request may not go on: a limit reached, or one of the plan's request limits."""
        if not decision.allowed:
            spent = [s.name for s in decision.standings if s.remaining == 0] or ["rate"]
            return ApiError(
                429,
                f"the {' and '.join(spent)} limit of this caller's plan is reached: "
                f"try again in {decision.retry_after} s",
                headers={"Retry-After": str(decision.retry_after)},
            )
        return request_limit_refusal(scope, plan, self.max_body, self.max_headers)

    def _bounded(self, scope: Scope, receive: Receive, plan: PlanSettings) -> Receive:
        """``receive`` that refuses a body past the plan's size when no length was declared."""
        limit = _capped(plan.max_body_bytes, self.max_body)
        if limit >= self.max_body:
            return receive  # the server's own limit is enforced where bodies are read
        seen = [0]

        async def bounded() -> Message:
            message = await receive()
            seen[0] += len(message.get("body", b""))
            if seen[0] > limit:
                raise ApiError(413, f"the body is over this plan's limit of {limit} bytes")
            return message

        return bounded

    async def _timed(self, scope: Scope, receive: Receive, send: Send, plan: PlanSettings) -> None:
        assert plan.timeout is not None
        deadline = asyncio.timeout(plan.timeout)

        async def send_marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                deadline.reschedule(None)  # an answer under way is not cut off
            await send(message)

        try:
            async with deadline:
                await self.app(scope, self._bounded(scope, receive, plan), send_marked)
        except TimeoutError:
            error = ApiError(
                503,
                f"the request took longer than this plan's {plan.timeout:g} s: "
                "ask for less (a narrower query, a smaller page) or try again later",
            )
            await _answer(scope, receive, send, error)

    def _notify(self, key: ApiKey, standing: Standing) -> None:
        task = asyncio.create_task(self._send_notice(key, standing))
        self._notices.add(task)
        task.add_done_callback(self._notices.discard)

    async def _send_notice(self, key: ApiKey, standing: Standing) -> None:
        assert key.notify_url is not None
        used = standing.limit - standing.remaining
        event = {
            "specversion": "1.0",
            "type": "se.stadsnav.gateway.quota-warning",
            "source": "/admin/keys/" + key.id,
            "id": f"{key.id}-{standing.name}-{int(time.time())}",
            "time": format_time(datetime.now(UTC)),
            "datacontenttype": "application/json",
            "data": {
                "keyId": key.id,
                "owner": key.owner,
                "quota": standing.name,
                "limit": standing.limit,
                "used": used,
                "resetsInSeconds": standing.reset,
            },
        }
        headers = {"Content-Type": "application/cloudevents+json"}
        for attempt in range(3):
            try:
                async with httpx.AsyncClient(timeout=10) as client:
                    response = await client.post(key.notify_url, json=event, headers=headers)
                if response.status_code < 300:
                    return
                log.warning("quota_notice_refused", key=key.id, status=response.status_code)
            except httpx.HTTPError as error:
                log.warning("quota_notice_failed", key=key.id, error=str(error))
            await asyncio.sleep(2**attempt)


def request_limit_refusal(
    scope: Scope, plan: PlanSettings, max_body: int, max_headers: int
) -> ApiError | None:
    """The request limit of ``plan`` this request is over, if any (headers, body, page, query,
    geometry)."""
    most = _capped(plan.max_header_bytes, max_headers)
    sent = sum(len(name) + len(value) for name, value in scope["headers"])
    if sent > most:
        return ApiError(431, f"the request's headers take {sent} bytes, over this plan's {most}")
    limit = _capped(plan.max_body_bytes, max_body)
    if limit < max_body:  # the server's own limit is enforced where bodies are read
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return ApiError(413, f"a body of {declared} bytes is over this plan's limit of {limit}")
    text = scope.get("query_string", b"")
    if not text or not plan.limits_queries:
        return None
    query = QueryParams(text)
    page = query.get("limit")
    largest = plan.max_page_size
    # Only the NGSI-LD API pages; a data product's list is its items whatever ``limit`` says.
    paged = scope["path"].startswith("/ngsi-ld/")
    asked = None if page is None else _whole_number(page)
    if paged and largest is not None and asked is not None and asked > largest:
        return ApiError(
            403,
            f"limit={page} is over this plan's page size of {largest}: "
            f"ask for at most {largest} and page with offset",
            ngsild_type="TooManyResults",
        )
    return complexity_refusal(plan, query.get("q"), query.get("coordinates"))


def complexity_refusal(plan: PlanSettings, q: str | None, coordinates: Any) -> ApiError | None:
    """The plan's limit a query's ``q`` (terms) or geo-query ``coordinates`` (positions, as text
    or as the JSON of a Query body) is over, if any."""
    if plan.max_query_terms is not None and isinstance(q, str) and q:
        terms = len(_TERM_SEPARATORS.split(q))
        if terms > plan.max_query_terms:
            return ApiError(
                400,
                f"q has {terms} terms, over this plan's {plan.max_query_terms}: "
                "split the query or ask for an API key on a larger plan",
            )
    if plan.max_geometry_vertices is not None and coordinates:
        text = coordinates if isinstance(coordinates, str) else orjson.dumps(coordinates).decode()
        vertices = len(_NUMBER.findall(text)) // 2
        if vertices > plan.max_geometry_vertices:
            return ApiError(
                400,
                f"the geometry has {vertices} positions, over this plan's "
                f"{plan.max_geometry_vertices}: simplify it",
            )
    return None


def refuse_complex_body(request: Request, body: Mapping[str, Any]) -> None:
    """400 for a Query body whose q or geoQ is over the caller's plan (as for a query string)."""
    plan: PlanSettings | None = request.scope.get("state", {}).get(PLAN)
    geo = body.get("geoQ")
    coordinates = geo.get("coordinates") if isinstance(geo, Mapping) else None
    refusal = None if plan is None else complexity_refusal(plan, body.get("q"), coordinates)
    if refusal is not None:
        raise refusal


async def _unbuilt(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("the gate serves once the app's middleware stack is built")


def _capped(plans: int | None, servers: int) -> int:
    """A plan's limit, never past the server's (which is also the limit of a plan without one)."""
    return servers if plans is None else min(plans, servers)


def _network(address: str) -> str:
    """Who an anonymous caller is for its limits: its IPv4 address, or its IPv6 /64 (one
    subscriber's whole network, in which it could pick a new address for every request)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _whole_number(text: str) -> int | None:
    """A query parameter as the routes read a whole number (``+1000``, ``1_000``, ``1000.0``)."""
    try:
        return int(text)
    except ValueError:
        try:
            number = float(text)
        except (ValueError, OverflowError):
            return None
        return int(number) if number.is_integer() else None


def _presented(scope: Scope) -> str | None:
    """The key a request presents, read from the raw headers (see gateway.presented_key)."""
    text = header(scope, API_KEY_HEADER.lower().encode())
    if text is not None:
        return text.strip()
    authorization = header(scope, b"authorization")
    return None if authorization is None else presented_key({"authorization": authorization})


def _limit_headers(decision: Decision, share: float) -> list[tuple[bytes, bytes]]:
    """RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers), and the warning."""
    if not decision.standings:
        return []
    policy = ", ".join(f'"{s.name}";q={s.limit};w={s.window}' for s in decision.standings)
    current = ", ".join(f'"{s.name}";r={s.remaining};t={s.reset}' for s in decision.standings)
    headers = [(b"ratelimit-policy", policy.encode()), (b"ratelimit", current.encode())]
    warned = decision.warnings(share)
    if warned:
        text = "; ".join(
            f"{s.limit - s.remaining} of the {s.name} quota of {s.limit} requests used, "
            f"renewed in {s.reset} s"
            for s in warned
        )
        headers.append((QUOTA_WARNING.lower().encode(), text.encode()))
    return headers


async def _answer(scope: Scope, receive: Receive, send: Send, error: ApiError) -> None:
    request = Request(scope, receive, send)
    response = problem_response(
        request, error.status, error.detail, error.ngsild_type, error.headers
    )
    await response(scope, receive, send)
