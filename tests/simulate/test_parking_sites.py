"""The demo's parking operators: facilities in central Skellefteå, sensors from the workspace."""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from stadsnav.simulate.parking_sites import (
    MUNICIPAL,
    OPERATORS,
    PRIVATE,
    SENSOR_AREAS,
    STREET,
    Facility,
    spot_sensors,
)
from stadsnav.workspace import Workspace

CENTRE = (20.95, 64.75)
LOCAL = ZoneInfo("Europe/Stockholm")


def metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlmb = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(a))


def all_facilities() -> list[Facility]:
    return [facility for operator in OPERATORS for facility in operator.facilities]


def test_three_operators_of_the_sizes_the_demo_needs() -> None:
    assert 5 <= len(MUNICIPAL.facilities) <= 6
    assert 4 <= len(PRIVATE.facilities) <= 6
    assert {area.kind for area in STREET.facilities} == {"onStreet", "offStreet"}
    assert len({operator.id for operator in OPERATORS}) == 3


def test_every_facility_is_in_central_skelleftea_and_has_a_capacity() -> None:
    for facility in all_facilities():
        assert metres(*CENTRE, facility.lon, facility.lat) < 2500, facility.name
        assert facility.capacity > 0
        assert facility.postcode.startswith("931")


def test_ids_slugs_and_entity_ids_are_unique_and_well_formed() -> None:
    facilities = all_facilities()
    assert len({f.ref for f in facilities}) == len(facilities)
    assert len({f.slug for f in facilities}) == len(facilities)
    for facility in facilities:
        kind = "OnStreetParking" if facility.kind == "onStreet" else "OffStreetParking"
        assert facility.entity_id == f"urn:ngsi-ld:{kind}:skelleftea:{facility.slug}"
    assert SENSOR_AREAS["urn:ngsi-ld:OnStreetParking:skelleftea:storgatan"].name.startswith(
        "Storgatan"
    )


def test_opening_hours_are_local() -> None:
    garage = next(f for f in MUNICIPAL.facilities if f.hours is not None)
    opens, closes = garage.hours or (0, 0)
    assert garage.is_open(datetime(2026, 3, 10, opens, tzinfo=LOCAL))
    assert not garage.is_open(datetime(2026, 3, 10, closes, tzinfo=LOCAL))
    assert not garage.is_open(datetime(2026, 3, 10, 2, 30, tzinfo=LOCAL))
    always = next(f for f in MUNICIPAL.facilities if f.hours is None)
    assert always.is_open(datetime(2026, 3, 10, 2, 30, tzinfo=LOCAL))


def test_the_bay_sensors_are_the_workspaces_devices_counted_into_their_areas(
    workspace: Workspace,
) -> None:
    sensors = spot_sensors(workspace)
    by_area: dict[str, list[str]] = {}
    for sensor in sensors:
        by_area.setdefault(sensor.area.slug, []).append(sensor.device.codec or "")
        assert sensor.device.measures == ["occupancy"]
        assert sensor.device.location is not None
        distance = metres(
            sensor.area.lon, sensor.area.lat, sensor.device.location.lon, sensor.device.location.lat
        )
        assert distance < 150, sensor.device.name
    assert by_area == {
        "storgatan": ["nwave/nps405sm"] * 12,
        "p-tjarhovsgatan": ["bosch/tps110"] * 10,
    }
    for area in STREET.facilities:
        assert len(by_area[area.slug]) == area.capacity
    assert {s.device.dev_eui for s in sensors} <= set(workspace.devices)


def test_a_sensor_area_device_with_a_codec_the_simulator_cannot_speak_is_refused(
    workspace: Workspace,
) -> None:
    bay = next(d for d in workspace.devices.values() if d.codec == "bosch/tps110")
    odd = bay.model_copy(update={"codec": "elsys/elt-2"})
    broken = dataclasses.replace(workspace, devices={**workspace.devices, bay.dev_eui: odd})
    with pytest.raises(ValueError, match=r"codec 'elsys/elt-2'.*nwave/nps405sm and bosch/tps110"):
        spot_sensors(broken)
