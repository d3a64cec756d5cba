"""Shared route dependencies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

import anyio.to_thread
from fastapi import Depends, Request

from stadsnav.runtime import Runtime
from stadsnav.store.base import ContextStore
from stadsnav.store.sqlite import SqliteStore


async def get_runtime(request: Request) -> Runtime:
    """The platform this app serves (async: a sync dependency would cost a thread hop)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
T = TypeVar("T")


async def read_store(store: ContextStore, read: Callable[[], T]) -> T:
    """Run a store read from async code: inline on SQLite, in a worker thread otherwise.

    A SQLite point read takes well under a millisecond, less than the thread hop; a database
    across the network must not hold up the event loop.
    """
    if isinstance(store, SqliteStore):
        return read()
    return await anyio.to_thread.run_sync(read)
