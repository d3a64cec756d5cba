"""Which entities an NGSI-LD query selects (ETSI GS CIM 009, clause 5.7.2), in stored names.

A query is a disjunction of entity selectors (types, ids or an id pattern) combined with
``attrs``, ``q``, a geo-query and ``scopeQ``. The store narrows the candidates by type and id,
and by a :class:`Prefilter`: conditions every match meets that SQL can check (an attribute
exists, a plain value compares, a bounding box meets the query's). Every candidate is then
tested here in full, so a prefilter makes a query faster and never changes its answer.
Candidates are read in chunks, in id order, and reading stops once the page is full.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import orjson

from stadsnav.model.attributes import VALUE_KEYS
from stadsnav.model.entity import StoredEntity
from stadsnav.model.geo import Box, GeoQuery
from stadsnav.model.q import And, Literal, QExpr, Term
from stadsnav.model.render import SCOPE, attribute_instances, attribute_names, query_attributes
from stadsnav.model.scope import ScopeExpr, entity_scopes
from stadsnav.model.typequery import AnyOf, TypeExpr, TypeName

CHUNK: Final = 500
"""Candidates read from the store at a time."""
FIRST_CHUNK: Final = 50
"""The fewest candidates the first read of a page asks for."""
_ORDERINGS: Final = frozenset({"==", "<", "<=", ">", ">="})
_WIDER: Final = {"<": "<=", ">": ">="}
_SQL_INTEGER: Final = 2**63
"""Integers a database parameter holds (64-bit, signed)."""
ENTITY_MEMBERS: Final = frozenset({"id", "type", "scope", "createdAt", "modifiedAt", "deletedAt"})
"""Members every entity has, or the system gives it: none of them narrows a query."""


@dataclass(frozen=True, slots=True)
class ValueTest:
    """A condition on the instances (all datasets) of attribute ``name`` that every match meets.

    ``op`` is ``exists``: the entity has an instance of ``name``. For ``==``, ``<``, ``<=``,
    ``>`` and ``>=``: it has an instance that is not *plain* (a Property whose value is a JSON
    string or number), or a plain one whose value compares to ``value`` so. For ``!=``: it has an
    instance, and no plain one equals ``value``. Strings compare by code point, numbers by value
    (a store may round them to doubles: EntityQuery widens a strict order to include equality
    and sends no ``!=`` on a number), and a string never equals or orders with a number.
    """

    name: str
    op: str = "exists"
    value: str | int | float | None = None


@dataclass(frozen=True, slots=True)
class Prefilter:
    """Conditions every entity a query matches meets, in a form a store can check in SQL.

    A store may return any entity that meets them all and must not leave out one that does; the
    query tests what it returns in full.
    """

    names: frozenset[str] | None = None
    """The entity has an instance of at least one of these attributes."""
    values: tuple[ValueTest, ...] = ()
    area: tuple[str, Box] | None = None
    """(GeoProperty name, box): an instance of it has coordinates whose bounding box meets the
    box (edges included)."""


class Finder(Protocol):
    """``ContextStore.find_entities``: entities ordered by id, narrowed by every given filter."""

    def __call__(
        self,
        types: Sequence[str] | None = None,
        ids: Sequence[str] | None = None,
        id_pattern: str | None = None,
        *,
        prefilter: Prefilter | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> Iterable[StoredEntity]:
        """Those of ``types``, ``ids`` and ``id_pattern`` meeting ``prefilter``, with ids after
        ``after``, the first ``limit`` of them."""
        ...


@dataclass(frozen=True, slots=True)
class EntitySelector:
    """Entities of some types, with some ids or ids matching a pattern (each part optional)."""

    types: TypeExpr | None = None
    ids: tuple[str, ...] | None = None
    id_pattern: str | None = None
    """Ignored when ``ids`` is given: ids take precedence (GS CIM 009, 5.2.33)."""

    def stream(
        self, finder: Finder, prefilter: Prefilter | None = None, first: int = CHUNK
    ) -> Iterator[StoredEntity]:
        """The entities this selector picks (those meeting ``prefilter`` at least), by id.

        They are read ``first`` at first, then ``CHUNK`` at a time, as they are consumed.
        """
        types = None if self.types is None else sorted(self.types.candidates())
        pattern = None if self.ids is not None else self.id_pattern
        after: str | None = None
        size = first
        while True:
            found = list(
                finder(types, self.ids, pattern, prefilter=prefilter, after=after, limit=size)
            )
            for entity in found:
                if self.types is None or self.types.matches(entity_types(entity)):
                    yield entity
            if len(found) < size:
                return
            after, size = found[-1].id, CHUNK


class OrderBySyntaxError(ValueError):
    """An ``orderBy`` that is not a list of member paths, each with ``;asc`` or ``;desc``."""


@dataclass(frozen=True, slots=True)
class OrderKey:
    """One ``orderBy`` item: an entity member or attribute, then sub-members, and a direction."""

    path: tuple[str, ...]
    descending: bool = False

    def key(self, entity: StoredEntity) -> tuple[Any, ...]:
        """What the entity sorts by for this item; entities without the member sort last."""
        value = _ordered_value(_member(entity, self.path))
        if value is None:
            return (1,)
        return (0, _Descending(value) if self.descending else value)


_ORDER_ITEM: Final = re.compile(r"^([^;.\s]+(?:\.[^;.\s]+)*)(?:;(asc|desc))?$")
_TIMES: Final = frozenset({"createdAt", "modifiedAt", "observedAt", "deletedAt"})
_VALUE_MEMBERS: Final = tuple(VALUE_KEYS.values())
MAX_ORDER_KEYS: Final = 10
"""Most members an ``orderBy`` may name."""


def parse_order_by(text: str, rename: Callable[[str], str]) -> tuple[OrderKey, ...]:
    """``name.subProperty;desc,id``: members (id, type, system times, attributes with
    sub-attributes or their system times after ``.``), ascending unless ``;desc``
    (GS CIM 009 v1.9, 4.23). ``rename`` gives an attribute's stored name."""
    keys: list[OrderKey] = []
    items = text.split(",")
    if len(items) > MAX_ORDER_KEYS:
        raise OrderBySyntaxError(f"at most {MAX_ORDER_KEYS} members, not {len(items)}")
    for item in items:
        found = _ORDER_ITEM.match(item.strip())
        if found is None:
            raise OrderBySyntaxError(
                f"{item!r} is not a member path with an optional ;asc or ;desc"
            )
        path = tuple(
            name if name in ENTITY_MEMBERS or name in _TIMES else rename(name)
            for name in found.group(1).split(".")
        )
        keys.append(OrderKey(path, found.group(2) == "desc"))
    return tuple(keys)


