"""`stadsnav run` as a subprocess: uplinks over HTTP, read back from both APIs, restarted."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from support import STADSNAV, UplinkFactory, free_port, wait_healthy

pytestmark = pytest.mark.e2e
ENTITY = "urn:ngsi-ld:WaterQualityObserved:skelleftea:elt2-byske-havsbad"


class Server:
    """One `stadsnav run` process."""

    def __init__(self, workspace: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [*STADSNAV, "run", str(workspace), "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
        process = self.process
        wait_healthy(
            process, self.url, lambda: process.stdout.read().decode() if process.stdout else ""
        )

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=10)


@pytest.fixture
def e2e_workspace(workspace_dir: Path) -> Path:
    (workspace_dir / "integrations" / "beach-sensors-mqtt.yaml").unlink()
    return workspace_dir


@pytest.fixture
def server(e2e_workspace: Path) -> Iterator[Server]:
    running = Server(e2e_workspace, free_port())
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def post_uplinks(url: str, make_uplink: UplinkFactory, start: datetime, count: int) -> None:
    with httpx.Client(base_url=url) as client:
        for i in range(count):
            payload = b"\x0c" + (150 + i).to_bytes(2, "big")  # 15.0, 15.1 ... °C
            body = make_uplink(payload=payload, f_cnt=i, received_at=start + timedelta(minutes=i))
            response = client.post(
                "/ingest/beach-sensors-tts",
                content=body,
                headers={"content-type": "application/json"},
            )
            assert response.status_code == 202, response.text


def wait_history(url: str, count: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + 20
    while True:
        response = httpx.get(f"{url}/ngsi-ld/v1/temporal/entities/{ENTITY}")
        if response.status_code == 200 and len(response.json().get("temperature", [])) >= count:
            instances: list[dict[str, object]] = response.json()["temperature"]
            return instances
        if time.monotonic() > deadline:
            raise AssertionError(f"history did not reach {count}: {response.text[:300]}")
        time.sleep(0.1)


def test_uplinks_flow_to_both_apis_and_survive_a_restart(
    server: Server, e2e_workspace: Path, make_uplink: UplinkFactory
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    post_uplinks(server.url, make_uplink, start, 10)
    instances = wait_history(server.url, 10)
    assert [i["value"] for i in instances] == [round(15 + i / 10, 1) for i in range(10)]

    beach = httpx.get(f"{server.url}/api/v1/beaches/byske-havsbad").json()["data"]
    assert beach["waterTemperature"] == 15.9
    assert beach["stale"] is False
    entity = httpx.get(f"{server.url}/ngsi-ld/v1/entities/{ENTITY}").json()
    assert entity["temperature"]["value"] == 15.9
    assert server.stop() == 0

    restarted = Server(e2e_workspace, free_port())
    try:
        assert len(wait_history(restarted.url, 10)) == 10
        post_uplinks(restarted.url, make_uplink, start + timedelta(minutes=10), 5)
        assert len(wait_history(restarted.url, 15)) == 15
    finally:
        assert restarted.stop() == 0


def test_run_refuses_an_invalid_workspace(e2e_workspace: Path) -> None:
    devices = e2e_workspace / "devices" / "beach-sensors.yaml"
    devices.write_text(devices.read_text().replace("codec: elsys/elt-2", "codec: elsys/elt-9", 1))
    result = subprocess.run(
        [*STADSNAV, "run", str(e2e_workspace)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "devices/beach-sensors.yaml:" in result.stderr
    assert "elsys/elt-9" in result.stderr
