"""The NGSI-LD query language (ETSI GS CIM 009, clause 4.9): parse ``q`` and test entities."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, Final, NoReturn

from stadsnav.model.attributes import VALUE_KEYS

MAX_LENGTH: Final = 8192
MAX_DEPTH: Final = 32
MAX_TERMS: Final = 200

_ORDERING: Final = (">=", "<=", ">", "<")
_OPERATORS: Final = ("==", "!=", "!~=", "~=", *_ORDERING)
_COMPARABLE: Final = frozenset({"number", "string", "datetime", "date", "time"})
_NAME_EXTRA: Final = frozenset("_:/#@-")
_VALUE_ENDS: Final = frozenset(";|),")

_DATETIME_RE: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"
)
_DATE_RE: Final = re.compile(r"\d{4}-\d{2}-\d{2}(?!T)")
_TIME_RE: Final = re.compile(r"\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?")
_NUMBER_RE: Final = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_BOOL_RE: Final = re.compile(r"(?:true|false)(?![\w:])")
_URI_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s;|(),\"]+")
_IRI_NAME_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s=!<>~;|()\[\],\"]+")
_RELATIONSHIPS: Final = frozenset({"Relationship", "ListRelationship"})


class QSyntaxError(ValueError):
    """A ``q`` expression that is not valid NGSI-LD query language."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at position {position})")
        self.position = position


@dataclass(frozen=True, slots=True)
class Literal:
    """One query value: ``kind`` is number, string, bool, datetime, date, time or uri."""

    kind: str
    value: Any


@dataclass(frozen=True, slots=True)
class Range:
    """``low..high``, both ends included."""

    low: Literal
    high: Literal


@dataclass(frozen=True, slots=True)
class ValueList:
    """``a,b,c``: equal to any of them."""

    items: tuple[Literal, ...]


@dataclass(frozen=True, slots=True)
class AttrPath:
    """``name.sub.sub[key.key]``: an attribute, its sub-attributes, then keys into the value."""

    name: str
    sub: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()


class QExpr(ABC):
    """A parsed ``q`` expression."""

    __slots__ = ()

    @abstractmethod
    def matches(self, attributes: Mapping[str, Any]) -> bool:
        """Whether an entity with these normalized attributes satisfies the expression.

        An attribute may be one instance or a list of instances (a multi-attribute); a term
        holds when it holds for some instance.
        """

    @abstractmethod
    def attribute_names(self) -> set[str]:
        """The (top-level) attribute names the expression refers to."""

    @abstractmethod
    def rename(self, rename: Callable[[str], str]) -> QExpr:
        """The expression with attribute and sub-attribute names translated (keys are not)."""


@dataclass(frozen=True, slots=True)
class Term(QExpr):
    """``path`` alone (existence) or ``path op value``."""

    path: AttrPath
    op: str | None = None
    value: Literal | Range | ValueList | re.Pattern[str] | None = None

    def matches(self, attributes: Mapping[str, Any]) -> bool:
        """Whether the attribute exists and compares as asked."""
        found, candidates, kind = _resolve(self.path, attributes)
        if not found:
            return False
        if self.op is None:
            return True
        if kind in _RELATIONSHIPS and self.op not in ("==", "!="):
            # Only equality is defined on what a Relationship points to (GS CIM 009, 4.9).
            return False
        if isinstance(self.value, re.Pattern):
            texts = [c for c in candidates if isinstance(c, str)]
            hit = any(self.value.search(t) for t in texts)
            return hit if self.op == "~=" else bool(texts) and not hit
        assert self.value is not None
        equal = any(_equals(c, self.value) for c in candidates)
        if self.op == "==":
            return equal
        if self.op == "!=":
            return not equal
        assert isinstance(self.value, Literal)
        return any(_ordered(c, self.value, self.op) for c in candidates)

    def attribute_names(self) -> set[str]:
        """The attribute this term tests."""
        return {self.path.name}

    def rename(self, rename: Callable[[str], str]) -> QExpr:
        """This term with the path's names translated."""
        return Term(_renamed(self.path, rename), self.op, self.value)


@dataclass(frozen=True, slots=True)
class Absent(QExpr):
    """``!path``: the attribute (or sub-attribute, or key) does not exist."""

    path: AttrPath

    def matches(self, attributes: Mapping[str, Any]) -> bool:
        """Whether the path leads nowhere."""
        return not _resolve(self.path, attributes)[0]

    def attribute_names(self) -> set[str]:
        """The attribute this term tests."""
        return {self.path.name}

    def rename(self, rename: Callable[[str], str]) -> QExpr:
        """This term with the path's names translated."""
        return Absent(_renamed(self.path, rename))


