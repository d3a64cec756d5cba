"""Devices in bulk: CSV rows checked line by line, written as YAML the loader reads back."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stadsnav.codecs.registry import codec_ids
from stadsnav.workspace import Device, Workspace, load_workspace
from stadsnav.workspace.device_csv import (
    DeviceFileError,
    device_block,
    read_device_csv,
    write_devices_yaml,
)
from support import BYSKE_SENSOR

HEADER = "dev_eui,name,codec,lon,lat,site,measures"
BYSKE = "urn:ngsi-ld:Beach:se:skelleftea:byske-havsbad"
GOOD = f"""{HEADER},probe,probe_depth_m
a81758fffe05c3b1,elt2-skellefteahamn,elsys/elt-2,21.2353,64.9478,{BYSKE},temperature,external,0.5
A81758FFFE05C3B2,ers-co2-stadshuset,elsys/ers-co2,20.9517,64.7507,,temperature;humidity;co2,,
a81758fffe05c3b3,bare-device,,,,,,,
"""


def write_csv(tmp_path: Path, text: str, name: str = "devices.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def messages(tmp_path: Path, workspace: Workspace, text: str) -> list[str]:
    _, problems = read_device_csv(write_csv(tmp_path, text), codec_ids(), workspace)
    return [str(p) for p in problems]


def test_a_good_file_gives_its_devices(tmp_path: Path, workspace: Workspace) -> None:
    devices, problems = read_device_csv(write_csv(tmp_path, GOOD), codec_ids(), workspace)
    assert problems == []
    first, second, bare = devices
    assert first.dev_eui == "a81758fffe05c3b1"
    assert first.codec == "elsys/elt-2"
    assert first.site == BYSKE
    assert (first.location and first.location.lon, first.location and first.location.lat) == (
        21.2353,
        64.9478,
    )
    assert first.measures == ["temperature"]
    assert first.properties == {"probe": "external", "probe_depth_m": 0.5}
    assert second.dev_eui == "a81758fffe05c3b2"  # written upper case, stored lower case
    assert second.measures == ["temperature", "humidity", "co2"]
    assert second.site is None
    assert second.properties == {}
    assert bare == Device(dev_eui="a81758fffe05c3b3", name="bare-device")


def test_excel_byte_order_mark_is_ignored(tmp_path: Path, workspace: Workspace) -> None:
    path = tmp_path / "devices.csv"
    path.write_text(GOOD, encoding="utf-8-sig")
    devices, problems = read_device_csv(path, codec_ids(), workspace)
    assert problems == []
    assert len(devices) == 3


def test_unknown_codec_is_reported_with_line_column_and_suggestion(
    tmp_path: Path, workspace: Workspace
) -> None:
    text = f"{HEADER}\na81758fffe05c3b1,elt2-a,elsys/elt9,,,,\n"
    [message] = messages(tmp_path, workspace, text)
    assert message.startswith("devices.csv:2: codec: unknown codec 'elsys/elt9' (did you mean")
    assert "'elsys/elt-2'" in message


def test_malformed_values_are_reported_by_column(tmp_path: Path, workspace: Workspace) -> None:
    text = f"{HEADER}\n0004a30b001c,Beach Sensor,elt2,,,,\n"
    assert messages(tmp_path, workspace, text) == [
        "devices.csv:2: dev_eui: '0004a30b001c' is not a DevEUI: expected 16 hex digits",
        "devices.csv:2: name: 'Beach Sensor' is not a slug: use lower-case letters, digits and '-'",
        "devices.csv:2: codec: 'elt2' is not a codec id: expected 'vendor/model'",
    ]


def test_required_cells(tmp_path: Path, workspace: Workspace) -> None:
    text = f"{HEADER}\n,,elsys/elt-2,,,,\n"
    assert messages(tmp_path, workspace, text) == [
        "devices.csv:2: dev_eui: required",
        "devices.csv:2: name: required",
    ]


def test_duplicates_in_the_file_and_against_the_registry(
    tmp_path: Path, workspace: Workspace
) -> None:
    registered = workspace.devices[BYSKE_SENSOR].name
    text = (
        f"{HEADER}\n"
        "a81758fffe05c3b1,elt2-a,,,,,\n"
        "a81758fffe05c3b1,elt2-b,,,,,\n"
        "a81758fffe05c3b4,elt2-a,,,,,\n"
        f"{BYSKE_SENSOR},{registered},,,,,\n"
    )
    assert messages(tmp_path, workspace, text) == [
        "devices.csv:3: dev_eui: duplicate dev_eui 'a81758fffe05c3b1' (also on line 2)",
        "devices.csv:4: name: duplicate name 'elt2-a' (also on line 2)",
        f"devices.csv:5: dev_eui: duplicate dev_eui '{BYSKE_SENSOR}' "
        f"(already registered as '{registered}')",
        f"devices.csv:5: name: duplicate name '{registered}' "
        f"(already registered for {BYSKE_SENSOR})",
    ]


def test_unknown_site(tmp_path: Path, workspace: Workspace) -> None:
    text = f"{HEADER}\na81758fffe05c3b1,elt2-a,,,,urn:ngsi-ld:Beach:se:skelleftea:byske-havbad,\n"
    [message] = messages(tmp_path, workspace, text)
    assert message.startswith(
        "devices.csv:2: site: site 'urn:ngsi-ld:Beach:se:skelleftea:byske-havbad' is not the id "
        f"of an entity in entities/ (did you mean '{BYSKE}'"
    )


@pytest.mark.parametrize(
    ("lon", "lat", "expected"),
    [
        ("abc", "64.9", ["lon: 'abc' is not a number"]),
        ("21.2", "", ["lat: required when lon is given"]),
        ("190", "64.9", ["lon: 190 is not a longitude: expected -180 to 180"]),
        (
            "64.9478",
            "121.2353",
            ["lat: 121.2353 is not a latitude: expected -90 to 90 (are lon and lat swapped?)"],
        ),
        ("nan", "64.9", ["lon: 'nan' is not a number"]),
    ],
)
def test_bad_coordinates(
    tmp_path: Path, workspace: Workspace, lon: str, lat: str, expected: list[str]
) -> None:
    text = f"{HEADER}\na81758fffe05c3b1,elt2-a,,{lon},{lat},,\n"
    assert messages(tmp_path, workspace, text) == [f"devices.csv:2: {e}" for e in expected]


def test_decimal_comma_is_read(tmp_path: Path, workspace: Workspace) -> None:
    text = f'{HEADER}\na81758fffe05c3b1,elt2-a,,"21,2353","64,9478",,\n'
    devices, problems = read_device_csv(write_csv(tmp_path, text), codec_ids(), workspace)
    assert problems == []
    assert devices[0].location is not None
    assert (devices[0].location.lon, devices[0].location.lat) == (21.2353, 64.9478)


def test_header_problems(tmp_path: Path, workspace: Workspace) -> None:
    assert messages(tmp_path, workspace, "dev_eui,name,codec,lon,lat,site,measure\n") == [
        "devices.csv:1: measures: missing column (did you mean 'measure'?)"
    ]
    assert messages(tmp_path, workspace, HEADER.replace(",", ";") + "\n") == [
        "devices.csv:1: columns are separated by ';': use ',' (';' separates measures)"
    ]
    assert messages(tmp_path, workspace, "\n") == [
        f"devices.csv: empty: expected a header line {HEADER}"
    ]


def test_too_many_cells_and_lines_after_blank_ones(tmp_path: Path, workspace: Workspace) -> None:
    text = f"{HEADER}\n\na81758fffe05c3b1,elt2-a,,,,,,surplus\n"
    assert messages(tmp_path, workspace, text) == ["devices.csv:3: 8 cells, but the header has 7"]


def test_every_problem_of_every_line_is_reported(tmp_path: Path, workspace: Workspace) -> None:
    text = GOOD + "a81758fffe05c3b9,elt2-x,elsys/elt9,,,,\nxyz,elt2-y,,,,,\n"
    found = messages(tmp_path, workspace, text)
    assert [m.split(": ")[0:2] for m in found] == [
        ["devices.csv:5", "codec"],
        ["devices.csv:6", "dev_eui"],
    ]


def test_round_trip_csv_to_yaml_to_workspace(tmp_path: Path, workspace_dir: Path) -> None:
    workspace = load_workspace(workspace_dir)
    devices, problems = read_device_csv(write_csv(tmp_path, GOOD), codec_ids(), workspace)
    assert problems == []
    target = workspace_dir / "devices" / "imported.yaml"
    write_devices_yaml(devices, target, comment="Imported from devices.csv.")

    text = target.read_text()
    assert text.startswith(
        "# Imported from devices.csv.\ndevices:\n  - dev_eui: a81758fffe05c3b1\n"
    )
    assert "    properties: {probe: external, probe_depth_m: 0.5}\n" in text
    assert "\n\n  - dev_eui: a81758fffe05c3b2\n" in text  # one block per device
    reloaded = load_workspace(workspace_dir)
    for device in devices:
        assert reloaded.devices[device.dev_eui] == device
    assert len(reloaded.devices) == len(workspace.devices) + 3


def test_appending_keeps_the_existing_devices_and_comments(
    tmp_path: Path, workspace_dir: Path
) -> None:
    workspace = load_workspace(workspace_dir)
    target = workspace_dir / "devices" / "beach-sensors.yaml"
    before = target.read_text()
    devices, _ = read_device_csv(write_csv(tmp_path, GOOD), codec_ids(), workspace)
    write_devices_yaml(devices, target)
    after = target.read_text()
    assert after.startswith(before.rstrip("\n"))
    reloaded = load_workspace(workspace_dir)
    assert set(reloaded.devices) == set(workspace.devices) | {d.dev_eui for d in devices}


def test_appending_to_an_empty_list(tmp_path: Path) -> None:
    target = tmp_path / "empty.yaml"
    target.write_text("devices: []\n")
    write_devices_yaml([Device(dev_eui="a81758fffe05c3b1", name="a")], target)
    assert yaml.safe_load(target.read_text()) == {
        "devices": [{"dev_eui": "a81758fffe05c3b1", "name": "a"}]
    }


def test_appending_to_a_file_that_is_not_a_devices_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "beaches.yaml"
    target.write_text("entities: []\n")
    with pytest.raises(DeviceFileError, match="not a devices file"):
        write_devices_yaml([Device(dev_eui="a81758fffe05c3b1", name="a")], target)
    assert target.read_text() == "entities: []\n"


def test_an_all_digit_dev_eui_is_quoted() -> None:
    block = device_block(Device(dev_eui="0004000000001234", name="x"))
    assert block == "  - dev_eui: '0004000000001234'\n    name: x\n"
    assert yaml.safe_load(block)[0]["dev_eui"] == "0004000000001234"
