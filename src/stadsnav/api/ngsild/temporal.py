"""The NGSI-LD temporal API (ETSI GS CIM 009, 5.6.11-5.6.16, 5.7.3 and 5.7.4).

An entity's temporal representation is its attribute history: every instance with observedAt
is a history row (``attribute_history``), the newest one also the entity's current value. The
answers come in the normalized (4.5.7), simplified ``temporalValues`` (4.5.9) or aggregated
(4.5.19) representation; aggregations are summed per period in SQL.

``timeproperty``: history is keyed on observedAt, which windows, orders and pages in SQL.
``createdAt`` and ``modifiedAt`` are read per instance (stamped by this API; for instances from
the pipeline, their receive time) and windowed in Python; they cannot be aggregated. Deleting
an attribute instance through the core API keeps a record of it in its history, with the value
``urn:ngsi-ld:null`` and ``deletedAt``: ``timeproperty=deletedAt`` shows these records only, every
other time property leaves them out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Annotated, Any, Final
from urllib.parse import quote

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from stadsnav.api.audit import audit_personal_reads
from stadsnav.api.deps import read_store
from stadsnav.api.gatekeeper import refuse_complex_body
from stadsnav.api.gateway import caller_access, visibility, write_check, writer
from stadsnav.api.ngsild.entities import (
    Offset,
    Page,
    QueryBody,
    View,
    bad_request,
    build_query,
    check_entity_id,
    check_narrowed,
    page_links,
    parse_view,
    redacted,
    refuse_probes,
    split_list,
)
from stadsnav.api.ngsild.jsonld import body_terms, ngsild_response, read_json, request_terms
from stadsnav.api.ngsild.params import (
    DeleteAll,
    DeletedDataset,
    Local,
    Omit,
    OrderBy,
    Pick,
    ShownDatasets,
    check_deleted_dataset,
)
from stadsnav.api.ngsild.provision import apply, attribute_body
from stadsnav.api.ngsild.routes import ngsild_route
from stadsnav.api.ngsild.tenancy import tenant_store
from stadsnav.api.ngsild.writes import DeleteEntity, merge_instance
from stadsnav.api.problems import ApiError
from stadsnav.model.aggregation import (
    AggregationError,
    Period,
    aggregated_attributes,
    parse_methods,
    parse_period,
)
from stadsnav.model.attributes import NGSI_LD_NULL
from stadsnav.model.entity import AttributeInstance, StoredEntity
from stadsnav.model.entity_input import (
    ENTITY_MEMBERS,
    InvalidEntityError,
    check_name,
    is_uri,
    parse_attribute,
    parse_entity,
    parse_fragment,
)
from stadsnav.model.entity_query import EntityQuery, Visibility
from stadsnav.model.jsonld import Vocabulary
from stadsnav.model.language import NONE_KEY
from stadsnav.model.linked import Node, project
from stadsnav.model.q import QExpr
from stadsnav.model.render import (
    SCOPE,
    attribute_instances,
    attribute_names,
    format_time,
    key_value,
    render_attribute,
)
from stadsnav.model.times import parse_time
from stadsnav.store.base import ContextStore, EntityCheck
from stadsnav.store.sql_temporal import dataset_of, stored_instance_id

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD"], route_class=ngsild_route())

MAX_LAST_N: Final = 10_000
INSTANCE_LIMIT: Final = 10_000
"""Most instances of one attribute (per dataset) an answer holds; more are paged (206).
``app.state.temporal_instance_limit`` replaces it for one app."""
TIME_PROPERTIES: Final = ("observedAt", "createdAt", "modifiedAt", "deletedAt")
_TEMPORAL_VALUES: Final = {
    "Property": "values",
    "GeoProperty": "values",
    "Relationship": "objects",
    "LanguageProperty": "languageMaps",
    "VocabProperty": "vocabs",
    "JsonProperty": "jsons",
    "ListProperty": "valueLists",
    "ListRelationship": "objectLists",
}
_OPTIONS: Final = frozenset(
    {"normalized", "temporalValues", "simplified", "keyValues", "aggregatedValues", "sysAttrs"}
)
_VALUES_ALIASES: Final = frozenset({"temporalValues", "simplified", "keyValues"})
_RESULTS_COUNT: Final = "NGSILD-Results-Count"
_HEAD_MEMBERS: Final = ("id", "type", "@id", "@type")


# The request: time window, representation


@dataclass(frozen=True, slots=True)
class TimeQuery:
    """The temporal part of a request: window, lastN and the time property (5.2.21)."""

    time_from: datetime | None = None
    time_to: datetime | None = None
    last_n: int | None = None
    timeproperty: str = "observedAt"
    dataset_ids: frozenset[str] | None = None
    """The datasetIds of the instances asked for (``@none``: the default); None: every one."""

    def selects(self, dataset_id: str) -> bool:
        """Whether instances of ``dataset_id`` ('' the default) are asked for."""
        return self.dataset_ids is None or (dataset_id or NONE_KEY) in self.dataset_ids


def time_window(
    timerel: str | None, time_at: str | None, end_time_at: str | None
) -> tuple[datetime | None, datetime | None]:
    """``[from, to)`` from the NGSI-LD temporal query parameters."""
    if timerel is None:
        if time_at is not None or end_time_at is not None:
            raise bad_request("timeAt and endTimeAt need timerel (before, after or between)")
        return None, None
    if time_at is None:
        raise bad_request(f"timerel={timerel} needs timeAt")
    start = _time("timeAt", time_at)
    if timerel == "after":
        return start, None
    if timerel == "before":
        return None, start
    if timerel == "between":
        if end_time_at is None:
            raise bad_request("timerel=between needs endTimeAt")
        end = _time("endTimeAt", end_time_at)
        if end <= start:
            raise bad_request("endTimeAt must be after timeAt")
        return start, end
    raise bad_request(f"unknown timerel {timerel!r}: use before, after or between")


def time_query(
    timerel: str | None,
    time_at: str | None,
    end_time_at: str | None,
    last_n: int | None,
    timeproperty: str | None,
) -> TimeQuery:
    """The TimeQuery of a request's parameters; 400 BadRequestData for invalid ones."""
    start, end = time_window(timerel, time_at, end_time_at)
    prop = timeproperty or "observedAt"
    if prop not in TIME_PROPERTIES:
        raise bad_request(f"timeproperty must be one of {', '.join(TIME_PROPERTIES)}")
    if last_n is not None and not 1 <= last_n <= MAX_LAST_N:
        raise bad_request(f"lastN must be a whole number from 1 to {MAX_LAST_N}")
    return TimeQuery(start, end, last_n, prop)


