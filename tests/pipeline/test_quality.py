"""Quality rules: out-of-range values are rejected or flagged, contradicting counts flagged."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from stadsnav.pipeline.quality import QualityRules
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
