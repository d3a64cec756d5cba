"""scopeQ (GS CIM 009, 4.19) on the scopes of the conformance suite's two buildings."""

import pytest

from stadsnav.model.scope import ScopeSyntaxError, entity_scopes, parse_scope_query

ONE = ["/Madrid/Gardens/ParqueNorte"]
MANY = ["/Madrid/Gardens/ParqueNorte", "/Madrid/District/Latina", "/CompanyA/OrganizationB/UnitC"]
UNSCOPED: list[str] = []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("/Madrid/Gardens/ParqueNorte", {"one", "many"}),
        ("/Madrid/+/ParqueNorte", {"one", "many"}),
        ("/Madrid/+", set()),
        ("/CompanyA/#", {"many"}),
        ("/CompanyA/OrganizationB/UnitC/#", {"many"}),
        ("/#", {"one", "many"}),
        ("/Madrid/Gardens/ParqueNorte;/CompanyA/OrganizationB/UnitC", {"many"}),
        ("/Madrid/Gardens/ParqueNorte,/CompanyA/OrganizationB/UnitC", {"one", "many"}),
        ("/CompanyA/OrganizationB/UnitC|/Nowhere/AtAll", {"many"}),
        ("(/Madrid/Gardens/ParqueNorte;/CompanyA/OrganizationB/UnitC)", {"many"}),
        ("(/Madrid/Gardens/ParqueNorte;/Nowhere)|/Madrid/Gardens/ParqueNorte", {"one", "many"}),
        ("(/Madrid/Gardens/ParqueNorte;/Nowhere/AtAll)", set()),
        ("/Madrid", set()),
    ],
)
def test_scope_queries(query: str, expected: set[str]) -> None:
    expression = parse_scope_query(query)
    entities = {"one": ONE, "many": MANY, "none": UNSCOPED}
    assert {name for name, scopes in entities.items() if expression.matches(scopes)} == expected


@pytest.mark.parametrize("query", ["", "Madrid", "/Madrid/", "/Ma#drid", "(/A", "/A;", "/A//B"])
def test_invalid_scope_queries(query: str) -> None:
    with pytest.raises(ScopeSyntaxError):
        parse_scope_query(query)


def test_stored_scopes_in_any_shape() -> None:
    assert entity_scopes("/A") == ["/A"]
    assert entity_scopes(["/A", "/B"]) == ["/A", "/B"]
    assert entity_scopes({"type": "Property", "value": ["/A"]}) == ["/A"]
    assert entity_scopes(None) == []
