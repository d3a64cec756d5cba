"""A data product's view of the store: listed entities joined with their newest observations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from stadsnav.model.geo import haversine_m
from stadsnav.model.render import format_time
from stadsnav.model.times import parse_time
from stadsnav.store.base import ContextStore, StoredEntity
from stadsnav.workspace import Product, Workspace


@dataclass(frozen=True, slots=True)
class Near:
    """A distance filter around a point."""

    lon: float
    lat: float
    radius_m: float | None


def _value(attribute: dict[str, Any] | None) -> Any:
    if attribute is None:
        return None
    if attribute.get("type") == "Relationship":
        return attribute.get("object")
    return attribute.get("value")


def _point(entity: StoredEntity) -> tuple[float, float] | None:
    geometry = _value(entity.attributes.get("location"))
    if isinstance(geometry, dict) and geometry.get("type") == "Point":
        lon, lat = geometry["coordinates"][:2]
        return float(lon), float(lat)
    return None


class ProductView:
    """Builds the items of one product from the store."""

    def __init__(self, product: Product, workspace: Workspace) -> None:
        self.product = product
        self.observation = product.observation
        freshness: timedelta | None = None
        if self.observation is not None:
            freshness = workspace.datasets[self.observation.dataset].freshness
        self.freshness = freshness
        self.units = _units(product, workspace)
        """Output field → UN/CEFACT unit code, as the integrations' mappings declare it."""

    def items(self, store: ContextStore, near: Near | None = None) -> list[dict[str, Any]]:
        """Every listed entity as an item, nearest first when ``near`` is given."""
        entities = store.find_entities([self.product.entity_type])
        observations = self._observations_by_target(store)
        items = []
        for entity in entities:
            item = self._item(entity, observations.get(entity.id, []))
            if near is not None:
                point = _point(entity)
                if point is None:
                    continue
                distance = haversine_m(near.lon, near.lat, point[0], point[1])
                if near.radius_m is not None and distance > near.radius_m:
                    continue
                item["distance"] = round(distance)
            items.append(item)
        if near is not None:
            items.sort(key=lambda item: item["distance"])
        return items

    def item(self, store: ContextStore, entity: StoredEntity) -> dict[str, Any]:
        """One listed entity as an item."""
        return self._item(entity, self._observations_by_target(store).get(entity.id, []))

    def find(self, store: ContextStore, key: str) -> StoredEntity | None:
        """A listed entity by its full id or by the last part of it (``byske-havsbad``)."""
        entity = store.get_entity(key)
        if entity is not None and entity.type == self.product.entity_type:
            return entity
        if key.startswith("urn:"):
            return None
        pattern = (
            "^urn:ngsi-ld:.*:"
            + "".join(c if c.isalnum() or c in "-_" else "\\" + c for c in key)
            + "$"
        )
        found = store.find_entities([self.product.entity_type], id_pattern=pattern)
        return found[0] if len(found) == 1 else None

    def history(
        self, store: ContextStore, entity: StoredEntity, start: datetime, end: datetime, limit: int
    ) -> list[dict[str, Any]]:
        """Observed values for one listed entity in ``[start, end)``, oldest first."""
        assert self.observation is not None
        rows: list[tuple[datetime, dict[str, Any]]] = []
        attrs = list(self.observation.values.values())
        for observation in self._observations_by_target(store).get(entity.id, []):
            history = store.history(observation.id, attrs, start, end)
            for field, attr in self.observation.values.items():
                for instance in history.get(attr, []):
                    row = {field: instance.attribute.get("value"), "sensor": observation.id}
                    rows.append((instance.observed_at, row))
        # Sorted by time, not by formatted text: "…:00.5Z" sorts before "…:00Z" as text.
        rows.sort(key=lambda pair: pair[0])
        return [{"observedAt": format_time(moment), **row} for moment, row in rows[-limit:]]

    def _observations_by_target(self, store: ContextStore) -> dict[str, list[StoredEntity]]:
        if self.observation is None:
            return {}
        by_target: dict[str, list[StoredEntity]] = {}
        for observation in store.find_entities([self.observation.entity_type]):
            target = _value(observation.attributes.get(self.observation.relationship))
            if isinstance(target, str):
                by_target.setdefault(target, []).append(observation)
        return by_target

    def _item(self, entity: StoredEntity, observations: Sequence[StoredEntity]) -> dict[str, Any]:
        item: dict[str, Any] = {"id": entity.id}
        for field, attr in self.product.fields.items():
            item[field] = _value(entity.attributes.get(attr))
        item["location"] = _value(entity.attributes.get("location"))
        if self.observation is None:
            return item
        newest = self._newest(observations)
        observed_at: datetime | None = None
        for field, attr in self.observation.values.items():
            attribute = newest.attributes.get(attr) if newest else None
            item[field] = _value(attribute)
            if attribute and attribute.get("observedAt"):
                observed_at = parse_time(attribute["observedAt"])
        item["observedAt"] = format_time(observed_at) if observed_at else None
        item["stale"] = self._is_stale(observed_at)
        item["sensor"] = newest.id if newest else None
        return item

    def _newest(self, observations: Sequence[StoredEntity]) -> StoredEntity | None:
        assert self.observation is not None
        attrs = list(self.observation.values.values())

        def observed(entity: StoredEntity) -> datetime | None:
            times = [(entity.attributes.get(a) or {}).get("observedAt") for a in attrs]
            return max((parse_time(t) for t in times if t), default=None)

        dated = [(moment, o) for o in observations if (moment := observed(o)) is not None]
        return max(dated, key=lambda pair: pair[0])[1] if dated else None

    def _is_stale(self, observed_at: datetime | None) -> bool:
        if observed_at is None:
            return True
        if self.freshness is None:
            return False
        return datetime.now(UTC) - observed_at > self.freshness


def _units(product: Product, workspace: Workspace) -> dict[str, str]:
    # Known from the workspace, so no request has to scan the stored observations for it.
    observation = product.observation
    if observation is None:
        return {}
    units: dict[str, str] = {}
    for integration in workspace.integrations.values():
        mapping = integration.mapping
        if mapping.entity_type != observation.entity_type:
            continue
        for field, attr in observation.values.items():
            rule = mapping.properties.get(attr)
            if rule is not None and rule.unit_code:
                units[field] = rule.unit_code
    return units
