"""The temporal API's store methods: instances by id, aggregation in SQL (GS CIM 009, 5.6.11-16).

History rows are keyed on (entity, attribute, observedAt, datasetId). An instance's id is derived
from that key and can be read back: ``urn:ngsi-ld:instance:<series hash>:<µs since 1970>``, so a
lookup by id is one index probe. An instance moved to another observedAt keeps its id in its
stored JSON (``instanceId``), where a lookup that misses the probe finds it.

Deleting an attribute instance through the core API leaves a history row recording the deletion
(GS CIM 009, 4.5.7 and 5.7.3 with ``timeproperty=deletedAt``): keyed on the deletion time, its
value ``urn:ngsi-ld:null`` and its JSON carrying ``deletedAt``. Every read but
``temporal_instances`` leaves these records out (``LIVE_ROW``); that one returns them, ranked
apart from the instances, for the temporal API to tell them apart.
"""

from __future__ import annotations

import hashlib
import re
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from stadsnav.model.aggregation import (
    Bucket,
    Period,
    epoch_micros,
    from_epoch_micros,
)
from stadsnav.model.attributes import VALUE_KEYS, null_value
from stadsnav.model.entity import AttributeInstance, Provenance, StoredEntity, added_types
from stadsnav.model.render import SCOPE
from stadsnav.store.base import EntityChange, EntityCheck
from stadsnav.store.sql_hooks import SqlHooks

INSTANCE_PREFIX: Final = "urn:ngsi-ld:instance:"
_INSTANCE_ID = re.compile(r"urn:ngsi-ld:instance:([0-9a-f]{16}):(-?\d{1,20})")
MAX_CALENDAR_PERIODS: Final = 5000
"""Most month- or year-long periods one aggregation may span (SQLite takes 32,766 parameters
a statement; each period is four)."""

_COLUMNS = (
    "entity_id, name, dataset_id, observed_at, attribute, integration, source_message_id, "
    "received_at"
)
_ADD_HISTORY = (
    "INSERT INTO attribute_history (entity_id, name, dataset_id, observed_at, attribute) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (entity_id, name, observed_at, dataset_id) "
    "DO UPDATE SET attribute = excluded.attribute, integration = NULL, "
    "source_message_id = NULL, received_at = NULL"
)
_SERIES = "entity_id = ? AND name = ? AND dataset_id = ?"
_LIVE = "({}attribute -> 'deletedAt') IS NULL"
LIVE_ROW: Final = _LIVE.format("")
"""SQL: the history row is an instance, not the record of a deletion (SQLite and PostgreSQL)."""


@dataclass(frozen=True, slots=True)
class _Dialect:
    micros: str
    """Microseconds since 1970 of the stored time ``{}``."""
    value: str
    """The instance's value (whatever member holds it) as JSON, comparable for DISTINCT."""
    number: str
    """The value ``p.j`` as a number where it is a JSON number, else NULL."""
    stored_id: str
    """A condition: the stored JSON carries the instanceId given as the parameter."""
    fence: str
    """Ends a subquery so that it is not merged into the query around it."""


_VALUE_MEMBERS = tuple(dict.fromkeys(VALUE_KEYS.values()))
# The aggregation reads every instance of a month: each JSON function is a parse of the row, so
# the value is extracted once (as JSON text) and tested for being a number by its first byte; the
# subqueries are fenced, as a merged one would repeat that parse for every use of the number.
_DIALECTS: Final = {
    # Stored times are fixed-width ISO text: whole seconds from unixepoch, then the six digits.
    "sqlite": _Dialect(
        micros="(unixepoch({0}) * 1000000 + CAST(substr({0}, 21, 6) AS INTEGER))",
        value="coalesce(" + ", ".join(f"h.attribute -> '$.{key}'" for key in _VALUE_MEMBERS) + ")",
        number="CASE WHEN p.j GLOB '[0-9-]*' THEN CAST(p.j AS REAL) END",
        stored_id="instr(attribute, ?) > 0",
        fence="LIMIT -1",
    ),
    "postgres": _Dialect(
        micros="(extract(epoch FROM {0}) * 1000000)::bigint",
        value="coalesce(" + ", ".join(f"h.attribute->'{key}'" for key in _VALUE_MEMBERS) + ")",
        number="CASE WHEN jsonb_typeof(p.j) = 'number' THEN p.j::float8 END",
        stored_id="attribute->>'instanceId' = ?",
        fence="OFFSET 0",
    ),
}