def invalid_request(detail: str) -> ApiError:
    """A 400 InvalidRequest error: a parameter the API does not define a value of."""
    return ApiError(400, detail, ngsild_type="InvalidRequest")


def _time(name: str, text: str) -> datetime:
    if not isinstance(text, str):
        raise bad_request(f"{name} must be an RFC 3339 time")
    try:
        return parse_time(text)
    except ValueError as error:
        raise bad_request(f"{name}: {error}") from None


@dataclass(frozen=True, slots=True)
class Representation:
    """normalized, temporalValues or aggregatedValues (with its methods and period)."""

    kind: str = "normalized"
    sys_attrs: bool = False
    methods: tuple[str, ...] = ()
    period: Period = field(default_factory=Period)


def representation(
    options: str | None,
    format: str | None,
    aggr_methods: str | Sequence[str] | None,
    aggr_period: str | None,
) -> Representation:
    """The representation asked for; aggrMethods alone asks for aggregatedValues.

    ``format`` takes precedence over ``options`` (6.3.12) and over aggrMethods (TP 021_19_02).
    """
    opts = set(split_list(options) or [])
    unknown = opts - _OPTIONS
    # An unknown option or format is InvalidRequest, as in the core API (6.3.12, 6.3.20).
    if unknown:
        raise invalid_request(f"unknown options: {', '.join(sorted(unknown))}")
    if format is not None and format not in (*_VALUES_ALIASES, "normalized", "aggregatedValues"):
        raise invalid_request(
            f"unknown format {format!r}: use normalized, temporalValues or aggregatedValues"
        )
    chosen = {format} if format is not None else opts - {"sysAttrs"}
    kinds = {"temporalValues" if c in _VALUES_ALIASES else c for c in chosen}
    if aggr_methods is not None and format is None:
        kinds.add("aggregatedValues")
    kinds.discard("normalized")
    if len(kinds) > 1:
        raise bad_request("ask for one representation: temporalValues or aggregatedValues")
    kind = kinds.pop() if kinds else "normalized"
    sys_attrs = "sysAttrs" in opts
    if kind != "aggregatedValues":
        return Representation(kind, sys_attrs)
    if aggr_methods is None:
        raise bad_request("aggregatedValues needs aggrMethods, e.g. aggrMethods=avg,max")
    try:
        methods = parse_methods(aggr_methods)
        period = parse_period(aggr_period) if aggr_period is not None else Period()
    except AggregationError as error:
        raise bad_request(str(error)) from None
    return Representation(kind, sys_attrs, methods, period)


# Instances and their pages


@dataclass(frozen=True, slots=True)
class Timed:
    """One instance with the time of the time property asked for."""

    time: datetime
    name: str
    instance: AttributeInstance
    current: bool = False
    """A current value without observedAt, which the history does not hold (see
    :func:`current_values`)."""

    @property
    def dataset_id(self) -> str:
        """'' for the default instance."""
        return dataset_of(self.instance.attribute)

    @property
    def kind(self) -> str:
        """The attribute's type: Property, Relationship ..."""
        return str(self.instance.attribute.get("type", "Property"))


History = dict[str, list[Timed]]
"""Entity id → its instances in the window, by time."""


