"""The ContextStore protocol and the records that cross it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from stadsnav.model.entity import AttributeInstance, Provenance, StoredEntity

__all__ = [
    "Appended",
    "AttributeInstance",
    "AttributeWrite",
    "ContextStore",
    "DeadLetter",
    "InboxMessage",
    "NewDeadLetter",
    "NewInboxMessage",
    "Provenance",
    "RelatedCount",
    "StoredEntity",
]

Appended = int | Literal["duplicate", "conflict"]
"""What the inbox made of a message: its new inbox id; or ``duplicate``, the same id and body
seen within the dedupe window (dropped); or ``conflict``, the same id with another body (kept
as a dead letter at the stage ``conflict``)."""


@dataclass(frozen=True, slots=True)
class NewInboxMessage:
    """A message received from a source, not yet committed."""

    source: str
    """Id of the integration that received it."""
    message_id: str
    """The sender's id for the message; (source, message_id) is unique in the inbox."""
    received_at: datetime
    content_type: str
    body: bytes
    topic: str | None = None
    """MQTT topic or HTTP path it arrived on."""


# Not frozen: a frozen __init__ costs three times as much, and the pipeline builds one per
# uplink. Treat it as immutable.
@dataclass(slots=True)
class InboxMessage:
    """A committed message waiting for the pipeline."""

    id: int
    source: str
    message_id: str
    received_at: datetime
    content_type: str
    body: bytes
    topic: str | None
    attempts: int


# Not frozen: a frozen __init__ costs three times as much, and the pipeline builds one per
# uplink. Treat it as immutable.
@dataclass(slots=True)
class AttributeWrite:
    """One NGSI-LD attribute of one entity, in normalized form, to store.

    With ``observed_at`` set, the value goes into the history (once per entity, attribute and
    observation time; unless ``history`` is False) and becomes the latest only if no newer
    observation is stored. Without it (seed data such as a beach's name), it replaces the latest
    value and has no history.
    """

    entity_id: str
    entity_type: str
    name: str
    attribute: dict[str, Any]
    """The attribute as NGSI-LD normalized JSON: ``{"type": "Property", "value": ..., ...}``."""
    observed_at: datetime | None = None
    provenance: Provenance | None = None
    history: bool = True
    """False for readings only the newest of matters (a device's RSSI): latest, no history."""


