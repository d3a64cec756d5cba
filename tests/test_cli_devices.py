"""``stadsnav devices import`` and ``unknown``: bulk registration, adoption of unknown devices."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import typer
from typer.testing import CliRunner

from stadsnav.cli import app as stadsnav_app
from stadsnav.cli_devices import devices_app
from stadsnav.runtime import Runtime
from stadsnav.simulate.tts import tts_uplink
from stadsnav.store.base import NewInboxMessage
from stadsnav.workspace import load_workspace
from support import SUNDSVALL_BEACH_PAYLOAD

runner = CliRunner(env={"COLUMNS": "250"})
HEADER = "dev_eui,name,codec,lon,lat,site,measures"
BYSKE = "urn:ngsi-ld:Beach:se:skelleftea:byske-havsbad"
KUSTEN = "a81758fffe0a0b0c"
HAMNEN = "a81758fffe0a0b0d"


def cli() -> typer.Typer:
    """The stadsnav command with the devices group, as cli.py will mount it."""
    app = typer.Typer()
    app.add_typer(devices_app, name="devices")
    app.add_typer(stadsnav_app, name="stadsnav")
    return app


def write_csv(tmp_path: Path, rows: str) -> Path:
    path = tmp_path / "new-sensors.csv"
    path.write_text(f"{HEADER}\n{rows}", encoding="utf-8")
    return path


def test_import_writes_the_devices_and_the_workspace_loads_them(
    tmp_path: Path, workspace_dir: Path
) -> None:
    csv_path = write_csv(
        tmp_path,
        f"a81758fffe05c3b1,elt2-skellefteahamn,elsys/elt-2,21.2353,64.9478,{BYSKE},temperature\n"
        "a81758fffe05c3b2,elt2-kurjovrden,elsys/elt-2,,,,temperature\n",
    )
    result = runner.invoke(cli(), ["devices", "import", str(csv_path), str(workspace_dir)])
    assert result.exit_code == 0, result.output
    assert "registered 2 device(s) in devices/new-sensors.yaml (write)" in result.output
    assert "stadsnav deadletters replay" in result.output
    loaded = load_workspace(workspace_dir)
    assert loaded.devices["a81758fffe05c3b1"].site == BYSKE
    assert loaded.devices["a81758fffe05c3b2"].name == "elt2-kurjovrden"


def test_dry_run_checks_and_writes_nothing(tmp_path: Path, workspace_dir: Path) -> None:
    csv_path = write_csv(tmp_path, "a81758fffe05c3b1,elt2-a,elsys/elt-2,,,,\n")
    into = "devices/beach-sensors.yaml"
    before = (workspace_dir / into).read_text()
    result = runner.invoke(
        cli(),
        ["devices", "import", str(csv_path), str(workspace_dir), "--into", into, "--dry-run"],
    )
    assert result.exit_code == 0, result.output
    assert "dry run: 1 device(s) are valid; would append to devices/beach-sensors.yaml" in (
        result.output
    )
    assert (workspace_dir / into).read_text() == before
    assert not (workspace_dir / "devices" / "new-sensors.yaml").exists()


def test_any_error_refuses_the_whole_import(tmp_path: Path, workspace_dir: Path) -> None:
    csv_path = write_csv(
        tmp_path,
        "a81758fffe05c3b1,elt2-a,elsys/elt-2,,,,\n"
        "a81758fffe05c3b2,elt2-b,elsys/elt9,,,,\n"
        "a81758fffe05c3b3,elt2-c,,21.2,95,,\n",
    )
    result = runner.invoke(cli(), ["devices", "import", str(csv_path), str(workspace_dir)])
    assert result.exit_code == 1
    assert "new-sensors.csv:3: codec: unknown codec 'elsys/elt9'" in result.output
    assert "new-sensors.csv:4: lat: 95 is not a latitude" in result.output
    assert "2 error(s)" in result.output
    assert "nothing imported (1 valid row(s))" in result.output
    assert not (workspace_dir / "devices" / "new-sensors.yaml").exists()


def feed_unknown_uplinks(workspace_dir: Path) -> None:
    """Uplinks from two unregistered devices through the real pipeline into the dead letters."""
    runtime = Runtime.open(load_workspace(workspace_dir))
    sent = [
        (KUSTEN, "ELT2 Kusten", datetime(2026, 6, 1, 12, tzinfo=UTC)),
        (KUSTEN, "ELT2 Kusten", datetime(2026, 6, 1, 13, tzinfo=UTC)),
        (HAMNEN, "elt2-hamnen", datetime(2026, 6, 1, 14, tzinfo=UTC)),
    ]
    messages = []
    for count, (dev_eui, name, received_at) in enumerate(sent, start=1):
        body = tts_uplink(
            device_id=name,
            dev_eui=dev_eui,
            application_id="skelleftea-beaches",
            f_port=5,
            f_cnt=count,
            payload=SUNDSVALL_BEACH_PAYLOAD,
            received_at=received_at,
        )
        messages.append(
            NewInboxMessage(
                "beach-sensors-tts",
                f"m{count}",
                received_at,
                "application/json",
                orjson.dumps(body),
            )
        )
    runtime.store.inbox_append(messages)
    runtime.runner.drain()
    runtime.store.close()


def test_unknown_lists_them_and_the_csv_adopts_them(tmp_path: Path, workspace_dir: Path) -> None:
    feed_unknown_uplinks(workspace_dir)
    skeleton = tmp_path / "adopt.csv"
    listed = runner.invoke(
        cli(), ["devices", "unknown", str(workspace_dir), "--csv", str(skeleton)]
    )
    assert listed.exit_code == 0, listed.output
    [kusten] = [line for line in listed.output.splitlines() if KUSTEN in line]
    for shown in ("ELT2 Kusten", " 2 ", "2026-06-01 14:00:00 CEST", "2026-06-01 15:00:00 CEST"):
        assert shown in kusten
    assert "beach-sensors-tts" in kusten
    assert "2 unknown device(s)" in listed.output
    assert f"stadsnav devices import {skeleton} {workspace_dir}" in listed.output
    assert skeleton.read_text() == (
        f"{HEADER}\n{KUSTEN},elt2-kusten,,,,,\n{HAMNEN},elt2-hamnen,,,,,\n"
    )

    skeleton.write_text(
        skeleton.read_text().replace(",elt2-kusten,,,,,", f",elt2-kusten,elsys/elt-2,,,{BYSKE},")
    )
    imported = runner.invoke(cli(), ["devices", "import", str(skeleton), str(workspace_dir)])
    assert imported.exit_code == 0, imported.output
    replayed = runner.invoke(cli(), ["stadsnav", "deadletters", "replay", str(workspace_dir)])
    assert replayed.exit_code == 0, replayed.output
    assert "replayed 3 message(s): 3 stored, 0 dead-lettered again" in replayed.output
    after = runner.invoke(cli(), ["devices", "unknown", str(workspace_dir)])
    assert after.exit_code == 0, after.output
    assert "no unknown devices" in after.output


def test_unknown_prints_the_csv_without_csv_option(workspace_dir: Path) -> None:
    feed_unknown_uplinks(workspace_dir)
    listed = runner.invoke(cli(), ["devices", "unknown", str(workspace_dir)])
    assert listed.exit_code == 0, listed.output
    assert f"{HEADER}\n{KUSTEN},elt2-kusten,,,,,\n{HAMNEN},elt2-hamnen,,,,,\n" in listed.output
    assert "stadsnav deadletters replay" in listed.output


def test_import_only_into_the_devices_folder(tmp_path: Path, workspace_dir: Path) -> None:
    csv_path = write_csv(tmp_path, "a81758fffe05c3b1,elt2-a,elsys/elt-2,,,,\n")
    result = runner.invoke(
        cli(), ["devices", "import", str(csv_path), str(workspace_dir), "--into", "imported.yaml"]
    )
    assert result.exit_code == 1
    assert "the registry is read from devices/*.yaml only" in result.output
    assert not (workspace_dir / "imported.yaml").exists()