@dataclass(frozen=True, slots=True)
class Cut:
    """Where an answer stopped because an attribute had more instances than the limit."""

    start: datetime
    end: datetime
    size: str
    emptied: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Entity id → the attributes with instances in the window but none in the answer, with
    their type: they are shown without instances (6.3.10, TP 020_14)."""

    def header(self) -> str:
        """The Content-Range value (GS CIM 009, 6.3.10)."""
        return f"date-time {format_time(self.start)}-{format_time(self.end)}/{self.size}"


def instance_time(instance: AttributeInstance, timeproperty: str) -> datetime | None:
    """The instance's time for ``timeproperty``: observedAt, when it was stored, or when it was
    deleted; None when it has no such time (a deletion has only deletedAt, others have none)."""
    if deleted(instance) != (timeproperty == "deletedAt"):
        return None
    if timeproperty == "observedAt":
        return instance.observed_at
    text = instance.attribute.get(timeproperty)
    if isinstance(text, str):
        try:
            return parse_time(text)
        except ValueError:
            return None
    if instance.provenance is not None:
        return instance.provenance.received_at
    return instance.observed_at


def deleted(instance: AttributeInstance) -> bool:
    """Whether the instance is the record of a deletion."""
    return "deletedAt" in instance.attribute


def read_history(
    store: ContextStore,
    entities: Sequence[StoredEntity],
    attrs: Sequence[str] | None,
    query: TimeQuery,
    limit: int,
    visible: Visibility | None = None,
) -> tuple[History, Cut | None]:
    """The instances of the entities in the window, lastN and the instance limit applied."""
    fetch = limit + 1 if query.last_n is None else min(query.last_n, limit + 1)
    history = windowed_history(store, entities, attrs, query, fetch, visible)
    return history, _page(history, query, limit)


def windowed_history(
    store: ContextStore,
    entities: Sequence[StoredEntity],
    attrs: Sequence[str] | None,
    query: TimeQuery,
    per_series: int | None = None,
    visible: Visibility | None = None,
) -> History:
    """Every instance of the entities in the window (per series at most ``per_series``, the
    oldest, or the newest with lastN), by time; none of an attribute ``visible`` hides."""
    ids = [entity.id for entity in entities]
    if query.timeproperty == "observedAt":
        newest = query.last_n is not None
        rows = store.temporal_instances(
            ids, attrs, query.time_from, query.time_to, per_series, newest
        )
    else:
        rows = store.temporal_instances(ids, attrs)
    history: History = {}
    for entity in entities:
        found = history.setdefault(entity.id, [])
        stored = rows.get(entity.id, {})
        hidden = frozenset() if visible is None else visible.hidden_of(entity.types)
        for name, instances in stored.items():
            if name in hidden:
                continue
            for instance in instances:
                _add_timed(found, name, instance, query, current=False)
        if query.timeproperty in ("createdAt", "modifiedAt"):
            for name, instance in current_values(entity, attrs):
                if name not in hidden:
                    _add_timed(found, name, instance, query, current=True)
        found.sort(key=lambda timed: (timed.time, timed.name, timed.dataset_id))
    return history


def _add_timed(
    found: list[Timed], name: str, instance: AttributeInstance, query: TimeQuery, current: bool
) -> None:
    if not query.selects(dataset_of(instance.attribute)):
        return
    moment = instance_time(instance, query.timeproperty)
    if moment is not None and _inside(moment, query):
        found.append(Timed(moment, name, instance, current))


def current_values(
    entity: StoredEntity, attrs: Sequence[str] | None
) -> Iterator[tuple[str, AttributeInstance]]:
    """The entity's current instances without observedAt, as instances at their createdAt.

    The history holds only observed values; these have just their current value, with its
    createdAt and modifiedAt, which the timeproperties of those names select (TP 021_23).
    """
    for name in attribute_names(entity):
        if name == SCOPE or (attrs is not None and name not in attrs):
            continue
        for instance in attribute_instances(entity, name):
            created = instance.get("createdAt")
            if "observedAt" in instance or not isinstance(created, str):
                continue
            try:
                yield name, AttributeInstance(instance, parse_time(created), None)
            except ValueError:
                continue


def _inside(moment: datetime, query: TimeQuery) -> bool:
    if query.time_from is not None and moment < query.time_from:
        return False
    return query.time_to is None or moment < query.time_to


def _page(history: History, query: TimeQuery, limit: int) -> Cut | None:
    """Keep lastN and at most ``limit`` instances per series; where that cut, cut all there.

    Forwards (no lastN) the answer ends at the earliest last kept instance of a cut series;
    backwards (lastN) it ends at the latest first kept one, so no series has a gap.
    """
    backwards = query.last_n is not None
    keep = min(query.last_n or limit, limit)
    boundaries: list[datetime] = []
    for entity_id, timed in history.items():
        series: dict[tuple[str, str], list[Timed]] = {}
        for item in timed:
            series.setdefault((item.name, item.dataset_id), []).append(item)
        kept: list[Timed] = []
        for items in series.values():
            if query.last_n is not None and len(items) > query.last_n:
                items = items[-query.last_n :]
            if len(items) > keep:
                items = items[-keep:] if backwards else items[:keep]
                boundaries.append(items[0].time if backwards else items[-1].time)
            kept.extend(items)
        kept.sort(key=lambda item: (item.time, item.name, item.dataset_id))
        history[entity_id] = kept
    if not boundaries:
        return None
    times = [item.time for timed in history.values() for item in timed]
    if backwards:
        end, start = max(boundaries), query.time_to or max(times)
    else:
        end, start = min(boundaries), query.time_from or min(times)
    emptied: dict[str, dict[str, str]] = {}
    for entity_id, timed in history.items():
        kept = [item for item in timed if (item.time >= end if backwards else item.time <= end)]
        shown = {item.name for item in kept}
        emptied[entity_id] = {i.name: i.kind for i in timed if i.name not in shown}
        history[entity_id] = kept
    return Cut(start, end, str(query.last_n) if backwards else "*", emptied)


# Rendering


def render_history(
    entity: StoredEntity,
    timed: Sequence[Timed],
    shape: Representation,
    terms: Vocabulary,
    timeproperty: str = "observedAt",
    cut: Cut | None = None,
) -> dict[str, Any]:
    """The entity's temporal representation, normalized or temporalValues, in request terms."""
    body = _head(entity, shape, terms)
    for name, kind in sorted(cut.emptied.get(entity.id, {}).items()) if cut is not None else ():
        empty = {"type": kind, _TEMPORAL_VALUES.get(kind, "values"): []}
        body[terms.to_request(name)] = empty if shape.kind == "temporalValues" else []
    by_name: dict[str, list[Timed]] = {}
    for item in timed:
        by_name.setdefault(item.name, []).append(item)
    for name, items in by_name.items():
        if shape.kind == "temporalValues":
            body[terms.to_request(name)] = _values(items, terms, timeproperty)
        else:
            body[terms.to_request(name)] = [
                _normalized(entity.id, item, shape.sys_attrs, terms) for item in items
            ]
    return body


