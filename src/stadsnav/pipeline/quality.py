"""A dataset's quality rules: ranges that reject or flag a value, and sums that must add up."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from stadsnav.workspace.models import Dataset, RangeRule, SumCheck

QUALITY_ATTRIBUTE = "qualityIssues"
"""The Property that lists what is wrong with an entity's newest values ([] when nothing is)."""


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _shown(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)


class QualityRules:
    """The rules of one dataset, applied to the values one message gives an entity."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset.id
        self._rules: dict[str, RangeRule] = dict(dataset.rules)
        self._checks: list[SumCheck] = list(dataset.checks)
        self.checked: frozenset[str] = frozenset(
            [name for name, rule in self._rules.items() if rule.flag]
            + [name for check in self._checks for name in (*check.sum, check.bound)]
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
        for name, rule in self._rules.items():
            number = _number(values.get(name))
            if rule.flag and number is not None and _outside(rule, number):
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


def _outside(rule: RangeRule, number: float) -> bool:
    return (rule.min is not None and number < rule.min) or (
        rule.max is not None and number > rule.max
    )


def _bound(value: float | None) -> str:
    return "…" if value is None else _shown(value)
