"""Codecs in the layout of the TTN device repository, imported into a workspace and tested.

A repository checkout has ``vendor/<vendor>/<model>-codec.yaml`` naming a JavaScript file and
listing examples (input bytes and port, expected output). Imported codecs live in the
workspace as ``codecs/<vendor>/<model>-codec.yaml`` plus the script, kept in git with the rest
of the configuration; their id is ``<vendor>/<model>``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from stadsnav.codecs.base import Codec
from stadsnav.codecs.js import JsCodec
from stadsnav.codecs.registry import codec_ids

CODECS_FOLDER = "codecs"
CODEC_SUFFIX = "-codec.yaml"


class CodecFileError(ValueError):
    """A codec file that cannot be used: not YAML, no uplink decoder, script missing."""


@dataclass(frozen=True, slots=True)
class Example:
    """One documented uplink: input and the output the codec should give."""

    description: str
    payload: bytes
    f_port: int
    recv_time: datetime | None
    output: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CodecSpec:
    """A codec file read: its id, its YAML, its script and its examples."""

    id: str
    yaml_file: Path
    script_file: Path
    examples: list[Example] = field(default_factory=list)

    def codec(self, *, timeout_ms: int = 50, max_memory_mb: int = 64) -> JsCodec:
        """A runner for the script."""
        source = self.script_file.read_text(encoding="utf-8")
        return JsCodec(self.id, source, timeout_ms=timeout_ms, max_memory_mb=max_memory_mb)


@dataclass(frozen=True, slots=True)
class ImportedCodec:
    """The outcome of importing one codec file: where it went, or why it was skipped."""

    id: str
    source: Path
    yaml_file: Path | None = None
    script_file: Path | None = None
    examples: int = 0
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """True when the codec was copied into the workspace."""
        return self.problem is None


@dataclass(frozen=True, slots=True)
class ExampleResult:
    """One example run: passed, or the differences between expected and actual output."""

    codec_id: str
    description: str
    expected: dict[str, Any]
    actual: dict[str, Any]
    diff: list[str]

    @property
    def passed(self) -> bool:
        """True when the output matched."""
        return not self.diff


def codec_files(vendor_root: Path) -> list[tuple[str, Path]]:
    """``(vendor, codec yaml)`` for every ``<vendor>/<model>-codec.yaml`` below ``vendor_root``."""
    if not vendor_root.is_dir():
        return []
    return [
        (vendor.name, path)
        for vendor in sorted(vendor_root.iterdir())
        if vendor.is_dir() and not vendor.name.startswith(".")
        for path in sorted(vendor.glob(f"*{CODEC_SUFFIX}"))
    ]


def read_codec(vendor: str, yaml_file: Path) -> CodecSpec:
    """The codec described by ``yaml_file``; raises ``CodecFileError`` when it is unusable."""
    codec_id = f"{vendor}/{yaml_file.name.removesuffix(CODEC_SUFFIX)}"
    try:
        doc = yaml.safe_load(yaml_file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise CodecFileError(f"{yaml_file}: cannot be read: {error}") from None
    decoder = doc.get("uplinkDecoder") if isinstance(doc, dict) else None
    if not isinstance(decoder, dict) or not isinstance(decoder.get("fileName"), str):
        raise CodecFileError(f"{yaml_file}: no uplinkDecoder.fileName")
    script = yaml_file.parent / decoder["fileName"]
    if not script.is_file():
        raise CodecFileError(f"{yaml_file}: script {decoder['fileName']} not found")
    examples = decoder.get("examples") or []
    if not isinstance(examples, list):
        raise CodecFileError(f"{yaml_file}: uplinkDecoder.examples is not a list")
    return CodecSpec(codec_id, yaml_file, script, [_example(yaml_file, e) for e in examples])


def _example(yaml_file: Path, raw: object) -> Example:
    problem = CodecFileError(f"{yaml_file}: an example is not {{input: {{bytes, fPort}}, output}}")
    given = raw.get("input") if isinstance(raw, dict) else None
    output = (raw.get("output") or {}) if isinstance(raw, dict) else None
    if not isinstance(raw, dict) or not isinstance(given, dict) or not isinstance(output, dict):
        raise problem
    try:
        payload, f_port = bytes(given["bytes"]), int(given["fPort"])
        recv_time = given.get("recvTime")
        if isinstance(recv_time, str):
            recv_time = datetime.fromisoformat(recv_time)
    except (KeyError, TypeError, ValueError):
        raise problem from None
    if recv_time is not None and not isinstance(recv_time, datetime):
        raise problem
    return Example(str(raw.get("description", "")), payload, f_port, recv_time, output)


def import_codecs(
    src_dir: Path,
    workspace_dir: Path,
    on_codec: Callable[[ImportedCodec], None] | None = None,
) -> list[ImportedCodec]:
    """Copy every usable codec of a device repository checkout into the workspace."""
    imported = []
    for vendor, yaml_file in codec_files(src_dir / "vendor"):
        outcome = _import_one(vendor, yaml_file, workspace_dir / CODECS_FOLDER / vendor)
        imported.append(outcome)
        if on_codec is not None:
            on_codec(outcome)
    return imported


def _import_one(vendor: str, yaml_file: Path, target: Path) -> ImportedCodec:
    codec_id = f"{vendor}/{yaml_file.name.removesuffix(CODEC_SUFFIX)}"
    try:
        spec = read_codec(vendor, yaml_file)
    except CodecFileError as error:
        return ImportedCodec(codec_id, yaml_file, problem=str(error))
    target.mkdir(parents=True, exist_ok=True)
    script = target / spec.script_file.name
    shutil.copyfile(spec.script_file, script)
    copied = target / yaml_file.name
    shutil.copyfile(yaml_file, copied)
    return ImportedCodec(spec.id, yaml_file, copied, script, len(spec.examples))


def workspace_codec_specs(workspace_dir: Path) -> Iterator[CodecSpec | CodecFileError]:
    """Each imported codec of the workspace read, or the error that made it unusable."""
    for vendor, yaml_file in codec_files(workspace_dir / CODECS_FOLDER):
        try:
            yield read_codec(vendor, yaml_file)
        except CodecFileError as error:
            yield error


def workspace_codec_ids(workspace_dir: Path) -> list[str]:
    """Ids of the workspace's imported codecs (for lint), without starting any JavaScript."""
    return sorted(
        f"{vendor}/{path.name.removesuffix(CODEC_SUFFIX)}"
        for vendor, path in codec_files(workspace_dir / CODECS_FOLDER)
    )


