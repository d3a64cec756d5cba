"""A real NGSI-LD client, the ngsildclient package, drives `stadsnav run` through a session."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_run_e2e import Server
from typer.testing import CliRunner

from stadsnav.cli import app
from support import REPO_ROOT, free_port

pytestmark = pytest.mark.e2e
CLIENT_PYTHON = REPO_ROOT / ".venv" / "clients" / "ngsildclient" / "bin" / "python"
SESSION = Path(__file__).parent / "clients" / "ngsildclient_session.py"


@pytest.fixture
def broker(workspace_dir: Path) -> Iterator[Server]:
    for integration in (workspace_dir / "integrations").glob("*mqtt*.yaml"):
        integration.unlink()
    running = Server(workspace_dir, free_port())
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def test_ngsildclient_session(broker: Server, workspace_dir: Path) -> None:
    if not CLIENT_PYTHON.exists():
        message = f"ngsildclient is not installed in {CLIENT_PYTHON.parent.parent}: run make test"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    port = broker.url.rsplit(":", 1)[1]
    # The partner's key, issued as the city's IT would issue it.
    issued = CliRunner().invoke(
        app,
        [
            *("keys", "create", str(workspace_dir), "--owner", "Skellefteå Parkering AB"),
            *("--scope", "read:parking", "--scope", "write:parking"),
        ],
    )
    assert issued.exit_code == 0, issued.output
    key = issued.stdout.strip()
    done = subprocess.run(
        [str(CLIENT_PYTHON), str(SESSION), port, key], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    park = "urn:ngsi-ld:OffStreetParking:skelleftea:p-kanalgatan"
    assert seen == {
        "exists": True,
        "batch_create": True,
        "name": "P-hus Kanalgatan",
        "location": [20.9528, 64.7507],
        "after_update": 129,
        "free_bays": [
            "urn:ngsi-ld:ParkingSpot:skelleftea:p-kanalgatan:1",
            "urn:ngsi-ld:ParkingSpot:skelleftea:p-kanalgatan:2",
        ],
        "count": 2,
        "refs": [park, park],
        "after_delete": 1,
        "left": [False, False, False],
    }