def instance_id(entity_id: str, name: str, dataset_id: str, observed_at: datetime) -> str:
    """The id of the instance of (entity, attribute, dataset) observed at ``observed_at``."""
    series = hashlib.blake2b(f"{entity_id}|{name}|{dataset_id}".encode(), digest_size=8)
    return f"{INSTANCE_PREFIX}{series.hexdigest()}:{epoch_micros(observed_at)}"


def instance_time(text: str) -> datetime | None:
    """The observation time an instance id was derived from; None if it was not derived."""
    match = _INSTANCE_ID.fullmatch(text)
    if match is None:
        return None
    try:
        return from_epoch_micros(int(match.group(2)))
    except OverflowError:
        return None


def stored_instance_id(
    entity_id: str, name: str, dataset_id: str, observed_at: datetime, attribute: Mapping[str, Any]
) -> str:
    """The id of a stored instance: the one it kept when moved, or the one its key gives."""
    kept = attribute.get("instanceId")
    if isinstance(kept, str):
        return kept
    return instance_id(entity_id, name, dataset_id, observed_at)


def observed_time(instance: Mapping[str, Any]) -> datetime | None:
    """An instance's observedAt as a UTC datetime (None when it has none)."""
    text = instance.get("observedAt")
    if not isinstance(text, str):
        return None
    moment = datetime.fromisoformat(text)
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def dataset_of(instance: Mapping[str, Any]) -> str:
    """The instance's datasetId, '' for the default instance."""
    dataset_id = instance.get("datasetId")
    return dataset_id if isinstance(dataset_id, str) else ""


def deletion_record(name: str, instance: Mapping[str, Any], deleted_at: datetime) -> dict[str, Any]:
    """The history instance recording that ``instance`` of ``name`` was deleted at ``deleted_at``.

    Its value is the null of its type (``urn:ngsi-ld:null``; no scopes, ``[]``, for ``scope``).
    """
    kind = str(instance.get("type", "Property"))
    value = [] if name == SCOPE else null_value(kind)
    record = {"type": kind, VALUE_KEYS.get(kind, "value"): value, "deletedAt": _text(deleted_at)}
    if dataset_of(instance):
        record["datasetId"] = dataset_of(instance)
    return record


def latest_instance(entity: StoredEntity, name: str, dataset_id: str) -> dict[str, Any] | None:
    """The entity's current instance of an attribute for one dataset ('' the default)."""
    if dataset_id:
        return entity.datasets.get(name, {}).get(dataset_id)
    return entity.attributes.get(name)