@dataclass(frozen=True, slots=True)
class And(QExpr):
    """``a;b``: every part holds."""

    parts: tuple[QExpr, ...]

    def matches(self, attributes: Mapping[str, Any]) -> bool:
        """Whether every part matches."""
        return all(p.matches(attributes) for p in self.parts)

    def attribute_names(self) -> set[str]:
        """The union of the parts' attribute names."""
        return set().union(*(p.attribute_names() for p in self.parts))

    def rename(self, rename: Callable[[str], str]) -> QExpr:
        """Every part, translated."""
        return And(tuple(p.rename(rename) for p in self.parts))


@dataclass(frozen=True, slots=True)
class Or(QExpr):
    """``a|b``: some part holds."""

    parts: tuple[QExpr, ...]

    def matches(self, attributes: Mapping[str, Any]) -> bool:
        """Whether some part matches."""
        return any(p.matches(attributes) for p in self.parts)

    def attribute_names(self) -> set[str]:
        """The union of the parts' attribute names."""
        return set().union(*(p.attribute_names() for p in self.parts))

    def rename(self, rename: Callable[[str], str]) -> QExpr:
        """Every part, translated."""
        return Or(tuple(p.rename(rename) for p in self.parts))


def parse_q(text: str) -> QExpr:
    """Parse an (already URL-decoded) NGSI-LD ``q`` expression; raise QSyntaxError if invalid."""
    if len(text) > MAX_LENGTH:
        raise QSyntaxError(f"query longer than {MAX_LENGTH} characters", MAX_LENGTH)
    return _Parser(text).parse()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.terms = 0

    def parse(self) -> QExpr:
        self._skip_space()
        if self._at_end():
            self._fail("expected an attribute name or '('")
        expr = self._or(0)
        if not self._at_end():
            self._fail(f"unexpected {self._peek()!r}; expected ';', '|' or end of query")
        return expr

    def _or(self, depth: int) -> QExpr:
        parts = [self._and(depth)]
        while self._accept("|"):
            parts.append(self._and(depth))
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def _and(self, depth: int) -> QExpr:
        parts = [self._primary(depth)]
        while self._accept(";"):
            parts.append(self._primary(depth))
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def _primary(self, depth: int) -> QExpr:
        if self._accept("("):
            if depth >= MAX_DEPTH:
                self._fail(f"parentheses nested deeper than {MAX_DEPTH}")
            expr = self._or(depth + 1)
            if not self._accept(")"):
                self._fail(self._found("expected ')' or a logical operator ';' or '|'"))
            return expr
        return self._term()

    def _term(self) -> Term | Absent:
        self.terms += 1
        if self.terms > MAX_TERMS:
            self._fail(f"more than {MAX_TERMS} query terms")
        if self._peek() == "!":
            self.pos += 1
            self._skip_space()
            return Absent(self._path())
        path = self._path()
        self._skip_space()
        op = self._operator()
        if op is None:
            return Term(path)
        self._skip_space()
        if op in ("~=", "!~="):
            return Term(path, op, self._pattern())
        if op in _ORDERING:
            start = self.pos
            literal = self._literal()
            if literal.kind not in _COMPARABLE:
                self._fail(f"'{op}' needs a number, string, DateTime, Date or Time", start)
            self._value_end()
            return Term(path, op, literal)
        return Term(path, op, self._equality_value())

    def _path(self) -> AttrPath:
        iri = _IRI_NAME_RE.match(self.text, self.pos)
        if iri:
            # A full IRI keeps its dots: they are not sub-attribute separators.
            self.pos = iri.end()
            name = iri.group()
        else:
            name = self._name("an attribute name")
        sub: list[str] = []
        while self._peek() == ".":
            self.pos += 1
            sub.append(self._name("a sub-attribute name after '.'"))
        keys: list[str] = []
        while self._peek() == "[":
            keys.extend(self._bracket_keys())
        return AttrPath(name, tuple(sub), tuple(keys))

    def _name(self, what: str) -> str:
        start = self.pos
        while not self._at_end() and (self._peek().isalnum() or self._peek() in _NAME_EXTRA):
            self.pos += 1
        if self.pos == start:
            self._fail(self._found(f"expected {what}"))
        return self.text[start : self.pos]

    def _bracket_keys(self) -> list[str]:
        start = self.pos
        self.pos += 1
        end = self.text.find("]", self.pos)
        if end < 0:
            self._fail("unclosed '['; expected ']'", start)
        keys = self.text[self.pos : end].split(".")
        for key in keys:
            if not key.strip() or "[" in key:
                self._fail("expected key names separated by '.' inside '[...]'", start)
        self.pos = end + 1
        return keys

    def _operator(self) -> str | None:
        for op in _OPERATORS:
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                return op
        if self._peek() == "=":
            self._fail("expected '==' (a single '=' is not an operator)")
        return None

    def _equality_value(self) -> Literal | Range | ValueList:
        start = self.pos
        first = self._literal()
        self._skip_space()
        if self.text.startswith("..", self.pos):
            self.pos += 2
            self._skip_space()
            second = self._literal()
            if first.kind not in _COMPARABLE or first.kind != second.kind:
                self._fail("a range needs two numbers, strings or dates/times of one kind", start)
            self._value_end()
            return Range(first, second)
        items = [first]
        while self._accept(","):
            items.append(self._literal())
        self._value_end()
        return first if len(items) == 1 else ValueList(tuple(items))

    def _literal(self) -> Literal:
        self._skip_space()
        if self._peek() == '"':
            return Literal("string", self._quoted())
        for kind, pattern in (
            ("datetime", _DATETIME_RE),
            ("date", _DATE_RE),
            ("time", _TIME_RE),
            ("number", _NUMBER_RE),
            ("bool", _BOOL_RE),
            ("uri", _URI_RE),
        ):
            found = pattern.match(self.text, self.pos)
            if found:
                literal = self._convert(kind, found.group())
                self.pos = found.end()
                return literal
        self._fail(
            self._found(
                'expected a value: number, "string", true, false, DateTime, Date, Time or URI'
            )
        )

    def _convert(self, kind: str, text: str) -> Literal:
        try:
            return Literal(kind, _LITERAL_PARSERS[kind](text))
        except (ValueError, OverflowError):
            self._fail(f"invalid {kind} {text[:40]!r}")

    def _quoted(self) -> str:
        start = self.pos
        self.pos += 1
        chars: list[str] = []
        while not self._at_end():
            ch = self._peek()
            self.pos += 1
            if ch == '"':
                return "".join(chars)
            if ch == "\\" and self._peek() in ('"', "\\"):
                ch = self._peek()
                self.pos += 1
            chars.append(ch)
        self._fail("unterminated string; expected a closing '\"'", start)

    def _pattern(self) -> re.Pattern[str]:
        start = self.pos
        source = self._quoted() if self._peek() == '"' else self._unquoted_pattern()
        if not source:
            self._fail("expected a regular expression", start)
        try:
            compiled = re.compile(source)
        except (re.error, RecursionError, OverflowError, ValueError) as exc:
            self._fail(f"invalid regular expression: {exc}", start)
        self._value_end()
        return compiled

    def _unquoted_pattern(self) -> str:
        # An unquoted pattern ends at ';', '|' or a ')' that closes an enclosing group.
        start, depth = self.pos, 0
        while not self._at_end():
            ch = self._peek()
            if ch in ";|" or (ch == ")" and depth == 0):
                break
            if ch == "\\":
                self.pos += 1
            depth += {"(": 1, ")": -1}.get(ch, 0)
            self.pos += 1
        self.pos = min(self.pos, len(self.text))
        return self.text[start : self.pos].rstrip()

    def _value_end(self) -> None:
        self._skip_space()
        if not self._at_end() and self._peek() not in _VALUE_ENDS:
            self._fail(self._found("expected ';', '|', ')' or end of query after the value"))

    def _accept(self, token: str) -> bool:
        self._skip_space()
        if self.text.startswith(token, self.pos):
            self.pos += len(token)
            self._skip_space()
            return True
        return False

    def _skip_space(self) -> None:
        while not self._at_end() and self.text[self.pos].isspace():
            self.pos += 1

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _at_end(self) -> bool:
        return self.pos >= len(self.text)

    def _found(self, expected: str) -> str:
        got = f"found {self._peek()!r}" if not self._at_end() else "found end of query"
        return f"{expected}, {got}"

    def _fail(self, message: str, position: int | None = None) -> NoReturn:
        raise QSyntaxError(message, self.pos if position is None else position)


