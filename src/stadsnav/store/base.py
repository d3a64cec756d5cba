"""The ContextStore protocol and the records that cross it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from stadsnav.gateway.audit import AuditEvent, AuditRecord
from stadsnav.gateway.keys import ApiKey
from stadsnav.gateway.usage import UsageCount, UsageKey
from stadsnav.model.aggregation import Bucket, Period
from stadsnav.model.entity import AttributeInstance, Provenance, StoredEntity
from stadsnav.model.entity_query import Prefilter
from stadsnav.store.sql_subscriptions import (
    EVERYONE,
    EntityFeed,
    Everyone,
    PendingNotification,
    SubscriptionRecord,
)

__all__ = [
    "Appended",
    "AttributeInstance",
    "AttributeWrite",
    "ContextStore",
    "DeadLetter",
    "EntityChange",
    "EntityCheck",
    "EntityDelta",
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


@dataclass(frozen=True, slots=True)
class EntityChange:
    """What to write to one entity, computed from its current state.

    Applied in this order: ``clear``, ``delete``, ``put``. With ``delete_entity`` the other
    fields are not looked at.
    """

    type: str | Sequence[str] | None = None
    """The entity's type, or its types: required to create an entity; when given for an existing
    one, replaces its types."""
    clear: bool = False
    """Delete every attribute instance (all datasets) before ``put`` (an entity replace)."""
    put: Sequence[tuple[str, dict[str, Any]]] = ()
    """(name, normalized attribute instance) to store; the instance's "datasetId" member (if any)
    picks the instance it replaces; with "observedAt" it is also added to the history (at that
    time, for its dataset)."""
    delete: Sequence[tuple[str, str | None]] = ()
    """(name, datasetId or None for the default instance) to remove from the latest state."""
    delete_entity: bool = False
    """Remove the entity, its attributes and its history."""


EntityCheck = Callable[[StoredEntity | None], None]
"""Looks at an entity as it is in a write's transaction (None: missing) and raises to refuse
the write."""


@dataclass(frozen=True, slots=True)
class EntityDelta:
    """What became of the entities of some types after a change version."""

    version: int
    """The change version now: ask for the changes after it next time."""
    changed: list[StoredEntity]
    """Entities of the types created or changed after the version, as they are now."""
    removed: list[str]
    """Ids of entities deleted, or retyped to none of the types, after the version and not of
    the types now. Apply them before ``changed``."""


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
        """Close every connection, the tenants' stores' too."""
        ...

    # tenants
    def for_tenant(self, tenant: str, create: bool) -> ContextStore | None:
        """The store of another tenant (NGSILD-Tenant), isolated from this one, migrated.

        None when it does not exist and ``create`` is False. A name that is not 1 to 64 of
        ``A-Z a-z 0-9 _ -`` is a ValueError. Asked of a tenant's store, it answers for the
        store it came from.
        """
        ...

    def tenants(self) -> list[str]:
        """The names of the existing tenants, sorted."""
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

    # API keys
    def add_api_key(self, key: ApiKey, secret_hash: str, audit: AuditEvent | None = None) -> None:
        """Store a new key with the hash of its text (and the audit record of its issue)."""
        ...

    def api_keys(self) -> list[ApiKey]:
        """Every key, revoked and expired ones too, oldest first."""
        ...

    def api_key(self, key_id: str) -> tuple[ApiKey, str] | None:
        """The key with this id and the hash of its text; None when there is none."""
        ...

    def revoke_api_key(
        self, key_id: str, at: datetime, audit: AuditEvent | None = None
    ) -> ApiKey | None:
        """Revoke a key from ``at`` on; the key as it is then, None when there is none.
        ``audit`` is recorded with the revocation when the key exists."""
        ...

    # API usage
    def add_usage(self, counts: Mapping[UsageKey, UsageCount]) -> None:
        """Add counts of requests to the stored ones."""
        ...

    def usage(
        self,
        since: datetime,
        until: datetime,
        by: Sequence[str],
        key_id: str | None = None,
        dataset: str | None = None,
    ) -> list[tuple[dict[str, Any], UsageCount]]:
        """Usage from ``since`` to ``until`` summed by ``by`` (hour, key, endpoint, dataset)."""
        ...

    def admitted_requests(self, key_id: str, since: datetime) -> int:
        """How many requests of a key were let through (not refused by a limit) since ``since``."""
        ...

    # audit log
    def append_audit(self, events: Sequence[AuditEvent]) -> list[AuditRecord]:
        """Append events to the audit chain, in one transaction; the records they became."""
        ...

    def audit_records(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        actor: str | None = None,
        action: str | None = None,
        subject: str | None = None,
        after: int = 0,
        limit: int = 1000,
    ) -> list[AuditRecord]:
        """Audit records in chain order after record ``after``, up to ``limit``, that match."""
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
        that creates, changes or deletes an entity; versions become visible in the order they
        were given out, so nothing changed after ``after`` is left out. Deleted entities are not
        listed: a reader that must learn of them asks ``entity_delta``.
        """
        ...

    def entity_delta(self, types: Sequence[str], after: int | None) -> EntityDelta:
        """As ``entity_changes``, and the ids of the entities of ``types`` removed after ``after``.

        With ``after`` None, every entity of ``types`` and no removals.
        """
        ...

    def find_entities(
        self,
        types: Sequence[str] | None = None,
        ids: Sequence[str] | None = None,
        id_pattern: str | None = None,
        *,
        prefilter: Prefilter | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[StoredEntity]:
        """Entities matching every given filter, ordered by id; ``id_pattern`` is a regex.

        With ``prefilter``, only entities meeting its conditions (and perhaps not all of them:
        it narrows, the caller tests); with ``after``, only ids after it; with ``limit``, the
        first ``limit`` of them.
        """
        ...

    def count_changes(self, types: Sequence[str], after: int, limit: int) -> int:
        """How many entities of ``types`` changed or were removed after version ``after``,
        counted to ``limit``."""
        ...

    def change_entities(
        self, changes: Mapping[str, Callable[[StoredEntity | None], EntityChange | None]]
    ) -> dict[str, StoredEntity | None]:
        """In one write transaction, per entity id: call its function with the entity's current
        state (None when it does not exist) and apply the change it returns (None: nothing to
        do). Returns each entity's state after.

        No other ``change_entities`` writes these entities between the call and the commit, so
        a read-modify-write loses no concurrent update. If a function raises, nothing is
        written and the exception propagates. Every applied change sets the entity's
        ``modified_at`` and change version; a creation also its ``created_at``.
        """
        ...

    def entity_types(self, hidden: Sequence[str] = ()) -> dict[str, int]:
        """Entity type → number of entities, counting none that has a type in ``hidden``."""
        ...

    def attribute_names(
        self, types: Sequence[str] | None = None, hidden: Sequence[str] = ()
    ) -> dict[str, dict[str, int]]:
        """Attribute name → {entity type → number of entities having it} (over types, or all;
        counting no entity that has a type in ``hidden``)."""
        ...

    def attribute_kinds(
        self, types: Sequence[str] | None = None, hidden: Sequence[str] = ()
    ) -> dict[str, list[str]]:
        """Attribute name → the NGSI-LD attribute types it has (Property, Relationship ...),
        over the entities of ``types`` (or all) that have no type in ``hidden``."""
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

        Instances of every dataset of an attribute share its list; each instance of a dataset
        carries its "datasetId". With ``last_n``, only the newest n instances of each attribute
        (still oldest first).
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

    # temporal API (store/sql_temporal.py)
    def temporal_instances(
        self,
        entity_ids: Sequence[str],
        attrs: Sequence[str] | None = None,
        time_from: datetime | None = None,
        time_to: datetime | None = None,
        per_series: int | None = None,
        newest: bool = False,
    ) -> dict[str, dict[str, list[AttributeInstance]]]:
        """Entity id → attribute → its instances observed in ``[time_from, time_to)``.

        Oldest first; each instance of a dataset carries its "datasetId". ``per_series`` keeps
        at most that many instances of each (entity, attribute, dataset): the oldest, or with
        ``newest`` the newest.
        """
        ...

    def aggregate_history(
        self,
        entity_ids: Sequence[str],
        attrs: Sequence[str] | None,
        time_from: datetime | None,
        time_to: datetime | None,
        period: Period,
        distinct: bool = True,
    ) -> list[Bucket]:
        """Each attribute's instances observed in ``[time_from, time_to)`` summed per period.

        Periods start at ``time_from``, or at the entity's oldest instance among ``attrs``; a
        whole ``period`` is one period from there to ``time_to`` (or the newest instance).
        Only periods holding instances are listed. Without ``distinct`` the distinct values
        are not counted (0), which saves a sort per period.
        """
        ...

    def add_instances(
        self,
        entity_id: str,
        entity_type: str | Sequence[str] | None,
        instances: Sequence[tuple[str, dict[str, Any]]],
        *,
        create: bool,
        check: EntityCheck | None = None,
    ) -> bool | None:
        """Add attribute instances to the entity's history; True when it created the entity.

        Per attribute and dataset, the newest instance becomes the current value when it is at
        least as new as the current one; instances without observedAt only set the current
        value. None when the entity does not exist and ``create`` is False. Creating needs
        ``entity_type``; types the entity lacks are added to it (4.16). ``check`` sees the
        entity as it is in the write's transaction (None if missing) and raises to refuse it.
        """
        ...

    def delete_history(
        self,
        entity_id: str,
        name: str,
        dataset_id: str | None,
        delete_all: bool,
        check: EntityCheck | None = None,
    ) -> bool | None:
        """Delete an attribute's instances (of one dataset, '' or None the default, or all)
        with its current value; False when it has none, None when the entity does not exist.
        ``check`` as for ``add_instances``."""
        ...

    def delete_instance(
        self, entity_id: str, name: str, instance: str, check: EntityCheck | None = None
    ) -> bool | None:
        """Delete one instance by its instanceId; False when there is none, None when the
        entity does not exist. When it was the current value, the newest one left takes over.
        ``check`` as for ``add_instances``."""
        ...

    def modify_instance(
        self,
        entity_id: str,
        name: str,
        instance: str,
        change: Callable[[dict[str, Any]], dict[str, Any]],
        check: EntityCheck | None = None,
    ) -> bool | None:
        """Replace one instance (by instanceId) with what ``change`` makes of it.

        It keeps its id, also when its observedAt changes. False when there is no such
        instance, None when the entity does not exist. ``check`` as for ``add_instances``.
        """
        ...

    # subscriptions and their notifier
    def add_subscription(self, record: SubscriptionRecord) -> SubscriptionRecord | None:
        """Store a new subscription, stamped with the change version now; None if the id is
        taken."""
        ...

    def get_subscription(self, subscription_id: str) -> SubscriptionRecord | None:
        """One subscription, with its delivery status."""
        ...

    def list_subscriptions(
        self, limit: int | None = None, offset: int = 0, owner: str | Everyone | None = EVERYONE
    ) -> tuple[int, list[SubscriptionRecord]]:
        """How many subscriptions there are (of ``owner``: a key's id, None for those made
        without a key), and a page of them ordered by creation."""
        ...

    def update_subscription(
        self,
        subscription_id: str,
        document: dict[str, Any],
        context: Any,
        jsonld_context: str,
        modified_at: datetime,
        drop_pending: bool = False,
    ) -> bool:
        """Replace a subscription's document and @contexts; False if it does not exist.

        With ``drop_pending`` its undelivered notifications are dropped too (it was paused).
        """
        ...

    def delete_subscription(self, subscription_id: str) -> bool:
        """Delete a subscription and its undelivered notifications; False if it did not exist."""
        ...

    def subscriptions_version(self) -> int:
        """A number that grows whenever a subscription is created, changed or deleted."""
        ...

    def notifier_cursor(self) -> int | None:
        """The change version up to which the notifier matched changes; None if it never ran."""
        ...

    def save_notifier_cursor(self, version: int) -> None:
        """Remember that the changes up to ``version`` were matched."""
        ...

    def entity_feed(self, after: int, types: Sequence[str] | None = None) -> EntityFeed:
        """The change version now, the entities (of ``types``, or any) changed after ``after``,
        and those deleted after it."""
        ...

    def entities_as_of(
        self, version: int, types: Sequence[str] | None = None
    ) -> tuple[list[StoredEntity], list[str]]:
        """The entities (of ``types``, or any) unchanged since ``version``, as they are; and the
        ids of those changed after it, whose state at ``version`` is gone."""
        ...

    def queue_notifications(
        self,
        notifications: Sequence[tuple[str, list[dict[str, Any]]]],
        created_at: datetime,
        cursor_version: int | None = None,
    ) -> None:
        """In one transaction: add (subscription id, entities) to the outbox, and (if given)
        save the notifier's cursor."""
        ...

    def pending_counts(self) -> dict[str, int]:
        """Subscription id → how many of its notifications wait in the outbox."""
        ...

    def pending_notifications(self, subscription_id: str, limit: int) -> list[PendingNotification]:
        """The oldest undelivered notifications of a subscription, oldest first."""
        ...

    def start_notifications(self, subscription_id: str, at: datetime) -> bool:
        """Count a notification of a subscription as sent ``at``, just before it is sent; False
        if the subscription is gone (send nothing)."""
        ...

    def finish_notifications(
        self,
        subscription_id: str,
        ids: Sequence[int],
        at: datetime,
        ok: bool,
        max_attempts: int,
    ) -> None:
        """Record one delivery attempt of the notifications ``ids`` of a subscription.

        Delivered ones leave the outbox; failed ones count an attempt and leave it once they had
        ``max_attempts``. The subscription's status records the outcome either way.
        """
        ...

    def drop_notifications(self, subscription_id: str) -> int:
        """Drop every undelivered notification of a subscription; how many."""
        ...