class _Descending:
    """A sort key that orders the other way round."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.value == other.value

    def __lt__(self, other: _Descending) -> bool:
        result: bool = other.value < self.value
        return result

    __hash__ = None  # type: ignore[assignment]


def _member(entity: StoredEntity, path: tuple[str, ...]) -> Any:
    """The value at ``path``: an entity member, or an attribute's (default instance's) value,
    a sub-attribute's value or a member such as ``createdAt``; None when there is none."""
    name, rest = path[0], path[1:]
    if name in ("id", "type", "createdAt", "modifiedAt") and not rest:
        return {
            "id": entity.id,
            "type": entity.type,
            "createdAt": entity.created_at,
            "modifiedAt": entity.modified_at,
        }[name]
    instances = attribute_instances(entity, name)
    node: Any = instances[0] if instances else None
    for member in rest:
        node = node.get(member) if isinstance(node, dict) else None
        if isinstance(node, list):  # a multi-attribute sub-attribute: its first instance
            node = node[0] if node else None
    if isinstance(node, dict):
        node = next((node[key] for key in _VALUE_MEMBERS if key in node), None)
    if path[-1] in _TIMES and isinstance(node, str):
        try:
            return datetime.fromisoformat(node)
        except ValueError:
            return node
    return node


def _ordered_value(value: Any) -> tuple[int, Any] | None:
    """A key that orders values of one kind among themselves: numbers, times, strings, booleans,
    then anything else by its JSON text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return (3, value)
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, datetime):
        utc = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return (1, utc.timestamp())
    if isinstance(value, str):
        return (2, value)
    return (4, orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode())


@dataclass(frozen=True, slots=True)
class Matches:
    """One page of a query's matches and what was learnt of the rest."""

    entities: list[StoredEntity]
    seen: int
    """Matches found: all of them when ``complete``, else one more than the page reaches."""
    complete: bool
    """Whether every match was counted, so ``seen`` is the total."""


