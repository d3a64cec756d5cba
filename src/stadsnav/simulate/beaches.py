"""A day at Skellefteå's beaches: every sensor's network server posts its uplinks to a webhook."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import structlog

from stadsnav.simulate.chirpstack import chirpstack_up
from stadsnav.simulate.elsys import water_temperature
from stadsnav.simulate.payloads import water_payload
from stadsnav.simulate.tts import encode, tts_uplink
from stadsnav.workspace import Device, Workspace

log = structlog.get_logger("stadsnav.simulator")

BAD_KINDS = ("invalid_json", "unknown_device", "truncated_payload", "missing_fport", "future_time")
NETWORK_FORMATS = {"the-things-stack": "tts_v3", "chirpstack": "chirpstack_v4"}
"""``properties.network_server`` of a device → the envelope its network server sends."""
ENVELOPES = {"tts_v3": tts_uplink, "chirpstack_v4": chirpstack_up}
"""Envelope format → the function that builds an uplink message in it (same arguments)."""
APPLICATION = "skelleftea-beaches"


@dataclass(frozen=True)
class Sensor:
    """A simulated device and the webhook path its network server posts to."""

    device: Device
    path: str
    format: str


def sensors_of(workspace: Workspace) -> list[Sensor]:
    """Water temperature devices whose network server has a webhook integration."""
    paths = {
        integration.source.format: f"/ingest/{integration.id}"
        for integration in workspace.integrations.values()
        if integration.source.type == "webhook"
        and integration.mapping.entity_type == "WaterQualityObserved"
    }
    sensors = []
    for device in workspace.devices.values():
        fmt = NETWORK_FORMATS.get(str(device.properties.get("network_server", "the-things-stack")))
        if fmt in paths and device.codec and "temperature" in device.measures:
            sensors.append(Sensor(device, paths[fmt], fmt))
    return sensors


@dataclass
class BeachSimulator:
    """Sends realistic uplinks, now and then a broken one, from the workspace's beach sensors."""

    sensors: list[Sensor]
    bad_ratio: float = 0.03
    rng: random.Random = field(default_factory=lambda: random.Random(2026))
    f_cnt: dict[str, int] = field(default_factory=dict)

    @classmethod
    def for_workspace(cls, workspace: Workspace) -> BeachSimulator:
        """Every device that reaches the platform through one of its webhooks."""
        return cls(sensors_of(workspace))

    def message(self, sensor: Sensor, moment: datetime) -> dict[str, Any]:
        """One good uplink from ``sensor`` received at ``moment``, in its network's envelope."""
        device = sensor.device
        assert device.codec is not None
        offset = (int(device.dev_eui[-4:], 16) % 15 - 7) / 10
        water = round(water_temperature(moment, offset) + self.rng.gauss(0, 0.05), 2)
        battery_mv = 3600 - (int(device.dev_eui[-2:], 16) % 200) + self.rng.randint(-5, 5)
        f_port, payload = water_payload(device.codec, device.dev_eui, water, battery_mv)
        f_cnt = self.f_cnt[device.dev_eui] = self.f_cnt.get(device.dev_eui, 0) + 1
        rssi, snr = self.rng.randint(-118, -85), round(self.rng.uniform(-6, 10), 1)
        build = ENVELOPES[sensor.format]
        return build(
            device_id=device.name,
            dev_eui=device.dev_eui,
            application_id=APPLICATION,
            f_port=f_port,
            f_cnt=f_cnt,
            payload=payload,
            received_at=moment,
            rssi=rssi,
            snr=snr,
        )

    def uplink(self, sensor: Sensor, moment: datetime) -> bytes:
        """The JSON body of one good uplink."""
        return encode(self.message(sensor, moment))

    def bad_uplink(self, kind: str, moment: datetime) -> tuple[str, bytes]:
        """(path, body) of a message of the kinds a city sees now and then."""
        tts = [s for s in self.sensors if s.format == "tts_v3"] or self.sensors
        sensor = self.rng.choice(tts)
        good = self.message(sensor, moment)
        if kind == "invalid_json" or sensor.format != "tts_v3":
            return sensor.path, orjson.dumps(good)[:-7]
        if kind == "unknown_device":
            good["end_device_ids"]["dev_eui"] = "A81758FFFE0FFFFF"
            good["end_device_ids"]["device_id"] = "unregistered-elt"
        elif kind == "truncated_payload":
            good["uplink_message"]["frm_payload"] = "AQDoBw4="  # 0x01 00e8 07 0e: vdd cut off
        elif kind == "missing_fport":
            del good["uplink_message"]["f_port"]
        elif kind == "future_time":
            future = (moment + timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%S.000000000Z")
            good["uplink_message"]["received_at"] = future
            good["received_at"] = future
        return sensor.path, encode(good)

    def backfill(self, until: datetime, hours: int, step: timedelta) -> Iterator[tuple[str, bytes]]:
        """(path, body) for the past ``hours``, one per ``step`` per sensor, on a fixed grid."""
        moment = (until - timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0)
        while moment < until:
            for sensor in self.sensors:
                yield sensor.path, self.uplink(sensor, moment)
            moment += step

    async def run(
        self, base_url: str, interval: float, stop: asyncio.Event, backfill_hours: int = 24
    ) -> None:
        """Backfill, then post one uplink per sensor every ``interval`` seconds until ``stop``."""
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            sent = 0
            for path, body in self.backfill(
                datetime.now(UTC), backfill_hours, timedelta(minutes=20)
            ):
                sent += await self._post(client, path, body)
            log.info("simulator_backfilled", uplinks=sent, hours=backfill_hours)
            while not stop.is_set():
                now = datetime.now(UTC)
                for sensor in self.sensors:
                    if self.rng.random() < self.bad_ratio:
                        await self._post(client, *self.bad_uplink(self.rng.choice(BAD_KINDS), now))
                    await self._post(client, sensor.path, self.uplink(sensor, now))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)

    async def _post(self, client: httpx.AsyncClient, path: str, body: bytes) -> int:
        try:
            response = await client.post(
                path, content=body, headers={"content-type": "application/json"}
            )
        except httpx.HTTPError as error:
            log.warning("simulator_post_failed", error=str(error))
            return 0
        return 1 if response.status_code == 202 else 0
