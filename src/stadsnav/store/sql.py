"""The ContextStore over DB-API, shared by SQLite and PostgreSQL; dialects fill in small hooks."""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import orjson

from stadsnav.model.entity import as_types
from stadsnav.model.entity_query import Prefilter
from stadsnav.model.geo import Box
from stadsnav.model.render import format_time, provenance_property
from stadsnav.store.base import (
    Appended,
    AttributeInstance,
    AttributeWrite,
    DeadLetter,
    EntityChange,
    EntityDelta,
    InboxMessage,
    NewDeadLetter,
    NewInboxMessage,
    Provenance,
    RelatedCount,
    StoredEntity,
)
from stadsnav.store.migrate import apply_migrations
from stadsnav.store.sql_audit import AuditRows
from stadsnav.store.sql_contexts import JsonLdContextRows
from stadsnav.store.sql_keys import ApiKeyRows
from stadsnav.store.sql_subscriptions import SubscriptionRows
from stadsnav.store.sql_temporal import LIVE_ROW, TemporalRows, deletion_record, latest_instance
from stadsnav.store.sql_usage import UsageRows

_INBOX_COLUMNS = "id, source, message_id, received_at, content_type, body, topic"
_DEAD_COLUMNS = (
    "id, source, message_id, received_at, content_type, body, topic, stage, reason, failed_at"
)
_ENTITY_TEXTS = (
    "SELECT e.type, e.more_types, a.name, a.dataset_id, a.attribute FROM entities e "
    "LEFT JOIN entity_attributes a ON a.entity_id = e.id WHERE e.id = ? ORDER BY a.name"
)
_HISTORY_COLUMNS = (
    "name, observed_at, attribute, integration, source_message_id, received_at, dataset_id"
)
_NEWEST_BEFORE = (
    "SELECT observed_at, attribute FROM attribute_history WHERE entity_id = ? AND name = ? "
    f"AND dataset_id = '' AND observed_at < ? AND {LIVE_ROW} ORDER BY observed_at DESC LIMIT ?"
)