def _number(text: str) -> int | float:
    return float(text) if any(c in text for c in ".eE") else int(text)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc_time(value: time) -> time:
    offset = value.utcoffset()
    if offset is None:
        return value
    moment = datetime.combine(date(2000, 1, 1), value.replace(tzinfo=None)) - offset
    return moment.time()


_LITERAL_PARSERS: Final[dict[str, Callable[[str], Any]]] = {
    "datetime": lambda text: _utc(datetime.fromisoformat(text)),
    "date": date.fromisoformat,
    "time": lambda text: _utc_time(time.fromisoformat(text)),
    "number": _number,
    "bool": lambda text: text == "true",
    "uri": str,
}


def _renamed(path: AttrPath, rename: Callable[[str], str]) -> AttrPath:
    return AttrPath(rename(path.name), tuple(rename(name) for name in path.sub), path.keys)


def _resolve(path: AttrPath, attributes: Mapping[str, Any]) -> tuple[bool, list[Any], str | None]:
    """Whether the path exists, the values it leads to, and the kind of attribute holding them."""
    found, values, kinds = False, [], set()
    for instance in _instances(attributes.get(path.name)):
        hit, candidates, kind = _resolve_instance(path, instance)
        if hit:
            found = True
            values.extend(candidates)
            kinds.add(kind)
    return found, values, kinds.pop() if len(kinds) == 1 else None