class Visibility(Protocol):
    """Which entities a caller may read, by their types."""

    def can_read(self, types: Collection[str]) -> bool:
        """Whether an entity of these types may be read."""
        ...

    def pushdown(self) -> frozenset[str] | None:
        """The only types that may be read, for the store to narrow by; None: not so few."""
        ...

    def hidden_of(self, types: Collection[str]) -> frozenset[str]:
        """The attributes of an entity of these types the caller does not see."""
        ...

    def probed(self, types: Collection[str] | None, names: Collection[str]) -> list[str]:
        """Which of ``names`` a query on entities of ``types`` (None: any) may not filter on."""
        ...


@dataclass(frozen=True, slots=True)
class EntityQuery:
    """The filters of a query, with attribute and type names as stored."""

    selectors: tuple[EntitySelector, ...] = ()
    """Any of them (none: every entity)."""
    attrs: frozenset[str] | None = None
    """The entity must have at least one of them."""
    q: QExpr | None = None
    geo: GeoQuery | None = None
    scope: ScopeExpr | None = None
    order_by: tuple[OrderKey, ...] = ()
    """How a page orders the matches (then by id); none: by id."""
    visible: Visibility | None = None
    """The entities the caller may read (by their types); None: every one."""

    def too_wide(self) -> bool:
        """Whether the query names no entity type, no attribute (in attrs or q), no geo-query
        and no scopeQ: then it selects every entity (GS CIM 009, 5.7.2.4).

        Ids or an id pattern without a type do not narrow it, nor do the members of
        ``ENTITY_MEMBERS``, which are no attributes.
        """
        if any(selector.types is not None for selector in self.selectors):
            return False
        if self.geo is not None or self.scope is not None:
            return False
        named = set(self.attrs or ()) | (set() if self.q is None else self.q.attribute_names())
        return all(name in ENTITY_MEMBERS or name.startswith("@") for name in named)

    def probed(self) -> list[str]:
        """The attributes the query filters or orders on that its caller does not see: the
        query would reveal their values (a name, an address)."""
        if self.visible is None:
            return []
        types: set[str] | None = set()
        for selector in self.selectors:
            if selector.types is None or types is None:
                types = None
            else:
                types |= selector.types.candidates()
        names = set(self.attrs or ()) | (set() if self.q is None else self.q.attribute_names())
        names |= {key.path[0] for key in self.order_by if key.path}
        if self.geo is not None:
            names.add(self.geo.geoproperty)
        return self.visible.probed(None if not self.selectors else types, names)

    def run(self, finder: Finder, *, pushdown: bool = True) -> list[StoredEntity]:
        """Every matching entity, ordered by id."""
        return list(self.stream(finder, pushdown=pushdown))

    def page(
        self, finder: Finder, offset: int, limit: int, count: bool, *, pushdown: bool = True
    ) -> Matches:
        """The matches ``offset`` to ``offset + limit``, ordered by id.

        Without ``count`` the reading stops at the first match past the page, which tells
        whether there is a next page; with it every match is counted.
        """
        end = offset + limit
        if self.order_by:
            return self._ordered_page(finder, offset, end, pushdown)
        first = min(CHUNK, max(FIRST_CHUNK, 2 * (end + 1)))
        chosen: list[StoredEntity] = []
        seen = 0
        for entity in self.stream(finder, pushdown=pushdown, first=first):
            if seen >= end and not count:
                return Matches(chosen, seen + 1, complete=False)
            if seen >= offset and seen < end:
                chosen.append(entity)
            seen += 1
        return Matches(chosen, seen, complete=True)

    def _ordered_page(self, finder: Finder, offset: int, end: int, pushdown: bool) -> Matches:
        """The page in ``order_by`` order: every match is read and counted, and only the
        first ``end`` of them are kept."""
        total = 0

        def counted() -> Iterator[StoredEntity]:
            nonlocal total
            for entity in self.stream(finder, pushdown=pushdown):
                total += 1
                yield entity

        first = heapq.nsmallest(end, counted(), key=self.order_key)
        return Matches(first[offset:], total, complete=True)

    def order_key(self, entity: StoredEntity) -> tuple[Any, ...]:
        """Where the entity comes in ``order_by`` order (ties by id)."""
        return (*(item.key(entity) for item in self.order_by), entity.id)

    def stream(
        self, finder: Finder, *, pushdown: bool = True, first: int = CHUNK
    ) -> Iterator[StoredEntity]:
        """The matching entities ordered by id, read as they are consumed.

        Without ``pushdown`` the store narrows by type and id only (for comparisons).
        """
        prefilter = self.prefilter() if pushdown else None
        selectors = self.selectors or (EntitySelector(),)
        readable = None if self.visible is None else self.visible.pushdown()
        if readable is not None:
            if not readable:
                return iter(())
            # A selector of any type asks the store for the readable ones only.
            narrowed = AnyOf(tuple(TypeName(name) for name in sorted(readable)))
            selectors = tuple(
                replace(s, types=narrowed) if s.types is None else s for s in selectors
            )
        streams = [selector.stream(finder, prefilter, first) for selector in selectors]
        candidates = streams[0] if len(streams) == 1 else _union(streams)
        return (entity for entity in candidates if self.matches(entity))

    def prefilter(self) -> Prefilter | None:
        """What of the filters a store can check, as conditions every match meets; None: none."""
        values = () if self.q is None else tuple(_value_tests(self.q))
        area = None
        if self.geo is not None:
            box = self.geo.search_box()
            area = None if box is None else (self.geo.geoproperty, box)
        if self.attrs is None and not values and area is None:
            return None
        return Prefilter(self.attrs, values, area)

    def matches(self, entity: StoredEntity) -> bool:
        """Whether the entity passes attrs, q, the geo-query and scopeQ, and may be read."""
        if self.visible is not None and not self.visible.can_read(entity.types):
            return False
        if self.attrs is not None and not self.attrs.intersection(attribute_names(entity)):
            return False
        if self.scope is not None and not self.scope.matches(
            entity_scopes(entity.attributes.get(SCOPE))
        ):
            return False
        if self.q is None and self.geo is None:
            return True
        attributes = query_attributes(entity)
        if self.q is not None and not self.q.matches(attributes):
            return False
        return self.geo is None or self.geo.matches(attributes)


