"""Paths (``data.x.y``) and templates (``urn:...:{device.name}``) over a message's scopes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

SCOPES: Final = ("data", "device", "uplink")
MISSING: Final = object()
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# Field names are looked up as dict keys; no indexing or expressions, so lint can be exact.
_FIELD = re.compile(r"[^\s\[\]{}()]+")


class PathSyntaxError(ValueError):
    """A path or template in a mapping is malformed."""


def compile_path(text: str) -> tuple[str, ...]:
    """Split ``scope.key.key`` into keys, checking the scope."""
    keys = tuple(text.strip().split("."))
    if len(keys) < 2 or keys[0] not in SCOPES or not all(map(_FIELD.fullmatch, keys)):
        raise PathSyntaxError(
            f"path {text!r} must be one of {', '.join(s + '.<field>' for s in SCOPES)}"
        )
    return keys


def resolve(path: tuple[str, ...], scopes: Mapping[str, Any]) -> Any:
    """The value at ``path``, or ``MISSING``."""
    value: Any = scopes
    for key in path:
        # The ABC check is slow; scopes are almost always plain dicts.
        if type(value) is not dict and not isinstance(value, Mapping):
            return MISSING
        value = value.get(key, MISSING)
        if value is MISSING:
            return MISSING
    return value


class Template:
    """A string with ``{path}`` placeholders, compiled once."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._literals = _PLACEHOLDER.split(text)[::2]
        self.paths = [compile_path(p) for p in _PLACEHOLDER.findall(text)]

    def render(self, scopes: Mapping[str, Any]) -> str:
        """Fill the placeholders; raise ``KeyError`` naming the first missing path."""
        if len(self.paths) == 1:
            # The usual entity id, ``urn:...:{device.name}``, without the list and join.
            value = resolve(self.paths[0], scopes)
            if value is MISSING or value is None:
                raise KeyError(".".join(self.paths[0]))
            return self._literals[0] + str(value) + self._literals[1]
        parts = [self._literals[0]]
        for path, literal in zip(self.paths, self._literals[1:], strict=True):
            value = resolve(path, scopes)
            if value is MISSING or value is None:
                raise KeyError(".".join(path))
            parts.append(str(value))
            parts.append(literal)
        return "".join(parts)
