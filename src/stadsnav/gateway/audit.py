"""The audit log: who looked at personal data, who changed what as an administrator, who was
refused; append-only, each record chained to the one before by a SHA-256 hash.

A record holds no payload: who (a key's id, ``anonymous`` or ``cli:<user>``), what (an action
and its target), whose data (the subject's pseudonym: the entity's id), why (the key's purpose),
when, from where, and the outcome. Changing, removing or reordering records breaks the chain at
that point, which ``stadsnav audit --verify`` finds; the head's hash, noted elsewhere now and
then, also shows a cut-off tail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Final, Literal

import orjson

from stadsnav.model.render import format_time

GENESIS: Final = "0" * 64
"""The ``previous`` hash of the first record."""

Outcome = Literal["allowed", "denied"]

READ_PERSONAL: Final = "read-personal"
ADMIN: Final = "admin"
KEY_CREATED: Final = "key-created"
KEY_REVOKED: Final = "key-revoked"
DENIED: Final = "denied"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """Something to record, before it has its place in the chain."""

    at: datetime
    actor: str
    """A key's id, ``anonymous``, or ``cli:<user>`` for the command line."""
    action: str
    """``read-personal``, ``admin``, ``key-created``, ``key-revoked`` or ``denied``."""
    target: str
    """What was acted on: ``GET /admin/keys``, an entity's id, a key's id."""
    outcome: Outcome = "allowed"
    status: int | None = None
    """The HTTP status answered, for a request."""
    subject: str | None = None
    """The pseudonym of the person whose data was read (the entity's id)."""
    dataset: str | None = None
    purpose: str | None = None
    client: str | None = None
    """The address the request came from."""

    def as_json(self) -> dict[str, Any]:
        """The event's fields, the time as RFC 3339 text, unset ones left out."""
        shown = {name: value for name, value in asdict(self).items() if value is not None}
        shown["at"] = format_time(self.at)
        return shown


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """An event in its place in the chain."""

    seq: int
    event: AuditEvent
    previous: str
    hash: str

    def as_json(self) -> dict[str, Any]:
        """The record as ``stadsnav audit --json`` and ``/admin/audit`` show it."""
        return {
            "seq": self.seq,
            **self.event.as_json(),
            "previous": self.previous,
            "hash": self.hash,
        }


def chain_hash(seq: int, event: AuditEvent, previous: str) -> str:
    """The hash of a record: SHA-256 of its fields (sorted JSON) and its predecessor's hash."""
    body = {**event.as_json(), "seq": seq, "previous": previous}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def chained(events: Iterable[AuditEvent], seq: int, previous: str) -> list[AuditRecord]:
    """Records for ``events`` after the record ``seq`` whose hash is ``previous``."""
    records = []
    for event in events:
        seq += 1
        digest = chain_hash(seq, event, previous)
        records.append(AuditRecord(seq, event, previous, digest))
        previous = digest
    return records


@dataclass(frozen=True, slots=True)
class Break:
    """Where the chain does not hold, and why."""

    seq: int
    reason: str


def first_break(
    records: Iterable[AuditRecord], seq: int = 0, previous: str = GENESIS
) -> Break | None:
    """The first record (in order, following record ``seq`` with hash ``previous``) that does
    not follow from the one before; None when the whole chain holds."""
    for record in records:
        if record.seq != seq + 1:
            return Break(record.seq, f"record {seq + 1} is missing (the next is {record.seq})")
        if record.previous != previous:
            return Break(record.seq, "it does not name the hash of the record before it")
        if chain_hash(record.seq, record.event, record.previous) != record.hash:
            return Break(record.seq, "its content does not match its hash: it was changed")
        seq, previous = record.seq, record.hash
    return None
