"""NGSI-LD entity type selection (ETSI GS CIM 009, clause 4.17): ``A,B``, ``A|B``, ``A;B``, ``( )``.

``,`` and ``|`` are "or", ``;`` is "and" and binds tighter; an entity with several types matches
``A;B`` only when it has both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Final, NoReturn

MAX_LENGTH: Final = 4096
MAX_DEPTH: Final = 16
_SPECIAL: Final = frozenset(",|;()")


class TypeSyntaxError(ValueError):
    """A ``type`` parameter that is not a valid entity type selection."""


class TypeExpr(ABC):
    """A parsed entity type selection."""

    __slots__ = ()

    @abstractmethod
    def matches(self, types: Collection[str]) -> bool:
        """Whether an entity with these types is selected."""

    @abstractmethod
    def names(self) -> set[str]:
        """Every type name the selection mentions."""

    @abstractmethod
    def rename(self, rename: Callable[[str], str]) -> TypeExpr:
        """The same selection with each type name translated (e.g. to the stored names)."""

    @abstractmethod
    def candidates(self) -> set[str]:
        """Types of which every selected entity has at least one: a filter for the store."""


@dataclass(frozen=True, slots=True)
class TypeName(TypeExpr):
    """One type."""

    name: str

    def matches(self, types: Collection[str]) -> bool:
        """Whether the entity has this type."""
        return self.name in types

    def names(self) -> set[str]:
        """This type."""
        return {self.name}

    def rename(self, rename: Callable[[str], str]) -> TypeExpr:
        """This type, translated."""
        return TypeName(rename(self.name))

    def candidates(self) -> set[str]:
        """This type."""
        return {self.name}


@dataclass(frozen=True, slots=True)
class AllOf(TypeExpr):
    """``A;B``: the entity has every one of the parts."""

    parts: tuple[TypeExpr, ...]

    def matches(self, types: Collection[str]) -> bool:
        """Whether every part matches."""
        return all(part.matches(types) for part in self.parts)

    def names(self) -> set[str]:
        """The union of the parts' names."""
        return set().union(*(part.names() for part in self.parts))

    def rename(self, rename: Callable[[str], str]) -> TypeExpr:
        """Every part, translated."""
        return AllOf(tuple(part.rename(rename) for part in self.parts))

    def candidates(self) -> set[str]:
        """The smallest candidate set of any part: each selected entity satisfies all parts."""
        return min((part.candidates() for part in self.parts), key=len)


@dataclass(frozen=True, slots=True)
class AnyOf(TypeExpr):
    """``A,B`` or ``A|B``: the entity satisfies some part."""

    parts: tuple[TypeExpr, ...]

    def matches(self, types: Collection[str]) -> bool:
        """Whether some part matches."""
        return any(part.matches(types) for part in self.parts)

    def names(self) -> set[str]:
        """The union of the parts' names."""
        return set().union(*(part.names() for part in self.parts))

    def rename(self, rename: Callable[[str], str]) -> TypeExpr:
        """Every part, translated."""
        return AnyOf(tuple(part.rename(rename) for part in self.parts))

    def candidates(self) -> set[str]:
        """The union of the parts' candidates."""
        return set().union(*(part.candidates() for part in self.parts))


def parse_types(text: str) -> TypeExpr | None:
    """Parse a ``type`` parameter; None for ``*`` (every type). TypeSyntaxError if invalid."""
    if text.strip() == "*":
        return None
    if len(text) > MAX_LENGTH:
        raise TypeSyntaxError(f"type selection longer than {MAX_LENGTH} characters")
    return _Parser(text).parse()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def parse(self) -> TypeExpr:
        expr = self._any(0)
        self._skip_space()
        if self.pos < len(self.text):
            self._fail(f"unexpected {self.text[self.pos]!r}")
        return expr

    def _any(self, depth: int) -> TypeExpr:
        parts = [self._all(depth)]
        while self._accept(",") or self._accept("|"):
            parts.append(self._all(depth))
        return parts[0] if len(parts) == 1 else AnyOf(tuple(parts))

    def _all(self, depth: int) -> TypeExpr:
        parts = [self._primary(depth)]
        while self._accept(";"):
            parts.append(self._primary(depth))
        return parts[0] if len(parts) == 1 else AllOf(tuple(parts))

    def _primary(self, depth: int) -> TypeExpr:
        if self._accept("("):
            if depth >= MAX_DEPTH:
                self._fail(f"parentheses nested deeper than {MAX_DEPTH}")
            expr = self._any(depth + 1)
            if not self._accept(")"):
                self._fail("expected ')'")
            return expr
        self._skip_space()
        start = self.pos
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in _SPECIAL or char.isspace():
                break
            self.pos += 1
        if self.pos == start:
            self._fail("expected a type name")
        return TypeName(self.text[start : self.pos])

    def _accept(self, token: str) -> bool:
        self._skip_space()
        if self.text.startswith(token, self.pos):
            self.pos += len(token)
            return True
        return False

    def _skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _fail(self, message: str) -> NoReturn:
        raise TypeSyntaxError(f"{message} at position {self.pos} of {self.text!r}")


__all__ = ["AllOf", "AnyOf", "TypeExpr", "TypeName", "TypeSyntaxError", "parse_types"]
