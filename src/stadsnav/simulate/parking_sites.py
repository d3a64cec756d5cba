"""The demo's parking operators around central Skellefteå and their facilities.

Names, addresses and positions are plausible for the town centre, not surveyed; capacities are
made up. The per-spot sensors themselves are not listed here: they are the workspace's devices
(``devices/parking-sensors.yaml``) whose ``site`` is one of the sensor areas below.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from stadsnav.simulate.parking_day import STOCKHOLM, Character
from stadsnav.workspace import Device, Workspace

Kind = Literal["offStreet", "onStreet"]
Layout = Literal["multiStorey", "underground", "openSpace"]
ENTITY_TYPES: dict[Kind, str] = {"offStreet": "OffStreetParking", "onStreet": "OnStreetParking"}
SPOT_CODECS = ("nwave/nps405sm", "bosch/tps110")
"""Codecs the spot-sensor simulator has payloads for."""


@dataclass(frozen=True)
class Facility:
    """A car park or a stretch of street: where it is, how big, and what kind of day it has."""

    ref: str
    """The operator's own id for it (a DATEX II record id, an API id, a sensor area slug)."""
    slug: str
    name: str
    street: str
    postcode: str
    lon: float
    lat: float
    capacity: int
    character: Character
    layout: Layout
    kind: Kind = "offStreet"
    scale: float = 1.0
    """How popular it is relative to its character's curve."""
    hours: tuple[int, int] | None = None
    """Local opening hours (from, to); None is open around the clock."""
    mean_stay: timedelta = timedelta(hours=2)
    """How long a car stays on average (drives the per-spot sensors)."""

    @property
    def entity_id(self) -> str:
        """Its NGSI-LD id in the demo workspace."""
        return f"urn:ngsi-ld:{ENTITY_TYPES[self.kind]}:skelleftea:{self.slug}"

    @property
    def address(self) -> str:
        """Street address, postcode and town, as a letter would have it."""
        return f"{self.street}, {self.postcode} Skellefteå"

    def reporting_lag(self, most_seconds: int) -> timedelta:
        """How long before a report the operator last counted: fixed per facility, under most."""
        return timedelta(
            seconds=int(hashlib.sha256(self.ref.encode()).hexdigest()[:4], 16) % most_seconds
        )

    def is_open(self, moment: datetime, zone: ZoneInfo = STOCKHOLM) -> bool:
        """Whether it is open at ``moment``."""
        if self.hours is None:
            return True
        opens, closes = self.hours
        return opens <= moment.astimezone(zone).hour < closes


@dataclass(frozen=True)
class Operator:
    """A parking company (or the municipality) and what it runs."""

    id: str
    name: str
    national_id: str
    """How its feeds name it (DATEX II ``nationalIdentifier``)."""
    facilities: tuple[Facility, ...]


MUNICIPAL = Operator(
    id="skelleftea-parkering",
    name="Skellefteå Parkerings AB",
    national_id="SE-SKE-Parkering",
    facilities=(
        Facility(
            "SPAB-P01", "p-hus-kanalen", "P-hus Kanalen", "Kanalgatan 41", "931 31",
            20.94781, 64.75021, 430, "commuter", "multiStorey",
        ),
        Facility(
            "SPAB-P02", "p-hus-tradgardsgatan", "P-hus Trädgårdsgatan", "Trädgårdsgatan 7",
            "931 31", 20.95523, 64.75208, 310, "shopping", "multiStorey", hours=(6, 23),
        ),
        Facility(
            "SPAB-P03", "p-resecentrum", "P Resecentrum", "Stationsgatan 2", "931 32",
            20.95902, 64.75297, 160, "commuter", "openSpace", scale=0.95,
        ),
        Facility(
            "SPAB-P04", "p-garage-sara", "P-garage Sara kulturhus", "Trädgårdsgatan 1",
            "931 31", 20.95214, 64.74972, 190, "leisure", "underground",
        ),
        Facility(
            "SPAB-P05", "p-nordana", "P Nordanå", "Nordanåvägen 2", "931 33",
            20.93951, 64.75233, 140, "leisure", "openSpace", scale=0.9,
        ),
        Facility(
            "SPAB-P06", "p-campus", "P Campus Skellefteå", "Kanalgatan 75", "931 77",
            20.96788, 64.74781, 180, "commuter", "openSpace", scale=0.85,
        ),
    ),
)  # fmt: skip
"""Operator A: the municipal company, publishing DATEX II v2.3."""

PRIVATE = Operator(
    id="parkera-norr",
    name="Parkera Norr AB",
    national_id="SE-ParkeraNorr",
    facilities=(
        Facility(
            "PN-3101", "p-hus-citykvarteret", "P-hus Citykvarteret", "Nygatan 44", "931 30",
            20.95034, 64.75142, 280, "shopping", "multiStorey", scale=1.04,
        ),
        Facility(
            "PN-3102", "garage-stadshotellet", "Garage Stadshotellet", "Stationsgatan 8",
            "931 31", 20.95651, 64.75163, 85, "city", "underground",
        ),
        Facility(
            "PN-3103", "garage-bryggaren", "Kv. Bryggaren garage", "Hamngatan 6", "931 31",
            20.94552, 64.74893, 120, "commuter", "underground", hours=(6, 22),
        ),
        Facility(
            "PN-3104", "handelsplats-solbacken", "Handelsplats Solbacken", "Solbacksvägen 3",
            "931 35", 20.98003, 64.75604, 350, "shopping", "openSpace", scale=0.9,
        ),
        Facility(
            "PN-3105", "p-lasarettet", "P Lasarettet", "Lasarettsvägen 29", "931 41",
            20.96962, 64.76181, 240, "commuter", "openSpace", scale=1.05,
        ),
    ),
)  # fmt: skip
"""Operator B: a private company with its own JSON API."""

STREET = Operator(
    id="skelleftea-kommun",
    name="Skellefteå kommun",
    national_id="SE-SKE-Gatu",
    facilities=(
        Facility(
            "storgatan", "storgatan", "Storgatan (Torget–Viktoriagatan)", "Storgatan",
            "931 31", 20.95003, 64.75131, 12, "city", "openSpace", kind="onStreet",
            mean_stay=timedelta(minutes=45),
        ),
        Facility(
            "p-tjarhovsgatan", "p-tjarhovsgatan", "P Tjärhovsgatan", "Tjärhovsgatan 12",
            "931 31", 20.95402, 64.75352, 10, "commuter", "openSpace",
            mean_stay=timedelta(hours=3),
        ),
    ),
)  # fmt: skip
"""Operator C: the municipality's street office, with a LoRaWAN sensor in every bay."""

OPERATORS = (MUNICIPAL, PRIVATE, STREET)
SENSOR_AREAS = {area.entity_id: area for area in STREET.facilities}
"""Sensor areas by entity id, the ``site`` of their devices."""


@dataclass(frozen=True)
class SpotSensor:
    """A bay's sensor: the workspace device and the area it is counted into."""

    device: Device
    area: Facility


def spot_sensors(workspace: Workspace) -> list[SpotSensor]:
    """The workspace's devices that sit in a sensor area, by name."""
    sensors = []
    for device in sorted(workspace.devices.values(), key=lambda d: d.name):
        area = SENSOR_AREAS.get(device.site or "")
        if area is None:
            continue
        if device.codec not in SPOT_CODECS:
            raise ValueError(
                f"device {device.name} in {area.name} has codec {device.codec!r}: the parking "
                f"simulator sends payloads only for {' and '.join(SPOT_CODECS)}"
            )
        sensors.append(SpotSensor(device, area))
    return sensors
