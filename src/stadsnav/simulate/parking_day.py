"""A believable parking day: how full a facility is at any moment, and one bay's comings and goings.

Occupancy follows a curve per facility *character* (commuter garage, shopping garage, city street,
culture and leisure) and per kind of day (weekday, Saturday, Sunday), read in local time, plus a
small wobble that is the same for the same seed, facility and moment, so tests can assert shape.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

Character = Literal["commuter", "shopping", "city", "leisure"]
DayKind = Literal["weekday", "saturday", "sunday"]
Curve = tuple[tuple[float, float], ...]
"""(local hour, share of spaces taken) knots, from hour 0 to hour 24, linearly interpolated."""

STOCKHOLM = ZoneInfo("Europe/Stockholm")

CURVES: dict[Character, dict[DayKind, Curve]] = {
    # Offices and the travel centre: fills 7-9, full through the working day, empty by 18.
    "commuter": {
        "weekday": (
            (0, 0.06), (5, 0.06), (6, 0.12), (7, 0.35), (8, 0.72), (9, 0.88), (11, 0.92),
            (12, 0.86), (13, 0.90), (15, 0.85), (16, 0.68), (17, 0.42), (18, 0.25),
            (20, 0.14), (22, 0.09), (24, 0.06),
        ),
        "saturday": (
            (0, 0.05), (8, 0.06), (10, 0.20), (12, 0.30), (14, 0.28), (16, 0.20),
            (18, 0.12), (21, 0.08), (24, 0.05),
        ),
        "sunday": (
            (0, 0.05), (9, 0.05), (11, 0.12), (14, 0.15), (17, 0.10), (20, 0.06), (24, 0.05),
        ),
    },
    # Shops open 10-19 (Saturday 10-17, Sunday 11-16); an after-work bump at 16-17.
    "shopping": {
        "weekday": (
            (0, 0.03), (7, 0.04), (9, 0.12), (10, 0.30), (11, 0.50), (12, 0.66), (13, 0.70),
            (14, 0.64), (15, 0.66), (16, 0.75), (17, 0.80), (18, 0.62), (19, 0.40),
            (20, 0.20), (22, 0.06), (24, 0.03),
        ),
        "saturday": (
            (0, 0.03), (9, 0.06), (10, 0.35), (11, 0.70), (12, 0.88), (13, 0.95), (14, 0.92),
            (15, 0.80), (16, 0.60), (17, 0.35), (18, 0.15), (20, 0.06), (24, 0.03),
        ),
        "sunday": (
            (0, 0.03), (10, 0.06), (11, 0.30), (12, 0.55), (13, 0.62), (14, 0.58),
            (15, 0.45), (16, 0.25), (17, 0.10), (19, 0.05), (24, 0.03),
        ),
    },
    # Street parking in the centre: residents overnight, errands and lunch by day, dinner after.
    "city": {
        "weekday": (
            (0, 0.15), (5, 0.12), (7, 0.25), (8, 0.50), (9, 0.65), (10, 0.75), (11, 0.85),
            (12, 0.90), (13, 0.88), (14, 0.80), (16, 0.78), (17, 0.72), (18, 0.60),
            (20, 0.50), (21, 0.40), (22, 0.28), (24, 0.15),
        ),
        "saturday": (
            (0, 0.18), (7, 0.15), (9, 0.35), (10, 0.60), (11, 0.80), (12, 0.90), (13, 0.88),
            (14, 0.82), (15, 0.70), (16, 0.55), (18, 0.50), (20, 0.50), (22, 0.35), (24, 0.18),
        ),
        "sunday": (
            (0, 0.18), (8, 0.15), (10, 0.25), (12, 0.45), (14, 0.50), (16, 0.40), (18, 0.35),
            (20, 0.30), (22, 0.22), (24, 0.18),
        ),
    },
    # Culture house and museum park: modest by day, full for evening events and at weekends.
    "leisure": {
        "weekday": (
            (0, 0.05), (6, 0.05), (8, 0.20), (10, 0.35), (12, 0.45), (14, 0.40), (16, 0.35),
            (17, 0.40), (18, 0.60), (19, 0.78), (20, 0.80), (21, 0.65), (22, 0.35),
            (23, 0.15), (24, 0.05),
        ),
        "saturday": (
            (0, 0.08), (8, 0.05), (10, 0.30), (12, 0.55), (14, 0.60), (16, 0.50), (18, 0.60),
            (19, 0.75), (20, 0.80), (22, 0.45), (24, 0.08),
        ),
        "sunday": (
            (0, 0.08), (9, 0.05), (11, 0.35), (13, 0.55), (15, 0.55), (17, 0.40), (19, 0.30),
            (21, 0.12), (24, 0.08),
        ),
    },
}  # fmt: skip


def day_kind(local: datetime) -> DayKind:
    """Weekday, Saturday or Sunday of a local time."""
    weekday = local.weekday()
    return "saturday" if weekday == 5 else "sunday" if weekday == 6 else "weekday"


def curve_value(curve: Curve, hour: float) -> float:
    """The curve at ``hour`` (0-24), linearly between its knots."""
    hours = [knot[0] for knot in curve]
    index = min(max(bisect_right(hours, hour), 1), len(curve) - 1)
    (h0, v0), (h1, v1) = curve[index - 1], curve[index]
    return v0 + (v1 - v0) * (hour - h0) / (h1 - h0)


@dataclass(frozen=True)
class DayModel:
    """How full each kind of facility is at a moment: same seed and moment, same answer."""

    seed: int = 2026
    zone: ZoneInfo = STOCKHOLM
    wobble: float = 0.06
    """Standard deviation of a facility's deviation from its curve, relative to the curve."""
    knot_minutes: int = 20
    """The deviation is drawn every this many minutes and interpolated, so it drifts smoothly."""

    def typical(self, character: Character, moment: datetime) -> float:
        """The curve's share of spaces taken at ``moment`` (aware), without any deviation."""
        local = moment.astimezone(self.zone)
        hour = local.hour + local.minute / 60 + local.second / 3600
        return curve_value(CURVES[character][day_kind(local)], hour)

    def fraction(
        self, character: Character, key: str, moment: datetime, scale: float = 1.0
    ) -> float:
        """Share of the spaces of facility ``key`` taken at ``moment``, between 0 and 1."""
        # Relative, so a quiet night stays quiet and a busy noon varies by a few cars.
        taken = self.typical(character, moment) * scale * (1 + self._deviation(key, moment))
        return min(1.0, max(0.0, taken))

    def occupied(
        self, character: Character, key: str, capacity: int, moment: datetime, scale: float = 1.0
    ) -> int:
        """Spaces of facility ``key`` taken at ``moment``."""
        return round(capacity * self.fraction(character, key, moment, scale))

    def _deviation(self, key: str, moment: datetime) -> float:
        step = self.knot_minutes * 60
        position = moment.timestamp() / step
        knot = math.floor(position)
        before, after = self._knot(key, knot), self._knot(key, knot + 1)
        return before + (after - before) * (position - knot)

    def _knot(self, key: str, knot: int) -> float:
        return _knot_deviation(self.seed, key, knot) * self.wobble


