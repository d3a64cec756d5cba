"""Count the state of many entities (parking spots) into the entity they belong to."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from stadsnav.model.render import format_time
from stadsnav.model.times import parse_time
from stadsnav.store.base import AttributeWrite, Provenance, RelatedCount, StoredEntity
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
        before: dict[str, ChildState],
        counts: list[RelatedCount],
        parent_type: Callable[[str], str | None],
    ) -> list[AttributeWrite]:
        """The new counts of every parent whose children changed in this batch.

        ``touched`` holds this batch's newest state per child and ``before`` their states as
        stored; ``counts`` the stored counts of every parent either names. A child's state
        older than its stored one changes nothing. Each count is stamped with the newest
        observation among the parent's children.
        """
        tally: dict[str, Counter[str]] = {}
        newest: dict[str, datetime] = {}
        for count in counts:
            tally.setdefault(count.target, Counter())[count.value] += count.count
            if count.newest is not None:
                newest[count.target] = max(newest.get(count.target, count.newest), count.newest)
        changed: dict[str, ChildState] = {}
        for child_id, state in touched.items():
            old = before.get(child_id)
            if old is not None and old.observed_at > state.observed_at:
                continue  # a late uplink: the stored state stays
            if old is not None:
                tally.setdefault(old.parent, Counter())[old.state] -= 1
                changed.setdefault(old.parent, state)
            tally.setdefault(state.parent, Counter())[state.state] += 1
            newest[state.parent] = max(
                newest.get(state.parent, state.observed_at), state.observed_at
            )
            latest = changed.get(state.parent)
            if latest is None or latest.observed_at <= state.observed_at:
                changed[state.parent] = state
        writes: list[AttributeWrite] = []
        for parent in sorted(changed):
            entity_type = parent_type(parent)
            if entity_type is None:
                continue
            members = tally[parent]
            totals = {attr: members.get(value, 0) for value, attr in self.rollup.counts.items()}
            if self.rollup.total is not None:
                totals[self.rollup.total] = sum(members.values())
            at = newest[parent]
            for name, number in totals.items():
                attribute = {"type": "Property", "value": number, "observedAt": format_time(at)}
                writes.append(
                    AttributeWrite(
                        parent, entity_type, name, attribute, at, changed[parent].provenance
                    )
                )
        return writes