class TemporalRows(SqlHooks):
    """SqlStore methods for the temporal API; SqlStore inherits them."""

    @abstractmethod
    def _lock_entities(self, cursor: Any, entity_ids: Sequence[str]) -> None:
        """Keep other writers of these entities off until the commit."""

    @abstractmethod
    def _entities_by_id(self, ids: Sequence[str]) -> list[StoredEntity]:
        """The entities with these ids."""

    @abstractmethod
    def _apply(self, cursor: Any, plan: Any, now: Any) -> None:
        """Write a change plan (entities, latest instances, change versions)."""

    # reading
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
        ``newest`` the newest. The records of deletions (with "deletedAt", at the deletion
        time) come too, each series' ranked apart from its instances.
        """
        if not entity_ids:
            return {}
        where, params = self._window(entity_ids, attrs, time_from, time_to)
        query = f"SELECT {_COLUMNS} FROM attribute_history WHERE {where}"
        if per_series is not None:
            order = "DESC" if newest else "ASC"
            query = (
                f"SELECT {_COLUMNS} FROM (SELECT {_COLUMNS}, row_number() OVER (PARTITION BY "
                f"entity_id, name, dataset_id, {LIVE_ROW} ORDER BY observed_at {order}) "
                "AS position "
                f"FROM attribute_history WHERE {where}) ranked WHERE position <= ?"
            )
            params.append(per_series)
        result: dict[str, dict[str, list[AttributeInstance]]] = {}
        rows = self._query(query + " ORDER BY entity_id, name, observed_at, dataset_id", params)
        for row in rows:
            instance = self._temporal_instance(row)
            result.setdefault(row[0], {}).setdefault(row[1], []).append(instance)
        return result

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
        are not counted (0), which saves a sort per period. Records of deletions do not count.
        """
        if not entity_ids:
            return []
        dialect = _DIALECTS[self.dialect]
        where, params = self._window(entity_ids, attrs, time_from, time_to, live=True)
        extents = self._query(
            f"SELECT entity_id, {dialect.micros.format('min(observed_at)')}, "
            f"{dialect.micros.format('max(observed_at)')} FROM attribute_history "
            f"WHERE {where} GROUP BY entity_id",
            params,
        )
        if not extents:
            return []
        newest = {entity_id: int(last) for entity_id, _, last in extents}
        origins: dict[int, list[str]] = {}
        for entity_id, first, _ in extents:
            origin = int(first) if time_from is None else epoch_micros(time_from)
            origins.setdefault(origin, []).append(entity_id)
        end = None if time_to is None else epoch_micros(time_to)
        unique = "count(DISTINCT j)" if distinct else "0"
        figures = f"count(*), {unique}, count(x), sum(x), sum(x * x), min(x), max(x)"
        buckets: list[Bucket] = []
        # One query per origin: without time_from each entity's periods start at its own.
        for origin, ids in origins.items():
            where, params = self._window(ids, attrs, time_from, time_to, "h.", live=True)
            valued = (
                f"(SELECT entity_id, name, dataset_id, t, j, {dialect.number} AS x FROM "
                f"(SELECT h.entity_id, h.name, h.dataset_id, "
                f"{dialect.micros.format('h.observed_at')} AS t, {dialect.value} AS j "
                f"FROM attribute_history h WHERE {where} {dialect.fence}) p {dialect.fence}) v"
            )
            if period.months:
                bounds = _calendar_bounds(ids, origin, newest, period)
                buckets += self._calendar_buckets(valued, figures, params, bounds)
                continue
            bucket = "0" if period.whole else f"(t - CAST(? AS BIGINT)) / {int(period.micros)}"
            rows = self._query(
                f"SELECT entity_id, name, dataset_id, {bucket} AS bucket, {figures} "
                f"FROM {valued} GROUP BY entity_id, name, dataset_id, bucket",
                params if period.whole else [origin, *params],
            )
            for entity_id, name, dataset_id, index, *sums in rows:
                if period.whole:
                    low, high = origin, end if end is not None else newest[entity_id]
                else:
                    low = origin + int(index) * period.micros
                    high = low + period.micros
                buckets.append(_bucket(entity_id, name, dataset_id, low, high, sums))
        return buckets

    def _calendar_buckets(
        self,
        valued: str,
        figures: str,
        params: list[Any],
        bounds: list[tuple[str, int, int]],
    ) -> list[Bucket]:
        """Periods of months or years: their bounds joined to the instances."""
        if not bounds:
            return []
        values = ", ".join(["(?, ?, ?)"] * len(bounds))
        rows = self._query(
            f"WITH bounds (bound_entity, low, high) AS (VALUES {values}) "
            f"SELECT entity_id, name, dataset_id, low, high, {figures} FROM {valued} "
            "JOIN bounds ON bound_entity = entity_id AND t >= low AND t < high "
            "GROUP BY entity_id, name, dataset_id, low, high",
            [*(value for bound in bounds for value in bound), *params],
        )
        return [
            _bucket(entity_id, name, dataset_id, int(low), int(high), sums)
            for entity_id, name, dataset_id, low, high, *sums in rows
        ]

    def _window(
        self,
        entity_ids: Sequence[str],
        attrs: Sequence[str] | None,
        time_from: datetime | None,
        time_to: datetime | None,
        prefix: str = "",
        *,
        live: bool = False,
    ) -> tuple[str, list[Any]]:
        """The conditions of the rows in the window; ``live``: instances only, no deletions."""
        conditions: list[str] = [_LIVE.format(prefix)] if live else []
        params: list[Any] = []
        for column, values in (("entity_id", entity_ids), ("name", attrs)):
            if values is None:
                continue
            # One value as an equality: an IN list costs SQLite a lookup for every row read.
            if len(values) == 1:
                conditions.append(f"{prefix}{column} = ?")
                params.append(values[0])
            else:
                conditions.append(self._in_list(f"{prefix}{column}"))
                params.append(self._list_param(values))
        if time_from is not None:
            conditions.append(f"{prefix}observed_at >= ?")
            params.append(self.time_in(time_from))
        if time_to is not None:
            conditions.append(f"{prefix}observed_at < ?")
            params.append(self.time_in(time_to))
        return " AND ".join(conditions), params

    def _temporal_instance(self, row: Sequence[Any]) -> AttributeInstance:
        _, _, dataset_id, observed_at, attribute, integration, message_id, received_at = row
        loaded = _json(attribute)
        if dataset_id and "datasetId" not in loaded:
            loaded["datasetId"] = dataset_id
        provenance = None
        if integration is not None:
            provenance = Provenance(integration, message_id, self._time_out(received_at))
        return AttributeInstance(loaded, self._time_out(observed_at), provenance)

    # writing
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
        from stadsnav.store.sql import _ChangePlan

        with self._write() as cursor:
            current = self._locked(cursor, entity_id, check)
            if current is None and not create:
                return None
            if current is None and entity_type is None:
                raise ValueError(f"entity {entity_id} does not exist; creating it needs a type")
            types = entity_type
            if current is not None and entity_type is not None:
                types = added_types(current, entity_type)
            latest, history = _split_latest(current, instances)
            plan = _ChangePlan(self.time_in)
            change = EntityChange(type=types, put=latest)
            plan.add(entity_id, current, change)
            self._apply(cursor, plan, self.time_in(datetime.now(UTC)))
            rows = [
                (
                    entity_id,
                    name,
                    dataset_of(instance),
                    self.time_in(moment),
                    orjson.dumps(instance).decode(),
                )
                for name, instance, moment in history
            ]
            if rows:
                cursor.executemany(self.sql(_ADD_HISTORY), rows)
        return current is None

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
        from stadsnav.store.sql import _ChangePlan

        with self._write() as cursor:
            current = self._locked(cursor, entity_id, check)
            if current is None:
                return None
            conditions, params = "entity_id = ? AND name = ?", [entity_id, name]
            if not delete_all:
                conditions += " AND dataset_id = ?"
                params.append(dataset_id or "")
            cursor.execute(self.sql(f"DELETE FROM attribute_history WHERE {conditions}"), params)
            deleted = int(cursor.rowcount)
            datasets = [""] if name in current.attributes else []
            datasets += list(current.datasets.get(name, {}))
            if not delete_all:
                datasets = [d for d in datasets if d == (dataset_id or "")]
            if not deleted and not datasets:
                return False
            if datasets:
                plan = _ChangePlan(self.time_in)
                change = EntityChange(delete=[(name, d or None) for d in datasets])
                plan.add(entity_id, current, change)
                self._apply(cursor, plan, self.time_in(datetime.now(UTC)))
        return True

    def delete_instance(
        self, entity_id: str, name: str, instance: str, check: EntityCheck | None = None
    ) -> bool | None:
        """Delete one instance by its instanceId; False when there is none, None when the
        entity does not exist. When it was the current value, the newest one left takes over.
        ``check`` as for ``add_instances``."""
        return self._change_instance(entity_id, name, instance, None, check)

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
        return self._change_instance(entity_id, name, instance, change, check)

    def _change_instance(
        self,
        entity_id: str,
        name: str,
        instance: str,
        change: Callable[[dict[str, Any]], dict[str, Any]] | None,
        check: EntityCheck | None,
    ) -> bool | None:
        from stadsnav.store.sql import _ChangePlan

        with self._write() as cursor:
            current = self._locked(cursor, entity_id, check)
            if current is None:
                return None
            found = self._find_instance(cursor, entity_id, name, instance)
            if found is None:
                return False
            dataset_id, stored_at, attribute = found
            if change is not None and "deletedAt" in attribute:
                return False  # the record of a deletion can be deleted, not modified
            old_time = self._time_out(stored_at)
            cursor.execute(
                self.sql(f"DELETE FROM attribute_history WHERE {_SERIES} AND observed_at = ?"),
                (entity_id, name, dataset_id, stored_at),
            )
            new_time, row = None, None
            if change is not None:
                replaced = change(attribute)
                new_time = observed_time(replaced) or old_time
                replaced["observedAt"] = _text(new_time)
                if dataset_id:
                    replaced["datasetId"] = dataset_id
                else:
                    replaced.pop("datasetId", None)
                if new_time != old_time:
                    replaced["instanceId"] = instance
                text = orjson.dumps(replaced).decode()
                row = (entity_id, name, dataset_id, self.time_in(new_time), text)
                cursor.execute(self.sql(_ADD_HISTORY), row)
            latest = latest_instance(current, name, dataset_id)
            latest_time = None if latest is None else observed_time(latest)
            moved = latest_time is not None and (
                latest_time == old_time or (new_time is not None and new_time >= latest_time)
            )
            if moved:
                newest = self._newest(cursor, entity_id, name, dataset_id)
                put = [] if newest is None else [(name, newest)]
                gone = [] if newest is not None else [(name, dataset_id or None)]
                plan = _ChangePlan(self.time_in)
                plan.add(entity_id, current, EntityChange(put=put, delete=gone))
                self._apply(cursor, plan, self.time_in(datetime.now(UTC)))
                if row is not None:
                    # The current value is written without the kept instanceId, and so was
                    # its history row: write the instance again as it is.
                    cursor.execute(self.sql(_ADD_HISTORY), row)
        return True

    def _locked(
        self, cursor: Any, entity_id: str, check: EntityCheck | None = None
    ) -> StoredEntity | None:
        self._lock_entities(cursor, [entity_id])
        found = self._entities_by_id([entity_id])
        current = found[0] if found else None
        if check is not None:
            check(current)
        return current

    def _find_instance(
        self, cursor: Any, entity_id: str, name: str, instance: str
    ) -> tuple[str, Any, dict[str, Any]] | None:
        """(dataset id, stored observed_at, attribute) of the instance with that id."""
        moment = instance_time(instance)
        if moment is not None:
            cursor.execute(
                self.sql(
                    "SELECT dataset_id, observed_at, attribute FROM attribute_history "
                    "WHERE entity_id = ? AND name = ? AND observed_at = ?"
                ),
                (entity_id, name, self.time_in(moment)),
            )
            for dataset_id, stored_at, attribute in cursor.fetchall():
                loaded = _json(attribute)
                key = stored_instance_id(entity_id, name, dataset_id, moment, loaded)
                if key == instance:
                    return dataset_id, stored_at, loaded
        stored_id = _DIALECTS[self.dialect].stored_id
        cursor.execute(
            self.sql(
                "SELECT dataset_id, observed_at, attribute FROM attribute_history "
                f"WHERE entity_id = ? AND name = ? AND {stored_id}"
            ),
            (entity_id, name, instance),
        )
        for dataset_id, stored_at, attribute in cursor.fetchall():
            loaded = _json(attribute)
            if loaded.get("instanceId") == instance:
                return dataset_id, stored_at, loaded
        return None

    def _newest(
        self, cursor: Any, entity_id: str, name: str, dataset_id: str
    ) -> dict[str, Any] | None:
        cursor.execute(
            self.sql(
                f"SELECT observed_at, attribute FROM attribute_history WHERE {_SERIES} "
                f"AND {LIVE_ROW} ORDER BY observed_at DESC LIMIT 1"
            ),
            (entity_id, name, dataset_id),
        )
        row = cursor.fetchone()
        if row is None:
            return None
        newest = _json(row[1])
        newest.pop("instanceId", None)
        newest["observedAt"] = _text(self._time_out(row[0]))
        return newest


