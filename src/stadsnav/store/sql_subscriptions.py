"""NGSI-LD subscriptions, their status and the notifier's cursor (migration 0009)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import Any, Final

import orjson

from stadsnav.model.entity import StoredEntity
from stadsnav.store.sql_hooks import SqlHooks

_COLUMNS = (
    "id, document, context, jsonld_context, created_at, modified_at, created_version, "
    "times_sent, times_failed, last_notification, last_success, last_failure, last_status, owner"
)
_BUMP = "UPDATE subscription_counter SET version = version + 1"


class Everyone(Enum):
    """The owner filter that lists the subscriptions of every owner."""

    EVERYONE = "everyone"


EVERYONE: Final = Everyone.EVERYONE
_SAVE_CURSOR = (
    "INSERT INTO notifier_cursor (id, version) VALUES (1, ?) "
    "ON CONFLICT (id) DO UPDATE SET version = excluded.version"
)


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    """How the notifications of one subscription went, as the notifier recorded it."""

    times_sent: int = 0
    times_failed: int = 0
    last_notification: datetime | None = None
    last_success: datetime | None = None
    last_failure: datetime | None = None
    last_status: str | None = None
    """``ok`` or ``failed``: how the last attempt that finished went; None before the first."""


@dataclass(frozen=True, slots=True)
class SubscriptionRecord:
    """A stored subscription: its document (names as stored), @contexts and status."""

    id: str
    document: dict[str, Any]
    context: Any
    """The @context the document's ``q`` is written in (a URL, an object or a list)."""
    jsonld_context: str
    """The URL of the @context notifications are rendered in."""
    created_at: datetime
    modified_at: datetime
    created_version: int = 0
    """The change version when it was created: earlier changes are not notified."""
    status: DeliveryStatus = field(default_factory=DeliveryStatus)
    owner: str | None = None
    """The id of the API key that created it; None when made without a key."""


@dataclass(frozen=True, slots=True)
class PendingNotification:
    """Entities matched for a subscription and not delivered yet."""

    id: int
    subscription_id: str
    created_at: datetime
    data: list[dict[str, Any]]
    attempts: int


@dataclass(frozen=True, slots=True)
class EntityFeed:
    """What became of entities (of any type, or of some) after a change version."""

    version: int
    """The change version now: ask for the changes after it next time."""
    changed: list[StoredEntity]
    """Entities created or changed after the version, as they are now."""
    removed: list[tuple[str, str]]
    """(id, type) of the entities deleted after the version that do not exist now."""


