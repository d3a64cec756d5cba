"""A dataset's quality rules: ranges that reject or flag a value, sums that must add up, and
values that have not changed for so long that the sensor is probably stuck."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from stadsnav.model.times import iso_duration
from stadsnav.workspace.models import Dataset, RangeRule, SumCheck

QUALITY_ATTRIBUTE = "qualityIssues"
"""The Property that lists what is wrong with an entity's newest values ([] when nothing is)."""


StoredSince = Callable[[str, Any, datetime, datetime], datetime | None]
"""(attribute, value, before, horizon) → since when the entity's stored history has had the
value, as ``ContextStore.unchanged_since`` answers."""


@dataclass(frozen=True, slots=True)
class Run:
    """An attribute's value, since when it has had it and when it was last observed with it."""

    value: Any
    since: datetime
    last: datetime


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _shown(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)


def _text(value: Any) -> str:
    number = _number(value)
    return _shown(number) if number is not None and math.isfinite(number) else repr(value)


class QualityRules:
    """The rules of one dataset, applied to the values one message gives an entity."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset.id
        self._rules: dict[str, RangeRule] = dict(dataset.rules)
        self._checks: list[SumCheck] = list(dataset.checks)
        self._flagged = {name: rule for name, rule in self._rules.items() if rule.flag}
        self.stuck_after: dict[str, timedelta] = {
            name: rule.stuck_after for name, rule in self._rules.items() if rule.stuck_after
        }
        """Attribute → how long its value may stay the same; only these are checked by ``stuck``."""
        self.checked: frozenset[str] = frozenset(
            [*self._flagged]
            + [name for check in self._checks for name in (*check.sum, check.bound)]
            + list(self.stuck_after)
        )
        """The attributes a flagging rule looks at; entities with any get ``qualityIssues``."""

    def rejection(self, name: str, value: Any) -> str | None:
        """Why a value must be rejected, or None; NaN and infinity are never stored."""
        rule = self._rules.get(name)
        number = _number(value)
        if rule is None or number is None:
            return None
        if not math.isfinite(number):
            return f"{name} is {value}, not a number"
        if not rule.flag and _outside(rule, number):
            return (
                f"{name} = {_shown(number)} is outside the dataset's range "
                f"[{_bound(rule.min)}, {_bound(rule.max)}] ({self.dataset})"
            )
        return None

    def issues(self, values: Mapping[str, Any], known: Callable[[str], Any]) -> list[str]:
        """What the flagging rules find in ``values`` (one message's values for one entity).

        A sum is checked only when the message gives all its parts; the value it is compared
        with may come from ``known`` (the entity's stored value, e.g. a capacity).
        """
        found: list[str] = []
        for name, rule in self._flagged.items():
            number = _number(values.get(name))
            if number is not None and _outside(rule, number):
                found.append(
                    f"{name} = {_shown(number)} is outside [{_bound(rule.min)}, {_bound(rule.max)}]"
                )
        for check in self._checks:
            parts = {name: _number(values.get(name)) for name in check.sum}
            numbers = [part for part in parts.values() if part is not None]
            if len(numbers) < len(parts):
                continue
            bound = _number(values[check.bound] if check.bound in values else known(check.bound))
            if bound is None:
                continue
            total = sum(numbers)
            terms = " + ".join(
                f"{name} ({_shown(part)})" for name, part in zip(parts, numbers, strict=True)
            )
            if check.equals and total != bound:
                found.append(f"{terms} = {_shown(total)}, not {check.equals} ({_shown(bound)})")
            elif check.at_most and total > bound:
                found.append(f"{terms} is more than {check.at_most} ({_shown(bound)})")
        return found

    def stuck(
        self,
        values: Mapping[str, Any],
        observed: Collection[str],
        at: datetime,
        runs: MutableMapping[str, Run],
        stored: StoredSince | None,
    ) -> list[str]:
        """The ``observed`` values, observed at ``at``, unchanged for longer than ``stuck_after``.

        Only attributes with that rule are looked at: a door that stays closed is no issue.
        ``runs`` (attribute → its run so far) holds what ``stored`` cannot know yet, the values
        of earlier messages of the same batch; it is updated with these values.
        """
        found: list[str] = []
        for name, limit in self.stuck_after.items():
            value = values.get(name)
            if value is None or name not in observed:
                continue
            since, runs[name] = _since(runs.get(name), name, value, at, limit, stored)
            if at - since > limit:
                found.append(
                    f"{name} = {_text(value)} has not changed for longer than "
                    f"{iso_duration(limit)}: a stuck sensor?"
                )
        return found


def _since(
    run: Run | None,
    name: str,
    value: Any,
    at: datetime,
    limit: timedelta,
    stored: StoredSince | None,
) -> tuple[datetime, Run]:
    """Since when ``value`` has been observed as of ``at``, and the batch's run after it."""
    if run is not None and at >= run.last:
        since = run.since if run.value == value else at
        return since, Run(value, since, at)
    # Looked back only as far as the rule needs: a sensor stuck for months costs no more.
    since = (None if stored is None else stored(name, value, at, at - limit)) or at
    if run is None:
        return since, Run(value, since, at)
    if run.value != value and at >= run.since:
        # An older observation that breaks the batch's newest run: the run surely holds only
        # from its newest value on.
        run = Run(run.value, run.last, run.last)
    return since, run


def _outside(rule: RangeRule, number: float) -> bool:
    return (rule.min is not None and number < rule.min) or (
        rule.max is not None and number > rule.max
    )


def _bound(value: float | None) -> str:
    return "…" if value is None else _shown(value)
