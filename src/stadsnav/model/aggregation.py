"""Aggregated temporal representation (ETSI GS CIM 009, 4.5.19): methods, periods, buckets.

The store sums each attribute's instances per period in SQL (count, distinct values, and over
the numeric values: count, sum, sum of squares, min, max); everything a method needs follows
from those figures, so stddev needs no database function.
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

METHODS: Final = ("totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq")
"""The aggregation methods of 4.5.19, in the order answers list them."""
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_DURATION: Final = re.compile(
    r"P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?"
)


class AggregationError(ValueError):
    """aggrMethods or aggrPeriodDuration that cannot be used; the message says why."""


def parse_methods(value: str | Sequence[str]) -> tuple[str, ...]:
    """The aggregation methods of a comma-separated text or a list of names, in answer order."""
    items = value.split(",") if isinstance(value, str) else list(value)
    names = {str(item).strip() for item in items if str(item).strip()}
    unknown = names - set(METHODS)
    if unknown:
        raise AggregationError(
            f"aggrMethods: unknown method(s) {', '.join(sorted(unknown))}; use {', '.join(METHODS)}"
        )
    if not names:
        raise AggregationError(f"aggrMethods: name at least one of {', '.join(METHODS)}")
    return tuple(method for method in METHODS if method in names)


@dataclass(frozen=True, slots=True)
class Period:
    """An ISO 8601 duration: calendar months (years are twelve) and a fixed length."""

    months: int = 0
    micros: int = 0

    @property
    def whole(self) -> bool:
        """A zero duration: one period spanning the whole time window."""
        return self.months == 0 and self.micros == 0

    def boundary(self, origin: datetime, count: int) -> datetime:
        """The start of the ``count``-th period after ``origin``."""
        moved = add_months(origin, self.months * count) if self.months else origin
        return moved + self.micros * count * _MICROSECOND


_MAX_MONTHS: Final = 12_000
_MAX_PERIOD: Final = timedelta(days=366_000)


def parse_period(text: str) -> Period:
    """An aggrPeriodDuration such as ``PT1H``, ``P1D`` or ``P1M``; ``P0D`` is the whole window."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or text.strip() in ("P", "") or text.strip().endswith("T"):
        raise AggregationError(
            f"aggrPeriodDuration {text!r} is not an ISO 8601 duration such as PT1H, P1D or P1M"
        )
    parts = {key: value for key, value in match.groupdict().items() if value is not None}
    months = int(parts.get("years", 0)) * 12 + int(parts.get("months", 0))
    seconds = float(parts.get("seconds", "0").replace(",", "."))
    try:
        fixed = timedelta(
            weeks=int(parts.get("weeks", 0)),
            days=int(parts.get("days", 0)),
            hours=int(parts.get("hours", 0)),
            minutes=int(parts.get("minutes", 0)),
            seconds=seconds,
        )
    except OverflowError:
        fixed = timedelta.max
    if months > _MAX_MONTHS or fixed > _MAX_PERIOD:
        raise AggregationError(
            f"aggrPeriodDuration {text!r} is longer than 1000 years: leave it out to aggregate "
            "the whole window"
        )
    return Period(months, fixed // _MICROSECOND)


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` later; the 31st becomes the month's last day."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def epoch_micros(moment: datetime) -> int:
    """Microseconds since 1970-01-01 UTC."""
    return (moment - EPOCH) // _MICROSECOND


def from_epoch_micros(micros: int) -> datetime:
    """The UTC time ``micros`` microseconds after 1970-01-01."""
    return EPOCH + micros * _MICROSECOND


@dataclass(frozen=True, slots=True)
class Bucket:
    """What one attribute instance series (entity, attribute, dataset) holds in one period."""

    entity_id: str
    name: str
    dataset_id: str
    """'' for the default instance."""
    start: datetime
    end: datetime
    count: int
    """Instances in the period."""
    distinct: int
    """Distinct values among them."""
    numbers: int
    """Instances with a numeric value; the figures below are over those."""
    total: float | None
    squares: float | None
    minimum: float | None
    maximum: float | None

    def value(self, method: str) -> float | int | None:
        """The figure of one aggregation method; None where no numeric value makes one."""
        if method == "totalCount":
            return self.count
        if method == "distinctCount":
            return self.distinct
        if not self.numbers or self.total is None or self.squares is None:
            return None
        if method == "sum":
            return float(self.total)
        if method == "avg":
            return float(self.total) / self.numbers
        if method == "sumsq":
            return float(self.squares)
        if method == "stddev":
            return _stddev(self.numbers, float(self.total), float(self.squares))
        chosen = self.minimum if method == "min" else self.maximum
        return None if chosen is None else float(chosen)


def _stddev(count: int, total: float, squares: float) -> float:
    """The sample standard deviation from n, Σx and Σx² (0 for one value)."""
    if count < 2:
        return 0.0
    # Rounding can leave a tiny negative where every value is the same.
    return math.sqrt(max(0.0, (squares - total * total / count) / (count - 1)))


def aggregated_attributes(
    buckets: Iterable[Bucket],
    methods: Sequence[str],
    time_text: Callable[[datetime], str],
    name_of: Callable[[str], str] | None = None,
    kinds: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Attribute name → its aggregated representation: per method ``[[value, startAt, endAt]]``.

    ``time_text`` formats a time; ``name_of`` (a stored name → the answer's name) renames;
    ``kinds`` gives an attribute's type (Property when not given). An attribute with instances
    of several datasets is a list, one object per datasetId.
    """
    series: dict[str, dict[str, dict[str, Any]]] = {}
    for bucket in sorted(buckets, key=lambda b: (b.name, b.dataset_id, b.start)):
        per_dataset = series.setdefault(bucket.name, {})
        body = per_dataset.get(bucket.dataset_id)
        if body is None:
            kind = "Property" if kinds is None else kinds.get(bucket.name, "Property")
            body = per_dataset[bucket.dataset_id] = {"type": kind}
            if bucket.dataset_id:
                body["datasetId"] = bucket.dataset_id
        start, end = time_text(bucket.start), time_text(bucket.end)
        for method in methods:
            figure = bucket.value(method)
            if figure is not None:
                body.setdefault(method, []).append([figure, start, end])
    result: dict[str, Any] = {}
    for name, per_dataset in series.items():
        bodies = [per_dataset[key] for key in sorted(per_dataset)]
        result[name if name_of is None else name_of(name)] = (
            bodies[0] if len(bodies) == 1 else bodies
        )
    return result


__all__ = [
    "METHODS",
    "AggregationError",
    "Bucket",
    "Period",
    "add_months",
    "aggregated_attributes",
    "epoch_micros",
    "from_epoch_micros",
    "parse_methods",
    "parse_period",
]
