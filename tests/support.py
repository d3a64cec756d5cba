"""Constants and helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
SUNDSVALL_BEACH_PAYLOAD = bytes.fromhex("070d8a0c00c1")  # fPort 5 → 19.3 °C, 3466 mV
BYSKE_SENSOR = "a81758fffe05c3a1"

UplinkFactory = Callable[..., bytes]


def key_headers(store: Any, *scopes: str, plan: str = "internal") -> dict[str, str]:
    """An ``X-API-Key`` header with a new key of ``scopes`` (default: read and write all) on
    ``plan`` (default: the one without rate limits or quotas)."""
    from stadsnav.gateway.keys import new_key, secret_hash

    scopes = scopes or ("read", "write")
    key, text = new_key("the tests", list(scopes), datetime.now(UTC), plan=plan, plans=[plan])
    store.add_api_key(key, secret_hash(text))
    return {"X-API-Key": text}


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


STADSNAV = [sys.executable, "-m", "stadsnav"]
"""The command line of ``stadsnav``, run with this interpreter."""


def free_port() -> int:
    """A TCP port nothing listens on now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_healthy(
    process: subprocess.Popen[bytes], url: str, output: Callable[[], str], timeout: float = 30.0
) -> None:
    """Wait until a started `stadsnav run` answers ``/healthz``; fail with its output if not."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise AssertionError(f"stadsnav run exited {process.returncode}:\n{output()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"stadsnav run not healthy in {timeout} s:\n{output()}")
        time.sleep(0.05)


BROKER = ("127.0.0.1", 1883)
"""The Mosquitto broker the MQTT tests publish to."""


def require_broker() -> None:
    """Skip (fail under CI=true) when Mosquitto is not reachable."""
    import socket

    import pytest

    try:
        socket.create_connection(BROKER, timeout=2).close()
    except OSError as error:
        reason = f"Mosquitto not reachable at {BROKER[0]}:{BROKER[1]}: {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


REDIS_URL = "redis://127.0.0.1:6379/15"
"""The Redis database the shared-limits tests use (15: away from anything else's 0)."""


def redis_url() -> str:
    """A reachable Redis for the tests; skip (fail under CI=true) when there is none."""
    import socket

    import pytest

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=2).close()
    except OSError as error:
        reason = f"Redis not reachable at 127.0.0.1:6379: {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return REDIS_URL


POSTGRES_URLS = ("postgresql://postgres@127.0.0.1:5432/test", "postgresql:///test")


def postgres_url() -> str:
    """A reachable test database; skip (fail under CI=true) when there is none."""
    import psycopg
    import pytest

    errors = []
    for url in POSTGRES_URLS:
        try:
            with psycopg.connect(url, connect_timeout=3):
                return url
        except psycopg.Error as error:
            errors.append(f"{url}: {error}")
    message = "PostgreSQL not reachable at 127.0.0.1:5432: " + "; ".join(errors)
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def fresh_schema() -> str:
    """A schema name of this test only."""
    return f"test_{uuid.uuid4().hex}"


def drop_schema(url: str, schema: str) -> None:
    """Remove a test's schema and everything in it."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        )


def vector_rows(file: str, **match: str) -> list[dict[str, Any]]:
    """Rows of a shared vector file (``diwise_vectors.jsonl`` ...) whose fields equal ``match``."""
    import json

    with (SHARED_DATA / "devices" / file).open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    return [row for row in rows if all(row.get(k) == v for k, v in match.items())]


def _json_strategy() -> Any:
    from hypothesis import strategies as st

    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**63), max_value=2**64 - 1)
        | st.floats(allow_nan=False)
        | st.text(max_size=30)
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=12,
    )


json_values = _json_strategy()
"""Hypothesis: any JSON value, small, for feeding parsers hostile documents."""
