"""The parking day model: a believable shape per kind of facility, the same for the same seed."""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from stadsnav.simulate.parking_day import CURVES, Bay, Character, DayModel, curve_value

LOCAL = ZoneInfo("Europe/Stockholm")
TUESDAY = datetime(2026, 3, 10, tzinfo=LOCAL)
SATURDAY = datetime(2026, 3, 14, tzinfo=LOCAL)
SUNDAY = datetime(2026, 3, 15, tzinfo=LOCAL)
MODEL = DayModel(seed=11)


def at(day: datetime, hour: float) -> float:
    """Typical commuter share at a local hour of ``day``."""
    return MODEL.typical("commuter", day + timedelta(hours=hour))


def share(character: Character, day: datetime, hour: float, key: str = "P1") -> float:
    return MODEL.fraction(character, key, day + timedelta(hours=hour))


def test_a_commuter_garage_is_empty_at_night_fills_7_to_9_and_empties_in_the_evening() -> None:
    assert share("commuter", TUESDAY, 3) < 0.1
    assert (
        share("commuter", TUESDAY, 7)
        < share("commuter", TUESDAY, 8)
        < share("commuter", TUESDAY, 9)
    )
    assert share("commuter", TUESDAY, 7) < 0.45 < 0.8 < share("commuter", TUESDAY, 9)
    assert share("commuter", TUESDAY, 11) > 0.8
    assert share("commuter", TUESDAY, 20) < 0.2


def test_a_shopping_garage_peaks_at_midday_with_an_after_work_bump() -> None:
    assert share("shopping", TUESDAY, 8) < 0.15
    assert share("shopping", TUESDAY, 13) > 0.6
    assert MODEL.typical("shopping", TUESDAY + timedelta(hours=17)) > MODEL.typical(
        "shopping", TUESDAY + timedelta(hours=15)
    )
    assert share("shopping", TUESDAY, 22) < 0.1


def test_weekends_differ_commuters_stay_home_shoppers_come_on_saturday() -> None:
    assert share("commuter", SATURDAY, 11) < share("commuter", TUESDAY, 11) / 2
    assert share("commuter", SUNDAY, 11) < share("commuter", SATURDAY, 11)
    weekday_peak = max(MODEL.typical("shopping", TUESDAY + timedelta(hours=h)) for h in range(24))
    saturday_peak = max(MODEL.typical("shopping", SATURDAY + timedelta(hours=h)) for h in range(24))
    assert saturday_peak > weekday_peak


def test_city_streets_keep_residents_overnight_and_leisure_parks_fill_for_the_evening() -> None:
    assert share("city", TUESDAY, 3) > share("commuter", TUESDAY, 3)
    assert share("leisure", TUESDAY, 19.5) > share("leisure", TUESDAY, 12) + 0.2


def test_the_curve_is_read_in_local_time_also_in_summer_time() -> None:
    winter = datetime(2026, 1, 13, 7, tzinfo=ZoneInfo("UTC"))  # 08:00 CET
    summer = datetime(2026, 7, 14, 6, tzinfo=ZoneInfo("UTC"))  # 08:00 CEST
    expected = curve_value(CURVES["commuter"]["weekday"], 8)
    assert MODEL.typical("commuter", winter) == pytest.approx(expected)
    assert MODEL.typical("commuter", summer) == pytest.approx(expected)


def test_curves_span_the_whole_day_with_shares_between_0_and_1() -> None:
    for days in CURVES.values():
        for curve in days.values():
            hours = [hour for hour, _ in curve]
            assert hours[0] == 0
            assert hours[-1] == 24
            assert hours == sorted(set(hours))
            assert all(0 <= value <= 1 for _, value in curve)
    assert curve_value(((0, 0.0), (10, 1.0), (24, 0.0)), 5) == pytest.approx(0.5)
    assert curve_value(((0, 0.0), (10, 1.0), (24, 0.0)), 17) == pytest.approx(0.5)


def test_the_same_seed_and_moment_give_the_same_share_and_another_seed_another() -> None:
    moments = [TUESDAY + timedelta(minutes=7 * i) for i in range(400)]
    first = [DayModel(seed=5).fraction("city", "P1", m) for m in moments]
    again = [DayModel(seed=5).fraction("city", "P1", m) for m in moments]
    other = [DayModel(seed=6).fraction("city", "P1", m) for m in moments]
    assert first == again
    assert first != other
    assert all(0 <= value <= 1 for value in first + other)


def test_facilities_of_one_character_deviate_a_little_and_smoothly() -> None:
    noon = TUESDAY + timedelta(hours=12)
    shares = [MODEL.fraction("commuter", f"P{i}", noon) for i in range(30)]
    assert len(set(shares)) == 30
    assert max(shares) - min(shares) < 0.4
    minutes = [MODEL.fraction("commuter", "P1", noon + timedelta(minutes=m)) for m in range(60)]
    assert max(abs(b - a) for a, b in itertools.pairwise(minutes)) < 0.02


def test_occupied_spaces_never_exceed_the_capacity() -> None:
    busy = DayModel(seed=3, wobble=0.3)
    week = [SATURDAY + timedelta(minutes=10 * i) for i in range(7 * 144)]
    counts = [busy.occupied("shopping", "PN-1", 280, m, scale=1.1) for m in week]
    assert max(counts) == 280  # a popular garage is full on a Saturday now and then
    assert min(counts) >= 0


def bay_share(target: float, speed: float, days: int, seed: int = 1) -> tuple[float, int]:
    """(share of time occupied, flips) of a bay held at a constant target."""
    bay = Bay(timedelta(minutes=45), random.Random(seed))
    start = TUESDAY
    bay.start(start, target)
    occupied_seconds, state, since = 0.0, bay.occupied, start
    flips = bay.advance(start + timedelta(days=days), lambda _: target, speed)
    for flip in flips:
        if state:
            occupied_seconds += (flip.moment - since).total_seconds()
        state, since = flip.occupied, flip.moment
    if state:
        occupied_seconds += (start + timedelta(days=days) - since).total_seconds()
    return occupied_seconds / (days * 86400), len(flips)


def test_a_bay_is_occupied_for_the_share_of_time_the_curve_says() -> None:
    for target in (0.2, 0.5, 0.85):
        observed, _ = bay_share(target, 1.0, 30)
        assert observed == pytest.approx(target, abs=0.05)


def test_speed_multiplies_the_turnover_but_keeps_the_balance() -> None:
    slow_share, slow_flips = bay_share(0.6, 1.0, 10)
    fast_share, fast_flips = bay_share(0.6, 10.0, 1)
    assert 7 < fast_flips / (slow_flips / 10) < 13
    assert fast_share == pytest.approx(slow_share, abs=0.1)


def test_flips_alternate_and_say_how_long_the_previous_state_lasted() -> None:
    bay = Bay(timedelta(minutes=45), random.Random(9))
    bay.start(TUESDAY, 0.5)
    first_since = bay.since
    flips = bay.advance(TUESDAY + timedelta(days=1), lambda _: 0.5)
    assert len(flips) > 20
    previous = first_since
    for before, after in itertools.pairwise(flips):
        assert after.occupied != before.occupied
    for flip in flips:
        assert previous is not None
        assert flip.previous == flip.moment - previous
        previous = flip.moment


def test_a_bay_must_be_started_before_it_runs() -> None:
    with pytest.raises(RuntimeError, match="start"):
        Bay(timedelta(minutes=45), random.Random(1)).advance(TUESDAY, lambda _: 0.5)