def _head(entity: StoredEntity, shape: Representation, terms: Vocabulary) -> dict[str, Any]:
    types = [terms.to_request(name) for name in entity.types]
    body: dict[str, Any] = {"id": entity.id, "type": types if len(types) > 1 else types[0]}
    if shape.sys_attrs:
        body["createdAt"] = format_time(entity.created_at)
        body["modifiedAt"] = format_time(entity.modified_at)
    return body


def _normalized(entity_id: str, item: Timed, sys_attrs: bool, terms: Vocabulary) -> dict[str, Any]:
    instance = item.instance
    rendered = render_attribute(instance.attribute, sys_attrs=sys_attrs)
    rendered.pop("instanceId", None)
    # A deletion is stored at its deletion time: that is its deletedAt, and it has no observedAt.
    if not item.current:
        when = format_time(instance.observed_at)
        rendered["deletedAt" if deleted(instance) else "observedAt"] = when
    rendered["instanceId"] = stored_instance_id(
        entity_id, item.name, item.dataset_id, instance.observed_at, instance.attribute
    )
    translated: dict[str, Any] = terms.attribute_to_request(rendered)
    return translated


def _values(items: Sequence[Timed], terms: Vocabulary, timeproperty: str) -> Any:
    """The simplified form: per dataset ``{"type": ..., "values": [[value, time], ...]}``."""
    names = None if terms.identity else terms.to_request
    bodies: dict[str, dict[str, Any]] = {}
    for item in items:
        attribute, kind = item.instance.attribute, item.kind
        body = bodies.get(item.dataset_id)
        if body is None:
            body = bodies[item.dataset_id] = {"type": kind}
            if item.dataset_id:
                body["datasetId"] = item.dataset_id
        moment = item.instance.observed_at if timeproperty == "observedAt" else item.time
        pair = [key_value(attribute, names), format_time(moment)]
        body.setdefault(_TEMPORAL_VALUES.get(kind, "values"), []).append(pair)
    found = [bodies[key] for key in sorted(bodies)]
    return found[0] if len(found) == 1 else found


def render_aggregated(
    entity: StoredEntity,
    store: ContextStore,
    attrs: Sequence[str] | None,
    query: TimeQuery,
    shape: Representation,
    terms: Vocabulary,
) -> dict[str, Any]:
    """One entity's aggregated representation (4.5.19)."""
    return aggregate_all([entity], store, attrs, query, shape, terms)[0]


def aggregate_all(
    entities: Sequence[StoredEntity],
    store: ContextStore,
    attrs: Sequence[str] | None,
    query: TimeQuery,
    shape: Representation,
    terms: Vocabulary,
) -> list[dict[str, Any]]:
    """The entities' aggregated representations, summed in one store query."""
    if query.timeproperty != "observedAt":
        raise bad_request("aggregatedValues are computed over observedAt: leave timeproperty out")
    try:
        buckets = store.aggregate_history(
            [entity.id for entity in entities],
            attrs,
            query.time_from,
            query.time_to,
            shape.period,
            distinct="distinctCount" in shape.methods,
        )
    except ValueError as error:
        raise bad_request(str(error)) from None
    per_entity: dict[str, list[Any]] = {}
    for bucket in buckets:
        if query.selects(bucket.dataset_id):
            per_entity.setdefault(bucket.entity_id, []).append(bucket)
    names = None if terms.identity else terms.to_request
    return [
        {
            **_head(entity, shape, terms),
            **aggregated_attributes(
                per_entity.get(entity.id, []), shape.methods, format_time, names, _kinds(entity)
            ),
        }
        for entity in entities
    ]


def _kinds(entity: StoredEntity) -> dict[str, str]:
    """Attribute name → its type, as the entity's current instances have it."""
    kinds: dict[str, str] = {}
    for name, instances in entity.datasets.items():
        for instance in instances.values():
            kinds[name] = str(instance.get("type", "Property"))
    for name, instance in entity.attributes.items():
        if isinstance(instance, Mapping) and "type" in instance:
            kinds[name] = str(instance["type"])
    return kinds


def instance_limit(request: Request) -> int:
    """The most instances per attribute an answer holds (``INSTANCE_LIMIT`` unless the app's)."""
    limit = getattr(request.app.state, "temporal_instance_limit", INSTANCE_LIMIT)
    return int(limit)


def _answer(request: Request, body: Any, terms: Vocabulary, cut: Cut | None) -> Response:
    if cut is None:
        return ngsild_response(request, body, terms=terms)
    return ngsild_response(request, body, {"Content-Range": cut.header()}, terms, status=206)


def projected(body: dict[str, Any], view: View) -> dict[str, Any]:
    """The temporal representation with the view's pick and omit applied."""
    if view.pick is None and view.omit is None:
        return body
    return project(Node(str(body["id"]), body), view.pick, view.omit).body


# Retrieval


