"""Administration endpoints, for holders of a key with the ``admin`` scope: the device registry
and API keys."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from stadsnav.api.deps import RuntimeDep, read_store
from stadsnav.api.gateway import require
from stadsnav.api.problems import ApiError
from stadsnav.gateway.access import personal_scopes
from stadsnav.gateway.keys import InvalidKeyError, new_key, secret_hash
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


@router.get("/keys", summary="API keys, without their secrets")
async def list_keys(runtime: RuntimeDep) -> list[dict[str, Any]]:
    """Every key, with its owner, scopes and status; never its secret or hash."""
    store = runtime.store
    now = datetime.now(UTC)
    return [key.as_json(now) for key in await read_store(store, store.api_keys)]


@router.post("/keys", status_code=201, summary="Issue an API key; its text is shown only here")
async def create_key(body: NewKey, runtime: RuntimeDep) -> Response:
    """A new key; the answer's ``key`` is the only time its text is shown."""
    now = datetime.now(UTC)
    expires = body.expires_at
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    try:
        key, text = new_key(body.owner, body.scopes, now, expires_at=expires, purpose=body.purpose)
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
    await read_store(store, lambda: store.add_api_key(key, secret_hash(text)))
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
async def revoke_key(key_id: str, runtime: RuntimeDep) -> Response:
    """Revoke the key from now on; 404 when there is no such key."""
    store = runtime.store
    found = await read_store(store, lambda: store.revoke_api_key(key_id, datetime.now(UTC)))
    if found is None:
        raise ApiError(404, f"there is no API key {key_id}")
    return Response(status_code=204)
