"""NGSI-LD scopes (ETSI GS CIM 009, clauses 4.18 and 4.19): an entity's ``scope`` and ``scopeQ``.

A scope is a path such as ``/Madrid/Gardens/ParqueNorte``. In a query ``+`` stands for one level
and a trailing ``#`` for the scope itself and any below it (``/#``: any scope). ``,`` and ``|``
are "or", ``;`` is "and", parentheses group.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final, NoReturn

MAX_LENGTH: Final = 4096
MAX_DEPTH: Final = 16
_STOP: Final = frozenset(",|;()")


class ScopeSyntaxError(ValueError):
    """A ``scopeQ`` that is not a valid scope query."""


class ScopeExpr(ABC):
    """A parsed scope query."""

    __slots__ = ()

    @abstractmethod
    def matches(self, scopes: Collection[str]) -> bool:
        """Whether an entity with these scopes is selected."""


@dataclass(frozen=True, slots=True)
class ScopePattern(ScopeExpr):
    """One scope, possibly with ``+`` levels and a trailing ``#``."""

    levels: tuple[str, ...]
    """The levels before any trailing ``#``."""
    subtree: bool = False
    """A trailing ``#``: the scope and every scope below it."""

    def matches(self, scopes: Collection[str]) -> bool:
        """Whether some scope of the entity fits the pattern."""
        return any(self._fits(_levels(scope)) for scope in scopes)

    def _fits(self, levels: tuple[str, ...]) -> bool:
        if len(levels) < len(self.levels) or (not self.subtree and len(levels) > len(self.levels)):
            return False
        if self.subtree and not levels:
            return False
        return all(p in ("+", level) for p, level in zip(self.levels, levels, strict=False))


@dataclass(frozen=True, slots=True)
class AllScopes(ScopeExpr):
    """``a;b``: every part holds."""

    parts: tuple[ScopeExpr, ...]

    def matches(self, scopes: Collection[str]) -> bool:
        """Whether every part matches."""
        return all(part.matches(scopes) for part in self.parts)


@dataclass(frozen=True, slots=True)
class AnyScope(ScopeExpr):
    """``a,b`` or ``a|b``: some part holds."""

    parts: tuple[ScopeExpr, ...]

    def matches(self, scopes: Collection[str]) -> bool:
        """Whether some part matches."""
        return any(part.matches(scopes) for part in self.parts)


def parse_scope_query(text: str) -> ScopeExpr:
    """Parse a ``scopeQ``; ScopeSyntaxError if it is not valid."""
    if len(text) > MAX_LENGTH:
        raise ScopeSyntaxError(f"scopeQ longer than {MAX_LENGTH} characters")
    return _Parser(text).parse()


def entity_scopes(value: Any) -> list[str]:
    """The scopes stored for an entity: a scope, a list of them, or a Property holding them."""
    if isinstance(value, Mapping):
        value = value.get("value")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _levels(scope: str) -> tuple[str, ...]:
    return tuple(level for level in scope.split("/") if level)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def parse(self) -> ScopeExpr:
        expr = self._any(0)
        if self.pos < len(self.text):
            self._fail(f"unexpected {self.text[self.pos]!r}")
        return expr

    def _any(self, depth: int) -> ScopeExpr:
        parts = [self._all(depth)]
        while self._accept(",") or self._accept("|"):
            parts.append(self._all(depth))
        return parts[0] if len(parts) == 1 else AnyScope(tuple(parts))

    def _all(self, depth: int) -> ScopeExpr:
        parts = [self._primary(depth)]
        while self._accept(";"):
            parts.append(self._primary(depth))
        return parts[0] if len(parts) == 1 else AllScopes(tuple(parts))

    def _primary(self, depth: int) -> ScopeExpr:
        if self._accept("("):
            if depth >= MAX_DEPTH:
                self._fail(f"parentheses nested deeper than {MAX_DEPTH}")
            expr = self._any(depth + 1)
            if not self._accept(")"):
                self._fail("expected ')'")
            return expr
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _STOP:
            self.pos += 1
        return self._pattern(self.text[start : self.pos], start)

    def _pattern(self, text: str, start: int) -> ScopePattern:
        if not text.startswith("/"):
            self._fail(f"a scope starts with '/', got {text!r}", start)
        levels = text[1:].split("/")
        subtree = levels[-1] == "#"
        if subtree:
            levels.pop()
        for level in levels:
            if level != "+" and (not level or any(c.isspace() or c in "#+" for c in level)):
                self._fail(f"invalid scope level {level!r} in {text!r}", start)
        return ScopePattern(tuple(levels), subtree)

    def _accept(self, token: str) -> bool:
        if self.text.startswith(token, self.pos):
            self.pos += len(token)
            return True
        return False

    def _fail(self, message: str, position: int | None = None) -> NoReturn:
        where = self.pos if position is None else position
        raise ScopeSyntaxError(f"{message} (at position {where})")


__all__ = [
    "AllScopes",
    "AnyScope",
    "ScopeExpr",
    "ScopePattern",
    "ScopeSyntaxError",
    "entity_scopes",
    "parse_scope_query",
]