@dataclass(frozen=True, slots=True)
class NewDeadLetter:
    """A message the pipeline could not process, with the stage and reason."""

    source: str
    message_id: str
    received_at: datetime
    content_type: str
    body: bytes
    topic: str | None
    stage: str
    """Where it failed: fetch, receive, envelope, parse, device, decode, map, validate, store or
    internal."""
    reason: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A stored dead letter."""

    id: int
    source: str
    message_id: str
    received_at: datetime
    content_type: str
    body: bytes
    topic: str | None
    stage: str
    reason: str
    failed_at: datetime


@dataclass(frozen=True, slots=True)
class RelatedCount:
    """How many entities related to one target have one value of an attribute."""

    target: str
    value: str
    count: int
    newest: datetime | None
    """The newest observation time of that attribute among them."""


class ContextStore(Protocol):
    """Storage for everything the platform keeps; one implementation per database.

    Every method is synchronous and thread-safe; callers in async code run them in a thread.
    """

    def migrate(self) -> list[str]:
        """Apply pending schema migrations; return the versions applied."""
        ...

    def schema_version(self) -> str | None:
        """The newest applied migration, or None on an empty database."""
        ...

    def ping(self) -> None:
        """Raise if the database cannot be reached or written."""
        ...

    def close(self) -> None:
        """Close every connection."""
        ...

    # inbox
    def inbox_append(self, messages: Sequence[NewInboxMessage]) -> list[Appended]:
        """Commit messages; what became of each (its inbox id, a duplicate or a conflict)."""
        ...

    def forget_messages(self, seen_before: datetime) -> int:
        """Forget the ids of messages first seen before ``seen_before``; how many."""
        ...

    def inbox_fetch(self, limit: int) -> list[InboxMessage]:
        """The oldest pending messages, oldest first; each fetch counts one more attempt."""
        ...

    def inbox_stats(self) -> tuple[int, datetime | None]:
        """Number of pending messages and the receive time of the oldest."""
        ...

    def commit_batch(
        self,
        done: Sequence[int],
        writes: Sequence[AttributeWrite],
        dead_letters: Sequence[NewDeadLetter],
        retry: Sequence[tuple[int, datetime]] = (),
    ) -> int:
        """In one transaction: store writes, add dead letters, remove ``done`` from the inbox.

        Messages in ``retry`` (inbox id, not before) stay in the inbox, unclaimed until then.
        Returns the number of history rows actually added (duplicates are not counted).
        """
        ...

    # poll state
    def poll_state(self, key: str) -> dict[str, Any] | None:
        """The state a polling connector saved under ``key`` (its integration id), if any."""
        ...

    def poll_commit(
        self,
        key: str,
        state: dict[str, Any],
        messages: Sequence[NewInboxMessage] = (),
        dead_letters: Sequence[NewDeadLetter] = (),
    ) -> list[Appended]:
        """In one transaction: append messages and dead letters, save ``state`` under ``key``.

        Returns what became of each message, as ``inbox_append`` does.
        """
        ...

    # dead letters
    def dead_letters(
        self,
        limit: int = 100,
        source: str | None = None,
        since: datetime | None = None,
        ids: Sequence[int] | None = None,
    ) -> list[DeadLetter]:
        """Stored dead letters, newest first; filtered by ``source``, ``since`` and ``ids``."""
        ...

    def replay_dead_letters(
        self,
        ids: Sequence[int] | None = None,
        source: str | None = None,
        since: datetime | None = None,
    ) -> list[InboxMessage]:
        """Move dead letters back into the inbox, claimed by the caller; the inbox messages.

        All of them, or those with the given ids, of ``source``, failed at or after ``since``.
        The caller processes them; if it does not, its claim runs out and a worker does.
        """
        ...

    # context
    def get_entity(self, entity_id: str) -> StoredEntity | None:
        """The latest state of one entity."""
        ...

    def entity_changes(
        self, types: Sequence[str], after: int | None
    ) -> tuple[int, list[StoredEntity]]:
        """The change version now, and the entities of ``types`` changed after ``after``.

        With ``after`` None, every entity of ``types``. The version grows with every commit
        that creates an entity or changes its latest attributes; versions become visible in the
        order they were given out, so nothing changed after ``after`` is left out.
        """
        ...

    def find_entities(
        self,
        types: Sequence[str] | None = None,
        ids: Sequence[str] | None = None,
        id_pattern: str | None = None,
    ) -> list[StoredEntity]:
        """Entities matching every given filter, ordered by id; ``id_pattern`` is a regex."""
        ...

    def count_changes(self, types: Sequence[str], after: int, limit: int) -> int:
        """How many entities of ``types`` changed after version ``after``, counted to ``limit``."""
        ...

    def count_related(
        self, entity_type: str, relationship: str, targets: Sequence[str], attribute: str
    ) -> list[RelatedCount]:
        """Per target and value of ``attribute``: how many entities of ``entity_type`` point at
        the target with Relationship ``relationship``, and their newest ``attribute`` time."""
        ...

    def history(
        self,
        entity_id: str,
        attrs: Sequence[str] | None = None,
        time_from: datetime | None = None,
        time_to: datetime | None = None,
        last_n: int | None = None,
    ) -> dict[str, list[AttributeInstance]]:
        """Attribute name → instances observed in ``[time_from, time_to)``, oldest first.

        With ``last_n``, only the newest n instances of each attribute (still oldest first).
        """
        ...

    def unchanged_since(
        self, entity_id: str, name: str, value: Any, before: datetime, horizon: datetime
    ) -> datetime | None:
        """Since when ``name`` has had ``value``, as its history observed before ``before`` says.

        The time of the first instance of the unbroken run of ``value`` that ends with the newest
        instance before ``before``; None when that instance has another value or there is none.
        The run is followed back no further than the newest instance observed before ``horizon``.
        """
        ...
