"""What a caller may read and write, as entity types, from its scopes and the datasets.

Every entity type belongs to the dataset that lists it (``datasets/*.yaml``), and a dataset's
classification decides who reads it:

- ``open``: everyone, without a key;
- ``internal``, and every type no dataset lists: a key with ``read`` or ``read:<dataset>``;
- ``personal``: only a key with ``read:<dataset>`` *and* a declared purpose; ``read`` and
  ``admin`` alone do not open personal data.

Writing needs ``write`` or ``write:<dataset>`` (``write:<dataset>`` of a personal dataset, too).
``admin`` reads and writes everything but personal data.

A dataset's ``identifying`` attributes (names, addresses) are hidden from a caller that reads
its entities without ``identify:<dataset>`` (and, for a personal dataset, a purpose).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from stadsnav.workspace import Workspace
from stadsnav.workspace.models import Dataset


@dataclass(frozen=True, slots=True)
class Access:
    """The entity types a caller may read and write."""

    read_all: bool = False
    """Every type but ``personal`` ones not in ``readable``."""
    write_all: bool = False
    readable: frozenset[str] = frozenset()
    writable: frozenset[str] = frozenset()
    personal: frozenset[str] = frozenset()
    """The types of personal datasets: ``read_all`` and ``write_all`` do not cover them."""
    hidden: Mapping[str, frozenset[str]] = field(default_factory=dict, compare=False)
    """Type → the identifying attributes of it the caller does not see."""

    def hidden_of(self, types: Collection[str]) -> frozenset[str]:
        """The attributes of an entity of these types the caller does not see."""
        if not self.hidden:
            return frozenset()
        return frozenset(name for t in types for name in self.hidden.get(t, ()))

    def probed(self, types: Collection[str] | None, names: Collection[str]) -> list[str]:
        """Which of ``names`` (that a query filters on) the caller does not see in an entity
        of ``types`` (None: of any type) it may read: a query on them would reveal them."""
        hidden = self.hidden.items()
        seen = {
            n
            for t, attrs in hidden
            if (types is None or t in types) and self._reads(t)
            for n in attrs
        }
        return sorted(seen.intersection(names))

    def can_read(self, types: Collection[str]) -> bool:
        """Whether the caller may read an entity of these types (it needs all of them)."""
        return all(self._reads(name) for name in types)

    def can_write(self, types: Collection[str]) -> bool:
        """Whether the caller may write an entity of these types."""
        return all(
            name in self.writable or (self.write_all and name not in self.personal)
            for name in types
        )

    def union(self, other: Access) -> Access:
        """What either of two accesses allows."""
        both = self.hidden.keys() & other.hidden.keys()
        return Access(
            self.read_all or other.read_all,
            self.write_all or other.write_all,
            self.readable | other.readable,
            self.writable | other.writable,
            self.personal | other.personal,
            {t: self.hidden[t] & other.hidden[t] for t in both},
        )

    def pushdown(self) -> frozenset[str] | None:
        """The types a query may be narrowed to in the store; None when it may read any type
        (but perhaps not every personal one)."""
        return None if self.read_all else self.readable

    def _reads(self, name: str) -> bool:
        return name in self.readable or (self.read_all and name not in self.personal)


_RANK: Final = {"open": 0, "internal": 1, "personal": 2}


def access_of(
    scopes: Sequence[str] | None,
    purpose: str | None,
    datasets: Iterable[Dataset],
    *,
    anonymous: bool = False,
) -> Access:
    """The access of a key with ``scopes`` and ``purpose`` (None scopes: no key).

    A type that two datasets list follows the stricter one. ``anonymous`` scopes (those every
    caller has) never open a personal dataset.
    """
    granted = set(scopes or ())
    listed = list(datasets)
    level: dict[str, int] = {}
    for dataset in listed:
        for name in dataset.entity_types:
            level[name] = max(level.get(name, 0), _RANK[dataset.classification])
    readable: set[str] = set()
    writable: set[str] = set()
    personal: set[str] = set()
    hidden: dict[str, frozenset[str]] = {}
    for dataset in listed:
        rank = _RANK[dataset.classification]
        types = {name for name in dataset.entity_types if level[name] == rank}
        reads, writes = f"read:{dataset.id}" in granted, f"write:{dataset.id}" in granted
        identifies = f"identify:{dataset.id}" in granted and not anonymous
        if dataset.classification == "personal":
            personal |= types
            reads, writes = reads and bool(purpose) and not anonymous, writes and not anonymous
            identifies = identifies and bool(purpose)
        if dataset.identifying and not identifies:
            # Every dataset listing a type adds its identifying attributes, not the strictest.
            for name in dataset.entity_types:
                hidden[name] = hidden.get(name, frozenset()) | frozenset(dataset.identifying)
        if dataset.classification == "open" or reads:
            readable |= types
        if writes:
            writable |= types
    return Access(
        read_all=bool(granted & {"read", "admin"}),
        write_all=bool(granted & {"write", "admin"}),
        readable=frozenset(readable),
        writable=frozenset(writable),
        personal=frozenset(personal),
        hidden=hidden,
    )


def personal_scopes(scopes: Iterable[str], workspace: Workspace) -> list[str]:
    """The scopes that name a personal dataset of the workspace."""
    personal = {d.id for d in workspace.datasets.values() if d.classification == "personal"}
    return [scope for scope in scopes if scope.partition(":")[2] in personal]


def grant_access(scopes: Sequence[str] | None, purpose: str | None, workspace: Workspace) -> Access:
    """The access of a caller with a key of ``scopes`` and ``purpose`` (None: no key), with the
    workspace's anonymous scopes, which every caller has."""
    datasets = workspace.datasets.values()
    anyone = access_of(workspace.settings.gateway.anonymous_scopes, None, datasets, anonymous=True)
    return anyone if scopes is None else anyone.union(access_of(scopes, purpose, datasets))


def without_personal(access: Access) -> Access:
    """``access`` for reading only: no personal dataset, no writes."""
    return Access(
        read_all=access.read_all,
        write_all=False,
        readable=access.readable - access.personal,
        writable=frozenset(),
        personal=access.personal,
        hidden=access.hidden,
    )