@lru_cache(maxsize=4096)
def _knot_deviation(seed: int, key: str, knot: int) -> float:
    # A string seed makes Random hash it with SHA-512: stable across processes and runs.
    return random.Random(f"{seed}:{key}:{knot}").gauss(0, 1)


@dataclass(frozen=True)
class Flip:
    """A bay changing state: when, to which state, after how long in the previous one."""

    moment: datetime
    occupied: bool
    previous: timedelta


@dataclass
class Bay:
    """One parking bay: cars arrive and leave as a Poisson process balanced by the day curve.

    Cars stay ``mean_stay`` on average; arrivals come at the rate that makes the long-run share
    of time occupied equal to the curve's ``target``. ``speed`` multiplies both rates (more
    turnover, same balance), so a test sees many flips in little time.
    """

    mean_stay: timedelta
    rng: random.Random
    occupied: bool = False
    since: datetime | None = None
    at: datetime | None = None

    def start(self, moment: datetime, target: float) -> None:
        """Put the bay in a state drawn for ``moment``, as if it had been running before."""
        self.occupied = self.rng.random() < target
        held = self.rng.expovariate(1 / self.mean_stay.total_seconds())
        self.since = moment - timedelta(seconds=held)
        self.at = moment

    def advance(
        self, until: datetime, target: Callable[[datetime], float], speed: float = 1.0
    ) -> list[Flip]:
        """Run the bay on to ``until``; the flips on the way, oldest first."""
        if self.at is None or self.since is None:
            raise RuntimeError("start() the bay before advancing it")
        step = timedelta(seconds=60 / max(speed, 1.0))
        leave = speed / self.mean_stay.total_seconds()
        flips: list[Flip] = []
        while self.at < until:
            end = min(self.at + step, until)
            share = min(0.97, max(0.02, target(end)))
            rate = leave if self.occupied else leave * share / (1 - share)
            if self.rng.random() < -math.expm1(-rate * (end - self.at).total_seconds()):
                flips.append(Flip(end, not self.occupied, end - self.since))
                self.occupied, self.since = not self.occupied, end
            self.at = end
        return flips
