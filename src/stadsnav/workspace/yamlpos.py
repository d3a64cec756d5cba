"""YAML loading that remembers the line of every key and item, to place validation errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]
_MERGE = "tag:yaml.org,2002:merge"


@dataclass(slots=True)
class Positions:
    """The 1-based line of every key path in a document."""

    lines: dict[Path, int] = field(default_factory=dict)

    def line(self, path: Sequence[str | int]) -> int | None:
        """Line of the path, or of its nearest ancestor that was written in the file."""
        key = tuple(path)
        while key not in self.lines and key:
            key = key[:-1]
        return self.lines.get(key)


@dataclass(slots=True)
class YamlDocument:
    """A parsed YAML document with the lines of its keys and the duplicate keys it had."""

    data: Any
    positions: Positions
    duplicates: list[tuple[Path, int, int]] = field(default_factory=list)


def load_yaml(text: str) -> YamlDocument:
    """Parse one YAML document; raises ``yaml.YAMLError`` on bad syntax."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(None, Positions({(): 1}))
        data = loader.construct_document(node)
    finally:
        loader.dispose()
    doc = YamlDocument(data, Positions({(): node.start_mark.line + 1}))
    _walk(node, (), doc)
    return doc


def _walk(node: yaml.Node, path: Path, doc: YamlDocument) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE:
                continue
            key = _key(key_node, doc.data, path)
            child = (*path, key)
            line = key_node.start_mark.line + 1
            if child in doc.positions.lines:
                doc.duplicates.append((child, line, doc.positions.lines[child]))
            doc.positions.lines[child] = line
            _walk(value_node, child, doc)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            doc.positions.lines[(*path, index)] = item.start_mark.line + 1
            _walk(item, (*path, index), doc)


def _key(node: yaml.ScalarNode, data: Any, path: Path) -> str | int:
    """The key as the constructed data has it (``1:`` is the int 1, ``a:`` the str 'a')."""
    parent = value_at(data, path)
    if isinstance(parent, dict):
        for candidate in (node.value, _scalar(node.value)):
            if candidate in parent and isinstance(candidate, str | int):
                return candidate
    return str(node.value)


def _scalar(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def value_at(data: Any, path: Path) -> Any:
    """The value at a key path, or None when the path is not in the data."""
    for key in path:
        if not _has(data, key):
            return None
        data = data[key]
    return data


def _has(container: Any, key: str | int) -> bool:
    if isinstance(container, dict):
        return key in container
    return isinstance(container, list) and isinstance(key, int) and 0 <= key < len(container)


def resolve(loc: Sequence[str | int], data: Any) -> Path:
    """Map a pydantic error ``loc`` onto the document, dropping union tags pydantic inserts."""
    path: list[str | int] = []
    current = data
    for index, key in enumerate(loc):
        last = index == len(loc) - 1
        if _has(current, key):
            current = current[key]
        elif isinstance(current, dict) and not last:
            continue  # a discriminator tag such as 'webhook' in ('source', 'webhook', 'format')
        elif key == "[key]":
            continue
        else:
            current = None
        path.append(key)
    return tuple(path)


def format_path(path: Sequence[str | int]) -> str:
    """``('devices', 2, 'dev_eui')`` → ``devices[2].dev_eui``."""
    out = ""
    for key in path:
        if isinstance(key, int):
            out += f"[{key}]"
        else:
            out += f".{key}" if out else str(key)
    return out


def error_line(exc: yaml.YAMLError) -> int | None:
    """The 1-based line a YAML syntax error points at."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return None if mark is None else int(mark.line) + 1


def error_message(exc: yaml.YAMLError) -> str:
    """A one-line description of a YAML syntax error."""
    if isinstance(exc, yaml.MarkedYAMLError):
        parts = [exc.context, exc.problem]
        return "YAML syntax error: " + ", ".join(p for p in parts if p)
    return f"YAML syntax error: {exc}"
