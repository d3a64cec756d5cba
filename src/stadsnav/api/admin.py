"""Administration endpoints: what an operator needs to look after the device registry."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from stadsnav.api.deps import RuntimeDep
from stadsnav.pipeline.unknown_devices import unknown_devices

router = APIRouter(prefix="/admin", tags=["administration"])


@router.get("/devices/unknown", summary="Devices seen but not registered")
def devices_unknown(
    runtime: RuntimeDep,
    scan: Annotated[int, Query(ge=1, le=100_000, description="Dead letters to read.")] = 10_000,
) -> list[dict[str, Any]]:
    """Devices whose uplinks were dead-lettered as unknown, grouped by DevEUI, most seen first."""
    letters = runtime.store.dead_letters(scan)
    return [device.as_json() for device in unknown_devices(letters, runtime.workspace)]
