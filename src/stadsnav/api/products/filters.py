"""A product's declared filters: query parameters that keep only the items that match."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stadsnav.api.problems import ApiError
from stadsnav.workspace.models import Filter

_WORDS = {"min": "at least", "max": "at most", "eq": "equal to"}


@dataclass(frozen=True, slots=True)
class ItemFilter:
    """One filter with the value a request gave it."""

    name: str
    field: str
    op: str
    value: float | str
    """A number for ``min`` and ``max``, text for ``eq``."""

    def passes(self, item: Mapping[str, Any]) -> bool:
        """Whether the item matches; an item without a value for the field never does."""
        found, wanted = item.get(self.field), self.value
        if found is None:
            return False
        if isinstance(wanted, str):
            return _text(found).casefold() == wanted.casefold()
        if not isinstance(found, int | float) or isinstance(found, bool):
            return False
        return found >= wanted if self.op == "min" else found <= wanted


def parse_filters(declared: Mapping[str, Filter], query: Mapping[str, str]) -> list[ItemFilter]:
    """The declared filters the query gives a value for; 400 for a value that is not usable."""
    active = []
    for name, declared_filter in declared.items():
        text = query.get(name)
        if text is None:
            continue
        value: float | str = text
        if declared_filter.op != "eq":
            value = _number(name, text)
        elif not text:
            raise ApiError(400, f"{name} is empty: give a value, or leave the parameter out")
        active.append(ItemFilter(name, declared_filter.field, declared_filter.op, value))
    return active


def filter_parameters(declared: Mapping[str, Filter]) -> list[dict[str, Any]]:
    """The filters as OpenAPI query parameters."""
    return [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": _description(declared_filter),
            "schema": {"type": "string" if declared_filter.op == "eq" else "number"},
        }
        for name, declared_filter in declared.items()
    ]


def _description(declared: Filter) -> str:
    rule = f"Only items whose `{declared.field}` is {_WORDS[declared.op]} this value"
    if declared.op == "eq":
        rule += " (ignoring case)"
    else:
        rule += "; items whose value is unknown are left out"
    return f"{declared.description.rstrip('.')}. {rule}." if declared.description else rule + "."


def _number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ApiError(400, f"{name}={text!r} is not a number: give one like {name}=5") from None
    if not math.isfinite(value):
        raise ApiError(400, f"{name}={text!r}: give a finite number like {name}=5")
    return value


def _text(value: Any) -> str:
    # The spelling a client sees in the JSON answer: true/false, not True/False.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