@router.get(
    "/temporal/entities/{entity_id}",
    summary="Retrieve the temporal evolution of an entity",
    responses={206: {"description": "Partial: an attribute has more instances than one answer"}},
)
async def retrieve_temporal(
    entity_id: str,
    request: Request,
    attrs: Annotated[str | None, Query(description="Attributes, comma-separated.")] = None,
    timerel: Annotated[str | None, Query(description="before, after or between")] = None,
    time_at: Annotated[str | None, Query(alias="timeAt", description="RFC 3339 time")] = None,
    end_time_at: Annotated[
        str | None, Query(alias="endTimeAt", description="RFC 3339 time, with timerel=between")
    ] = None,
    last_n: Annotated[
        int | None, Query(alias="lastN", ge=1, le=MAX_LAST_N, description="Newest n instances")
    ] = None,
    timeproperty: Annotated[
        str | None, Query(description="observedAt (default), createdAt, modifiedAt, deletedAt")
    ] = None,
    options: Annotated[
        str | None, Query(description="temporalValues, aggregatedValues, sysAttrs")
    ] = None,
    format: Annotated[
        str | None, Query(description="normalized, temporalValues or aggregatedValues")
    ] = None,
    aggr_methods: Annotated[
        str | None, Query(alias="aggrMethods", description="e.g. avg,max (4.5.19)")
    ] = None,
    aggr_period: Annotated[
        str | None,
        Query(alias="aggrPeriodDuration", description="ISO 8601 duration, e.g. PT1H"),
    ] = None,
    pick: Pick = None,
    omit: Omit = None,
    dataset_id: ShownDatasets = None,
) -> Response:
    """Every instance of the entity's attributes in the window, in the chosen representation."""
    check_entity_id(entity_id)
    terms = await request_terms(request)
    view = parse_view(
        request, terms, pick=pick, omit=omit, attrs_given=attrs is not None, dataset_id=dataset_id
    )
    query = time_query(timerel, time_at, end_time_at, last_n, timeproperty)
    query = replace(query, dataset_ids=view.dataset_ids)
    shape = representation(options, format, aggr_methods, aggr_period)
    names = _stored_names(split_list(attrs), terms)
    store = tenant_store(request)
    limit = instance_limit(request)
    visible = await visibility(request)

    def work() -> tuple[dict[str, Any], Cut | None] | None:
        entity = store.get_entity(entity_id)
        if entity is not None and visible is not None and not visible.can_read(entity.types):
            request.state.hidden = True  # audited as a refusal; the caller is not told
            return None
        if entity is None:
            return None
        shown.append(entity)
        entity = redacted(entity, visible)
        hidden = frozenset() if visible is None else visible.hidden_of(entity.types)
        seen = None if names is None else [name for name in names if name not in hidden]
        if seen is not None and not set(seen).intersection(attribute_names(entity)):
            # As the core API's retrieval (5.7.1): none of attrs is ResourceNotFound (TP 020_08).
            raise ApiError(404, f"entity {entity_id} has none of the attributes {attrs}")
        if shape.kind == "aggregatedValues":
            seen = seen if seen is not None else _seen_names([entity], visible)
            return render_aggregated(entity, store, seen, query, shape, terms), None
        history, cut = read_history(store, [entity], seen, query, limit, visible)
        timed = history.get(entity_id, [])
        body = render_history(entity, timed, shape, terms, query.timeproperty, cut)
        return body, cut

    shown: list[StoredEntity] = []
    found = await read_store(store, work)
    if found is None:
        raise ApiError(404, f"no entity with id {entity_id}")
    await audit_personal_reads(request, shown)
    body = projected(found[0], view)
    if not body:
        raise ApiError(404, f"entity {entity_id} has none of the members asked for")
    return _answer(request, body, terms, found[1])


def _stored_names(names: Sequence[str] | None, terms: Vocabulary) -> list[str] | None:
    return None if names is None else [terms.to_stored(name) for name in names]


# Query


@dataclass(frozen=True, slots=True)
class TemporalSelection:
    """Which entities a temporal query selects and which of their attributes it shows."""

    entities: EntityQuery
    """Types, ids, geo-query and scope, tested on the entities' current state."""
    q: QExpr | None = None
    """Tested on the instances in the window (5.7.4.4)."""
    attrs: frozenset[str] | None = None

    def matches(self, timed: Sequence[Timed]) -> bool:
        """Whether the entity has instances in the window, and they satisfy attrs and q: an
        entity without any has no temporal evolution to show (5.7.4, TP 021_13)."""
        if not timed:
            return False
        if self.attrs is not None and not any(item.name in self.attrs for item in timed):
            return False
        if self.q is None:
            return True
        attributes: dict[str, list[dict[str, Any]]] = {}
        for item in timed:
            attributes.setdefault(item.name, []).append(item.instance.attribute)
        return self.q.matches(attributes)

    def fetched(self) -> list[str] | None:
        """The attributes to read: those shown, and those q tests."""
        if self.attrs is None:
            return None
        return sorted(self.attrs | (self.q.attribute_names() if self.q else set()))


def selection(
    terms: Vocabulary,
    selectors: Sequence[tuple[str | None, Sequence[str] | None, str | None]],
    attrs: Sequence[str] | None,
    q: str | None,
    geo: tuple[str, str, Any, str] | None,
    scope_q: str | None,
    order_by: str | None = None,
    local: bool = False,
) -> TemporalSelection:
    """The TemporalSelection of a query's parameters, in stored names.

    400 without types, attrs, q, a geo-query or scopeQ (5.7.4.4), as for the core API: ids alone
    do not make a temporal query; ``local`` asks for every entity (TP 021_25).
    """
    built = build_query(
        terms, selectors=selectors, attrs=attrs, q=q, geo=geo, scope_q=scope_q, order_by=order_by
    )
    if not local:
        check_narrowed(built)
    return TemporalSelection(replace(built, q=None, attrs=None), built.q, built.attrs)


