"""Administration endpoints, for holders of a key with the ``admin`` scope: the device registry,
API keys, their usage and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import orjson
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from stadsnav.api.audit import key_event
from stadsnav.api.deps import RuntimeDep, read_store
from stadsnav.api.gateway import require
from stadsnav.api.problems import ApiError
from stadsnav.gateway.access import personal_scopes
from stadsnav.gateway.audit import KEY_CREATED, KEY_REVOKED
from stadsnav.gateway.keys import InvalidKeyError, new_key, secret_hash
from stadsnav.gateway.usage import USAGE_BY, usage_report
from stadsnav.pipeline.unknown_devices import unknown_devices

router = APIRouter(
    prefix="/admin", tags=["administration"], dependencies=[Depends(require("admin"))]
)


@router.get("/devices/unknown", summary="Devices seen but not registered")
def devices_unknown(
    runtime: RuntimeDep,
    scan: Annotated[int, Query(ge=1, le=100_000, description="Dead letters to read.")] = 10_000,
) -> list[dict[str, Any]]:
    """Devices whose uplinks were dead-lettered as unknown, grouped by DevEUI, most seen first."""
    letters = runtime.store.dead_letters(scan)
    return [device.as_json() for device in unknown_devices(letters, runtime.workspace)]


class NewKey(BaseModel):
    """A key to issue."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    owner: str = Field(description="Who holds the key and answers for its use.")
    scopes: list[str] = Field(description="admin, read or write, alone or for a dataset.")
    expires_at: datetime | None = Field(default=None, alias="expiresAt")
    purpose: str | None = Field(default=None, description="Why it reads personal data.")
    plan: str | None = Field(default=None, description="Its plan (default: gateway.key_plan).")
    notify_url: str | None = Field(
        default=None, alias="notifyUrl", description="Where its owner hears of a quota nearly used."
    )


@router.get("/keys", summary="API keys, without their secrets")
async def list_keys(runtime: RuntimeDep) -> list[dict[str, Any]]:
    """Every key, with its owner, scopes and status; never its secret or hash."""
    store = runtime.store
    now = datetime.now(UTC)
    return [key.as_json(now) for key in await read_store(store, store.api_keys)]


@router.post("/keys", status_code=201, summary="Issue an API key; its text is shown only here")
async def create_key(body: NewKey, runtime: RuntimeDep, request: Request) -> Response:
    """A new key; the answer's ``key`` is the only time its text is shown."""
    now = datetime.now(UTC)
    expires = body.expires_at
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    try:
        key, text = new_key(
            body.owner,
            body.scopes,
            now,
            expires_at=expires,
            purpose=body.purpose,
            plan=body.plan,
            notify_url=body.notify_url,
            plans=runtime.workspace.settings.gateway.plans,
        )
    except InvalidKeyError as error:
        raise ApiError(400, str(error)) from None
    personal = personal_scopes(key.scopes, runtime.workspace)
    if personal:
        # Else an admin key (which reads no personal data) could mint one that does.
        raise ApiError(
            403,
            f"scopes of personal datasets ({', '.join(personal)}) are issued only with "
            "`stadsnav keys create` on the platform's host",
        )
    store = runtime.store
    event = key_event(request.scope, KEY_CREATED, key.id, now)
    await read_store(store, lambda: store.add_api_key(key, secret_hash(text), event))
    shown = {**key.as_json(now), "key": text}
    # no-store: the key's text must stay in no cache on its way.
    headers = {"Location": f"/admin/keys/{key.id}", "Cache-Control": "no-store"}
    return Response(
        orjson.dumps(shown), status_code=201, media_type="application/json", headers=headers
    )


@router.get("/keys/{key_id}", summary="One API key, without its secret")
async def show_key(key_id: str, runtime: RuntimeDep) -> dict[str, Any]:
    """The key with its owner, scopes and status; 404 when there is no such key."""
    store = runtime.store
    found = await read_store(store, lambda: store.api_key(key_id))
    if found is None:
        raise ApiError(404, f"there is no API key {key_id}")
    return found[0].as_json(datetime.now(UTC))


@router.delete("/keys/{key_id}", status_code=204, summary="Revoke an API key")
async def revoke_key(key_id: str, runtime: RuntimeDep, request: Request) -> Response:
    """Revoke the key from now on; 404 when there is no such key."""
    store = runtime.store
    now = datetime.now(UTC)
    event = key_event(request.scope, KEY_REVOKED, key_id, now)
    found = await read_store(store, lambda: store.revoke_api_key(key_id, now, event))
    request.app.state.gatekeeper.keys.forget(key_id)
    if found is None:
        raise ApiError(404, f"there is no API key {key_id}")
    return Response(status_code=204)


@router.get("/usage", summary="Requests, errors and latency per key, endpoint, dataset and time")
async def usage(
    runtime: RuntimeDep,
    request: Request,
    since: Annotated[
        datetime | None, Query(description="From this time (default: 24 hours ago).")
    ] = None,
    until: Annotated[datetime | None, Query(description="Up to this time (default: now).")] = None,
    by: Annotated[
        str, Query(description=f"Comma-separated, of {', '.join(USAGE_BY)}.")
    ] = "key,endpoint",
    key: Annotated[str | None, Query(description="Only this key's id (anonymous: '').")] = None,
    dataset: Annotated[str | None, Query(description="Only this dataset.")] = None,
) -> list[dict[str, Any]]:
    """The usage of the APIs summed as asked, this process's latest requests included."""
    now = datetime.now(UTC)
    end = _aware(until) if until is not None else now
    start = _aware(since) if since is not None else end - timedelta(days=1)
    if start >= end:
        raise ApiError(400, f"since ({since}) must be before until ({until or 'now'})")
    await request.app.state.gatekeeper.usage.flush()
    store, zone = runtime.store, ZoneInfo(runtime.workspace.settings.workspace.timezone)
    groups = [group.strip() for group in by.split(",") if group.strip()]
    try:
        return await read_store(
            store,
            lambda: usage_report(store, _hour_of(start), end, groups, zone, key, dataset),
        )
    except ValueError as error:
        raise ApiError(400, str(error)) from None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _hour_of(moment: datetime) -> datetime:
    """Usage is counted by the hour: a report from 10:20 includes the hour from 10:00."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@router.get("/audit", summary="The audit log: personal data read, admin requests, refusals")
async def audit_log(
    runtime: RuntimeDep,
    since: Annotated[datetime | None, Query(description="From this time.")] = None,
    until: Annotated[datetime | None, Query(description="Before this time.")] = None,
    actor: Annotated[str | None, Query(description="Only this key id, or anonymous.")] = None,
    action: Annotated[
        str | None,
        Query(description="Only read-personal, admin, key-created, key-revoked or denied."),
    ] = None,
    subject: Annotated[str | None, Query(description="Only reads of this pseudonym.")] = None,
    after: Annotated[
        int, Query(ge=0, le=2**62, description="Records after this sequence number.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000, description="Most records.")] = 1000,
) -> list[dict[str, Any]]:
    """Audit records in chain order, each with its hash and its predecessor's; page with
    ``after`` (the last ``seq`` seen)."""
    store = runtime.store
    records = await read_store(
        store,
        lambda: store.audit_records(
            since=None if since is None else _aware(since),
            until=None if until is None else _aware(until),
            actor=actor,
            action=action,
            subject=subject,
            after=after,
            limit=limit,
        ),
    )
    return [record.as_json() for record in records]
