"""load_workspace on the demo municipality and on broken workspaces; stadsnav.toml and its env."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import pytest
from workspace_factory import BASE, WorkspaceFactory

from stadsnav.codecs.registry import codec_ids
from stadsnav.workspace import (
    HttpPollSource,
    MqttSource,
    Problem,
    WebhookSource,
    WorkspaceError,
    lint_workspace,
    load_workspace,
)

DEMO = Path(__file__).resolve().parents[2] / "workspaces" / "demo"


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat = math.radians((a[1] + b[1]) / 2)
    dx = (a[0] - b[0]) * 111_320 * math.cos(lat)
    dy = (a[1] - b[1]) * 110_540
    return math.hypot(dx, dy)


def test_demo_lints_clean() -> None:
    assert lint_workspace(DEMO, known_codecs=codec_ids(), environ={}) == []


def test_demo_loads() -> None:
    ws = load_workspace(DEMO, environ={})
    assert ws.settings.workspace.name == "Skellefteå kommun (demo)"
    assert ws.settings.workspace.timezone == "Europe/Stockholm"
    assert ws.storage_url == f"sqlite:///{DEMO / 'data' / 'stadsnav.db'}"
    assert ws.settings.pipeline.max_future_skew == timedelta(minutes=5)
    assert set(ws.datasets) == {"beaches", "beach-water-temperature", "parking"}
    water = ws.dataset_for_type("WaterQualityObserved")
    assert water is not None
    assert water.freshness == timedelta(minutes=40)
    assert (water.rules["temperature"].min, water.rules["temperature"].max) == (-2, 35)
    assert isinstance(ws.integrations["beach-sensors-tts"].source, WebhookSource)
    assert isinstance(ws.integrations["beach-sensors-mqtt"].source, MqttSource)
    product = ws.products["beaches"]
    assert product.observation is not None
    assert product.observation.values == {"waterTemperature": "temperature"}
    parking = ws.dataset_for_type("OffStreetParking")
    assert parking is not None
    assert parking.freshness == timedelta(minutes=15)
    polled = [i.id for i in ws.integrations.values() if isinstance(i.source, HttpPollSource)]
    assert sorted(polled) == ["parking-norr", "parking-spab-status", "parking-spab-table"]
    assert ws.products["parking-facilities"].path == "parking/facilities"


VENDOR_OUIS = {"elsys": "a81758fffe", "decentlab": "70b3d57e", "milesight-iot": "24e124"}


def test_demo_has_a_sensor_off_every_beach() -> None:
    ws = load_workspace(DEMO, environ={})
    beaches = {e.id: e for e in ws.entities if e.type == "Beach"}
    assert len(beaches) >= 6
    at_beaches = [d for d in ws.devices.values() if d.site in beaches]
    assert {d.site for d in at_beaches} == set(beaches)
    for device in at_beaches:
        assert device.dev_eui.startswith(VENDOR_OUIS[str(device.codec).split("/")[0]])
        beach = beaches[str(device.site)]
        assert beach.location is not None
        assert device.location is not None
        assert 64.3 < beach.location.lat < 65.1
        assert 20.5 < beach.location.lon < 21.7
        here = (device.location.lon, device.location.lat)
        assert 3 < _metres(here, (beach.location.lon, beach.location.lat)) < 30


def test_errors_raise_with_every_problem(make_workspace: WorkspaceFactory) -> None:
    devices = BASE["devices/sensors.yaml"].replace("a81758fffe05c3a2", "zz")
    product = BASE["products/beaches.yaml"].replace("path: beaches", "path: Beaches")
    root = make_workspace({"devices/sensors.yaml": devices, "products/beaches.yaml": product})
    with pytest.raises(WorkspaceError) as caught:
        load_workspace(root, environ={})
    assert [(p.file, p.line, p.field) for p in caught.value.problems] == [
        ("devices/sensors.yaml", 8, "devices[1].dev_eui"),
        ("products/beaches.yaml", 3, "path"),
    ]
    assert "2 error(s)" in str(caught.value)
    assert "products/beaches.yaml:3: path: 'Beaches' is not a slug" in str(caught.value)


def test_warnings_do_not_fail(make_workspace: WorkspaceFactory) -> None:
    ws = load_workspace(make_workspace({"datasets/README.txt": "notes"}), environ={})
    assert ws.device("A81758FFFE05C3A1") is not None
    assert ws.entity("urn:ngsi-ld:Beach:se:testby:norrstrand") is not None


def test_missing_settings_raises(make_workspace: WorkspaceFactory) -> None:
    with pytest.raises(WorkspaceError) as caught:
        load_workspace(make_workspace({"stadsnav.toml": None}), environ={})
    assert caught.value.problems[0].file == "stadsnav.toml"


def _settings_problems(
    make_workspace: WorkspaceFactory, toml: str, env: dict[str, str]
) -> list[Problem]:
    return lint_workspace(make_workspace({"stadsnav.toml": toml}), environ=env)


STORAGE = '[workspace]\nname = "X"\n\n[storage]\nurl = "{url}"\n'


def test_env_reference_and_default(make_workspace: WorkspaceFactory) -> None:
    toml = STORAGE.format(url="postgresql://app:${PGPASSWORD}@${DB_HOST:-localhost}/stadsnav")
    ws = load_workspace(make_workspace({"stadsnav.toml": toml}), environ={"PGPASSWORD": "s3cret"})
    assert ws.settings.storage.url == "postgresql://app:s3cret@localhost/stadsnav"


def test_unset_variable_names_variable_and_field(make_workspace: WorkspaceFactory) -> None:
    toml = STORAGE.format(url="postgresql://app:${PGPASSWORD}@db/stadsnav")
    assert _settings_problems(make_workspace, toml, {}) == [
        Problem(
            "stadsnav.toml",
            5,
            "storage.url",
            "environment variable PGPASSWORD is not set (needed by storage.url)",
        )
    ]


def test_storage_url_env_overrides_file(make_workspace: WorkspaceFactory) -> None:
    url = "postgresql://stadsnav:pw@db.internal:5432/stadsnav"
    env = {"STADSNAV_STORAGE_URL": url}
    ws = load_workspace(make_workspace(), environ=env)  # BASE has no [storage] at all
    assert ws.settings.storage.url == url
    ws = load_workspace(
        make_workspace({"stadsnav.toml": STORAGE.format(url="sqlite:///a.db")}), environ=env
    )
    assert ws.storage_url == url


def test_literal_password_rejected(make_workspace: WorkspaceFactory) -> None:
    toml = STORAGE.format(url="postgresql://app:hunter2@db/stadsnav")
    [problem] = _settings_problems(make_workspace, toml, {})
    assert (problem.line, problem.field) == (5, "storage.url")
    assert "put the password in an environment variable: " in problem.message


def test_literal_password_in_a_default_rejected(make_workspace: WorkspaceFactory) -> None:
    toml = STORAGE.format(url="${DB_URL:-postgresql://app:hunter2@db/stadsnav}")
    [problem] = _settings_problems(make_workspace, toml, {"DB_URL": "sqlite:///x.db"})
    assert problem.field == "storage.url"


def test_mqtt_credentials_only_from_env(make_workspace: WorkspaceFactory) -> None:
    toml = '[workspace]\nname = "X"\n[mqtt]\nusername = "${MQTT_USERNAME}"\npassword = "hunter2"\n'
    [problem] = _settings_problems(make_workspace, toml, {"MQTT_USERNAME": "stadsnav"})
    assert (problem.line, problem.field) == (5, "mqtt.password")


def test_settings_defaults(make_workspace: WorkspaceFactory) -> None:
    settings = load_workspace(make_workspace(), environ={}).settings
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8080)
    assert settings.server.max_body_bytes == 1_048_576
    assert (settings.pipeline.batch_size, settings.pipeline.poll_interval) == (500, 0.2)
    assert settings.mqtt.url == "mqtt://127.0.0.1:1883"


def test_toml_syntax_error_has_line(make_workspace: WorkspaceFactory) -> None:
    [problem] = _settings_problems(make_workspace, '[workspace]\nname = "X\n', {})
    assert (problem.file, problem.line) == ("stadsnav.toml", 2)


def test_unknown_settings_key(make_workspace: WorkspaceFactory) -> None:
    toml = '[workspace]\nname = "X"\n\n[server]\nhost = "0.0.0.0"\nprot = 80\n'
    assert _settings_problems(make_workspace, toml, {}) == [
        Problem("stadsnav.toml", 6, "server.prot", "unknown field")
    ]