class SubscriptionRows(SqlHooks):
    """SqlStore methods for subscriptions; SqlStore inherits them."""

    @abstractmethod
    def _entities(self, where: str, params: list[Any]) -> list[StoredEntity]:
        """The entities matching an SQL condition on ``entities e``, ordered by id."""

    @abstractmethod
    def _of_types(self, types: Sequence[str]) -> tuple[str, list[Any]]:
        """The condition that the entity ``e`` has one of ``types``, with its parameters."""

    # subscriptions
    def add_subscription(self, record: SubscriptionRecord) -> SubscriptionRecord | None:
        """Store a new subscription, stamped with the change version now; None if the id is
        taken."""
        with self._write() as cursor:
            cursor.execute("SELECT version FROM change_counter")
            version = int(cursor.fetchone()[0])
            cursor.execute(
                self.sql(
                    "INSERT INTO subscriptions (id, document, context, jsonld_context, "
                    "created_at, modified_at, created_version, owner) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
                ),
                (
                    record.id,
                    _dumps(record.document),
                    _dumps(record.context),
                    record.jsonld_context,
                    self.time_in(record.created_at),
                    self.time_in(record.modified_at),
                    version,
                    record.owner,
                ),
            )
            if cursor.rowcount == 0:
                return None
            cursor.execute(_BUMP)
        return replace(record, created_version=version, status=DeliveryStatus())

    def get_subscription(self, subscription_id: str) -> SubscriptionRecord | None:
        """One subscription, with its delivery status."""
        rows = self._query(f"SELECT {_COLUMNS} FROM subscriptions WHERE id = ?", [subscription_id])
        return self._record(rows[0]) if rows else None

    def list_subscriptions(
        self, limit: int | None = None, offset: int = 0, owner: str | Everyone | None = EVERYONE
    ) -> tuple[int, list[SubscriptionRecord]]:
        """How many subscriptions there are (of ``owner``: a key's id, None for those made
        without a key), and a page of them ordered by creation."""
        where, params = "", list[Any]()
        if owner is None:
            where = "WHERE owner IS NULL"
        elif isinstance(owner, str):
            where, params = "WHERE owner = ?", [owner]
        [(total,)] = self._query(f"SELECT count(*) FROM subscriptions {where}", params)
        query = f"SELECT {_COLUMNS} FROM subscriptions {where} ORDER BY created_at, id"
        if limit is not None:
            query += " LIMIT ? OFFSET ?"
            params += [limit, offset]
        elif offset:
            # Both dialects accept a LIMIT that no table reaches; neither has OFFSET alone.
            query += " LIMIT ? OFFSET ?"
            params += [2**62, offset]
        return int(total), [self._record(row) for row in self._query(query, params)]

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
        with self._write() as cursor:
            cursor.execute(
                self.sql(
                    "UPDATE subscriptions SET document = ?, context = ?, jsonld_context = ?, "
                    "modified_at = ? WHERE id = ?"
                ),
                (
                    _dumps(document),
                    _dumps(context),
                    jsonld_context,
                    self.time_in(modified_at),
                    subscription_id,
                ),
            )
            if cursor.rowcount == 0:
                return False
            if drop_pending:
                cursor.execute(
                    self.sql("DELETE FROM notification_outbox WHERE subscription_id = ?"),
                    (subscription_id,),
                )
            cursor.execute(_BUMP)
        return True

    def delete_subscription(self, subscription_id: str) -> bool:
        """Delete a subscription and its undelivered notifications; False if it did not exist."""
        with self._write() as cursor:
            cursor.execute(self.sql("DELETE FROM subscriptions WHERE id = ?"), (subscription_id,))
            if cursor.rowcount == 0:
                return False
            cursor.execute(_BUMP)
        return True

    def subscriptions_version(self) -> int:
        """A number that grows whenever a subscription is created, changed or deleted."""
        [(version,)] = self._query("SELECT version FROM subscription_counter")
        return int(version)

    def _record(self, row: Any) -> SubscriptionRecord:
        status = DeliveryStatus(
            times_sent=int(row[7]),
            times_failed=int(row[8]),
            last_notification=self._maybe_time(row[9]),
            last_success=self._maybe_time(row[10]),
            last_failure=self._maybe_time(row[11]),
            last_status=row[12],
        )
        return SubscriptionRecord(
            id=row[0],
            document=orjson.loads(row[1]),
            context=orjson.loads(row[2]),
            jsonld_context=row[3],
            created_at=self._time_out(row[4]),
            modified_at=self._time_out(row[5]),
            created_version=int(row[6]),
            status=status,
            owner=row[13],
        )

    def _maybe_time(self, value: Any) -> datetime | None:
        return None if value is None else self._time_out(value)

    # the notifier
    def notifier_cursor(self) -> int | None:
        """The change version up to which the notifier matched changes; None if it never ran."""
        rows = self._query("SELECT version FROM notifier_cursor")
        return int(rows[0][0]) if rows else None

    def save_notifier_cursor(self, version: int) -> None:
        """Remember that the changes up to ``version`` were matched."""
        with self._write() as cursor:
            cursor.execute(self.sql(_SAVE_CURSOR), (version,))

    def entity_feed(self, after: int, types: Sequence[str] | None = None) -> EntityFeed:
        """The change version now, the entities (of ``types``, or any) changed after ``after``,
        and those deleted after it."""
        # Version first, then removals, then entities, as entity_delta reads them: a change
        # committed in between comes again next time.
        [(version,)] = self._query("SELECT version FROM change_counter")
        removal_filter, entity_filter = "", "e.change_version > ?"
        removal_params: list[Any] = [after]
        entity_params: list[Any] = [after]
        if types is not None:
            removal_filter = f" AND {self._in_list('r.type')}"
            removal_params.append(self._list_param(types))
            of_types, type_params = self._of_types(types)
            entity_filter += f" AND {of_types}"
            entity_params += type_params
        # An entity with several types has a removal per type: it is listed once.
        removed = [
            (str(entity_id), str(entity_type))
            for entity_id, entity_type in self._query(
                "SELECT r.entity_id, min(r.type) FROM entity_removals r WHERE r.version > ?"
                f"{removal_filter} AND NOT EXISTS "
                "(SELECT 1 FROM entities e WHERE e.id = r.entity_id) "
                "GROUP BY r.entity_id ORDER BY r.entity_id",
                removal_params,
            )
        ]
        return EntityFeed(int(version), self._entities(entity_filter, entity_params), removed)

    def entities_as_of(
        self, version: int, types: Sequence[str] | None = None
    ) -> tuple[list[StoredEntity], list[str]]:
        """The entities (of ``types``, or any) unchanged since ``version``, as they are; and the
        ids of those changed after it, whose state at ``version`` is gone."""
        of_types, params = ("", []) if types is None else self._of_types(types)
        if of_types:
            of_types = f" AND {of_types}"
        later = self._query(
            f"SELECT e.id FROM entities e WHERE e.change_version > ?{of_types}", [version, *params]
        )
        unchanged = self._entities(f"e.change_version <= ?{of_types}", [version, *params])
        return unchanged, [str(row[0]) for row in later]

    def queue_notifications(
        self,
        notifications: Sequence[tuple[str, list[dict[str, Any]]]],
        created_at: datetime,
        cursor_version: int | None = None,
    ) -> None:
        """In one transaction: add (subscription id, entities) to the outbox, and (if given)
        save the notifier's cursor."""
        now = self.time_in(created_at)
        with self._write() as cursor:
            if notifications:
                cursor.executemany(
                    self.sql(
                        "INSERT INTO notification_outbox (subscription_id, created_at, data) "
                        "SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM subscriptions WHERE id = ?)"
                    ),
                    [
                        (subscription_id, now, _dumps(data), subscription_id)
                        for subscription_id, data in notifications
                    ],
                )
            if cursor_version is not None:
                cursor.execute(self.sql(_SAVE_CURSOR), (cursor_version,))

    def pending_counts(self) -> dict[str, int]:
        """Subscription id → how many of its notifications wait in the outbox."""
        rows = self._query(
            "SELECT subscription_id, count(*) FROM notification_outbox GROUP BY subscription_id"
        )
        return {str(subscription_id): int(count) for subscription_id, count in rows}

    def pending_notifications(self, subscription_id: str, limit: int) -> list[PendingNotification]:
        """The oldest undelivered notifications of a subscription, oldest first."""
        rows = self._query(
            "SELECT id, subscription_id, created_at, data, attempts FROM notification_outbox "
            "WHERE subscription_id = ? ORDER BY id LIMIT ?",
            [subscription_id, limit],
        )
        return [
            PendingNotification(
                int(row[0]), row[1], self._time_out(row[2]), orjson.loads(row[3]), int(row[4])
            )
            for row in rows
        ]

    def start_notifications(self, subscription_id: str, at: datetime) -> bool:
        """Count a notification of a subscription as sent ``at``, just before it is sent: a
        subscriber looking at the subscription while it is received sees it counted (5.2.14
        timesSent, lastNotification). False if the subscription is gone (send nothing)."""
        with self._write() as cursor:
            cursor.execute(
                self.sql(
                    "UPDATE subscriptions SET times_sent = times_sent + 1, last_notification = ? "
                    "WHERE id = ?"
                ),
                (self.time_in(at), subscription_id),
            )
            return bool(cursor.rowcount)

    def finish_notifications(
        self,
        subscription_id: str,
        ids: Sequence[int],
        at: datetime,
        ok: bool,
        max_attempts: int,
    ) -> None:
        """Record how one delivery attempt of the notifications ``ids`` of a subscription, sent
        ``at`` (counted by start_notifications), went.

        Delivered ones leave the outbox; failed ones count an attempt and leave it once they had
        ``max_attempts``. The subscription's status records the outcome either way.
        """
        when = self.time_in(at)
        id_list = self._list_param(ids)
        # The subscription row first, then its outbox rows: the order in which deleting a
        # subscription locks them (its outbox rows go by ON DELETE CASCADE). The other order
        # deadlocked on PostgreSQL when a subscription was deleted during a delivery.
        with self._write() as cursor:
            if ok:
                cursor.execute(
                    self.sql(
                        "UPDATE subscriptions SET last_success = ?, last_status = 'ok' WHERE id = ?"
                    ),
                    (when, subscription_id),
                )
                cursor.execute(
                    self.sql(f"DELETE FROM notification_outbox WHERE {self._in_list('id')}"),
                    (id_list,),
                )
                return
            cursor.execute(
                self.sql(
                    "UPDATE subscriptions SET times_failed = times_failed + 1, "
                    "last_failure = ?, last_status = 'failed' WHERE id = ?"
                ),
                (when, subscription_id),
            )
            cursor.execute(
                self.sql(
                    "UPDATE notification_outbox SET attempts = attempts + 1 "
                    f"WHERE {self._in_list('id')}"
                ),
                (id_list,),
            )
            cursor.execute(
                self.sql(
                    f"DELETE FROM notification_outbox WHERE {self._in_list('id')} AND attempts >= ?"
                ),
                (id_list, max_attempts),
            )

    def drop_notifications(self, subscription_id: str) -> int:
        """Drop every undelivered notification of a subscription; how many."""
        with self._write() as cursor:
            cursor.execute(
                self.sql("DELETE FROM notification_outbox WHERE subscription_id = ?"),
                (subscription_id,),
            )
            return int(cursor.rowcount)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