def _calendar_bounds(
    entity_ids: Sequence[str], origin: int, newest: Mapping[str, int], period: Period
) -> list[tuple[str, int, int]]:
    """(entity, start, end) in µs of each period of months from ``origin`` to its newest."""
    start = from_epoch_micros(origin)
    bounds: list[tuple[str, int, int]] = []
    for entity_id in entity_ids:
        count = 0
        while (low := epoch_micros(period.boundary(start, count))) <= newest[entity_id]:
            if len(bounds) >= MAX_CALENDAR_PERIODS:
                raise ValueError(
                    f"the aggregation spans more than {MAX_CALENDAR_PERIODS} periods: "
                    "ask for a longer aggrPeriodDuration or a shorter time window"
                )
            bounds.append((entity_id, low, epoch_micros(period.boundary(start, count + 1))))
            count += 1
    return bounds


def _split_latest(
    current: StoredEntity | None, instances: Sequence[tuple[str, dict[str, Any]]]
) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, dict[str, Any], datetime]]]:
    """(instances that become current values, the other observed ones with their times)."""
    newest: dict[tuple[str, str], tuple[datetime, dict[str, Any]]] = {}
    latest: list[tuple[str, dict[str, Any]]] = []
    history: list[tuple[str, dict[str, Any], datetime]] = []
    for name, instance in instances:
        moment = observed_time(instance)
        if moment is None:
            latest.append((name, instance))
            continue
        key = (name, dataset_of(instance))
        best = newest.get(key)
        if best is None or moment >= best[0]:
            if best is not None:
                history.append((name, best[1], best[0]))
            newest[key] = (moment, instance)
        else:
            history.append((name, instance, moment))
    for (name, dataset_id), (moment, instance) in newest.items():
        now = None if current is None else latest_instance(current, name, dataset_id)
        now_time = None if now is None else observed_time(now)
        if now_time is None or moment >= now_time:
            latest.append((name, instance))
        else:
            history.append((name, instance, moment))
    return latest, history


def _bucket(
    entity_id: str, name: str, dataset_id: str, low: int, high: int, sums: Sequence[Any]
) -> Bucket:
    count, distinct, numbers, total, squares, minimum, maximum = sums
    return Bucket(
        entity_id=entity_id,
        name=name,
        dataset_id=dataset_id,
        start=from_epoch_micros(low),
        end=from_epoch_micros(high),
        count=int(count),
        distinct=int(distinct),
        numbers=int(numbers),
        total=None if total is None else float(total),
        squares=None if squares is None else float(squares),
        minimum=None if minimum is None else float(minimum),
        maximum=None if maximum is None else float(maximum),
    )


def _text(moment: datetime) -> str:
    """RFC 3339 in UTC, as precise as the time is (format_time would round to milliseconds)."""
    micros = moment.microsecond
    spec = "seconds" if not micros else "milliseconds" if micros % 1000 == 0 else "microseconds"
    return moment.astimezone(UTC).isoformat(timespec=spec).removesuffix("+00:00") + "Z"


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, str | bytes):
        loaded: dict[str, Any] = orjson.loads(value)
        return loaded
    return dict(value)
