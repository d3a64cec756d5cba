"""Entity type selection (GS CIM 009, 4.17) on the type sets of the conformance suite."""

import pytest

from stadsnav.model.typequery import TypeSyntaxError, parse_types

BUILDING = {"Building"}
PARKING = {"Parking"}
BUILDING_AND_TOURIST_DESTINATION = {"Building", "TouristDestination"}
ENTITIES = {"first": BUILDING, "second": PARKING, "third": BUILDING_AND_TOURIST_DESTINATION}


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        ("Building", {"first", "third"}),
        ("(Building;TouristDestination)", {"third"}),
        ("Building,Parking", {"first", "second", "third"}),
        ("Building|Parking", {"first", "second", "third"}),
        ("Parking,TouristDestination", {"second", "third"}),
        ("(Building;Parking),TouristDestination", {"third"}),
        ("Building;TouristDestination|Parking", {"second", "third"}),
        (" Building ; ( Parking | TouristDestination ) ", {"third"}),
        ("https://ngsi-ld-test-suite/context#Building", set()),
    ],
)
def test_selection_on_multi_typed_entities(selection: str, expected: set[str]) -> None:
    expression = parse_types(selection)
    assert expression is not None
    assert {name for name, types in ENTITIES.items() if expression.matches(types)} == expected


def test_wildcard_selects_every_type() -> None:
    assert parse_types("*") is None


def test_candidates_narrow_the_store_query_without_losing_matches() -> None:
    def candidates(text: str) -> set[str]:
        expression = parse_types(text)
        assert expression is not None
        return expression.candidates()

    assert candidates("A,B") == {"A", "B"}
    assert candidates("(A;B),C") in ({"A", "C"}, {"B", "C"})
    assert candidates("A;(B,C)") == {"A"}


def test_rename_translates_every_name() -> None:
    expression = parse_types("(Building;Parking),Vehicle")
    assert expression is not None
    renamed = expression.rename(lambda name: f"https://example.org/{name}")
    assert renamed.names() == {
        f"https://example.org/{n}" for n in ("Building", "Parking", "Vehicle")
    }
    assert renamed.matches({"https://example.org/Vehicle"})


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ("", "expected a type name"),
        ("A,", "expected a type name"),
        ("A;;B", "expected a type name"),
        ("(A", "expected ')'"),
        ("A)", "unexpected ')'"),
        ("A B", "unexpected 'B'"),
        ("(" * 20 + "A" + ")" * 20, "nested deeper"),
    ],
)
def test_syntax_errors(selection: str, message: str) -> None:
    with pytest.raises(TypeSyntaxError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_types(selection)