async def answer_temporal_query(
    request: Request,
    chosen: TemporalSelection,
    query: TimeQuery,
    shape: Representation,
    page: Page,
    terms: Vocabulary,
    view: View,
) -> Response:
    """Run a temporal query on the request's tenant and answer with the page of entities."""
    page.check()
    store = tenant_store(request)
    limit = instance_limit(request)
    entities = replace(chosen.entities, visible=await visibility(request))
    # q and attrs are tested on the instances: a query on a hidden attribute is a probe too.
    refuse_probes(replace(entities, q=chosen.q, attrs=chosen.attrs))
    visible = entities.visible

    def work() -> tuple[int, list[dict[str, Any]], Cut | None]:
        candidates = entities.run(store.find_entities)
        # Without q, one instance per series tells whether the window has any (TP 021_13).
        per_series = None if chosen.q is not None else 1
        window = windowed_history(
            store, candidates, chosen.fetched(), _unpaged(query), per_series, visible
        )
        candidates = [e for e in candidates if chosen.matches(window.get(e.id, []))]
        if entities.order_by:
            candidates.sort(key=entities.order_key)
        chosen_page = candidates[page.offset : page.offset + page.limit]
        answered.extend(chosen_page)
        chosen_page = [redacted(entity, visible) for entity in chosen_page]
        shown = None if chosen.attrs is None else sorted(chosen.attrs)
        if shape.kind == "aggregatedValues":
            seen = shown if shown is not None else _seen_names(chosen_page, visible)
            bodies = aggregate_all(chosen_page, store, seen, query, shape, terms)
            return len(candidates), bodies, None
        history, cut = read_history(store, chosen_page, shown, query, limit, visible)
        timeproperty = query.timeproperty
        bodies = [
            render_history(entity, history.get(entity.id, []), shape, terms, timeproperty, cut)
            for entity in chosen_page
        ]
        return len(candidates), bodies, cut

    answered: list[StoredEntity] = []
    total, bodies, cut = await anyio.to_thread.run_sync(work)
    await audit_personal_reads(request, answered)
    bodies = [projected(body, view) for body in bodies]
    response = _answer(request, bodies, terms, cut)
    if page.count:
        response.headers[_RESULTS_COUNT] = str(total)
    if request.method == "GET":
        for value in page_links(request, page, total, response.media_type or "application/json"):
            response.headers.append("Link", value)
    return response


def _seen_names(entities: Sequence[StoredEntity], visible: Visibility | None) -> list[str] | None:
    """None (every attribute) when the caller sees every one; else the entities' attributes it
    sees (history of an attribute since deleted is then not aggregated)."""
    if visible is None or not any(visible.hidden_of(entity.types) for entity in entities):
        return None
    return sorted({name for entity in entities for name in attribute_names(entity)})


def _unpaged(query: TimeQuery) -> TimeQuery:
    """The window without lastN: q and attrs look at every instance in it."""
    return replace(query, last_n=None)


@router.get("/temporal/entities", summary="Query the temporal evolution of entities")
async def query_temporal(
    request: Request,
    type: Annotated[str | None, Query(description="Entity types: A,B or A|B, A;B, ( ).")] = None,
    id: Annotated[str | None, Query(description="Entity ids, comma-separated.")] = None,
    id_pattern: Annotated[
        str | None, Query(alias="idPattern", description="Regular expression the id must match.")
    ] = None,
    attrs: Annotated[str | None, Query(description="Attributes to return (and require).")] = None,
    q: Annotated[str | None, Query(description="Tested on the instances in the window.")] = None,
    georel: Annotated[str | None, Query(description="e.g. near;maxDistance==2000")] = None,
    geometry: Annotated[str | None, Query(description="Point, Polygon ...")] = None,
    coordinates: Annotated[str | None, Query(description="GeoJSON coordinates")] = None,
    geoproperty: Annotated[str, Query(description="The GeoProperty to compare.")] = "location",
    scope_q: Annotated[str | None, Query(alias="scopeQ", description="Scopes")] = None,
    timerel: Annotated[str | None, Query(description="before, after or between")] = None,
    time_at: Annotated[str | None, Query(alias="timeAt", description="RFC 3339 time")] = None,
    end_time_at: Annotated[str | None, Query(alias="endTimeAt")] = None,
    last_n: Annotated[int | None, Query(alias="lastN", ge=1, le=MAX_LAST_N)] = None,
    timeproperty: Annotated[str | None, Query(description="observedAt (default) ...")] = None,
    options: Annotated[str | None, Query(description="temporalValues, aggregatedValues")] = None,
    format: Annotated[str | None, Query(description="normalized, temporalValues ...")] = None,
    aggr_methods: Annotated[str | None, Query(alias="aggrMethods")] = None,
    aggr_period: Annotated[str | None, Query(alias="aggrPeriodDuration")] = None,
    limit: Annotated[int, Query(ge=0, description="Entities per page.")] = 20,
    offset: Offset = 0,
    count: Annotated[bool, Query(description="Return the total in NGSILD-Results-Count.")] = False,
    pick: Pick = None,
    omit: Omit = None,
    dataset_id: ShownDatasets = None,
    local: Local = None,
    order_by: OrderBy = None,
) -> Response:
    """The temporal evolution of the entities matching every filter, ordered by id."""
    terms = await request_terms(request)
    geo = None
    if georel is not None or geometry is not None or coordinates is not None:
        if georel is None or geometry is None or coordinates is None:
            raise bad_request("a geo-query needs georel, geometry and coordinates together")
        geo = (georel, geometry, coordinates, geoproperty)
    ids = split_list(id)
    chosen = selection(
        terms,
        [(type, ids, id_pattern)] if type or ids or id_pattern else [],
        split_list(attrs),
        q,
        geo,
        scope_q,
        order_by,
        local is True,
    )
    view = parse_view(
        request, terms, pick=pick, omit=omit, attrs_given=attrs is not None, dataset_id=dataset_id
    )
    query = time_query(timerel, time_at, end_time_at, last_n, timeproperty)
    query = replace(query, dataset_ids=view.dataset_ids)
    shape = representation(options, format, aggr_methods, aggr_period)
    return await answer_temporal_query(
        request, chosen, query, shape, Page(limit, offset, count), terms, view
    )


