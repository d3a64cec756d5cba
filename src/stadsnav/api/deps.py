"""Shared route dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from stadsnav.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    """The platform this app serves (async: a sync dependency would cost a thread hop)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
