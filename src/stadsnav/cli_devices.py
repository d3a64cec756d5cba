"""``stadsnav devices import|unknown``: register devices in bulk; adopt devices seen but unknown."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from stadsnav.cli_common import (
    WorkspaceArg,
    err,
    load_checked,
    open_workspace_store,
    out,
    print_problems,
)
from stadsnav.codecs.repository import known_codecs
from stadsnav.model.times import local_time
from stadsnav.pipeline.unknown_devices import UnknownDevice, adoption_csv, unknown_devices
from stadsnav.workspace.device_csv import DeviceFileError, read_device_csv, write_devices_yaml

devices_app = typer.Typer(
    help="Register devices in bulk from CSV; list devices seen but not registered.",
    no_args_is_help=True,
)

DEFAULT_SCAN = 10_000


def _target(workspace: Path, csv_path: Path, into: Path | None) -> Path:
    """``--into`` (relative to the workspace), else ``devices/<csv name>.yaml``."""
    if into is None:
        return workspace / "devices" / f"{csv_path.stem}.yaml"
    return into if into.is_absolute() else workspace / into


@devices_app.command("import")
def import_command(
    csv_path: Annotated[
        Path, typer.Argument(help="CSV: dev_eui,name,codec,lon,lat,site,measures.")
    ],
    workspace: WorkspaceArg,
    into: Annotated[
        Path | None,
        typer.Option(help="YAML file to write or append to (default: devices/<csv name>.yaml)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Check the CSV; write nothing.")] = False,
) -> None:
    """Register the devices of a CSV file; on any error print every problem and import none."""
    if not csv_path.is_file():
        err().print(f"[red]{csv_path}: no such file[/]")
        raise typer.Exit(1)
    ws = load_checked(workspace)
    known = known_codecs(ws.root)
    devices, problems = read_device_csv(csv_path, known, ws)
    if problems:
        print_problems(problems)
        err().print(
            f"[red]{len(problems)} error(s)[/] in {csv_path}: nothing imported "
            f"({len(devices)} valid row(s))"
        )
        raise typer.Exit(1)
    target = _target(ws.root, csv_path, into)
    if target.parent.resolve() != ws.root / "devices" or target.suffix not in (".yaml", ".yml"):
        err().print(f"[red]{target}: the registry is read from devices/*.yaml only[/]")
        raise typer.Exit(1)
    shown = target.relative_to(ws.root) if target.is_relative_to(ws.root) else target
    verb = "append to" if target.exists() else "write"
    if dry_run:
        out().print(f"dry run: {len(devices)} device(s) are valid; would {verb} {shown}")
        return
    try:
        write_devices_yaml(devices, target, comment=f"Imported from {csv_path.name}.")
    except DeviceFileError as error:
        err().print(f"[red]{error}[/]")
        raise typer.Exit(1) from None
    out().print(
        f"registered {len(devices)} device(s) in {shown} ({verb}); "
        "commit it, then `stadsnav deadletters replay` processes their dead-lettered messages"
    )


@devices_app.command("unknown")
def unknown_command(
    workspace: WorkspaceArg,
    csv_out: Annotated[
        Path | None,
        typer.Option("--csv", help="Write the CSV to adopt them here (default: print it)."),
    ] = None,
    scan: Annotated[int, typer.Option(help="How many dead letters to read, newest first.")] = (
        DEFAULT_SCAN
    ),
) -> None:
    """List devices seen but not registered (their uplinks are dead letters), and how to adopt."""
    ws = load_checked(workspace)
    store = open_workspace_store(ws)
    try:
        found = unknown_devices(store.dead_letters(scan), ws)
    finally:
        store.close()
    if not found:
        out().print("no unknown devices: every dead-lettered uplink comes from a registered one")
        return
    out().print(_table(found, ws.settings.workspace.timezone))
    skeleton = adoption_csv(found, ws)
    out().print(f"{len(found)} unknown device(s). To adopt them, complete this CSV:")
    if csv_out is None:
        out().print(skeleton, end="", highlight=False, markup=False)
        csv_name = "unknown-devices.csv"
    else:
        csv_out.write_text(skeleton, encoding="utf-8")
        out().print(f"  written to {csv_out}")
        csv_name = str(csv_out)
    out().print(
        "fill in codec, lon, lat, site and measures (names are the network server's), then run\n"
        f"  stadsnav devices import {csv_name} {workspace}\n"
        f"  stadsnav deadletters replay {workspace}    # processes their dead-lettered messages",
        highlight=False,
        markup=False,
    )


def _table(found: list[UnknownDevice], timezone: str) -> Table:
    table = Table("dev_eui", "network name", "messages", "first seen", "last seen", "integration")
    for device in found:
        table.add_row(
            device.dev_eui,
            device.device_name or "",
            str(device.count),
            local_time(device.first_seen, timezone),
            local_time(device.last_seen, timezone),
            ", ".join(device.integrations),
        )
    return table
