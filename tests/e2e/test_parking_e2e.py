"""Free parking end to end: the three operators' simulators feeding a `stadsnav run` process."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from test_run_e2e import Server

from stadsnav.simulate.parking import ParkingSimulators
from stadsnav.workspace import HttpPollSource, Integration, load_workspace
from support import free_port

pytestmark = pytest.mark.e2e
KEY_ENV = "STADSNAV_PARKERA_NORR_KEY"
FACILITIES = "/api/v1/parking/facilities"
CENTRE = "20.952,64.751"


class Simulators:
    """The demo's parking simulators, run on their own event loop in a thread."""

    def __init__(self, workspace: Path, platform_url: str, datex: int, operator: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sims = ParkingSimulators(
            load_workspace(workspace),
            platform_url,
            datex,
            operator,
            os.environ[KEY_ENV],
            failures=False,
            backfill_hours=2,
        )
        self._run(self.sims.start())

    def _run(self, work: Any) -> None:
        asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=30)

    def stop(self) -> None:
        self._run(self.sims.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def parking_workspace(workspace_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo workspace with its feeds pointing at simulators on free ports."""
    (workspace_dir / "integrations" / "beach-sensors-mqtt.yaml").unlink()
    monkeypatch.setenv(KEY_ENV, "e2e-key")
    ports = {"8091": str(free_port()), "8092": str(free_port())}
    for path in (workspace_dir / "integrations").glob("parking-*.yaml"):
        text = path.read_text()
        for demo, free in ports.items():
            text = text.replace(f"127.0.0.1:{demo}/", f"127.0.0.1:{free}/")
        path.write_text(text)
    return workspace_dir


def feed_port(integration: Integration) -> int:
    assert isinstance(integration.source, HttpPollSource)
    port = urlsplit(integration.source.url).port
    assert port is not None
    return port


def facilities(url: str, **params: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}{FACILITIES}", params=params, timeout=10)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["data"]
    return items


def test_three_operators_make_one_answer(parking_workspace: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    integrations = load_workspace(parking_workspace).integrations
    datex = feed_port(integrations["parking-spab-status"])
    operator = feed_port(integrations["parking-norr"])
    simulators = Simulators(parking_workspace, url, datex, operator)
    server = Server(parking_workspace, port)
    try:
        deadline = time.monotonic() + 30
        while True:
            known = [f for f in facilities(url) if f["availability"] == "known"]
            if len(known) == 13 or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        operators = {f["operator"] for f in known}
        assert operators == {"Skellefteå Parkerings AB", "Parkera Norr AB", "Skellefteå kommun"}
        assert len(known) == 13, [f["id"] for f in known]

        near = facilities(url, near=CENTRE, radius="600")
        distances = [f["distance"] for f in near]
        assert distances == sorted(distances)
        assert all(d <= 600 for d in distances)
        assert {f["id"].rsplit(":", 1)[1] for f in near} >= {"storgatan", "PN-3101"}

        companies = [f for f in known if f["operator"] != "Skellefteå kommun"]
        assert {f["opening"] for f in companies} <= {"open", "closed"}
        storgatan = next(f for f in known if f["id"].endswith(":storgatan"))
        assert storgatan["free"] + storgatan["occupied"] == storgatan["capacity"] <= 12
        norr = facilities(url, operator="parkera norr ab")
        assert len(norr) == 5
        assert all(f["operator"] == "Parkera Norr AB" for f in norr)
        generous = facilities(url, minFree="100")
        assert generous
        assert all(f["free"] >= 100 for f in generous)

        health = httpx.get(f"{url}/healthz", timeout=10).json()
        polled = {c["integration"]: c for c in health["connectors"] if c["type"] == "http_poll"}
        assert set(polled) == {"parking-norr", "parking-spab-status", "parking-spab-table"}
        assert all(c["last_success"] for c in polled.values())
        history = httpx.get(f"{url}{FACILITIES}/storgatan/occupancy", timeout=10).json()["data"]
        assert len(history) > 1  # the backfilled bay changes counted hour by hour
    finally:
        assert server.stop() == 0
        simulators.stop()