@router.post(
    "/temporal/entityOperations/query",
    summary="Query the temporal evolution of entities with a Query in the body",
)
async def query_temporal_post(
    request: Request,
    limit: Annotated[int, Query(ge=0, description="Entities per page.")] = 20,
    offset: Offset = 0,
    count: Annotated[bool, Query(description="Return the total in NGSILD-Results-Count.")] = False,
    options: Annotated[str | None, Query(description="temporalValues, aggregatedValues")] = None,
    format: Annotated[str | None, Query(description="normalized, temporalValues ...")] = None,
) -> Response:
    """Entities matching the Query in the body (5.2.23) with its temporalQ (5.2.21)."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise bad_request("the body must be a Query object")
    terms = await body_terms(request, body)
    members = QueryBody({key: value for key, value in body.items() if key != "temporalQ"})
    refuse_complex_body(request, body)
    temporal = _member_object(body, "temporalQ")
    aggr = _member_object(body, "aggrParams")
    chosen = selection(
        terms,
        members.selectors(),
        members.names("attrs"),
        members.text("q"),
        members.geo(),
        members.text("scopeQ"),
        members.text("orderBy"),
    )
    view = parse_view(
        request,
        terms,
        pick=members.projection("pick"),
        omit=members.projection("omit"),
        dataset_id=members.projection("datasetId"),
        attrs_given=members.names("attrs") is not None,
    )
    query = time_query(
        _text_member(temporal, "timerel"),
        _text_member(temporal, "timeAt"),
        _text_member(temporal, "endTimeAt"),
        _last_n(temporal.get("lastN")),
        _text_member(temporal, "timeproperty"),
    )
    query = replace(query, dataset_ids=view.dataset_ids)
    methods = aggr.get("aggrMethods", temporal.get("aggrMethods"))
    if methods is not None and not _texts(methods):
        raise bad_request("aggrMethods must be a comma-separated string or an array of strings")
    period = aggr.get("aggrPeriodDuration", temporal.get("aggrPeriodDuration"))
    if period is not None and not isinstance(period, str):
        raise bad_request("aggrPeriodDuration must be an ISO 8601 duration string")
    shape = representation(options, format, methods, period)
    return await answer_temporal_query(
        request, chosen, query, shape, Page(limit, offset, count), terms, view
    )


def _member_object(body: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = body.get(name, {})
    if not isinstance(value, Mapping):
        raise bad_request(f"{name} must be an object")
    return value


def _text_member(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise bad_request(f"temporalQ.{name} must be a string")
    return value


def _last_n(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise bad_request("temporalQ.lastN must be a positive integer")
    return value


def _texts(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(item, str) for item in value)
    )


# Provision


@router.post(
    "/temporal/entities",
    status_code=201,
    dependencies=[Depends(writer)],
    summary="Create or update the temporal evolution of an entity",
    responses={204: {"description": "The entity existed; the instances were added"}},
)
async def create_temporal(request: Request) -> Response:
    """Store every instance; 201 with the Location when the entity is new, else 204."""
    body = await read_json(request)
    terms = await body_terms(request, body)
    entity_id, entity_type, instances = temporal_input(body, terms, need_id=True)
    assert entity_id is not None
    store = tenant_store(request, create=True)
    check = write_check(await caller_access(request), entity_type)
    created = await _add(store, entity_id, entity_type, instances, create=True, check=check)
    if not created:
        return Response(status_code=204)
    location = f"/ngsi-ld/v1/temporal/entities/{quote(entity_id, safe=':')}"
    return Response(status_code=201, headers={"Location": location})


@router.post(
    "/temporal/entities/{entity_id}/attrs",
    status_code=204,
    dependencies=[Depends(writer)],
    summary="Add attribute instances to the temporal evolution of an entity",
)
async def add_temporal_attributes(entity_id: str, request: Request) -> Response:
    """Add the body's attribute instances to an existing entity."""
    check_entity_id(entity_id)
    body = await read_json(request)
    terms = await body_terms(request, body)
    body_id, entity_type, instances = temporal_input(body, terms, need_id=False)
    if body_id is not None and body_id != entity_id:
        raise bad_request(f"the body's id {body_id} differs from the id in the path {entity_id}")
    check = write_check(await caller_access(request), entity_type)
    await _add(tenant_store(request), entity_id, entity_type, instances, create=False, check=check)
    return Response(status_code=204)


async def _add(
    store: ContextStore,
    entity_id: str,
    entity_type: tuple[str, ...] | None,
    instances: list[tuple[str, dict[str, Any]]],
    *,
    create: bool,
    check: EntityCheck,
) -> bool:
    try:
        created = await anyio.to_thread.run_sync(
            lambda: store.add_instances(
                entity_id, entity_type, instances, create=create, check=check
            )
        )
    except ValueError as error:
        raise bad_request(str(error)) from None
    if created is None:
        raise ApiError(404, f"there is no entity {entity_id}", ngsild_type="ResourceNotFound")
    return created


def temporal_input(
    body: Any, terms: Vocabulary, *, need_id: bool
) -> tuple[str | None, tuple[str, ...] | None, list[tuple[str, dict[str, Any]]]]:
    """(id, types, [(attribute, instance)]) of a temporal entity (4.5.7), checked and stamped.

    Each attribute is an array of instances, or one instance; they may share a datasetId,
    told apart by observedAt. A ``scope`` (4.18) of scope strings becomes the entity's scope,
    stored as the core API stores it (a Property without observedAt: a current value, no
    history); scopes given as instances with times are not kept.
    """
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    stored = terms.entity_to_stored(body)
    head = {key: value for key, value in stored.items() if key in _HEAD_MEMBERS}
    scope = stored.get(SCOPE)
    if isinstance(scope, str) or (
        isinstance(scope, list) and all(isinstance(s, str) for s in scope)
    ):
        head[SCOPE] = scope
    try:
        entity = parse_entity(head, need_id=need_id, need_type=need_id)
        instances = list(_instances(stored))
    except InvalidEntityError as error:
        raise bad_request(str(error)) from None
    now = format_time(datetime.now(UTC))
    for scopes in entity.attributes.get(SCOPE, []):
        instances.append((SCOPE, {**scopes, "createdAt": now, "modifiedAt": now}))
    return entity.id, entity.type, instances


