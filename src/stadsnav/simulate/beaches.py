"""A day at Skellefteå's beaches: every sensor posts an uplink to the webhook every few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import structlog

from stadsnav.simulate.elsys import elsys_payload, water_temperature
from stadsnav.simulate.tts import encode, tts_uplink
from stadsnav.workspace import Device, Workspace

log = structlog.get_logger("stadsnav.simulator")

BAD_KINDS = ("invalid_json", "unknown_device", "truncated_payload", "missing_fport", "future_time")


@dataclass
class BeachSimulator:
    """Sends The Things Stack uplinks from the workspace's Elsys beach sensors."""

    devices: list[Device]
    application_id: str = "skelleftea-beaches"
    bad_ratio: float = 0.03
    rng: random.Random = field(default_factory=lambda: random.Random(2026))
    f_cnt: dict[str, int] = field(default_factory=dict)

    @classmethod
    def for_workspace(cls, workspace: Workspace) -> BeachSimulator:
        """Every device in the workspace with an Elsys codec."""
        devices = [d for d in workspace.devices.values() if (d.codec or "").startswith("elsys/")]
        return cls(devices)

    def uplink(self, device: Device, moment: datetime) -> bytes:
        """One good uplink from ``device`` received at ``moment``."""
        offset = (int(device.dev_eui[-4:], 16) % 15 - 7) / 10
        water = water_temperature(moment, offset) + self.rng.gauss(0, 0.05)
        internal = water + 1.5 + self.rng.gauss(0, 0.2)
        vdd = 3600 - (int(device.dev_eui[-2:], 16) % 200) + self.rng.randint(-5, 5)
        self.f_cnt[device.dev_eui] = self.f_cnt.get(device.dev_eui, 0) + 1
        message = tts_uplink(
            device_id=device.name,
            dev_eui=device.dev_eui,
            application_id=self.application_id,
            f_port=5,
            f_cnt=self.f_cnt[device.dev_eui],
            payload=elsys_payload(internal, vdd, water),
            received_at=moment,
            rssi=self.rng.randint(-118, -85),
            snr=round(self.rng.uniform(-6, 10), 1),
        )
        return encode(message)

    def bad_uplink(self, kind: str, moment: datetime) -> bytes:
        """A message of the kinds a city sees now and then."""
        device = self.rng.choice(self.devices)
        good = orjson.loads(self.uplink(device, moment))
        if kind == "invalid_json":
            return orjson.dumps(good)[:-7]
        if kind == "unknown_device":
            good["end_device_ids"]["dev_eui"] = "A81758FFFE0FFFFF"
            good["end_device_ids"]["device_id"] = "unregistered-elt"
        elif kind == "truncated_payload":
            good["uplink_message"]["frm_payload"] = (
                "AQDoBw4="  # 0x01 00e8 07 0e: the vdd value is cut off
            )
        elif kind == "missing_fport":
            del good["uplink_message"]["f_port"]
        elif kind == "future_time":
            future = (moment + timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%S.000000000Z")
            good["uplink_message"]["received_at"] = future
            good["received_at"] = future
        return encode(good)

    def backfill(self, until: datetime, hours: int, step: timedelta) -> Iterator[bytes]:
        """Uplinks for the past ``hours``, one per ``step`` per device, on a fixed time grid."""
        start = until - timedelta(hours=hours)
        moment = start.replace(minute=0, second=0, microsecond=0)
        while moment < until:
            for device in self.devices:
                yield self.uplink(device, moment)
            moment += step

    async def run(
        self, url: str, interval: float, stop: asyncio.Event, backfill_hours: int = 24
    ) -> None:
        """Backfill, then post one uplink per sensor every ``interval`` seconds until ``stop``."""
        async with httpx.AsyncClient(timeout=10) as client:
            sent = 0
            for body in self.backfill(datetime.now(UTC), backfill_hours, timedelta(minutes=20)):
                sent += await self._post(client, url, body)
            log.info("simulator_backfilled", uplinks=sent, hours=backfill_hours)
            while not stop.is_set():
                now = datetime.now(UTC)
                for device in self.devices:
                    if self.rng.random() < self.bad_ratio:
                        await self._post(
                            client, url, self.bad_uplink(self.rng.choice(BAD_KINDS), now)
                        )
                    await self._post(client, url, self.uplink(device, now))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)

    async def _post(self, client: httpx.AsyncClient, url: str, body: bytes) -> int:
        try:
            response = await client.post(
                url, content=body, headers={"content-type": "application/json"}
            )
        except httpx.HTTPError as error:
            log.warning("simulator_post_failed", error=str(error))
            return 0
        return 1 if response.status_code == 202 else 0
