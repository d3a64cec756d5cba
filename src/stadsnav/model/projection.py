"""NGSI-LD attribute projection (ETSI GS CIM 009, clause 4.21): the ``pick`` and ``omit`` lists.

``id,name,locatedAt{name,isInCountry{name}}``: entity members separated by ``,`` or ``|``; braces
project the entities a Relationship links to (with ``join``), one level per pair of braces.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, NoReturn

MAX_LENGTH: Final = 4096
_STOP: Final = frozenset(",|{}")
_FORBIDDEN: Final = frozenset(";()[]=<>\"'")

Projection = dict[str, "Projection | None"]
"""Member name → the projection of the entities it links to (None: no braces)."""


class ProjectionSyntaxError(ValueError):
    """A ``pick`` or ``omit`` that is not a valid projection."""


def parse_projection(text: str) -> Projection:
    """Parse a ``pick`` or ``omit`` value; ProjectionSyntaxError if it is not valid."""
    if len(text) > MAX_LENGTH:
        raise ProjectionSyntaxError(f"longer than {MAX_LENGTH} characters")
    parser = _Parser(text)
    projection = parser.members()
    if parser.pos < len(text):
        parser.fail(f"unexpected {text[parser.pos]!r}")
    return projection


def depth(projection: Projection) -> int:
    """How many levels of linked entities the projection reaches (0: none)."""
    nested = [depth(inner) + 1 for inner in projection.values() if inner is not None]
    return max(nested, default=0)


def rename(projection: Projection, translate: Callable[[str], str]) -> Projection:
    """The projection with every member name translated."""
    return {
        translate(name): None if inner is None else rename(inner, translate)
        for name, inner in projection.items()
    }


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def members(self) -> Projection:
        found: Projection = {}
        while True:
            name = self.name()
            inner: Projection | None = None
            if self.peek() == "{":
                self.pos += 1
                inner = self.members()
                if self.peek() != "}":
                    self.fail("expected '}'")
                self.pos += 1
            if name in found:
                self.fail(f"{name!r} is given twice")
            found[name] = inner
            if self.peek() not in (",", "|"):
                return found
            self.pos += 1

    def name(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _STOP:
            char = self.text[self.pos]
            if char in _FORBIDDEN or char.isspace():
                self.fail(f"{char!r} is not allowed in a member name")
            self.pos += 1
        if self.pos == start:
            self.fail("expected a member name")
        return self.text[start : self.pos]

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def fail(self, message: str) -> NoReturn:
        raise ProjectionSyntaxError(f"{message} (at position {self.pos} of {self.text!r})")


__all__ = ["Projection", "ProjectionSyntaxError", "depth", "parse_projection", "rename"]
