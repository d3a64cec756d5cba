"""Count the state of many entities (parking spots) into the entity they belong to."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from stadsnav.model.render import format_time
from stadsnav.model.times import parse_time
from stadsnav.store.base import AttributeWrite, Provenance, StoredEntity
from stadsnav.workspace.models import Rollup


@dataclass(slots=True)
class ChildState:
    """One counted entity's newest state and what it belongs to."""

    parent: str
    state: str
    observed_at: datetime
    provenance: Provenance | None = None


class RollupCounter:
    """One integration's rollup: which attributes of the parent hold which counts."""

    def __init__(self, rollup: Rollup, child_type: str) -> None:
        self.rollup = rollup
        self.child_type = child_type

    def stored_state(self, entity: StoredEntity) -> ChildState | None:
        """A stored child's state, or None if it has no parent or no observed state."""
        link = entity.attributes.get(self.rollup.relationship) or {}
        state = entity.attributes.get(self.rollup.property) or {}
        parent, value, observed = link.get("object"), state.get("value"), state.get("observedAt")
        if not isinstance(parent, str) or value is None or not isinstance(observed, str):
            return None
        return ChildState(parent, str(value), parse_time(observed))

    def writes(
        self,
        touched: dict[str, ChildState],
        stored: list[StoredEntity],
        parent_type: Callable[[str], str | None],
    ) -> list[AttributeWrite]:
        """The counts of every parent that a child in ``touched`` belongs to, as observations.

        ``touched`` holds this batch's newest state per child; ``stored`` the children as stored
        before the batch. Each count is stamped with its parent's newest child observation.
        """
        children: dict[str, ChildState] = {}
        for entity in stored:
            state = self.stored_state(entity)
            if state is not None:
                children[entity.id] = state
        for child_id, state in touched.items():
            known = children.get(child_id)
            if known is None or known.observed_at <= state.observed_at:
                children[child_id] = state
        parents = {state.parent for state in touched.values()}
        writes: list[AttributeWrite] = []
        for parent in sorted(parents):
            entity_type = parent_type(parent)
            if entity_type is None:
                continue
            members = [state for state in children.values() if state.parent == parent]
            changed = [state for state in members if state.provenance is not None]
            if not changed:
                continue  # only late states arrived: the stored counts still hold
            counts = Counter(state.state for state in members)
            newest = max(members, key=lambda state: state.observed_at)
            provenance = max(changed, key=lambda state: state.observed_at).provenance
            at = format_time(newest.observed_at)
            totals = {attr: counts.get(value, 0) for value, attr in self.rollup.counts.items()}
            if self.rollup.total is not None:
                totals[self.rollup.total] = len(members)
            for name, number in totals.items():
                attribute = {"type": "Property", "value": number, "observedAt": at}
                writes.append(
                    AttributeWrite(
                        parent, entity_type, name, attribute, newest.observed_at, provenance
                    )
                )
        return writes