def _union(streams: Sequence[Iterator[StoredEntity]]) -> Iterator[StoredEntity]:
    """The entities of streams ordered by id, each once."""
    last: str | None = None
    for entity in heapq.merge(*streams, key=lambda found: found.id):
        if entity.id != last:
            last = entity.id
            yield entity


def _value_tests(q: QExpr) -> Iterator[ValueTest]:
    """Conditions every entity ``q`` matches meets, from its AND-ed terms.

    Every term (``!`` aside) needs its attribute to exist; a comparison of a whole Property
    value with a string or number adds the value test. What else a term asks stays in Python.
    """
    for part in q.parts if isinstance(q, And) else (q,):
        if not isinstance(part, Term):
            continue
        test = _value_test(part)
        yield test if test is not None else ValueTest(part.path.name)


def _value_test(term: Term) -> ValueTest | None:
    path, op, literal = term.path, term.op, term.value
    if op is None or path.sub or path.keys or not isinstance(literal, Literal):
        return None
    value: Any = literal.value
    if literal.kind == "string" and (op in _ORDERINGS or op == "!="):
        return ValueTest(path.name, op, value)
    if literal.kind != "number" or op not in _ORDERINGS or not _bindable(value):
        return None
    # Numbers may be rounded to doubles in SQL, which can make a strict order an equality.
    return ValueTest(path.name, _WIDER.get(op, op), value)


def _bindable(number: int | float) -> bool:
    if isinstance(number, int):
        return -_SQL_INTEGER <= number < _SQL_INTEGER
    return math.isfinite(number)


def entity_types(entity: StoredEntity) -> frozenset[str]:
    """The entity's types."""
    return frozenset(entity.types)


__all__ = [
    "CHUNK",
    "ENTITY_MEMBERS",
    "EntityQuery",
    "EntitySelector",
    "Finder",
    "Matches",
    "OrderBySyntaxError",
    "OrderKey",
    "Prefilter",
    "ValueTest",
    "entity_types",
    "parse_order_by",
]