INSERT_INBOX = (
    "INSERT INTO inbox (source, message_id, received_at, content_type, body, topic) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_INSERT_DIGEST = (
    "INSERT INTO message_digests (source, message_id, digest, seen_at) VALUES (?, ?, ?, ?)"
)
_FORGET_CHUNK = 10_000
"""Message ids forgotten per transaction, so pruning never holds the write lock for long."""
# WHERE true: without it SQLite would read ON CONFLICT as a join constraint of the SELECT.
# Claims the oldest messages no live claim holds; the conflict branch re-checks the claim, so
# of two workers that picked the same row, only the first gets it.
_CLAIM = (
    "INSERT INTO inbox_attempts (id, attempts, claimed_until) "
    "SELECT i.id, 1, ? FROM inbox i LEFT JOIN inbox_attempts a ON a.id = i.id "
    "WHERE a.id IS NULL OR a.claimed_until IS NULL OR a.claimed_until < ? "
    "ORDER BY i.id LIMIT ?{row_locks} "
    "ON CONFLICT (id) DO UPDATE SET attempts = inbox_attempts.attempts + 1, "
    "claimed_until = excluded.claimed_until "
    "WHERE inbox_attempts.claimed_until IS NULL OR inbox_attempts.claimed_until < ? "
    "RETURNING id, attempts"
)
CLAIM_SECONDS = 10
"""How long a fetched batch is a worker's before another worker may take it.

A batch takes well under a second; the claim of a worker killed mid-batch runs out after this.
"""
_INSERT_ENTITY = (
    "INSERT INTO entities (id, type, created_at, modified_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (id) DO NOTHING"
)
_INSERT_HISTORY = (
    "INSERT INTO attribute_history (entity_id, name, observed_at, attribute, integration, "
    "source_message_id, received_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (entity_id, name, observed_at, dataset_id) DO NOTHING"
)
_UPSERT_LATEST = (
    "INSERT INTO entity_attributes (entity_id, name, observed_at, attribute, integration, "
    "source_message_id, received_at, modified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (entity_id, name, dataset_id) DO UPDATE SET attribute = excluded.attribute, "
    "observed_at = excluded.observed_at, modified_at = excluded.modified_at, "
    "integration = excluded.integration, source_message_id = excluded.source_message_id, "
    "received_at = excluded.received_at "
    "WHERE excluded.observed_at IS NULL OR entity_attributes.observed_at IS NULL "
    "OR excluded.observed_at >= entity_attributes.observed_at"
)
_INSERT_DEAD = (
    "INSERT INTO dead_letters (source, message_id, received_at, content_type, body, topic, "
    "stage, reason, failed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

# The NGSI-LD API's writes replace what they name, whatever its observation time or source.
# A create upserts: a pipeline batch (which takes no entity lock) may have made the id since.
_CREATE_ENTITY = (
    "INSERT INTO entities (id, type, more_types, created_at, modified_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET type = excluded.type, more_types = excluded.more_types"
)
_RETYPE = "UPDATE entities SET type = ?, more_types = ? WHERE id = ?"
_ADD_MORE_TYPE = "INSERT INTO entity_more_types (entity_id, type) VALUES (?, ?)"
_PUT_LATEST = (
    "INSERT INTO entity_attributes (entity_id, name, dataset_id, observed_at, attribute, "
    "modified_at) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (entity_id, name, dataset_id) DO UPDATE SET attribute = excluded.attribute, "
    "observed_at = excluded.observed_at, modified_at = excluded.modified_at, "
    "integration = NULL, source_message_id = NULL, received_at = NULL"
)
_PUT_HISTORY = (
    "INSERT INTO attribute_history (entity_id, name, dataset_id, observed_at, attribute) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (entity_id, name, observed_at, dataset_id) "
    "DO UPDATE SET attribute = excluded.attribute, integration = NULL, "
    "source_message_id = NULL, received_at = NULL"
)
_DROP_INSTANCE = "DELETE FROM entity_attributes WHERE entity_id = ? AND name = ? AND dataset_id = ?"
_FORGET_REMOVAL = "DELETE FROM entity_removals WHERE entity_id = ? AND type = ?"
_ADD_REMOVAL = (
    "INSERT INTO entity_removals (entity_id, type, version) VALUES (?, ?, ?) "
    "ON CONFLICT (entity_id, type) DO UPDATE SET version = excluded.version"
)
_ENTITY_TYPE_ROWS = (
    "(SELECT id, type FROM entities UNION ALL SELECT entity_id, type FROM entity_more_types)"
)
"""(entity id, type) for every type of every entity."""
_SQL_OPS = {"==": "=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
"""The operators of a q comparison in SQL."""
TENANT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""What a tenant name (NGSILD-Tenant) may be; it names a file or a schema."""

_UPSERT_POLL_STATE = (
    "INSERT INTO poll_state (key, state, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at"
)


class _RollbackError(Exception):
    """Raised inside a transaction to undo it on purpose."""


class SqlStore(
    JsonLdContextRows, TemporalRows, SubscriptionRows, ApiKeyRows, UsageRows, AuditRows, ABC
):
    """A ContextStore on one database, with one connection per thread."""

    dialect: ClassVar[str]
    regex_operator: ClassVar[str]
    relationship_object: ClassVar[str]
    """SQL for the target of a Relationship stored in column ``{}`` (as the 0005 index has it)."""
    property_value: ClassVar[str]
    attribute_type: ClassVar[str]
    """SQL for the NGSI-LD type (Property, Relationship ...) of an attribute in column ``{}``."""
    """SQL for the value of a Property stored in column ``{}``, as text."""
    plain_attribute: ClassVar[str]
    """SQL: the attribute in column ``{}`` is plain, a Property whose value is a JSON string or
    number."""
    plain_is_text: ClassVar[str]
    """SQL: the value of the plain attribute in column ``{}`` is a string."""
    plain_text: ClassVar[str]
    """SQL for the string value of a Property in column ``{}``, ordered by code point."""
    plain_number: ClassVar[str]
    """SQL for the number value of a Property in column ``{}`` (NULL when it is none)."""
    claim_row_locks: ClassVar[str] = ""
    """How the claim locks the inbox rows it takes, where other workers claim concurrently."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._connections: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False
        self._root: SqlStore | None = None
        self._tenant_stores: dict[str, SqlStore] = {}
        self._tenant_lock = threading.Lock()

    # dialect hooks
    @abstractmethod
    def _connect(self) -> Any:
        """A new, configured DB-API connection in autocommit mode."""

    @abstractmethod
    def _transaction(self, connection: Any) -> AbstractContextManager[None]:
        """Commit on success, roll back on any exception."""

    @abstractmethod
    def _lock_migrations(self, cursor: Any) -> None:
        """Serialize migration runs across processes."""

    @abstractmethod
    def time_in(self, value: datetime) -> Any:
        """A datetime as the database stores it."""

    @abstractmethod
    def _time_out(self, value: Any) -> datetime:
        """A stored time as an aware UTC datetime."""

    @abstractmethod
    def _in_list(self, column: str) -> str:
        """A condition: ``column`` is in the list given as one parameter."""

    @abstractmethod
    def _list_param(self, values: Sequence[Any]) -> Any:
        """The one parameter for ``_in_list``."""

    @abstractmethod
    def _insert_inbox(self, cursor: Any, rows: list[tuple[Any, ...]]) -> list[int]:
        """Insert inbox rows; their new ids, in order."""

    @abstractmethod
    def _lock_inbox(self, cursor: Any) -> None:
        """Serialize appends to the inbox until the transaction ends."""

    @abstractmethod
    def execute_script(self, cursor: Any, script: str) -> None:
        """Run a multi-statement script inside the current transaction."""

    @abstractmethod
    def _table_exists(self, name: str) -> bool:
        """Whether the table exists."""

    @abstractmethod
    def _open_tenant(self, tenant: str, create: bool) -> SqlStore | None:
        """The migrated store of a tenant; None if it does not exist and ``create`` is False."""

    @abstractmethod
    def _tenant_names(self) -> list[str]:
        """The tenants that exist."""

    @abstractmethod
    def _area_query(self, name: str, box: Box) -> tuple[str, list[Any]]:
        """A query of the ids of entities with an instance of ``name`` whose box meets ``box``;
        its parameters."""

    def _lock_entities(self, cursor: Any, entity_ids: Sequence[str]) -> None:
        """Keep other ``change_entities`` calls off these ids (existing or not) until the commit.

        Holding the write lock, as SQLite does, is enough.
        """

    def sql(self, query: str) -> str:
        """The query with ``?`` placeholders in the driver's style."""
        return query

    # connections and transactions
    def _lost(self, connection: Any) -> bool:
        """Whether the connection broke (the server went away) and must be replaced."""
        return False

    def _connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is not None and self._lost(connection):
            # The server went away (a restart, a failover): the next use opens a new connection.
            with self._lock:
                self._connections = [c for c in self._connections if c is not connection]
            with contextlib.suppress(Exception):
                connection.close()
            connection = self._local.connection = None
        if connection is None:
            if self._closed:
                raise RuntimeError("the store is closed")
            connection = self._connect()
            with self._lock:
                self._connections.append(connection)
            self._local.connection = connection
        return connection

    @contextmanager
    def _write(self) -> Iterator[Any]:
        connection = self._connection()
        with self._transaction(connection):
            yield connection.cursor()

    def _query(self, query: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self._connection().execute(self.sql(query), params).fetchall())

    def _query_planned(self, query: str, params: Sequence[Any] = ()) -> list[Any]:
        """As ``_query``, planned for these parameters where a database would reuse a plan."""
        return self._query(query, params)

    @contextmanager
    def migration_transaction(self) -> Iterator[Any]:
        """A write transaction that holds the migration lock; yields a cursor."""
        with self._write() as cursor:
            self._lock_migrations(cursor)
            yield cursor

    # lifecycle
    def migrate(self) -> list[str]:
        """Apply pending schema migrations; return the versions applied."""
        return apply_migrations(self)

    def schema_version(self) -> str | None:
        """The newest applied migration, or None on an empty database."""
        if not self._table_exists("schema_migrations"):
            return None
        version: str | None = self._query("SELECT max(version) FROM schema_migrations")[0][0]
        return version

    def ping(self) -> None:
        """Raise if the database cannot be reached or written."""
        try:
            with self._write() as cursor:
                cursor.execute("CREATE TABLE stadsnav_ping (x INTEGER)")
                raise _RollbackError
        except _RollbackError:
            pass

    def close(self) -> None:
        """Close every connection, the tenants' stores' too."""
        with self._tenant_lock:
            tenants, self._tenant_stores = list(self._tenant_stores.values()), {}
        for tenant in tenants:
            tenant.close()
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
            self._local = threading.local()
        for connection in connections:
            connection.close()

    # tenants
    def for_tenant(self, tenant: str, create: bool) -> SqlStore | None:
        """The store of another tenant (NGSILD-Tenant), isolated from this one, migrated.

        None when it does not exist and ``create`` is False. A name that is not 1 to 64 of
        ``A-Z a-z 0-9 _ -`` is a ValueError. Asked of a tenant's store, it answers for the
        store it came from.
        """
        if self._root is not None:
            return self._root.for_tenant(tenant, create)
        check_tenant(tenant)
        # One lock for all tenants: opening one is rare, and it migrates the tenant's database.
        with self._tenant_lock:
            if self._closed:
                raise RuntimeError("the store is closed")
            store = self._tenant_stores.get(tenant)
            if store is None:
                store = self._open_tenant(tenant, create)
                if store is None:
                    return None
                store._root = self
                self._tenant_stores[tenant] = store
            return store

    def tenants(self) -> list[str]:
        """The names of the existing tenants, sorted."""
        if self._root is not None:
            return self._root.tenants()
        return sorted(self._tenant_names())

    # inbox
    def inbox_append(self, messages: Sequence[NewInboxMessage]) -> list[Appended]:
        """Commit messages; what became of each (its inbox id, a duplicate or a conflict)."""
        if not messages:
            return []
        rows = self._inbox_rows(messages)
        with self._write() as cursor:
            return self._append(cursor, rows)

    def _inbox_rows(self, messages: Sequence[NewInboxMessage]) -> list[tuple[Any, ...]]:
        return [
            (m.source, m.message_id, self.time_in(m.received_at), m.content_type, m.body, m.topic)
            for m in messages
        ]

    def _append(self, cursor: Any, rows: list[tuple[Any, ...]]) -> list[Appended]:
        """Insert the rows whose id was not seen within the dedupe window; what became of each.

        A row whose (source, message_id) was seen with another body is a conflict: it becomes a
        dead letter, not an inbox message.
        """
        self._lock_inbox(cursor)
        seen = self._digests(cursor, [row[1] for row in rows])
        fresh: dict[int, bytes] = {}
        outcomes: list[Appended] = []
        conflicts: list[tuple[Any, ...]] = []
        for index, row in enumerate(rows):
            key, digest = (row[0], row[1]), message_digest(row[4])
            known = seen.get(key)
            if known is None:
                seen[key] = (digest, row[2])
                fresh[index] = digest
                outcomes.append(-1)  # replaced by its inbox id below
            elif known[0] == digest:
                outcomes.append("duplicate")
            else:
                first_seen = self._time_out(known[1])
                conflicts.append((*row, "conflict", _conflict_reason(row[1], first_seen)))
                outcomes.append("conflict")
        ids = self._insert_inbox(cursor, [rows[index] for index in fresh])
        cursor.executemany(
            self.sql(_INSERT_DIGEST),
            [(*rows[index][:2], digest, rows[index][2]) for index, digest in fresh.items()],
        )
        if conflicts:
            now = self.time_in(datetime.now(UTC))
            cursor.executemany(self.sql(_INSERT_DEAD), [(*row, now) for row in conflicts])
        for index, inbox_id in zip(fresh, ids, strict=True):
            outcomes[index] = inbox_id
        return outcomes

    def _digests(self, cursor: Any, message_ids: list[str]) -> dict[tuple[str, str], Any]:
        query = (
            "SELECT source, message_id, digest, seen_at FROM message_digests "
            f"WHERE {self._in_list('message_id')}"
        )
        cursor.execute(self.sql(query), (self._list_param(message_ids),))
        return {(row[0], row[1]): (bytes(row[2]), row[3]) for row in cursor.fetchall()}

    def forget_messages(self, seen_before: datetime) -> int:
        """Forget the ids of messages first seen before ``seen_before``; how many."""
        query = (
            "DELETE FROM message_digests WHERE (message_id, source) IN (SELECT message_id, source "
            "FROM message_digests WHERE seen_at < ? LIMIT ?)"
        )
        forgotten = 0
        while True:
            with self._write() as cursor:
                cursor.execute(self.sql(query), (self.time_in(seen_before), _FORGET_CHUNK))
                count = int(cursor.rowcount)
            forgotten += count
            if count < _FORGET_CHUNK:
                return forgotten

    def inbox_fetch(self, limit: int) -> list[InboxMessage]:
        """The oldest pending messages no other worker holds, oldest first, now claimed."""
        now = datetime.now(UTC)
        until = self.time_in(now + timedelta(seconds=CLAIM_SECONDS))
        with self._write() as cursor:
            claim = _CLAIM.format(row_locks=self.claim_row_locks)
            cursor.execute(self.sql(claim), (until, self.time_in(now), limit, self.time_in(now)))
            attempts = dict(cursor.fetchall())
            if not attempts:
                return []
            query = f"SELECT {_INBOX_COLUMNS} FROM inbox WHERE {self._in_list('id')} ORDER BY id"
            cursor.execute(self.sql(query), (self._list_param(list(attempts)),))
            rows = cursor.fetchall()
        times: dict[Any, datetime] = {}
        return [self._inbox_message(row, attempts[row[0]], times) for row in rows]

    def _inbox_message(self, row: Any, attempts: int, times: dict[Any, datetime]) -> InboxMessage:
        # Messages of one batch often share a receive time; convert each one once.
        received_at = times.get(row[3])
        if received_at is None:
            received_at = times[row[3]] = self._time_out(row[3])
        return InboxMessage(
            id=row[0],
            source=row[1],
            message_id=row[2],
            received_at=received_at,
            content_type=row[4],
            body=bytes(row[5]),
            topic=row[6],
            attempts=attempts,
        )

    def inbox_stats(self) -> tuple[int, datetime | None]:
        """Number of pending messages and the receive time of the oldest."""
        count, oldest = self._query("SELECT count(*), min(received_at) FROM inbox")[0]
        return count, None if oldest is None else self._time_out(oldest)

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
        now = self.time_in(datetime.now(UTC))
        history, latest = _RowBuilder(self.time_in).rows(writes, now)
        entities = {w.entity_id: w.entity_type for w in reversed(writes)}
        dead = [self._dead_row(letter, now) for letter in dead_letters]
        added = 0
        with self._write() as cursor:
            if done:
                cursor.execute(
                    self.sql(f"DELETE FROM inbox WHERE {self._in_list('id')}"),
                    (self._list_param(done),),
                )
            if entities:
                cursor.executemany(
                    self.sql(_INSERT_ENTITY), [(i, t, now, now) for i, t in entities.items()]
                )
            if history:
                cursor.executemany(self.sql(_INSERT_HISTORY), history)
                added = cursor.rowcount
            if dead:
                cursor.executemany(self.sql(_INSERT_DEAD), dead)
            if retry:
                cursor.executemany(
                    self.sql("UPDATE inbox_attempts SET claimed_until = ? WHERE id = ?"),
                    [(self.time_in(until), inbox_id) for inbox_id, until in retry],
                )
            if latest:
                cursor.executemany(self.sql(_UPSERT_LATEST), latest)
                self._touch_entities(cursor, list(entities), now)
        return added

    def _touch_entities(self, cursor: Any, entity_ids: list[str], now: Any) -> None:
        # Only entities whose latest value changed in this batch carry this batch's time and
        # change version. The counter is taken last, so its lock is held only to the commit.
        cursor.execute("UPDATE change_counter SET version = version + 1 RETURNING version")
        version = cursor.fetchone()[0]
        query = (
            "UPDATE entities SET modified_at = ?, change_version = ? WHERE id IN (SELECT entity_id "
            f"FROM entity_attributes WHERE {self._in_list('entity_id')} AND modified_at = ?)"
        )
        cursor.execute(self.sql(query), (now, version, self._list_param(entity_ids), now))

    def _dead_row(self, letter: NewDeadLetter, now: Any) -> tuple[Any, ...]:
        return (
            letter.source,
            letter.message_id,
            self.time_in(letter.received_at),
            letter.content_type,
            letter.body,
            letter.topic,
            letter.stage,
            letter.reason,
            now,
        )

    # poll state
    def poll_state(self, key: str) -> dict[str, Any] | None:
        """The state a polling connector saved under ``key`` (its integration id), if any."""
        rows = self._query("SELECT state FROM poll_state WHERE key = ?", [key])
        return _json(rows[0][0]) if rows else None

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
        now = self.time_in(datetime.now(UTC))
        rows = self._inbox_rows(messages)
        ids: list[Appended] = []
        with self._write() as cursor:
            if rows:
                ids = self._append(cursor, rows)
            if dead_letters:
                cursor.executemany(
                    self.sql(_INSERT_DEAD), [self._dead_row(d, now) for d in dead_letters]
                )
            cursor.execute(self.sql(_UPSERT_POLL_STATE), (key, orjson.dumps(state).decode(), now))
        return ids

    # dead letters
    def dead_letters(
        self,
        limit: int = 100,
        source: str | None = None,
        since: datetime | None = None,
        ids: Sequence[int] | None = None,
    ) -> list[DeadLetter]:
        """Stored dead letters, newest first; filtered by ``source``, ``since`` and ``ids``."""
        where, params = self._dead_letter_filter(ids, source, since)
        rows = self._query(
            f"SELECT {_DEAD_COLUMNS} FROM dead_letters {where} "
            "ORDER BY failed_at DESC, id DESC LIMIT ?",
            [*params, limit],
        )
        return [
            DeadLetter(
                id=row[0],
                source=row[1],
                message_id=row[2],
                received_at=self._time_out(row[3]),
                content_type=row[4],
                body=bytes(row[5]),
                topic=row[6],
                stage=row[7],
                reason=row[8],
                failed_at=self._time_out(row[9]),
            )
            for row in rows
        ]

    def replay_dead_letters(
        self,
        ids: Sequence[int] | None = None,
        source: str | None = None,
        since: datetime | None = None,
    ) -> list[InboxMessage]:
        """Move dead letters back into the inbox, claimed by the caller; the inbox messages.

        All of them, or those with the given ids, of ``source``, failed at or after ``since``.
        They bypass duplicate detection: their ids were seen when they first arrived.
        """
        if ids is not None and not ids:
            return []
        where, params = self._dead_letter_filter(ids, source, since)
        query = (
            f"DELETE FROM dead_letters {where} "
            "RETURNING id, source, message_id, received_at, content_type, body, topic"
        )
        now = datetime.now(UTC)
        until = self.time_in(now + timedelta(seconds=CLAIM_SECONDS))
        with self._write() as cursor:
            cursor.execute(self.sql(query), params)
            rows = sorted(cursor.fetchall())
            inbox_ids = self._insert_inbox(cursor, [tuple(row[1:]) for row in rows])
            # Claimed at once, so a running platform leaves them to the replay (and its
            # workspace, which may hold the fix the platform has not read yet).
            cursor.executemany(
                self.sql(
                    "INSERT INTO inbox_attempts (id, attempts, claimed_until) VALUES (?, 1, ?)"
                ),
                [(inbox_id, until) for inbox_id in inbox_ids],
            )
        times: dict[Any, datetime] = {}
        return [
            self._inbox_message((inbox_id, *row[1:]), 1, times)
            for inbox_id, row in zip(inbox_ids, rows, strict=True)
        ]

    def _dead_letter_filter(
        self, ids: Sequence[int] | None, source: str | None, since: datetime | None
    ) -> tuple[str, list[Any]]:
        conditions, params = [], []
        if ids is not None:
            conditions.append(self._in_list("id"))
            params.append(self._list_param(ids))
        if source is not None:
            conditions.append("source = ?")
            params.append(source)
        if since is not None:
            conditions.append("failed_at >= ?")
            params.append(self.time_in(since))
        return (f"WHERE {' AND '.join(conditions)}" if conditions else ""), params

    # context
    def get_entity(self, entity_id: str) -> StoredEntity | None:
        """The latest state of one entity."""
        found = self._entities("e.id = ?", [entity_id])
        return found[0] if found else None

    def entity_json(self, entity_id: str) -> bytes | None:
        """The entity as normalized NGSI-LD JSON, spliced from the stored attribute JSON.

        The stored form is what ``render_entity`` gives by default, so it is not decoded and
        encoded again. None when the entity is unknown, an attribute holds system attributes
        (which the rendered form leaves out) or an attribute has instances with a datasetId
        (rendered as an array): ``get_entity`` and ``render_entity`` answer then.
        """
        rows = self._query(_ENTITY_TEXTS, [entity_id])
        if not rows:
            return None
        entity_type, more_types = rows[0][0], rows[0][1]
        if more_types:
            entity_type = [entity_type, *more_types.split(" ")]
        parts = [b'{"id":', orjson.dumps(entity_id), b',"type":', orjson.dumps(entity_type)]
        for _, _, name, dataset_id, attribute in rows:
            if name is None:
                continue
            if dataset_id:
                return None
            text = _json_bytes(attribute)
            if b'"createdAt"' in text or b'"modifiedAt"' in text:
                return None
            parts += (b",", orjson.dumps(name), b":", text)
        parts.append(b"}")
        return b"".join(parts)

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
        conditions: list[str] = []
        params: list[Any] = []
        if types is not None:
            condition, type_params = self._of_types(types)
            conditions.append(condition)
            params += type_params
        if ids is not None:
            conditions.append(self._in_list("e.id"))
            params.append(self._list_param(ids))
        if id_pattern is not None:
            _check_pattern(id_pattern)
            conditions.append(f"e.id {self.regex_operator} ?")
            params.append(id_pattern)
        if prefilter is not None:
            self._prefilter(prefilter, conditions, params)
        if after is not None:
            conditions.append("e.id > ?")
            params.append(after)
        where = " AND ".join(conditions) or "1 = 1"
        if limit is not None:
            where = f"e.id IN (SELECT e.id FROM entities e WHERE {where} ORDER BY e.id LIMIT ?)"
            params.append(limit)
        narrowed = prefilter is not None or limit is not None
        return self._entities(where, params, planned=narrowed)

    def _of_types(self, types: Sequence[str]) -> tuple[str, list[Any]]:
        """The condition that the entity ``e`` has one of ``types``, with its parameters."""
        # One type: the (type, id) index gives its entities in id order, so a limit stops the
        # scan early instead of sorting every match first. Only when some entity has one of the
        # types as a further type must that index share the query with entity_more_types.
        first = "e.type = ?" if len(types) == 1 else self._in_list("e.type")
        params = [types[0] if len(types) == 1 else self._list_param(types)]
        further = f"SELECT m.entity_id FROM entity_more_types m WHERE {self._in_list('m.type')}"
        if not self._query(f"{further} LIMIT 1", [self._list_param(types)]):
            return first, params
        return f"({first} OR e.id IN ({further}))", [*params, self._list_param(types)]

    def _prefilter(self, prefilter: Prefilter, conditions: list[str], params: list[Any]) -> None:
        """Add the prefilter's conditions on the entity ``e``."""
        instance = "SELECT 1 FROM entity_attributes a WHERE a.entity_id = e.id AND "
        if prefilter.names is not None:
            conditions.append(f"EXISTS ({instance}{self._in_list('a.name')})")
            params.append(self._list_param(sorted(prefilter.names)))
        for test in prefilter.values:
            if test.op in ("exists", "!="):
                conditions.append(f"EXISTS ({instance}a.name = ?)")
                params.append(test.name)
            if test.op == "exists":
                continue
            plain = self.plain_attribute.format("a.attribute")
            is_text = self.plain_is_text.format("a.attribute")
            if isinstance(test.value, str):
                value = self.plain_text.format("a.attribute")
            else:
                is_text, value = f"NOT {is_text}", self.plain_number.format("a.attribute")
            if test.op == "!=":
                conditions.append(
                    f"NOT EXISTS ({instance}a.name = ? AND {plain} AND {is_text} AND {value} = ?)"
                )
            else:
                # An instance SQL cannot compare may match: Python decides.
                conditions.append(
                    f"EXISTS ({instance}a.name = ? AND CASE WHEN {plain} "
                    f"THEN {is_text} AND {value} {_SQL_OPS[test.op]} ? ELSE TRUE END)"
                )
            params += [test.name, test.value]
        if prefilter.area is not None:
            name, box = prefilter.area
            query, area_params = self._area_query(name, box)
            conditions.append(f"e.id IN ({query})")
            params += area_params

    def entity_changes(
        self, types: Sequence[str], after: int | None
    ) -> tuple[int, list[StoredEntity]]:
        """The change version now, and the entities of ``types`` changed after ``after``.

        With ``after`` None, every entity of ``types``. An entity may come again in the next
        answer if it changed while this one was read; none is ever left out. Deleted entities
        are not listed: a reader that must learn of them asks ``entity_delta``.
        """
        delta = self._delta(types, after, removals=False)
        return delta.version, delta.changed

    def entity_delta(self, types: Sequence[str], after: int | None) -> EntityDelta:
        """As ``entity_changes``, and the ids of the entities of ``types`` removed after ``after``.

        With ``after`` None, every entity of ``types`` and no removals.
        """
        return self._delta(types, after, removals=after is not None)

    def _delta(self, types: Sequence[str], after: int | None, removals: bool) -> EntityDelta:
        # Version first, then removals, then entities: a change committed in between comes
        # again next time, and an entity removed and created again is in ``changed``.
        [(version,)] = self._query("SELECT version FROM change_counter")
        of_types, params = self._of_types(types)
        removed: list[str] = []
        if removals:
            removed = [
                row[0]
                for row in self._query(
                    "SELECT DISTINCT r.entity_id FROM entity_removals r "
                    f"WHERE {self._in_list('r.type')} AND r.version > ? AND NOT EXISTS "
                    f"(SELECT 1 FROM entities e WHERE e.id = r.entity_id AND {of_types}) "
                    "ORDER BY r.entity_id",
                    [self._list_param(types), after, *params],
                )
            ]
        if after is not None:
            of_types += " AND e.change_version > ?"
            params.append(after)
        return EntityDelta(int(version), self._entities(of_types, params), removed)

    def count_changes(self, types: Sequence[str], after: int, limit: int) -> int:
        """How many entities of ``types`` changed or were removed after version ``after``,
        counted to ``limit``."""
        of_types, params = self._of_types(types)
        rows = self._query(
            "SELECT count(*) FROM (SELECT 1 FROM entities e "
            f"WHERE {of_types} AND e.change_version > ? UNION ALL SELECT 1 FROM "
            f"entity_removals WHERE {self._in_list('type')} AND version > ? LIMIT ?) AS changed",
            [*params, after, self._list_param(types), after, limit],
        )
        return int(rows[0][0])

    def count_related(
        self, entity_type: str, relationship: str, targets: Sequence[str], attribute: str
    ) -> list[RelatedCount]:
        """Per target and value of ``attribute``: how many entities of ``entity_type`` point at
        the target with Relationship ``relationship``, and their newest ``attribute`` time."""
        target = self.relationship_object.format("r.attribute")
        value = self.property_value.format("s.attribute")
        of_type, params = self._of_types([entity_type])
        rows = self._query(
            f"SELECT {target}, {value}, count(*), max(s.observed_at) "
            "FROM entity_attributes r "
            f"JOIN entities e ON e.id = r.entity_id AND {of_type} "
            "JOIN entity_attributes s ON s.entity_id = r.entity_id AND s.name = ? "
            "AND s.dataset_id = '' "
            f"WHERE r.name = ? AND r.dataset_id = '' AND {self._in_list(target)} "
            f"GROUP BY {target}, {value}",
            [*params, attribute, relationship, self._list_param(targets)],
        )
        return [
            RelatedCount(
                parent, str(state), int(count), None if newest is None else self._time_out(newest)
            )
            for parent, state, count, newest in rows
            if state is not None
        ]

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
        if not changes:
            return {}
        ids = list(changes)
        moment = datetime.now(UTC)
        now = self.time_in(moment)
        with self._write() as cursor:
            self._lock_entities(cursor, ids)
            current = {entity.id: entity for entity in self._entities_by_id(ids)}
            plan = _ChangePlan(self.time_in, deleted_at=moment)
            for entity_id, compute in changes.items():
                change = compute(current.get(entity_id))
                if change is not None:
                    plan.add(entity_id, current.get(entity_id), change)
            if not plan.touched and not plan.deleted:
                return {entity_id: current.get(entity_id) for entity_id in ids}
            self._apply(cursor, plan, now)
            after = {entity.id: entity for entity in self._entities_by_id(ids)}
        return {entity_id: after.get(entity_id) for entity_id in ids}

    def _entities_by_id(self, ids: Sequence[str]) -> list[StoredEntity]:
        return self._entities(self._in_list("e.id"), [self._list_param(ids)])

    def _apply(self, cursor: Any, plan: _ChangePlan, now: Any) -> None:
        # Locks in commit_batch's order (attribute rows, counter, entity rows), so the two never
        # wait for each other in a cycle: entity deletes come first, before any attribute row
        # is held; retypes and times come after the counter.
        if plan.deleted:
            query = f"DELETE FROM entities WHERE {self._in_list('id')}"
            cursor.execute(self.sql(query), (self._list_param(plan.deleted),))
        if plan.created:
            cursor.executemany(
                self.sql(_CREATE_ENTITY), [(i, t, more, now, now) for i, t, more in plan.created]
            )
        if plan.cleared:
            query = f"DELETE FROM entity_attributes WHERE {self._in_list('entity_id')}"
            cursor.execute(self.sql(query), (self._list_param(plan.cleared),))
        if plan.dropped:
            cursor.executemany(self.sql(_DROP_INSTANCE), plan.dropped)
        if plan.latest:
            rows = [(*key, observed, text, now) for key, (observed, text) in plan.latest.items()]
            cursor.executemany(self.sql(_PUT_LATEST), rows)
        if plan.history:
            cursor.executemany(self.sql(_PUT_HISTORY), plan.history)
        cursor.execute("UPDATE change_counter SET version = version + 1 RETURNING version")
        version = cursor.fetchone()[0]
        if plan.retyped:
            cursor.executemany(self.sql(_RETYPE), plan.retyped)
        if plan.more_typed:
            query = f"DELETE FROM entity_more_types WHERE {self._in_list('entity_id')}"
            cursor.execute(self.sql(query), (self._list_param(list(plan.more_typed)),))
            typed = [(i, t) for i, more in plan.more_typed.items() for t in more]
            cursor.executemany(self.sql(_ADD_MORE_TYPE), typed)
        if plan.touched:
            query = (
                "UPDATE entities SET modified_at = ?, change_version = ? "
                f"WHERE {self._in_list('id')}"
            )
            cursor.execute(self.sql(query), (now, version, self._list_param(plan.touched)))
        if plan.revived:
            cursor.executemany(self.sql(_FORGET_REMOVAL), plan.revived)
        if plan.removed:
            removals = [(entity_id, old, version) for entity_id, old in plan.removed]
            cursor.executemany(self.sql(_ADD_REMOVAL), removals)

    def entity_types(self, hidden: Sequence[str] = ()) -> dict[str, int]:
        """Entity type → number of entities, counting none that has a type in ``hidden``."""
        where, params = self._type_rows_where(None, hidden)
        rows = self._query(
            f"SELECT t.type, count(*) FROM {_ENTITY_TYPE_ROWS} t {where} "
            "GROUP BY t.type ORDER BY t.type",
            params,
        )
        return {entity_type: int(count) for entity_type, count in rows}

    def attribute_names(
        self, types: Sequence[str] | None = None, hidden: Sequence[str] = ()
    ) -> dict[str, dict[str, int]]:
        """Attribute name → {entity type → number of entities having it} (over types, or all;
        counting no entity that has a type in ``hidden``)."""
        where, params = self._type_rows_where(types, hidden)
        # DISTINCT: an entity with several instances (datasets) of an attribute counts once.
        rows = self._query(
            "SELECT a.name, t.type, count(DISTINCT a.entity_id) FROM entity_attributes a "
            f"JOIN {_ENTITY_TYPE_ROWS} t ON t.id = a.entity_id {where} "
            "GROUP BY a.name, t.type ORDER BY a.name, t.type",
            params,
        )
        names: dict[str, dict[str, int]] = {}
        for name, entity_type, count in rows:
            names.setdefault(name, {})[entity_type] = int(count)
        return names

    def attribute_kinds(
        self, types: Sequence[str] | None = None, hidden: Sequence[str] = ()
    ) -> dict[str, list[str]]:
        """Attribute name → the NGSI-LD attribute types it has (Property, Relationship ...),
        over the entities of ``types`` (or all) that have no type in ``hidden``."""
        where, params = self._type_rows_where(types, hidden)
        kind = self.attribute_type.format("a.attribute")
        rows = self._query(
            f"SELECT DISTINCT a.name, {kind} FROM entity_attributes a "
            f"JOIN {_ENTITY_TYPE_ROWS} t ON t.id = a.entity_id {where} ORDER BY a.name, {kind}",
            params,
        )
        kinds: dict[str, list[str]] = {}
        for name, attribute_type in rows:
            kinds.setdefault(name, []).append(str(attribute_type or "Property"))
        return kinds

    def _type_rows_where(
        self, types: Sequence[str] | None, hidden: Sequence[str]
    ) -> tuple[str, list[Any]]:
        """WHERE for the type rows ``t``: of ``types`` (or any), of no entity with a type in
        ``hidden``."""
        conditions: list[str] = []
        params: list[Any] = []
        if types is not None:
            conditions.append(self._in_list("t.type"))
            params.append(self._list_param(types))
        if hidden:
            conditions.append(
                "NOT EXISTS (SELECT 1 FROM entities h WHERE h.id = t.id AND "
                f"{self._in_list('h.type')}) AND NOT EXISTS (SELECT 1 FROM entity_more_types m "
                f"WHERE m.entity_id = t.id AND {self._in_list('m.type')})"
            )
            params += [self._list_param(hidden), self._list_param(hidden)]
        return (f"WHERE {' AND '.join(conditions)}" if conditions else ""), params

    def _entities(
        self, where: str, params: list[Any], *, planned: bool = False
    ) -> list[StoredEntity]:
        """The entities ``where`` selects; ``planned``: planned for these very parameters."""
        query = self._query_planned if planned else self._query
        rows = query(
            "SELECT e.id, e.type, e.more_types, e.created_at, e.modified_at, a.name, a.dataset_id, "
            "a.attribute FROM entities e LEFT JOIN entity_attributes a ON a.entity_id = e.id "
            f"WHERE {where} ORDER BY e.id, a.name, a.dataset_id",
            params,
        )
        entities: dict[str, StoredEntity] = {}
        # Entities written by one batch share its times: convert each distinct one once.
        times: dict[Any, datetime] = {}
        for row in rows:
            entity_id, entity_type, more_types, created_at, modified_at = row[:5]
            name, dataset_id, attribute = row[5:]
            entity = entities.get(entity_id)
            if entity is None:
                created = times.get(created_at)
                if created is None:
                    created = times[created_at] = self._time_out(created_at)
                modified = times.get(modified_at)
                if modified is None:
                    modified = times[modified_at] = self._time_out(modified_at)
                more = tuple(more_types.split(" ")) if more_types else ()
                entity = StoredEntity(entity_id, entity_type, {}, created, modified, {}, more)
                entities[entity_id] = entity
            if name is None:
                continue
            if dataset_id:
                entity.datasets.setdefault(name, {})[dataset_id] = _json(attribute)
            else:
                entity.attributes[name] = _json(attribute)
        return list(entities.values())

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
        conditions = ["entity_id = ?", LIVE_ROW]
        params: list[Any] = [entity_id]
        if attrs is not None:
            conditions.append(self._in_list("name"))
            params.append(self._list_param(attrs))
        if time_from is not None:
            conditions.append("observed_at >= ?")
            params.append(self.time_in(time_from))
        if time_to is not None:
            conditions.append("observed_at < ?")
            params.append(self.time_in(time_to))
        where = " AND ".join(conditions)
        query = f"SELECT {_HISTORY_COLUMNS} FROM attribute_history WHERE {where}"
        if last_n is not None:
            query = (
                f"SELECT {_HISTORY_COLUMNS} FROM (SELECT {_HISTORY_COLUMNS}, row_number() "
                "OVER (PARTITION BY name ORDER BY observed_at DESC, dataset_id DESC) AS newness "
                f"FROM attribute_history WHERE {where}) ranked WHERE newness <= ?"
            )
            params.append(last_n)
        result: dict[str, list[AttributeInstance]] = {}
        for row in self._query(query + " ORDER BY name, observed_at, dataset_id", params):
            result.setdefault(row[0], []).append(self._instance(row))
        return result

    def unchanged_since(
        self, entity_id: str, name: str, value: Any, before: datetime, horizon: datetime
    ) -> datetime | None:
        """Since when ``name`` has had ``value``, as its history observed before ``before`` says.

        The time of the first instance of the unbroken run of ``value`` that ends with the newest
        instance before ``before``; None when that instance has another value or there is none.
        The run is followed back no further than the newest instance observed before ``horizon``.
        """
        since: datetime | None = None
        until, page = self.time_in(before), 4
        # Newest first, in growing pages: a value that changes is answered by its first rows.
        while True:
            rows = self._query(_NEWEST_BEFORE, [entity_id, name, until, page])
            for observed, attribute in rows:
                if _json(attribute).get("value") != value:
                    return since
                since = self._time_out(observed)
                if since < horizon:
                    return since
            if len(rows) < page:
                return since
            until, page = rows[-1][0], min(page * 4, 1000)

    def _instance(self, row: Any) -> AttributeInstance:
        _, observed_at, attribute, integration, source_message_id, received_at, _ = row
        provenance = None
        if integration is not None:
            provenance = Provenance(integration, source_message_id, self._time_out(received_at))
        return AttributeInstance(_json(attribute), self._time_out(observed_at), provenance)


class _RowBuilder:
    """Database rows for one batch of writes; receive times repeat, so they are converted once."""

    def __init__(self, time_in: Callable[[datetime], Any]) -> None:
        self._time_in = time_in
        self._provenance: dict[Provenance, tuple[Any, dict[str, Any]]] = {}

    def rows(
        self, writes: Sequence[AttributeWrite], now: Any
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """History rows for every observed write; latest rows only for the winners."""
        winners = _latest_indexes(writes)
        history = [self.row(w) for w in writes if w.observed_at is not None and w.history]
        latest = [(*self.row(writes[i]), now) for i in winners]
        return history, latest

    def row(self, write: AttributeWrite) -> tuple[Any, ...]:
        """(entity_id, name, observed_at, attribute JSON, integration, message id, received_at)."""
        observed = None if write.observed_at is None else self._time_in(write.observed_at)
        provenance = write.provenance
        if provenance is None:
            attribute = orjson.dumps(write.attribute).decode()
            return (write.entity_id, write.name, observed, attribute, None, None, None)
        # A message's writes share one provenance; build its column value and JSON once.
        cached = self._provenance.get(provenance)
        if cached is None:
            received = self._time_in(provenance.received_at)
            cached = self._provenance[provenance] = (received, provenance_property(provenance))
        attribute = orjson.dumps({**write.attribute, "provenance": cached[1]}).decode()
        return (
            write.entity_id,
            write.name,
            observed,
            attribute,
            provenance.integration,
            provenance.source_message_id,
            cached[0],
        )


class _ChangePlan:
    """The rows one ``change_entities`` call writes, gathered from its entities' changes."""

    def __init__(
        self, time_in: Callable[[datetime], Any], deleted_at: datetime | None = None
    ) -> None:
        self._time_in = time_in
        self._deleted_at = deleted_at
        """When given, each instance ``delete`` removes leaves the history a record of it then."""
        self.deleted: list[str] = []
        self.created: list[tuple[str, str, str | None]] = []
        """(id, type, further types or None)."""
        self.retyped: list[tuple[str, str | None, str]] = []
        """(new type, new further types or None, id)."""
        self.more_typed: dict[str, tuple[str, ...]] = {}
        """id → further types, for the entities whose entity_more_types rows are rewritten."""
        self.cleared: list[str] = []
        self.dropped: list[tuple[str, str, str]] = []
        """(id, name, dataset id) of the instances to remove."""
        self.latest: dict[tuple[str, str, str], tuple[Any, str]] = {}
        """(id, name, dataset id) → (observed_at, attribute JSON); the last put of each wins."""
        self.history: list[tuple[Any, ...]] = []
        self.touched: list[str] = []
        self.removed: list[tuple[str, str]] = []
        """(id, type) an entity is no longer of."""
        self.revived: list[tuple[str, str]] = []
        """(id, type) an entity is of again, so its removal is forgotten."""

    def add(self, entity_id: str, current: StoredEntity | None, change: EntityChange) -> None:
        """Gather the rows of one entity's change."""
        if change.delete_entity:
            if current is not None:
                self.deleted.append(entity_id)
                self.removed += [(entity_id, old) for old in current.types]
            return
        if current is None:
            if change.type is None:
                raise ValueError(f"entity {entity_id} does not exist; creating it needs a type")
            first, *more = as_types(change.type)
            self.created.append((entity_id, first, " ".join(more) or None))
            self.revived += [(entity_id, new) for new in (first, *more)]
            if more:
                self.more_typed[entity_id] = tuple(more)
        elif change.type is not None and as_types(change.type) != current.types:
            first, *more = types = as_types(change.type)
            self.retyped.append((first, " ".join(more) or None, entity_id))
            self.removed += [(entity_id, old) for old in current.types if old not in types]
            self.revived += [(entity_id, new) for new in types if new not in current.types]
            if more or current.more_types:
                self.more_typed[entity_id] = tuple(more)
        if change.clear and current is not None:
            self.cleared.append(entity_id)
        for name, dataset_id in change.delete:
            self.dropped.append((entity_id, name, dataset_id or ""))
            gone = None if current is None else latest_instance(current, name, dataset_id or "")
            if gone is not None and self._deleted_at is not None:
                record = orjson.dumps(deletion_record(name, gone, self._deleted_at)).decode()
                when = self._time_in(self._deleted_at)
                self.history.append((entity_id, name, dataset_id or "", when, record))
        for name, instance in change.put:
            key = (entity_id, name, _dataset_id(name, instance))
            observed = _observed_at(name, instance)
            stored = None if observed is None else self._time_in(observed)
            text = orjson.dumps(instance).decode()
            self.latest[key] = (stored, text)
            if stored is not None:
                self.history.append((*key, stored, text))
        self.touched.append(entity_id)


def _dataset_id(name: str, instance: dict[str, Any]) -> str:
    """The instance's datasetId, '' for the default instance."""
    dataset_id = instance.get("datasetId")
    if dataset_id is None:
        return ""
    if not isinstance(dataset_id, str) or not dataset_id:
        raise ValueError(f"attribute {name}: datasetId must be a URI, not {dataset_id!r}")
    return dataset_id


def _observed_at(name: str, instance: dict[str, Any]) -> datetime | None:
    text = instance.get("observedAt")
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError) as error:
        raise ValueError(f"attribute {name}: observedAt {text!r} is not a date-time") from error
    # NGSI-LD gives times in UTC; one without an offset is read as UTC, not as local time.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def check_tenant(name: str) -> str:
    """The tenant name, if it is 1 to 64 of ``A-Z a-z 0-9 _ -``; otherwise a ValueError."""
    if not isinstance(name, str) or TENANT_NAME.fullmatch(name) is None:
        raise ValueError(
            f"invalid tenant {name!r}: a tenant is 1 to 64 letters, digits, '_' or '-'"
        )
    return name


def message_digest(body: bytes) -> bytes:
    """What tells two bodies under one message id apart: 16 bytes of their SHA-256."""
    return hashlib.sha256(body).digest()[:16]


def _conflict_reason(message_id: str, first_seen: datetime) -> str:
    return (
        f"conflict: message id {message_id} was first received at {format_time(first_seen)} "
        "with other content; that one was processed, this one is kept here. If the sender "
        "reuses ids, compare both (`stadsnav deadletters show`); replay this one only if its "
        "content should count too"
    )


def utc(value: datetime) -> datetime:
    """The datetime in UTC; naive datetimes are refused, their zone is unknown."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()}: give a timezone")
    return value.astimezone(UTC)


def _latest_indexes(writes: Sequence[AttributeWrite]) -> list[int]:
    """Per (entity, attribute), the index of the write that ends up latest, applied in order."""
    winners: dict[tuple[str, str], int] = {}
    for index, write in enumerate(writes):
        key = (write.entity_id, write.name)
        current = winners.get(key)
        if current is not None:
            # An observation older than the current winner loses; writes without a time win.
            new, old = write.observed_at, writes[current].observed_at
            if new is not None and old is not None and new < old:
                continue
        winners[key] = index
    return sorted(winners.values())


def _check_pattern(pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as error:
        raise ValueError(f"invalid idPattern {pattern!r}: {error}") from error


def _json_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes):
        return value
    return orjson.dumps(value)


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, str | bytes):
        loaded: dict[str, Any] = orjson.loads(value)
        return loaded
    return dict(value)
