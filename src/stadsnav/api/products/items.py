"""A product's items: what is built once from stored entities, and what is decided per request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from stadsnav.model.render import format_time
from stadsnav.model.times import parse_time
from stadsnav.pipeline.quality import QUALITY_ATTRIBUTE
from stadsnav.store.base import StoredEntity
from stadsnav.workspace import Product

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Observed:
    """One observed value of an item and when it was observed."""

    field: str
    value: Any
    observed_at: datetime | None


@dataclass(frozen=True, slots=True)
class BaseItem:
    """What one item shows that does not depend on the time of the request."""

    id: str
    described: dict[str, Any]
    """``id``, the product's fields and ``location``, in output order; shared, never mutated."""
    point: Point | None
    observed: tuple[Observed, ...]
    newest: datetime | None
    """The newest observation time among the observed values."""
    newest_text: str | None
    sensor: str | None
    """The observing entity the values come from; None when the item observes itself."""
    suspect: bool
    """Whether the entity the values come from has quality issues (``qualityIssues``)."""


def attribute_value(attribute: Mapping[str, Any] | None) -> Any:
    """A Property's value or a Relationship's object."""
    if attribute is None:
        return None
    if attribute.get("type") == "Relationship":
        return attribute.get("object")
    return attribute.get("value")


def entity_point(entity: StoredEntity) -> Point | None:
    """The entity's ``location`` when it is a GeoJSON Point."""
    geometry = attribute_value(entity.attributes.get("location"))
    if isinstance(geometry, dict) and geometry.get("type") == "Point":
        lon, lat = geometry["coordinates"][:2]
        return float(lon), float(lat)
    return None


def observed_at(attribute: Mapping[str, Any] | None) -> datetime | None:
    """An attribute's ``observedAt``, or None when it has none or it cannot be read."""
    text = attribute.get("observedAt") if attribute else None
    if not isinstance(text, str):
        return None
    try:
        return parse_time(text)
    except ValueError:
        return None


class ItemBuilder:
    """Builds base items of one product and completes them at request time."""

    def __init__(self, product: Product, freshness: timedelta | None) -> None:
        self.product = product
        self.observation = product.observation
        self.freshness = freshness
        self.unknown_when_stale = (
            self.observation is not None and self.observation.when_stale == "unknown"
        )
        self.related = self.observation is not None and self.observation.entity_type is not None

    def build(self, entity: StoredEntity, observers: Sequence[StoredEntity] = ()) -> BaseItem:
        """The base item of a listed entity; ``observers`` are its related observing entities."""
        described: dict[str, Any] = {"id": entity.id}
        for field, attr in self.product.fields.items():
            described[field] = attribute_value(entity.attributes.get(attr))
        described["location"] = attribute_value(entity.attributes.get("location"))
        source = self._source(entity, observers)
        values = self.observation.values if self.observation is not None else {}
        observed = tuple(
            Observed(
                field,
                attribute_value(source.attributes.get(attr)) if source else None,
                observed_at(source.attributes.get(attr)) if source else None,
            )
            for field, attr in values.items()
        )
        newest = max((o.observed_at for o in observed if o.observed_at), default=None)
        return BaseItem(
            id=entity.id,
            described=described,
            point=entity_point(entity),
            observed=observed,
            newest=newest,
            newest_text=format_time(newest) if newest else None,
            sensor=source.id if source is not None and self.related else None,
            suspect=source is not None and _has_issues(source),
        )

    def cutoff(self, now: datetime) -> datetime | None:
        """Observations older than this are stale; None when the dataset has no freshness."""
        return None if self.freshness is None else now - self.freshness

    def complete(self, base: BaseItem, cutoff: datetime | None) -> dict[str, Any]:
        """The item as served: observed values, observation time and staleness as of now."""
        item = dict(base.described)
        if self.observation is None:
            return item
        stale = _too_old(base.newest, cutoff)
        for observed in base.observed:
            item[observed.field] = observed.value
            if self.unknown_when_stale and _too_old(observed.observed_at, cutoff):
                # An old count shown as current misleads; no number is better.
                item[observed.field] = None
        item["observedAt"] = base.newest_text
        item["stale"] = stale
        item["suspect"] = base.suspect
        if self.unknown_when_stale:
            item["availability"] = "unknown" if stale else "known"
        if self.related:
            item["sensor"] = base.sensor
        return item

    def _source(
        self, entity: StoredEntity, observers: Sequence[StoredEntity]
    ) -> StoredEntity | None:
        if self.observation is None:
            return None
        if not self.related:
            return entity
        attrs = list(self.observation.values.values())

        def newest(observer: StoredEntity) -> datetime | None:
            times = (observed_at(observer.attributes.get(attr)) for attr in attrs)
            return max((t for t in times if t is not None), default=None)

        dated = [(moment, o) for o in observers if (moment := newest(o)) is not None]
        return max(dated, key=lambda pair: pair[0])[1] if dated else None


def _has_issues(entity: StoredEntity) -> bool:
    issues = attribute_value(entity.attributes.get(QUALITY_ATTRIBUTE))
    return isinstance(issues, list) and len(issues) > 0


def _too_old(moment: datetime | None, cutoff: datetime | None) -> bool:
    return moment is None or (cutoff is not None and moment < cutoff)
