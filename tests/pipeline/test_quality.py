"""Quality rules: out-of-range values rejected or flagged, contradicting counts and stuck sensors
flagged, honest constants left alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from stadsnav.pipeline.quality import QualityRules, Run
from stadsnav.workspace import Dataset
from support import SHARED_DATA

SENSADE = SHARED_DATA / "parking" / "parkapi"


def parking_dataset(**extra: Any) -> Dataset:
    return Dataset.model_validate(
        {
            "id": "parking",
            "title": "Parking",
            "owner": {"name": "Trafik", "email": "trafik@example.se"},
            "classification": "open",
            "licence": "CC0-1.0",
            "rules": {
                "availableSpotNumber": {"min": 0, "flag": True},
                "occupiedSpotNumber": {"min": 0, "flag": True},
                "occupancy": {"min": 0, "max": 1},
            },
            "checks": [
                {"sum": ["availableSpotNumber", "occupiedSpotNumber"], "equals": "totalSpotNumber"},
                {"sum": ["availableSpotNumber"], "at_most": "totalSpotNumber"},
            ],
            **extra,
        }
    )


def sensade_values() -> dict[str, dict[str, int]]:
    """Each real Sensade lot status, in Smart Data Models names."""
    lots = {}
    for path in sorted(SENSADE.glob("p-m-sensade_parking-lot-status-*.json")):
        lot = orjson.loads(path.read_bytes())
        lots[lot["parkingLotName"]] = {
            "totalSpotNumber": lot["totalSpaceCount"],
            "availableSpotNumber": lot["availableSpaceCount"],
            "occupiedSpotNumber": lot["occupiedSpaceCount"],
        }
    return lots


def nothing_stored(name: str) -> None:
    return None


def test_the_four_contradicting_sensade_lots_are_flagged_and_the_others_are_not() -> None:
    rules = QualityRules(parking_dataset())
    issues = {
        name: rules.issues(values, nothing_stored) for name, values in sensade_values().items()
    }
    flagged = {name for name, found in issues.items() if found}
    assert flagged == {"A8 Aichelberg", "B27 Waldorfhäslach", "A5 Achern", "A5 Freiburg Mitte"}
    assert issues["A8 Aichelberg"] == [
        "availableSpotNumber (72) + occupiedSpotNumber (22) = 94, not totalSpotNumber (100)"
    ]


def test_more_free_than_total_and_negative_counts_are_flagged_not_rejected() -> None:
    rules = QualityRules(parking_dataset())
    assert rules.rejection("availableSpotNumber", -3) is None
    found = rules.issues({"availableSpotNumber": 130, "totalSpotNumber": 120}, nothing_stored)
    assert found == ["availableSpotNumber (130) is more than totalSpotNumber (120)"]
    negative = rules.issues({"availableSpotNumber": -3}, nothing_stored)
    assert negative == ["availableSpotNumber = -3 is outside [0, …]"]


def test_the_total_may_come_from_what_is_stored_but_the_parts_must_come_together() -> None:
    rules = QualityRules(parking_dataset())
    stored = {"totalSpotNumber": 50, "occupiedSpotNumber": 10}.get
    found = rules.issues({"availableSpotNumber": 45, "occupiedSpotNumber": 10}, stored)
    assert found == [
        "availableSpotNumber (45) + occupiedSpotNumber (10) = 55, not totalSpotNumber (50)",
    ]
    # Only the free count arrived: the old occupied count is not mixed with it.
    assert rules.issues({"availableSpotNumber": 45}, stored) == []


def test_range_rules_without_flag_reject_and_say_why() -> None:
    rules = QualityRules(parking_dataset())
    assert rules.rejection("occupancy", 1.5) == (
        "occupancy = 1.5 is outside the dataset's range [0, 1] (parking)"
    )
    assert rules.rejection("occupancy", float("nan")) == "occupancy is nan, not a number"
    assert rules.rejection("occupancy", 0.5) is None
    assert rules.rejection("name", "anything") is None


def test_a_check_needs_exactly_one_bound() -> None:
    with pytest.raises(ValueError, match="exactly one of 'equals' and 'at_most'"):
        parking_dataset(checks=[{"sum": ["availableSpotNumber"]}])


WATER_RULES = {"temperature": {"min": -2, "max": 35, "stuck_after": "P1D"}}
T0 = datetime(2026, 7, 1, 6, tzinfo=UTC)
EVERY_20_MIN = timedelta(minutes=20)
OBSERVED = frozenset({"temperature", "doorState", "contact"})


def water_rules(rules: dict[str, Any] = WATER_RULES) -> QualityRules:
    return QualityRules(parking_dataset(id="water", rules=rules, checks=[]))


def never_stored(name: str, value: Any, before: datetime, horizon: datetime) -> None:
    return None


def test_a_reading_unchanged_for_longer_than_stuck_after_is_flagged() -> None:
    rules = water_rules()
    runs: dict[str, Run] = {}
    found = [
        rules.stuck({"temperature": 14.2}, OBSERVED, T0 + n * EVERY_20_MIN, runs, never_stored)
        for n in range(74)
    ]
    assert found[72] == []  # exactly a day: not longer than it
    assert found[73] == ["temperature = 14.2 has not changed for longer than P1D: a stuck sensor?"]
    assert rules.checked == {"temperature"}


def test_a_changed_reading_starts_the_day_again() -> None:
    rules = water_rules()
    runs: dict[str, Run] = {}
    for n in range(74):
        value = 14.3 if n == 40 else 14.2
        assert (
            rules.stuck({"temperature": value}, OBSERVED, T0 + n * EVERY_20_MIN, runs, never_stored)
            == []
        )


def test_honest_constants_without_the_rule_are_never_flagged() -> None:
    rules = water_rules()
    runs: dict[str, Run] = {}
    week = [T0 + n * timedelta(hours=1) for n in range(24 * 7)]
    door = {"doorState": "closed", "contact": False, "temperature": None}
    assert all(rules.stuck(door, OBSERVED, at, runs, never_stored) == [] for at in week)
    assert not {"doorState", "contact"} & rules.checked
    assert runs == {}
    # A value that is not an observation (a static description) is not judged either.
    late = T0 + timedelta(days=8)
    assert rules.stuck({"temperature": 4.0}, set(), late, runs, lambda *_: T0) == []


def test_the_store_is_asked_once_and_only_as_far_back_as_the_rule_needs() -> None:
    rules = water_rules()
    asked: list[tuple[str, Any, datetime, datetime]] = []

    def stored(name: str, value: Any, before: datetime, horizon: datetime) -> datetime:
        asked.append((name, value, before, horizon))
        return T0 - timedelta(days=3)  # stuck since long before this batch

    runs: dict[str, Run] = {}
    at = T0 + EVERY_20_MIN
    assert rules.stuck({"temperature": 4.0}, OBSERVED, T0, runs, stored)
    assert rules.stuck({"temperature": 4.0}, OBSERVED, at, runs, stored)
    assert asked == [("temperature", 4.0, T0, T0 - timedelta(days=1))]
    assert rules.stuck({"temperature": 4.1}, OBSERVED, at + EVERY_20_MIN, runs, stored) == []


def test_an_older_reading_is_judged_on_its_own_and_shortens_the_newer_run() -> None:
    rules = water_rules()
    runs: dict[str, Run] = {}
    start = T0 - timedelta(days=2)
    rules.stuck({"temperature": 4.0}, OBSERVED, T0, runs, lambda *_: start)
    # Late: another value, observed before the newest one. The newest run holds only from T0.
    late = T0 - timedelta(hours=1)
    assert rules.stuck({"temperature": 3.9}, OBSERVED, late, runs, never_stored) == []
    assert runs["temperature"] == Run(4.0, T0, T0)
    assert rules.stuck({"temperature": 4.0}, OBSERVED, T0 + EVERY_20_MIN, runs, never_stored) == []


def test_stuck_after_must_be_a_positive_duration() -> None:
    with pytest.raises(ValueError, match="greater than 0"):
        water_rules({"temperature": {"stuck_after": "PT0S"}})