def load_workspace_codecs(
    workspace_dir: Path, *, timeout_ms: int = 50, max_memory_mb: int = 64
) -> dict[str, JsCodec]:
    """A runner for each usable imported codec, by id (V8 starts on the first decode)."""
    return {
        spec.id: spec.codec(timeout_ms=timeout_ms, max_memory_mb=max_memory_mb)
        for spec in workspace_codec_specs(workspace_dir)
        if isinstance(spec, CodecSpec)
    }


def run_examples(codec: Codec, examples: list[Example]) -> list[ExampleResult]:
    """Decode every example and compare with its documented output."""
    results = []
    for example in examples:
        actual = codec.decode_uplink(example.payload, example.f_port, example.recv_time).as_dict()
        diff = list(_output_diff(example.output, actual))
        results.append(ExampleResult(codec.id, example.description, example.output, actual, diff))
    return results


def _output_diff(expected: dict[str, Any], actual: dict[str, Any]) -> Iterator[str]:
    # An example without data documents an error case: only its messages are compared.
    if "data" in expected:
        yield from _diff("data", expected["data"], actual["data"])
    for key in ("warnings", "errors"):
        yield from _diff(key, expected.get(key) or [], actual[key])


def _diff(path: str, expected: object, actual: object) -> Iterator[str]:
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(expected.keys() | actual.keys(), key=str):
            where = f"{path}.{key}"
            if key not in actual:
                yield f"{where}: missing, expected {expected[key]!r}"
            elif key not in expected:
                yield f"{where}: unexpected {actual[key]!r}"
            else:
                yield from _diff(where, expected[key], actual[key])
    elif isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            yield from _diff(f"{path}[{index}]", want, got)
    elif not _same(expected, actual):
        yield f"{path}: expected {expected!r}, got {actual!r}"


def _same(expected: object, actual: object) -> bool:
    # 1 == True in Python; JSON keeps booleans and numbers apart.
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    return expected == actual


def known_codecs(workspace_dir: Path) -> list[str]:
    """Native codec ids and those imported into the workspace's ``codecs/`` folder."""
    return [*codec_ids(), *workspace_codec_ids(workspace_dir)]
