"""Reading every workspace file into models, turning each failure into a located Problem."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from stadsnav.workspace.env import MissingVariableError, expand, has_reference, literal_password
from stadsnav.workspace.models import (
    Dataset,
    Device,
    Integration,
    Product,
    SeedEntity,
    Settings,
)
from stadsnav.workspace.problems import Problem, Severity
from stadsnav.workspace.yamlpos import (
    Path,
    Positions,
    error_line,
    error_message,
    format_path,
    load_yaml,
    resolve,
)

SETTINGS_FILE = "stadsnav.toml"
FOLDERS = ("datasets", "devices", "entities", "integrations", "products")
YAML_SUFFIXES = (".yaml", ".yml")
STORAGE_URL_ENV = "STADSNAV_STORAGE_URL"
_SECRET_KEYS = {("mqtt", "username"), ("mqtt", "password")}

M = TypeVar("M", bound=BaseModel)


@dataclass(slots=True)
class Place:
    """Where in a workspace file something was written."""

    file: str
    positions: Positions
    prefix: Path

    def line(self, *path: str | int) -> int | None:
        """Line of a field below this place."""
        return self.positions.line((*self.prefix, *path))

    def problem(self, path: Path, message: str, severity: Severity = "error") -> Problem:
        """A problem at a field below this place."""
        full = (*self.prefix, *path)
        return Problem(self.file, self.positions.line(full), format_path(full), message, severity)

    def where(self, *path: str | int) -> str:
        """``file:line`` of a field, to name the other place in a message."""
        line = self.line(*path)
        return self.file if line is None else f"{self.file}:{line}"


@dataclass(slots=True)
class Located(Place, Generic[M]):
    """A model read from a workspace file, with the way back to its lines."""

    model: M


@dataclass(slots=True)
class ParsedWorkspace:
    """Everything that could be read, and every problem met reading it."""

    root: FsPath
    settings: Settings | None = None
    datasets: list[Located[Dataset]] = field(default_factory=list)
    devices: list[Located[Device]] = field(default_factory=list)
    entities: list[Located[SeedEntity]] = field(default_factory=list)
    integrations: list[Located[Integration]] = field(default_factory=list)
    products: list[Located[Product]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    incomplete: set[str] = field(default_factory=set)
    unreadable: set[str] = field(default_factory=set)
    declared_ids: dict[str, set[str]] = field(default_factory=dict)

    def complete(self, folder: str) -> bool:
        """True when every file of the folder was valid."""
        return folder not in self.incomplete

    def readable(self, folder: str) -> bool:
        """True when every file of the folder parsed, so each id it declares is known."""
        return folder not in self.unreadable


def parse_workspace(root: FsPath, environ: Mapping[str, str] | None = None) -> ParsedWorkspace:
    """Read stadsnav.toml and every YAML file under the known folders."""
    parsed = ParsedWorkspace(root)
    parsed.settings = _read_settings(root, os.environ if environ is None else environ, parsed)
    for folder in FOLDERS:
        for path in _files(root / folder, root, parsed):
            _read_file(folder, path.relative_to(root).as_posix(), path, parsed)
    return parsed


def _files(folder: FsPath, root: FsPath, parsed: ParsedWorkspace) -> list[FsPath]:
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name.lower().startswith("readme"):
            continue
        if path.is_file() and path.suffix in YAML_SUFFIXES:
            found.append(path)
            continue
        rel = path.relative_to(root).as_posix()
        hint = "a folder" if path.is_dir() else "not a .yaml file"
        parsed.problems.append(
            Problem(rel, None, "", f"unknown file ({hint}); it is ignored", "warning")
        )
    return found


def _read_file(folder: str, rel: str, path: FsPath, parsed: ParsedWorkspace) -> None:
    before = len(parsed.problems)
    _read_models(folder, rel, path, parsed)
    if len(parsed.problems) > before:
        parsed.incomplete.add(folder)


def _read_models(folder: str, rel: str, path: FsPath, parsed: ParsedWorkspace) -> None:
    doc = _read_yaml(rel, path, parsed.problems)
    if doc is None:
        parsed.unreadable.add(folder)
        return
    data, positions = doc
    parsed.declared_ids.setdefault(folder, set()).update(_declared_ids(data))
    if folder == "devices":
        parsed.devices += _items(rel, data, positions, "devices", Device, parsed.problems)
    elif folder == "entities":
        parsed.entities += _items(rel, data, positions, "entities", SeedEntity, parsed.problems)
    elif folder == "datasets":
        parsed.datasets += _single(rel, data, positions, Dataset, parsed.problems)
    elif folder == "integrations":
        parsed.integrations += _single(rel, data, positions, Integration, parsed.problems)
    else:
        parsed.products += _single(rel, data, positions, Product, parsed.problems)


def _declared_ids(data: dict[str, Any]) -> set[str]:
    """Every ``id`` written in a file, so references to an invalid item are not also reported."""
    items = [data, *(v for v in data.values() if isinstance(v, list) for v in v)]
    return {str(i["id"]) for i in items if isinstance(i, dict) and "id" in i}


def _read_yaml(rel: str, path: FsPath, problems: list[Problem]) -> tuple[Any, Positions] | None:
    try:
        doc = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        problems.append(Problem(rel, error_line(exc), "", error_message(exc)))
        return None
    except UnicodeDecodeError:
        problems.append(Problem(rel, None, "", "not UTF-8 text"))
        return None
    for key_path, line, first in doc.duplicates:
        message = f"duplicate key (first on line {first}); the last one wins in YAML"
        problems.append(Problem(rel, line, format_path(key_path), message))
    if not isinstance(doc.data, dict):
        kind = "nothing" if doc.data is None else type(doc.data).__name__
        problems.append(Problem(rel, doc.positions.line(()), "", f"expected a mapping, got {kind}"))
        return None
    return doc.data, doc.positions


def _single(
    rel: str, data: dict[str, Any], positions: Positions, model: type[M], problems: list[Problem]
) -> list[Located[M]]:
    value = _validate(model, data, rel, data, positions, (), problems)
    return [] if value is None else [Located(rel, positions, (), value)]


def _items(
    rel: str,
    data: dict[str, Any],
    positions: Positions,
    key: str,
    model: type[M],
    problems: list[Problem],
) -> list[Located[M]]:
    """Validate a ``key: [...]`` file item by item, so one bad item hides no other."""
    for extra in data.keys() - {key}:
        path = (extra,)
        message = f"unknown field; this file holds only '{key}'"
        problems.append(Problem(rel, positions.line(path), format_path(path), message))
    items = data.get(key)
    if not isinstance(items, list):
        message = "field required" if key not in data else f"expected a list of {key}"
        problems.append(Problem(rel, positions.line((key,)), key, message))
        return []
    located = []
    for index, item in enumerate(items):
        prefix: Path = (key, index)
        value = _validate(model, item, rel, data, positions, prefix, problems)
        if value is not None:
            located.append(Located(rel, positions, prefix, value))
    return located


def _validate(
    model: type[M],
    value: Any,
    rel: str,
    document: Any,
    positions: Positions,
    prefix: Path,
    problems: list[Problem],
) -> M | None:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        for error in exc.errors():
            problems.append(_problem(error, rel, document, positions, prefix))
        return None


def _problem(
    error: ErrorDetails, rel: str, document: Any, positions: Positions, prefix: Path
) -> Problem:
    loc: Path = (*prefix, *error["loc"])
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        loc = (*loc, str(error.get("ctx", {}).get("discriminator", "type")).strip("'"))
    path = resolve(loc, document)
    return Problem(rel, positions.line(path), format_path(path), _message(error))


def _message(error: ErrorDetails) -> str:
    if error["type"] == "missing":
        return "field required"
    if error["type"] == "extra_forbidden":
        return "unknown field"
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return message[:1].lower() + message[1:]


# stadsnav.toml


def _read_settings(
    root: FsPath, environ: Mapping[str, str], parsed: ParsedWorkspace
) -> Settings | None:
    path = root / SETTINGS_FILE
    if not path.is_file():
        message = 'missing: a workspace needs a stadsnav.toml with [workspace] name = "..."'
        parsed.problems.append(Problem(SETTINGS_FILE, None, "", message))
        return None
    text = path.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        parsed.problems.append(
            Problem(SETTINGS_FILE, int(line.group(1)) if line else None, "", f"TOML: {exc}")
        )
        return None
    positions = toml_positions(text)
    problems: list[Problem] = []
    data = _expand_all(raw, (), environ, positions, problems)
    if STORAGE_URL_ENV in environ and isinstance(data, dict):
        storage = data.setdefault("storage", {})
        if isinstance(storage, dict):
            storage["url"] = environ[STORAGE_URL_ENV]
    parsed.problems += problems
    settings = _validate(Settings, data, SETTINGS_FILE, data, positions, (), parsed.problems)
    return None if problems else settings


def _expand_all(
    value: Any, path: Path, environ: Mapping[str, str], positions: Positions, out: list[Problem]
) -> Any:
    if isinstance(value, dict):
        return {k: _expand_all(v, (*path, k), environ, positions, out) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_all(v, (*path, i), environ, positions, out) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    where = (SETTINGS_FILE, positions.line(path), format_path(path))
    if literal_password(value):
        message = (
            "literal password in the URL; put the password in an environment variable: "
            "scheme://user:${PASSWORD_VARIABLE}@host"
        )
        out.append(Problem(*where, message))
    if path in _SECRET_KEYS and not has_reference(value):
        name = f"MQTT_{str(path[-1]).upper()}"
        out.append(Problem(*where, f"{path[-1]} only via the environment: ${{{name}}}"))
    try:
        return expand(value, environ)
    except MissingVariableError as exc:
        message = f"environment variable {exc.name} is not set (needed by {where[2]})"
        out.append(Problem(*where, message))
        return value


_TABLE = re.compile(r"^\s*\[\[?\s*([^\[\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")


def toml_positions(text: str) -> Positions:
    """Lines of the tables and keys of a TOML document (plain and dotted keys)."""
    lines: dict[Path, int] = {(): 1}
    table: Path = ()
    for number, line in enumerate(text.splitlines(), start=1):
        if match := _TABLE.match(line):
            table = _dotted(match.group(1))
            lines.setdefault(table, number)
        elif match := _KEY.match(line):
            lines.setdefault((*table, *_dotted(match.group(1))), number)
    return Positions(lines)


def _dotted(key: str) -> Path:
    return tuple(part.strip().strip("\"'") for part in key.split("."))
