"""Fixtures shared by every test: the demo workspace in a temporary folder, real data, uplinks."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from notify.receiver import Receiver
from stadsnav.api.app import create_app
from stadsnav.runtime import Runtime
from stadsnav.simulate.tts import tts_uplink
from stadsnav.store.postgres import PostgresStore
from stadsnav.workspace import Workspace, load_workspace
from support import (
    BYSKE_SENSOR,
    REPO_ROOT,
    SUNDSVALL_BEACH_PAYLOAD,
    UplinkFactory,
    drop_schema,
    fresh_schema,
    key_headers,
    postgres_url,
)


@pytest.fixture
def workspace_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the demo workspace whose SQLite database lives in tmp_path."""
    target = tmp_path / "workspace"
    shutil.copytree(
        REPO_ROOT / "workspaces" / "demo", target, ignore=shutil.ignore_patterns("data")
    )
    monkeypatch.setenv("STADSNAV_STORAGE_URL", f"sqlite:///{tmp_path / 'stadsnav.db'}")
    return target


@pytest.fixture
def workspace(workspace_dir: Path) -> Workspace:
    """The demo workspace, loaded."""
    return load_workspace(workspace_dir)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local HTTP endpoint that records the notifications it receives."""
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def make_uplink() -> UplinkFactory:
    """Build a The Things Stack v3 uplink body, by default the Sundsvall payload from Byske."""

    def build(
        *,
        dev_eui: str = BYSKE_SENSOR,
        payload: bytes = SUNDSVALL_BEACH_PAYLOAD,
        f_port: int | None = 5,
        f_cnt: int = 1,
        received_at: datetime | None = None,
    ) -> bytes:
        message = tts_uplink(
            device_id="elt2-byske-havsbad",
            dev_eui=dev_eui,
            application_id="skelleftea-beaches",
            f_port=f_port,
            f_cnt=f_cnt,
            payload=payload,
            received_at=received_at or datetime.now(UTC).replace(microsecond=0),
        )
        return orjson.dumps(message)

    return build


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Each storage backend in turn."""
    return str(request.param)


@pytest.fixture
def runtime_of(backend: str) -> Iterator[Callable[[Workspace], Runtime]]:
    """Opens a workspace's runtime on the backend (a fresh PostgreSQL schema, dropped after)."""
    schemas: list[str] = []

    def open_runtime(workspace: Workspace) -> Runtime:
        if backend == "sqlite":
            return Runtime.open(workspace)
        schemas.append(fresh_schema())
        return Runtime.open(workspace, store=PostgresStore(postgres_url(), schema=schemas[-1]))

    yield open_runtime
    for schema in schemas:
        drop_schema(postgres_url(), schema)


@pytest.fixture
def runtime(workspace: Workspace, runtime_of: Callable[[Workspace], Runtime]) -> Runtime:
    """The demo's runtime on each storage backend, without the integrations that reach out.

    The MQTT one subscribes to the broker; the polled ones would poll the demo's simulators,
    which tests start themselves where they need them.
    """
    for integration in list(workspace.integrations.values()):
        if integration.source.type in ("mqtt", "http_poll"):
            workspace.integrations.pop(integration.id)
    return runtime_of(workspace)


@pytest.fixture
def admin_headers(runtime: Runtime) -> dict[str, str]:
    """An ``X-API-Key`` header with a new key of the ``admin`` scope."""
    return key_headers(runtime.store, "admin")


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    """An HTTP client of the app with a key that reads and writes every dataset; the runtime
    runs while the client is open."""
    with TestClient(create_app(runtime), headers=key_headers(runtime.store)) as test_client:
        yield test_client


@pytest.fixture
def anonymous(client: TestClient) -> TestClient:
    """A client of the same app that sends no key."""
    return TestClient(client.app)
