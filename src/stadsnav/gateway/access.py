"""What a caller may read and write, as entity types, from its scopes and the datasets.

Every entity type belongs to the dataset that lists it (``datasets/*.yaml``), and a dataset's
classification decides who reads it:

- ``open``: everyone, without a key;
- ``internal``, and every type no dataset lists: a key with ``read`` or ``read:<dataset>``;
- ``personal``: only a key with ``read:<dataset>`` *and* a declared purpose; ``read`` and
  ``admin`` alone do not open personal data.

Writing needs ``write`` or ``write:<dataset>`` (``write:<dataset>`` of a personal dataset, too).
``admin`` reads and writes everything but personal data.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

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

    def can_read(self, types: Collection[str]) -> bool:
        """Whether the caller may read an entity of these types (it needs all of them)."""
        return all(self._reads(name) for name in types)

    def can_write(self, types: Collection[str]) -> bool:
        """Whether the caller may write an entity of these types."""
        return all(
            name in self.writable or (self.write_all and name not in self.personal)
            for name in types
        )

    def pushdown(self) -> frozenset[str] | None:
        """The types a query may be narrowed to in the store; None when it may read any type
        (but perhaps not every personal one)."""
        return None if self.read_all else self.readable

    def _reads(self, name: str) -> bool:
        return name in self.readable or (self.read_all and name not in self.personal)


EVERYTHING = Access(read_all=True, write_all=True)
"""For callers the gateway does not restrict (a workspace that turns it off)."""


def access_of(
    scopes: Sequence[str] | None, purpose: str | None, datasets: Iterable[Dataset]
) -> Access:
    """The access of a key with ``scopes`` (None: anonymous) and ``purpose``."""
    granted = set(scopes or ())
    readable: set[str] = set()
    writable: set[str] = set()
    personal: set[str] = set()
    for dataset in datasets:
        types = set(dataset.entity_types)
        if dataset.classification == "personal":
            personal |= types
            if f"read:{dataset.id}" in granted and purpose:
                readable |= types
        elif dataset.classification == "open" or f"read:{dataset.id}" in granted:
            readable |= types
        if f"write:{dataset.id}" in granted:
            writable |= types
    return Access(
        read_all=bool(granted & {"read", "admin"}),
        write_all=bool(granted & {"write", "admin"}),
        readable=frozenset(readable),
        writable=frozenset(writable),
        personal=frozenset(personal),
    )