def _instances(body: Mapping[str, Any]) -> Any:
    now = format_time(datetime.now(UTC))
    for name, raw in body.items():
        if name in ENTITY_MEMBERS or name in ("@id", "@type"):
            continue
        if raw == NGSI_LD_NULL:
            raise InvalidEntityError(
                f"{name}: {NGSI_LD_NULL} deletes a member only in a partial update or merge"
            )
        for item in raw if isinstance(raw, list) else [raw]:
            for instance in parse_attribute(name, item):
                yield name, {**instance, "createdAt": now, "modifiedAt": now}


@router.delete(
    "/temporal/entities/{entity_id}",
    status_code=204,
    dependencies=[Depends(writer)],
    summary="Delete the temporal evolution of an entity (the entity itself)",
)
async def delete_temporal(entity_id: str, request: Request) -> Response:
    """Delete the entity with its attributes and their history."""
    check_entity_id(entity_id)
    write = DeleteEntity(now=datetime.now(UTC), entity_id=entity_id)
    await apply(tenant_store(request), {entity_id: write}, await caller_access(request))
    if write.error is not None:
        raise write.error
    return Response(status_code=204)


@router.delete(
    "/temporal/entities/{entity_id}/attrs/{attr_id}",
    status_code=204,
    dependencies=[Depends(writer)],
    summary="Delete an attribute's instances from the temporal evolution of an entity",
)
async def delete_temporal_attribute(
    entity_id: str,
    attr_id: str,
    request: Request,
    dataset_id: DeletedDataset = None,
    delete_all: DeleteAll = False,
) -> Response:
    """Delete the attribute's instances (default dataset, ``datasetId``'s, or all)."""
    check_entity_id(entity_id)
    check_deleted_dataset(dataset_id)
    name = await _attribute_name(request, attr_id)
    store = tenant_store(request)
    check = write_check(await caller_access(request))
    done = await anyio.to_thread.run_sync(
        lambda: store.delete_history(entity_id, name, dataset_id, delete_all, check)
    )
    _found(done, entity_id, f"attribute {attr_id}")
    return Response(status_code=204)


@router.patch(
    "/temporal/entities/{entity_id}/attrs/{attr_id}/{instance_id}",
    status_code=204,
    dependencies=[Depends(writer)],
    summary="Modify one attribute instance",
)
async def modify_temporal_instance(
    entity_id: str, attr_id: str, instance_id: str, request: Request
) -> Response:
    """Replace the members the body gives of the instance; it keeps its instanceId."""
    check_entity_id(entity_id)
    _check_instance_id(instance_id)
    _, name, attribute = await attribute_body(request, attr_id)
    try:
        instance = parse_fragment(_checked_name(name), attribute)
    except InvalidEntityError as error:
        raise bad_request(str(error)) from None
    instance.pop("datasetId", None)
    now = format_time(datetime.now(UTC))

    def change(previous: dict[str, Any]) -> dict[str, Any]:
        merged = merge_instance(previous, instance)
        return {**merged, "createdAt": previous.get("createdAt", now), "modifiedAt": now}

    store = tenant_store(request)
    check = write_check(await caller_access(request))
    done = await anyio.to_thread.run_sync(
        lambda: store.modify_instance(entity_id, name, instance_id, change, check)
    )
    _found(done, entity_id, f"instance {instance_id} of {attr_id}")
    return Response(status_code=204)


@router.delete(
    "/temporal/entities/{entity_id}/attrs/{attr_id}/{instance_id}",
    status_code=204,
    dependencies=[Depends(writer)],
    summary="Delete one attribute instance",
)
async def delete_temporal_instance(
    entity_id: str, attr_id: str, instance_id: str, request: Request
) -> Response:
    """Delete the instance with that instanceId."""
    check_entity_id(entity_id)
    _check_instance_id(instance_id)
    name = await _attribute_name(request, attr_id)
    store = tenant_store(request)
    check = write_check(await caller_access(request))
    done = await anyio.to_thread.run_sync(
        lambda: store.delete_instance(entity_id, name, instance_id, check)
    )
    _found(done, entity_id, f"instance {instance_id} of {attr_id}")
    return Response(status_code=204)


async def _attribute_name(request: Request, attr_id: str) -> str:
    terms = await request_terms(request)
    return _checked_name(terms.to_stored(attr_id))


def _checked_name(name: str) -> str:
    try:
        check_name(name)
    except InvalidEntityError as error:
        raise bad_request(str(error)) from None
    return name


def _check_instance_id(instance_id: str) -> None:
    if not is_uri(instance_id):
        raise bad_request(f"instanceId {instance_id!r} is not a URI")


def _found(done: bool | None, entity_id: str, what: str) -> None:
    if done is None:
        raise ApiError(404, f"there is no entity {entity_id}", ngsild_type="ResourceNotFound")
    if not done:
        raise ApiError(404, f"entity {entity_id} has no {what}", ngsild_type="ResourceNotFound")


__all__ = [
    "INSTANCE_LIMIT",
    "Representation",
    "TimeQuery",
    "read_history",
    "render_history",
    "representation",
    "router",
    "temporal_input",
    "time_query",
    "time_window",
]