def _instances(node: Any) -> list[Any]:
    if isinstance(node, list):
        return node
    return [] if node is None else [node]


def _resolve_instance(path: AttrPath, node: Any) -> tuple[bool, list[Any], str | None]:
    for name in path.sub:
        node = node.get(name) if isinstance(node, Mapping) else None
    if node is None:
        return False, [], None
    kind = node.get("type") if isinstance(node, Mapping) else None
    kind = kind if isinstance(kind, str) and kind in VALUE_KEYS else None
    target = node
    if kind is not None:
        target = node.get(VALUE_KEYS[kind])
        if kind == "ListRelationship" and isinstance(target, list):
            target = [t.get("object") if isinstance(t, Mapping) else t for t in target]
    keys = path.keys
    if kind == "LanguageProperty" and keys[:1] == ("*",):
        # ``name[*]``: any language of the languageMap.
        keys = keys[1:]
        target = list(target.values()) if isinstance(target, Mapping) else None
    for key in keys:
        target = _unwrap(target)
        if not isinstance(target, Mapping) or key not in target:
            return False, [], kind
        target = target[key]
    target = _unwrap(target)
    if target is None:
        return False, [], kind
    if kind == "LanguageProperty" and not path.keys and isinstance(target, Mapping):
        return True, _flat(target.values()), kind
    if isinstance(target, list):
        return True, _flat(target), kind
    return True, [target], kind


def _flat(values: Any) -> list[Any]:
    flat: list[Any] = []
    for value in values:
        value = _unwrap(value)
        if isinstance(value, list):
            flat.extend(_unwrap(item) for item in value)
        else:
            flat.append(value)
    return flat


def _unwrap(value: Any) -> Any:
    """A JSON-LD value object ``{"@type": ..., "@value": v}`` stands for ``v``."""
    if isinstance(value, Mapping) and "@value" in value:
        return value["@value"]
    return value


def _equals(candidate: Any, value: Literal | Range | ValueList) -> bool:
    if isinstance(value, Range):
        low, high = _compare(candidate, value.low), _compare(candidate, value.high)
        return low is not None and high is not None and low >= 0 and high <= 0
    if isinstance(value, ValueList):
        return any(_compare(candidate, item) == 0 for item in value.items)
    return _compare(candidate, value) == 0


def _ordered(candidate: Any, literal: Literal, op: str) -> bool:
    order = _compare(candidate, literal)
    if order is None:
        return False
    return {">": order > 0, ">=": order >= 0, "<": order < 0, "<=": order <= 0}[op]


def _compare(candidate: Any, literal: Literal) -> int | None:
    """-1, 0 or 1 comparing ``candidate`` with ``literal``; None when the types differ."""
    mine = _coerce(candidate, literal.kind)
    if mine is None:
        return None
    if literal.kind in ("bool", "uri"):
        return 0 if mine == literal.value else 1
    return int(mine > literal.value) - int(mine < literal.value)


def _coerce(candidate: Any, kind: str) -> Any:
    if kind == "number":
        is_number = isinstance(candidate, int | float) and not isinstance(candidate, bool)
        return candidate if is_number else None
    if kind == "bool":
        return candidate if isinstance(candidate, bool) else None
    if not isinstance(candidate, str):
        return None
    if kind in ("string", "uri"):
        return candidate
    return _parse_temporal(candidate, kind)


def _parse_temporal(text: str, kind: str) -> datetime | date | time | None:
    pattern = {"datetime": _DATETIME_RE, "date": _DATE_RE, "time": _TIME_RE}[kind]
    if not pattern.fullmatch(text):
        return None
    try:
        parsed: datetime | date | time = _LITERAL_PARSERS[kind](text)
    except (ValueError, OverflowError):
        return None
    return parsed


__all__ = [
    "MAX_DEPTH",
    "MAX_TERMS",
    "Absent",
    "And",
    "AttrPath",
    "Literal",
    "Or",
    "QExpr",
    "QSyntaxError",
    "Range",
    "Term",
    "ValueList",
    "parse_q",
]
