"""Bay sensors send bytes our codecs read back as meant; the three operators run on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stadsnav.codecs.registry import get_codec
from stadsnav.connectors.envelopes import parse_uplinks
from stadsnav.simulate.parking import (
    LoopbackServer,
    ParkingSimulators,
    SensorUplink,
    SpotSensorSimulator,
    nwave_heartbeat,
    nwave_status,
    sensor_webhook,
    spot_payload,
)
from stadsnav.simulate.parking_day import DayModel
from stadsnav.simulate.parking_sites import spot_sensors
from stadsnav.workspace import Workspace

LOCAL = ZoneInfo("Europe/Stockholm")
TUESDAY = datetime(2026, 3, 10, tzinfo=LOCAL)
WEBHOOK = "parking-sensors-tts"


def decoded(uplink: SensorUplink) -> dict[str, object]:
    """What the platform makes of the uplink: envelope parsed, payload decoded by the codec."""
    [parsed] = parse_uplinks(uplink.body, "tts_v3")
    device = uplink.sensor.device
    assert (parsed.dev_eui, parsed.device_id) == (device.dev_eui, device.name)
    assert (parsed.f_port, parsed.payload, parsed.received_at) == (
        uplink.f_port,
        uplink.payload,
        uplink.moment,
    )
    assert device.codec is not None
    result = get_codec(device.codec).decode_uplink(parsed.payload, parsed.f_port)
    assert result.ok, result.errors
    return result.data


def a_day(workspace: Workspace, seed: int = 3, speed: float = 1.0) -> list[SensorUplink]:
    simulator = SpotSensorSimulator(spot_sensors(workspace), DayModel(seed=seed), seed, speed)
    simulator.start(TUESDAY)
    return simulator.advance(TUESDAY + timedelta(days=1))


def test_every_uplink_of_a_day_decodes_to_the_state_the_simulator_meant(
    workspace: Workspace,
) -> None:
    uplinks = a_day(workspace)
    assert uplinks == sorted(uplinks, key=lambda u: u.moment)
    kinds: Counter[str] = Counter()
    for uplink in uplinks:
        data = decoded(uplink)
        assert data["occupied"] is uplink.occupied
        assert data["type"] in (
            {"heartbeat"} if uplink.heartbeat else {"parking_status", "parking status"}
        )
        kinds[f"{uplink.sensor.device.codec} {data['type']}"] += 1
        if uplink.heartbeat:
            assert -25 < float(str(data["temperature"])) < 10  # March in Skellefteå
        if uplink.sensor.device.codec == "nwave/nps405sm" and uplink.heartbeat:
            assert data["battery_health"] == "normal"
    assert kinds["nwave/nps405sm heartbeat"] == 12 * 24
    assert kinds["bosch/tps110 heartbeat"] == 10 * 24
    assert kinds["nwave/nps405sm parking_status"] > 12 * 5
    assert kinds["bosch/tps110 parking status"] > 10 * 2


def test_status_uplinks_alternate_and_say_how_long_the_bay_was_in_its_previous_state(
    workspace: Workspace,
) -> None:
    last: dict[str, SensorUplink] = {}
    for uplink in a_day(workspace):
        if uplink.heartbeat:
            continue
        name = uplink.sensor.device.name
        if name in last:
            assert last[name].occupied != uplink.occupied
            if uplink.sensor.device.codec == "nwave/nps405sm":
                data = decoded(uplink)
                held = (uplink.moment - last[name].moment).total_seconds() / 60
                duration, error = (
                    data["previous_state_duration"],
                    data["previous_state_duration_error"],
                )
                if data["previous_state_duration_overflow"]:
                    assert held >= 660
                else:
                    assert isinstance(duration, int)
                    assert isinstance(error, int)
                    assert duration <= held < duration + error + 1
        last[name] = uplink


def test_the_bays_fill_by_day_and_empty_by_night(workspace: Workspace) -> None:
    simulator = SpotSensorSimulator(spot_sensors(workspace), DayModel(seed=5), 5)
    simulator.start(TUESDAY)
    night, noon = [], []
    for day in range(4):  # Tuesday to Friday
        simulator.advance(TUESDAY + timedelta(days=day, hours=3))
        night.append(sum(simulator.occupied().values()))
        simulator.advance(TUESDAY + timedelta(days=day, hours=12))
        noon.append(sum(simulator.occupied().values()))
    assert sum(noon) > 3 * sum(night)
    assert min(noon) >= 12  # of 22 bays


def test_the_same_seed_sends_the_same_uplinks(workspace: Workspace) -> None:
    first = [u.body for u in a_day(workspace, seed=4)]
    assert first == [u.body for u in a_day(workspace, seed=4)]
    assert first != [u.body for u in a_day(workspace, seed=5)]


def test_speed_compresses_turnover_and_heartbeats_but_not_time_stamps(
    workspace: Workspace,
) -> None:
    simulator = SpotSensorSimulator(spot_sensors(workspace), DayModel(), speed=60)
    simulator.start(TUESDAY + timedelta(hours=12))
    uplinks = simulator.advance(TUESDAY + timedelta(hours=12, minutes=10))
    heartbeats = [u for u in uplinks if u.heartbeat]
    assert len(heartbeats) == 22 * 10  # every minute instead of every hour
    assert sum(not u.heartbeat for u in uplinks) > 22 * 2
    assert all(
        TUESDAY + timedelta(hours=12) <= u.moment <= TUESDAY + timedelta(hours=12, minutes=10)
        for u in uplinks
    )


@pytest.mark.parametrize("minutes", [*range(0, 700, 7), 89, 90, 239, 240, 659, 660, 5000])
def test_nwave_durations_compress_as_the_codec_expands_them(minutes: int) -> None:
    data = (
        get_codec("nwave/nps405sm")
        .decode_uplink(nwave_status(True, timedelta(minutes=minutes, seconds=30)), 1)
        .data
    )
    assert data["occupied"] is True
    if minutes >= 660:
        assert data["previous_state_duration_overflow"] is True
    else:
        assert data["previous_state_duration"] <= minutes
        assert minutes <= data["previous_state_duration"] + data["previous_state_duration_error"]


def test_heartbeat_bytes_carry_battery_and_temperature() -> None:
    data = get_codec("nwave/nps405sm").decode_uplink(nwave_heartbeat(False, 3344, -10.0), 2).data
    assert data == {
        "type": "heartbeat",
        "occupied": False,
        "hw_health_status": 0,
        "temperature": -10.0,
        "battery_voltage": 3.344,
        "battery_health": "normal",
    }
    assert nwave_heartbeat(False, 3344, -10.0) == bytes.fromhex("00d3d8")  # the vendor's example
    f_port, payload = spot_payload("bosch/tps110", True, True, timedelta(0), 3400, 18.2)
    assert get_codec("bosch/tps110").decode_uplink(payload, f_port).data == {
        "type": "heartbeat",
        "occupied": True,
        "temperature": 18,
    }
    assert payload == bytes.fromhex("0112")  # the vendor's example
    with pytest.raises(ValueError, match="no payloads for codec elsys/elt-2"):
        spot_payload("elsys/elt-2", False, True, timedelta(0), 3400, 0)


def test_the_sensor_webhook_is_the_one_integration_that_makes_parking_spots(
    workspace: Workspace,
) -> None:
    beach = workspace.integrations["beach-sensors-tts"]
    spots = beach.model_copy(
        update={
            "id": WEBHOOK,
            "mapping": beach.mapping.model_copy(update={"entity_type": "ParkingSpot"}),
        }
    )
    with_spots = dataclasses.replace(
        workspace, integrations={"beach-sensors-tts": beach, WEBHOOK: spots}
    )
    assert sensor_webhook(with_spots) == WEBHOOK
    with pytest.raises(LookupError, match="found: none"):
        sensor_webhook(dataclasses.replace(workspace, integrations={"beach-sensors-tts": beach}))


def test_a_taken_port_is_a_clear_error() -> None:
    async def scenario() -> None:
        first = LoopbackServer(Starlette())
        await first.start()
        try:
            with pytest.raises(
                OSError, match=f"cannot listen on 127.0.0.1:{first.port}.*another port"
            ):
                await LoopbackServer(Starlette(), first.port).start()
        finally:
            await first.stop()

    asyncio.run(scenario())


def test_the_three_operators_run_on_loopback_and_stop_cleanly(workspace: Workspace) -> None:
    received: list[tuple[str, bytes]] = []

    async def ingest(request: Request) -> Response:
        received.append((request.url.path, await request.body()))
        return Response(status_code=202)

    platform = LoopbackServer(Starlette(routes=[Route("/ingest/{id}", ingest, methods=["POST"])]))

    async def scenario() -> tuple[int, int]:
        await platform.start()
        simulators = ParkingSimulators(
            workspace,
            platform.url,
            0,
            0,
            "secret-key",
            seed=6,
            failures=False,
            sensor_integration=WEBHOOK,
            sensor_interval=0.05,
            speed=3600,
        )
        try:
            async with simulators, httpx.AsyncClient(timeout=5) as client:
                table = await client.get(simulators.datex_table_url)
                status = await client.get(simulators.datex_status_url)
                assert table.status_code == status.status_code == 200
                assert b"ParkingStatusPublication" in status.content
                page = await client.get(
                    simulators.operator_url, headers={"X-Api-Key": "secret-key"}
                )
                assert page.status_code == 200
                assert page.json()["sida"]["totalt"] == 5
                assert simulators.sensor_webhook_url == f"{platform.url}/ingest/{WEBHOOK}"
                for _ in range(600):
                    if simulators.sent >= 30:
                        break
                    await asyncio.sleep(0.05)
            urls = (simulators.datex_status_url, simulators.operator_url)
            for port in (httpx.URL(url).port for url in urls):
                assert port is not None
                with socket.socket() as probe:
                    assert probe.connect_ex(("127.0.0.1", port)) != 0  # closed
            return simulators.sent, len(received)
        finally:
            await platform.stop()

    sent, count = asyncio.run(scenario())
    assert sent >= 30
    assert count - sent in (0, 1)  # one post may have been under way when the sensors stopped
    assert {path for path, _ in received} == {f"/ingest/{WEBHOOK}"}
    devices = {
        d.dev_eui
        for d in workspace.devices.values()
        if d.codec in {"nwave/nps405sm", "bosch/tps110"}
    }
    for _, body in received:
        [uplink] = parse_uplinks(body, "tts_v3")
        assert uplink.dev_eui in devices
