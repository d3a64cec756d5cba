"""Devices in bulk: read a CSV into devices, write them as YAML, list unregistered devices to adopt.

A CSV row is one device: ``dev_eui,name,codec,lon,lat,site,measures``; ``measures`` is separated
by ``;`` and every other column becomes one of the device's ``properties``.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from stadsnav.workspace.lint import suggest
from stadsnav.workspace.models import Device, Point, Workspace
from stadsnav.workspace.problems import Problem

COLUMNS = ("dev_eui", "name", "codec", "lon", "lat", "site", "measures")

_Report = Callable[[str, str], None]


class DeviceFileError(Exception):
    """A devices YAML file cannot take the new devices."""


@dataclass(slots=True)
class _Row:
    """One CSV record: its first line and its cells by column."""

    line: int
    cells: dict[str, str]
    extra_cells: int = 0


@dataclass(slots=True)
class _Seen:
    """Where each DevEUI and name already in use was declared."""

    dev_euis: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)


def read_device_csv(
    path: Path, known_codecs: Collection[str], workspace: Workspace
) -> tuple[list[Device], list[Problem]]:
    """The devices of a CSV file and every problem in it, by line and column."""
    name = path.name
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        return [], [Problem(name, None, "", "not UTF-8 text")]
    header, rows = _records(text)
    problems = list(_header_problems(name, header))
    if problems:
        return [], problems
    seen = _Seen(
        {d.dev_eui: f"already registered as {d.name!r}" for d in workspace.devices.values()},
        {d.name: f"already registered for {d.dev_eui}" for d in workspace.devices.values()},
    )
    sites = {e.id for e in workspace.entities}
    devices: list[Device] = []
    for row in rows:
        device, found = _device(name, row, header, known_codecs, sites, seen)
        problems += found
        if device is not None:
            devices.append(device)
    return devices, problems


def _records(text: str) -> tuple[list[str], list[_Row]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] = []
    rows: list[_Row] = []
    line = 1
    for record in reader:
        start, line = line, reader.line_num + 1
        if not any(cell.strip() for cell in record):
            continue
        if not header:
            header = [cell.strip() for cell in record]
            continue
        cells = dict(zip(header, (cell.strip() for cell in record), strict=False))
        rows.append(_Row(start, cells, len(record) - len(header)))
    return header, rows


def _header_problems(name: str, header: list[str]) -> Iterator[Problem]:
    if not header:
        yield Problem(name, None, "", f"empty: expected a header line {','.join(COLUMNS)}")
        return
    if len(header) == 1 and ";" in header[0]:
        yield Problem(name, 1, "", "columns are separated by ';': use ',' (';' separates measures)")
        return
    for column in COLUMNS:
        if column not in header:
            yield Problem(name, 1, column, f"missing column{suggest(column, header)}")
    for index, column in enumerate(header):
        if not column:
            yield Problem(name, 1, "", f"column {index + 1} has no name")
        elif column in header[:index]:
            yield Problem(name, 1, column, "duplicate column")


def _device(
    file: str,
    row: _Row,
    header: list[str],
    known_codecs: Collection[str],
    sites: Collection[str],
    seen: _Seen,
) -> tuple[Device | None, list[Problem]]:
    problems: dict[str, list[str]] = {}

    def report(column: str, message: str) -> None:
        problems.setdefault(column, []).append(message)

    if row.extra_cells > 0:
        report("", f"{len(header) + row.extra_cells} cells, but the header has {len(header)}")
    raw = _raw(row.cells)
    for column in ("dev_eui", "name"):
        if not raw[column]:
            report(column, "required")
    location = _location(row.cells.get("lon") or "", row.cells.get("lat") or "", report)
    if location is not None:
        raw["location"] = location
    device = _validated(raw, report)
    if raw["codec"] is not None and "codec" not in problems and raw["codec"] not in known_codecs:
        report("codec", f"unknown codec {raw['codec']!r}{suggest(raw['codec'], known_codecs)}")
    if raw["site"] is not None and raw["site"] not in sites:
        message = f"site {raw['site']!r} is not the id of an entity in entities/"
        report("site", message + suggest(raw["site"], sites))
    _check_unique(raw, row.line, seen, report)
    order = ["", *header]
    found = [
        Problem(file, row.line, column, message)
        for column in sorted(problems, key=lambda c: order.index(c) if c in order else len(order))
        for message in problems[column]
    ]
    return (device if not found else None), found


def _raw(cells: dict[str, str]) -> dict[str, Any]:
    """The row as the fields of a Device, before validation."""
    return {
        "dev_eui": (cells.get("dev_eui") or "").lower(),
        "name": cells.get("name") or "",
        "codec": cells.get("codec") or None,
        "measures": [m.strip() for m in (cells.get("measures") or "").split(";") if m.strip()],
        "site": cells.get("site") or None,
        "properties": {c: _property(v) for c, v in cells.items() if c not in COLUMNS and v},
    }


def _validated(raw: dict[str, Any], report: _Report) -> Device | None:
    try:
        return Device.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors():
            column = str(error["loc"][0]) if error["loc"] else ""
            if raw.get(column) == "":
                continue  # already reported as required
            report(column, error["msg"].removeprefix("Value error, "))
        return None


def _check_unique(raw: dict[str, Any], line: int, seen: _Seen, report: _Report) -> None:
    for column, used in (("dev_eui", seen.dev_euis), ("name", seen.names)):
        value = raw[column]
        if not value:
            continue
        if value in used:
            report(column, f"duplicate {column} {value!r} ({used[value]})")
        else:
            used[value] = f"also on line {line}"


def _location(lon: str, lat: str, report: _Report) -> Point | None:
    if not lon and not lat:
        return None
    lon_value = _coordinate("lon", lon, "lat", report)
    lat_value = _coordinate("lat", lat, "lon", report)
    if lon_value is None or lat_value is None:
        return None
    swapped = " (are lon and lat swapped?)" if abs(lon_value) <= 90 < abs(lat_value) else ""
    if not -180 <= lon_value <= 180:
        report("lon", f"{lon} is not a longitude: expected -180 to 180")
        return None
    if not -90 <= lat_value <= 90:
        report("lat", f"{lat} is not a latitude: expected -90 to 90{swapped}")
        return None
    return Point(lon=lon_value, lat=lat_value)


def _coordinate(column: str, text: str, other: str, report: _Report) -> float | None:
    if not text:
        report(column, f"required when {other} is given")
        return None
    try:
        value = float(text.replace(",", ".", 1) if text.count(",") == 1 else text)
    except ValueError:
        report(column, f"{text!r} is not a number")
        return None
    if not math.isfinite(value):
        report(column, f"{text!r} is not a number")
        return None
    return value


def _property(text: str) -> Any:
    """A number where the cell holds one, so ``0.5`` is written as 0.5, not '0.5'."""
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            continue
        if isinstance(value, int) or math.isfinite(value):
            return value
    return text


# Writing YAML


def write_devices_yaml(devices: list[Device], path: Path, *, comment: str | None = None) -> None:
    """Write devices to a new ``devices/*.yaml`` file, or append them to an existing one."""
    if path.exists():
        _append(devices, path)
        return
    head = "".join(f"# {line}\n" for line in comment.splitlines()) if comment else ""
    blocks = "\n".join(device_block(d, "  ") for d in devices)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{head}devices:\n{blocks}", encoding="utf-8")


def _append(devices: list[Device], path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    before = _device_count(text, path)
    item = re.search(r"^( *)- ", text, re.MULTILINE)
    indent = item.group(1) if item else "  "
    blocks = "\n".join(device_block(d, indent) for d in devices)
    if re.search(r"^devices:\s*\[\]\s*$", text, re.MULTILINE):
        new = re.sub(r"^devices:\s*\[\]\s*$", "devices:", text, count=1, flags=re.MULTILINE)
        new = new.rstrip("\n") + "\n" + blocks
    else:
        new = text.rstrip("\n") + "\n\n" + blocks
    if _device_count(new, path) != before + len(devices):
        raise DeviceFileError(f"{path}: cannot append to this file; write to a new one")
    path.write_text(new, encoding="utf-8")


def _device_count(text: str, path: Path) -> int:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DeviceFileError(f"{path}: not valid YAML ({exc})") from None
    if data is None:
        data = {"devices": []}
    items = data.get("devices") if isinstance(data, dict) else None
    if not isinstance(items, list) or set(data) != {"devices"}:
        raise DeviceFileError(f"{path}: not a devices file (expected only 'devices: [...]')")
    return len(items)


def device_block(device: Device, indent: str = "  ") -> str:
    """One device as a readable YAML list item, one field a line, like the hand-written files."""
    fields: dict[str, Any] = {"dev_eui": device.dev_eui, "name": device.name}
    if device.codec is not None:
        fields["codec"] = device.codec
    if device.measures:
        fields["measures"] = device.measures
    if device.site is not None:
        fields["site"] = device.site
    if device.location is not None:
        fields["location"] = [device.location.lon, device.location.lat]
    if device.properties:
        fields["properties"] = device.properties
    first, *rest = [f"{key}: {_flow(value)}" for key, value in fields.items()]
    return f"{indent}- {first}\n" + "".join(f"{indent}  {line}\n" for line in rest)


def _flow(value: Any) -> str:
    """A YAML value on one line, quoted where YAML would read it as something else."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=1 << 20)
    return text.removesuffix("\n").removesuffix("\n...").strip()
