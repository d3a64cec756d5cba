"""The workspace models on their own: points, DevEUIs, entities, paths, settings."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from stadsnav.workspace import Device, Mapping, Point, SeedEntity, WorkspaceSettings, template_paths
from stadsnav.workspace.models import StorageSettings


@pytest.mark.parametrize(
    "written",
    [
        {"lon": 21.2351, "lat": 64.94787},
        [21.2351, 64.94787],
        {"type": "Point", "coordinates": [21.2351, 64.94787]},
    ],
)
def test_point_forms(written: Any) -> None:
    point = Point.model_validate(written)
    assert (point.lon, point.lat) == (21.2351, 64.94787)
    assert point.geojson() == {"type": "Point", "coordinates": [21.2351, 64.94787]}


@pytest.mark.parametrize(
    ("written", "loc"),
    [
        ({"lon": 181, "lat": 64}, ("lon",)),
        ([21.2, -91], ("lat",)),
        ([21.2, 64.9, 10], ()),
        ({"lon": 21.2}, ("lat",)),
    ],
)
def test_point_rejects(written: Any, loc: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as caught:
        Point.model_validate(written)
    assert caught.value.errors()[0]["loc"] == loc


def test_dev_eui_is_lower_cased() -> None:
    device = Device(dev_eui="A81758FFFE05C3A1", name="elt2-a", codec="elsys/elt-2")
    assert device.dev_eui == "a81758fffe05c3a1"


def test_codec_must_be_vendor_model() -> None:
    with pytest.raises(ValidationError, match="vendor/model"):
        Device(dev_eui="a81758fffe05c3a1", name="elt2-a", codec="ELT-2")


def test_seed_entity_extra_keys_are_attributes() -> None:
    entity = SeedEntity.model_validate(
        {
            "id": "urn:ngsi-ld:Beach:se:skelleftea:byske-havsbad",
            "type": "Beach",
            "dataset": "beaches",
            "name": "Byske havsbad",
            "location": [21.2351, 64.94787],
        }
    )
    assert entity.attributes() == {"name": "Byske havsbad"}
    assert entity.location == Point(lon=21.2351, lat=64.94787)


def test_template_paths() -> None:
    template = "urn:ngsi-ld:WaterQualityObserved:{device.properties.city}:{device.name}"
    assert template_paths(template) == ["device.properties.city", "device.name"]


@pytest.mark.parametrize(
    "path", ["data.externalTemperature", "device.properties.probe_depth_m", "device.site"]
)
def test_mapping_accepts_paths(path: str) -> None:
    mapping = Mapping(entity_type="X", entity_id="urn:ngsi-ld:X:{device.name}", location=path)
    assert mapping.location == path


@pytest.mark.parametrize(
    "path", ["payload.temp", "data", "data.", "device..name", "uplink.rx_metadata[0].rssi"]
)
def test_mapping_rejects_paths(path: str) -> None:
    with pytest.raises(ValidationError, match="must start with"):
        Mapping(entity_type="X", entity_id="urn:ngsi-ld:X:1", location=path)


def test_timezone_must_be_known() -> None:
    with pytest.raises(ValidationError, match="unknown time zone 'Europe/Skelleftea'"):
        WorkspaceSettings(name="X", timezone="Europe/Skelleftea")


@pytest.mark.parametrize(
    "url", ["postgres://db.internal/stadsnav", "postgresql://x/y", "sqlite:///a.db"]
)
def test_storage_urls_the_store_opens_are_accepted(url: str) -> None:
    assert StorageSettings(url=url).url == url


def test_a_storage_url_the_store_cannot_open_is_refused_without_echoing_secrets() -> None:
    with pytest.raises(ValidationError) as caught:
        StorageSettings(url="mysql://admin:hunter2@db/stadsnav")
    [error] = caught.value.errors()
    assert "'mysql' is not supported" in error["msg"]
    assert "hunter2" not in error["msg"]  # lint prints the message, not the input


def test_plans_add_to_and_replace_the_built_in_ones() -> None:
    from stadsnav.workspace.models import DEFAULT_PLANS, GatewaySettings

    settings = GatewaySettings.model_validate(
        {"plans": {"anonymous": {"rate": 1}, "school-app": {"rate": 5, "burst": 20}}}
    )
    assert set(settings.plans) == {*DEFAULT_PLANS, "school-app"}
    assert settings.plans["anonymous"].rate == 1
    assert settings.plans["anonymous"].daily_quota is None  # replaced whole, not merged
    assert settings.plans["anonymous"].bursts == 1  # one second's worth of the rate
    assert settings.plans["partner"] == DEFAULT_PLANS["partner"]


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ({"anonymous_plan": "gold"}, "anonymous_plan 'gold' is not a plan"),
        ({"key_plan": "gold"}, "key_plan 'gold' is not a plan"),
        ({"limits_url": "memcached://x"}, "give a redis:// URL"),
        ({"plans": {"x": {"rate": 0}}}, "greater than 0"),
        ({"plans": {"x": {"rat": 1}}}, "rat"),
    ],
)
def test_gateway_settings_that_cannot_work_say_what_to_fix(given: dict, says: str) -> None:
    from stadsnav.workspace.models import GatewaySettings

    with pytest.raises(ValidationError, match=says):
        GatewaySettings.model_validate(given)
