"""Constants and helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
SUNDSVALL_BEACH_PAYLOAD = bytes.fromhex("070d8a0c00c1")  # fPort 5 → 19.3 °C, 3466 mV
BYSKE_SENSOR = "a81758fffe05c3a1"

UplinkFactory = Callable[..., bytes]


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll until ``condition()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def process_inbox(runtime: Any) -> None:
    """Process every pending message now, also those the runtime's own worker has claimed."""
    runtime.runner.drain()
    wait_for(lambda: runtime.store.inbox_stats()[0] == 0)
