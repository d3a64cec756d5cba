"""The demo's three parking operators, running: two HTTP servers on loopback and 22 bay sensors.

``ParkingSimulators`` serves operator A's DATEX II feed and operator B's JSON API with uvicorn
inside the running event loop, and drives the bay sensors, whose network server (The Things
Stack) posts each uplink to the platform's webhook, as the beach simulator's does.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import structlog
import uvicorn
from starlette.types import ASGIApp

from stadsnav.simulate.datex2 import DatexOperator
from stadsnav.simulate.operator_api import Failures, OperatorApi
from stadsnav.simulate.parking_day import Bay, DayModel
from stadsnav.simulate.parking_sites import MUNICIPAL, PRIVATE, SpotSensor, spot_sensors
from stadsnav.simulate.tts import encode, tts_uplink
from stadsnav.workspace import HttpPollSource, Workspace
from stadsnav.workspace.sources import ApiKeyAuth

log = structlog.get_logger("stadsnav.simulator")

APPLICATION = "skelleftea-parking"
NWAVE_STATUS_PORT, NWAVE_HEARTBEAT_PORT = 1, 2
BOSCH_STATUS_PORT, BOSCH_HEARTBEAT_PORT = 1, 2
MONTHLY_MEAN_CELSIUS = (-9.5, -9.0, -5.0, 0.5, 6.5, 12.5, 15.5, 13.5, 8.5, 2.5, -3.0, -7.0)
"""Skellefteå's air temperature by month (approximate normals), for the sensors' readings."""


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


# Payloads, byte for byte as the sensors send them (read back by our codecs).


def nwave_duration(previous: timedelta) -> int:
    """Nwave's 7-bit compressed duration: minutes below 90, then 5-minute, then hourly steps."""
    minutes = int(previous.total_seconds() // 60)
    if minutes < 90:
        return minutes
    if minutes < 240:
        return 90 + (minutes - 90) // 5
    if minutes < 660:
        return 120 + (minutes - 240) // 60
    return 127


def nwave_status(occupied: bool, previous: timedelta) -> bytes:
    """NPS405 parking status (fPort 1): occupied bit and how long the previous state lasted."""
    return bytes([nwave_duration(previous) << 1 | occupied])


def nwave_heartbeat(occupied: bool, battery_mv: int, celsius: float) -> bytes:
    """NPS405 heartbeat (fPort 2): state, battery (2500 + 4·X mV), temperature (X/2 + 10 °C)."""
    raw_battery = min(255, max(0, (battery_mv - 2500) // 4))
    raw_celsius = min(127, max(-128, round((celsius - 10) * 2)))
    return bytes([int(occupied), raw_battery, raw_celsius & 0xFF])


def bosch_status(occupied: bool) -> bytes:
    """TPS110 parking status (fPort 1)."""
    return bytes([int(occupied)])


def bosch_heartbeat(occupied: bool, celsius: float) -> bytes:
    """TPS110 v2 heartbeat (fPort 2): state and a signed temperature in °C."""
    return bytes([int(occupied), min(127, max(-128, round(celsius))) & 0xFF])


def spot_payload(
    codec_id: str,
    heartbeat: bool,
    occupied: bool,
    previous: timedelta,
    battery_mv: int,
    celsius: float,
) -> tuple[int, bytes]:
    """(fPort, payload) of a bay sensor's status change or heartbeat."""
    if codec_id.startswith("nwave/"):
        if heartbeat:
            return NWAVE_HEARTBEAT_PORT, nwave_heartbeat(occupied, battery_mv, celsius)
        return NWAVE_STATUS_PORT, nwave_status(occupied, previous)
    if codec_id == "bosch/tps110":
        if heartbeat:
            return BOSCH_HEARTBEAT_PORT, bosch_heartbeat(occupied, celsius)
        return BOSCH_STATUS_PORT, bosch_status(occupied)
    raise ValueError(f"the parking simulator has no payloads for codec {codec_id}")


def air_temperature(moment: datetime, zone: ZoneInfo) -> float:
    """Roughly the air temperature in Skellefteå: the month's normal, warmest at 15."""
    local = moment.astimezone(zone)
    hour = local.hour + local.minute / 60
    return MONTHLY_MEAN_CELSIUS[local.month - 1] + 3 * math.cos((hour - 15) / 24 * 2 * math.pi)


# Bay sensors.


@dataclass(frozen=True)
class SensorUplink:
    """One uplink a bay sensor sent: what it said and the webhook body that carries it."""

    sensor: SpotSensor
    moment: datetime
    occupied: bool
    heartbeat: bool
    f_port: int
    payload: bytes
    body: bytes


@dataclass
class _SensorState:
    sensor: SpotSensor
    bay: Bay
    next_heartbeat: datetime
    f_cnt: int = 0


@dataclass
class SpotSensorSimulator:
    """Runs every bay on the day curve; an uplink on each change and a heartbeat every period.

    ``speed`` multiplies the turnover and shortens the heartbeat period alike, while time stamps
    stay real: a test at speed 600 sees a day's worth of comings and goings in minutes.
    """

    sensors: list[SpotSensor]
    model: DayModel
    seed: int = 2026
    speed: float = 1.0
    heartbeat: timedelta = timedelta(minutes=60)
    _states: list[_SensorState] = field(default_factory=list, init=False)

    def start(self, moment: datetime) -> None:
        """Draw each bay's state at ``moment``; heartbeats staggered over the first period."""
        period = self.heartbeat / self.speed
        self._states = []
        for sensor in self.sensors:
            rng = random.Random(f"{self.seed}:{sensor.device.dev_eui}")
            bay = Bay(sensor.area.mean_stay, rng)
            bay.start(moment, self._target(sensor)(moment))
            first = moment + period * rng.random()
            self._states.append(_SensorState(sensor, bay, first))

    def occupied(self) -> dict[str, bool]:
        """Each sensor's current state, by device name."""
        return {state.sensor.device.name: state.bay.occupied for state in self._states}

    def advance(self, until: datetime) -> list[SensorUplink]:
        """Run every bay on to ``until``; the uplinks sent on the way, oldest first."""
        uplinks: list[SensorUplink] = []
        period = self.heartbeat / self.speed
        for state in self._states:
            for flip in state.bay.advance(until, self._target(state.sensor), self.speed):
                uplinks += self._heartbeats(state, flip.moment, not flip.occupied, period)
                uplinks.append(self._uplink(state, flip.moment, flip.occupied, flip.previous))
            uplinks += self._heartbeats(state, until, state.bay.occupied, period)
        uplinks.sort(key=lambda uplink: uplink.moment)
        return uplinks

    def _heartbeats(
        self, state: _SensorState, until: datetime, occupied: bool, period: timedelta
    ) -> Iterator[SensorUplink]:
        while state.next_heartbeat <= until:
            yield self._uplink(state, state.next_heartbeat, occupied, None)
            state.next_heartbeat += period

    def _target(self, sensor: SpotSensor) -> Callable[[datetime], float]:
        area = sensor.area
        return lambda moment: self.model.fraction(area.character, area.ref, moment, area.scale)

    def _uplink(
        self, state: _SensorState, moment: datetime, occupied: bool, previous: timedelta | None
    ) -> SensorUplink:
        device = state.sensor.device
        assert device.codec is not None
        moment = moment.astimezone(UTC)  # the envelope writes UTC digits with a Z
        state.f_cnt += 1
        battery_mv = 3300 + int(device.dev_eui[-2:], 16) % 150
        celsius = air_temperature(moment, self.model.zone)
        heartbeat = previous is None
        f_port, payload = spot_payload(
            device.codec, heartbeat, occupied, previous or timedelta(0), battery_mv, celsius
        )
        rng = state.bay.rng
        message = tts_uplink(
            device_id=device.name,
            dev_eui=device.dev_eui,
            application_id=APPLICATION,
            f_port=f_port,
            f_cnt=state.f_cnt,
            payload=payload,
            received_at=moment,
            gateway_id="skelleftea-gw-02",
            rssi=rng.randint(-115, -80),
            snr=round(rng.uniform(-4, 9), 1),
        )
        return SensorUplink(
            state.sensor, moment, occupied, heartbeat, f_port, payload, encode(message)
        )


# HTTP servers on loopback, inside the running event loop.


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the program it runs inside."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Do not touch signal handlers: Ctrl-C belongs to the host program."""
        yield


@dataclass
class LoopbackServer:
    """One ASGI app served on 127.0.0.1:``port`` (0 picks a free port) until ``stop``."""

    app: ASGIApp
    port: int = 0
    host: str = "127.0.0.1"
    _server: _EmbeddedServer | None = field(default=None, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)

    async def start(self) -> None:
        """Bind the port (a clear error if it is taken) and serve until stopped."""
        # IPPROTO_TCP named, so asyncio sets TCP_NODELAY on accepted connections (no 40 ms
        # delayed-ACK stall per request).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as error:
            sock.close()
            raise OSError(
                f"cannot listen on {self.host}:{self.port} ({error.strerror}): "
                "choose another port for this simulator"
            ) from None
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                await self._task
                raise RuntimeError(f"the simulator on {self.url} stopped while starting")
            await asyncio.sleep(0.01)

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:<port>``."""
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        """Stop serving and wait until the port is closed."""
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._server = self._task = None


# All three operators.


def sensor_webhook(workspace: Workspace) -> str:
    """The id of the one TTS webhook integration that maps uplinks to ParkingSpot entities."""
    found = [
        integration.id
        for integration in workspace.integrations.values()
        if integration.source.type == "webhook"
        and integration.source.format == "tts_v3"
        and integration.mapping.entity_type == "ParkingSpot"
    ]
    if len(found) != 1:
        listed = ", ".join(found) or "none"
        raise LookupError(
            "the bay sensors need exactly one tts_v3 webhook integration whose mapping makes "
            f"ParkingSpot entities (found: {listed}); add one or pass sensor_integration"
        )
    return found[0]


class ParkingSimulators:
    """Operator A (DATEX II), operator B (JSON API) and operator C's bay sensors, for the demo.

    ``start()`` serves A on ``datex_port`` and B on ``operator_port`` (0: any free port) and
    starts posting the sensors' uplinks to ``webhook_base_url`` + ``/ingest/<integration>``;
    ``stop()`` ends all of it.
    """

    def __init__(
        self,
        workspace: Workspace,
        webhook_base_url: str,
        datex_port: int,
        operator_port: int,
        api_key: str,
        seed: int = 2026,
        failures: bool = True,
        *,
        sensor_integration: str | None = None,
        now: Callable[[], datetime] = utc_now,
        sensor_interval: float = 5.0,
        speed: float = 1.0,
        heartbeat: timedelta = timedelta(minutes=60),
        backfill_hours: int = 0,
        timeout_seconds: float = 15.0,
    ) -> None:
        zone = ZoneInfo(workspace.settings.workspace.timezone)
        self.model = DayModel(seed=seed, zone=zone)
        self.now = now
        self.webhook_base_url = webhook_base_url.rstrip("/")
        self.sensor_interval = sensor_interval
        self.backfill_hours = backfill_hours
        self.datex = DatexOperator(MUNICIPAL, self.model, now)
        self.operator = OperatorApi(
            PRIVATE,
            self.model,
            now,
            api_key,
            Failures.realistic(timeout_seconds) if failures else Failures(),
            seed,
        )
        sensors = spot_sensors(workspace)
        self.sensor_integration = (
            sensor_integration if sensor_integration is not None else sensor_webhook(workspace)
        )
        self.sensors = SpotSensorSimulator(sensors, self.model, seed, speed, heartbeat)
        self._datex_server = LoopbackServer(self.datex.app(), datex_port)
        self._operator_server = LoopbackServer(self.operator.app(), operator_port)
        self._stop = asyncio.Event()
        self._driver: asyncio.Task[None] | None = None
        self.sent = 0
        """Uplinks the platform's webhook accepted (HTTP 202)."""

    @classmethod
    def for_workspace(
        cls, workspace: Workspace, webhook_base_url: str, backfill_hours: int = 0
    ) -> ParkingSimulators | None:
        """The simulators the workspace's polled feeds point at, or None if it polls none.

        Operator A listens on the port of the DATEX II feeds' URL, operator B on that of the
        JSON feed, which must name its API key's environment variable (the demo sets it).
        """
        polled = [
            integration.source
            for integration in workspace.integrations.values()
            if isinstance(integration.source, HttpPollSource)
        ]
        datex = next((source for source in polled if source.format == "datex2"), None)
        api = next((source for source in polled if source.format == "json"), None)
        if datex is None or api is None or not isinstance(api.auth, ApiKeyAuth):
            return None
        return cls(
            workspace,
            webhook_base_url,
            urlsplit(datex.url).port or 80,
            urlsplit(api.url).port or 80,
            os.environ.get(api.auth.key_env, ""),
            backfill_hours=backfill_hours,
            timeout_seconds=api.timeout.total_seconds() * 3,
        )

    @property
    def datex_table_url(self) -> str:
        """Operator A's static table publication."""
        return f"{self._datex_server.url}/datex/table.xml"

    @property
    def datex_status_url(self) -> str:
        """Operator A's status publication."""
        return f"{self._datex_server.url}/datex/status.xml"

    @property
    def operator_url(self) -> str:
        """Operator B's first page of facilities (needs the X-Api-Key header)."""
        return f"{self._operator_server.url}/api/facilities"

    @property
    def sensor_webhook_url(self) -> str:
        """Where the bay sensors' network server posts uplinks."""
        return f"{self.webhook_base_url}/ingest/{self.sensor_integration}"

    async def start(self) -> None:
        """Serve both HTTP operators and start the bay sensors."""
        self._stop.clear()
        self.operator.closing.clear()
        await self._datex_server.start()
        try:
            await self._operator_server.start()
        except BaseException:
            await self._datex_server.stop()
            raise
        self._driver = asyncio.create_task(self._drive_sensors())
        log.info(
            "parking_simulators_started",
            datex=self.datex_status_url,
            operator=self.operator_url,
            sensors=len(self.sensors.sensors),
        )

    async def stop(self) -> None:
        """Stop the sensors and both servers (answers being held back are let go first)."""
        self._stop.set()
        self.operator.close()
        if self._driver is not None:
            self._driver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._driver
            self._driver = None
        await self._operator_server.stop()
        await self._datex_server.stop()

    async def __aenter__(self) -> ParkingSimulators:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _drive_sensors(self) -> None:
        now = self.now()
        self.sensors.start(now - timedelta(hours=self.backfill_hours))
        async with httpx.AsyncClient(timeout=10) as client:
            # Started before the platform listens (so its first polls find the operators),
            # the sensors wait for it rather than lose their backfill.
            while not await self._platform_listens(client):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), 0.2)
                if self._stop.is_set():
                    return
            while True:
                for uplink in self.sensors.advance(self.now()):
                    await self._post(client, uplink.body)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.sensor_interval)
                if self._stop.is_set():
                    return

    async def _platform_listens(self, client: httpx.AsyncClient) -> bool:
        try:
            await client.get(f"{self.webhook_base_url}/healthz")
        except httpx.TransportError:
            return False
        return True

    async def _post(self, client: httpx.AsyncClient, body: bytes) -> None:
        try:
            response = await client.post(
                self.sensor_webhook_url, content=body, headers={"content-type": "application/json"}
            )
        except httpx.HTTPError as error:
            log.warning("parking_sensor_post_failed", error=str(error))
            return
        if response.status_code == 202:
            self.sent += 1
        else:
            log.warning("parking_sensor_post_refused", status=response.status_code)
