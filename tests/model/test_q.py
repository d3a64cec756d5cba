import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stadsnav.model.q import MAX_DEPTH, MAX_TERMS, QSyntaxError, parse_q

BEACH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "beach"


def normalized(key_values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """NGSI-LD normalized attributes of a keyValues entity, as the context broker stores them."""
    attributes: dict[str, dict[str, Any]] = {}
    for name, value in key_values.items():
        if name in ("id", "type", "@context"):
            continue
        kind = "GeoProperty" if name == "location" else "Property"
        attributes[name] = {"type": kind, "value": value}
    return attributes


def beach_attributes() -> dict[str, dict[str, Any]]:
    """The real Slädaviken Beach entity, plus a few attributes of other kinds."""
    beach = json.loads(
        (BEACH / "handlers_beaches__context_broker_input__beachesJson.json").read_text()
    )
    attributes = normalized(beach[0])
    attributes["refWaterQualityObserved"] = {
        "type": "Relationship",
        "object": "urn:ngsi-ld:WaterQualityObserved:testID2",
    }
    attributes["address"] = {
        "type": "Property",
        "value": {"addressLocality": "Sundsvall", "postal": {"code": "85590"}},
    }
    attributes["alternateName"] = {
        "type": "LanguageProperty",
        "languageMap": {"sv": "Slädavikens havsbad", "en": "Slädaviken beach"},
    }
    attributes["open"] = {"type": "Property", "value": True}
    attributes["temperature"] = {
        "type": "Property",
        "value": 21.8,
        "observedAt": "2023-03-17T08:23:09Z",
        "unitCode": "CEL",
        "accuracy": {"type": "Property", "value": 0.5},
    }
    attributes["openingTime"] = {"type": "Property", "value": "09:00:00"}
    attributes["openedOn"] = {"type": "Property", "value": "2018-06-21"}
    return attributes


def water_quality_attributes() -> dict[str, dict[str, Any]]:
    """The real normalized WaterQualityObserved entity (latest temperature instance)."""
    path = BEACH / "handlers_waterquality__context_broker_input__waterqualityTemporalJson.json"
    entity = json.loads(path.read_text())
    attributes = {k: v for k, v in entity.items() if k not in ("id", "type", "@context")}
    attributes["temperature"] = attributes["temperature"][-1]
    return attributes


ACCEPTED = [
    ('name=="Slädaviken"', True),
    ('name!="Slädaviken"', False),
    ('name=="Slädaviken","Bergsåker"', True),
    ('name=="Bergsåker","Norrbyn"', False),
    ("name", True),
    ("nosuchattribute", False),
    ("nosuchattribute!=1", False),
    ("temperature>20", True),
    ("temperature>=21.8", True),
    ("temperature<21.8", False),
    ("temperature<=21.8", True),
    ("temperature==21.8", True),
    ("temperature==21..22", True),
    ("temperature==22..23", False),
    ("temperature!=22..23", True),
    ("temperature==1,2,21.8", True),
    ("temperature!=1,2,3", True),
    ("temperature==2.18e1", True),
    ('temperature>"A"', False),
    ('temperature!="21.8"', True),
    ("temperature.observedAt>=2023-03-17T08:00:00Z", True),
    ("temperature.observedAt<2023-03-17T08:23:09Z", False),
    ("temperature.observedAt==2023-03-17T09:23:09+01:00", True),
    ("temperature.observedAt==2023-03-17T00:00:00Z..2023-03-18T00:00:00Z", True),
    ('temperature.unitCode=="CEL"', True),
    ("temperature.accuracy<1", True),
    ("temperature.accuracy", True),
    ("temperature.precision", False),
    ("refWaterQualityObserved==urn:ngsi-ld:WaterQualityObserved:testID2", True),
    ('refWaterQualityObserved=="urn:ngsi-ld:WaterQualityObserved:testID2"', True),
    ("refWaterQualityObserved!=urn:ngsi-ld:WaterQualityObserved:testID", True),
    ('address[addressLocality]=="Sundsvall"', True),
    ('address[postal.code]=="85590"', True),
    ('address[postal][code]=="85590"', True),
    ("address[postal.street]", False),
    ('alternateName=="Slädaviken beach"', True),
    ('alternateName[sv]=="Slädavikens havsbad"', True),
    ('alternateName[sv]=="Slädaviken beach"', False),
    ('seeAlso=="https://www.wikidata.org/wiki/Q10671745"', True),
    ("seeAlso==https://www.wikidata.org/wiki/Q10671745", True),
    ("seeAlso~=wikidata", True),
    ("seeAlso!~=wikidata", False),
    ("name~=^Släd", True),
    ("name~=(?i)^SLÄD", True),
    ('name~="ik|ak"', True),
    ("name!~=^Berg", True),
    ("temperature~=21", False),
    ("temperature!~=21", False),
    ("waterquality[temperature]==22.9", False),
    ("open==true", True),
    ("open==false", False),
    ("open==1", False),
    ("openingTime>=08:30:00", True),
    ("openingTime<08:30:00Z", False),
    ("openedOn<2019-01-01", True),
    ("openedOn==2018-06-21", True),
    ("openedOn>2018-06-21T00:00:00Z", False),
    ('temperature>30|name=="Slädaviken"', True),
    ('temperature>30|name=="Slädaviken";open==false', False),
    ('(temperature>30|name=="Slädaviken");open==true', True),
    ('temperature>30;name=="Slädaviken"|open==true', True),
    ("((temperature>20));(open==true|nosuchattribute)", True),
    ("temperature > 20 ; open == true", True),
    ("!nosuchattribute", True),
    ("!temperature", False),
    ("!temperature.precision;temperature.accuracy", True),
    ("!address[postal.street]", True),
    ('alternateName[*]=="Slädavikens havsbad"', True),
    ('alternateName[*]!="Slädaviken beach"', False),
    ('alternateName[en]=="Slädavikens havsbad"', False),
    ('refWaterQualityObserved>"urn:a"', False),
    ("refWaterQualityObserved~=testID", False),
]


@pytest.mark.parametrize(("expression", "expected"), ACCEPTED)
def test_expression_on_real_beach(expression: str, expected: bool) -> None:
    assert parse_q(expression).matches(beach_attributes()) is expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("temperature==10.8", True),
        ("temperature.observedAt==2021-05-18T19:23:09Z", True),
        ("dateObserved>=2021-05-18T00:00:00Z", True),
        ("dateObserved<2021-05-18T19:23:09Z", False),
        ('location=="Point"', False),
        ("location", True),
        ("temperature>10;dateObserved<2022-01-01T00:00:00Z", True),
    ],
)
def test_expression_on_real_water_quality(expression: str, expected: bool) -> None:
    assert parse_q(expression).matches(water_quality_attributes()) is expected


def test_multi_attribute_matches_through_any_instance() -> None:
    attributes: dict[str, Any] = {
        "speed": [
            {"type": "Property", "value": 55},
            {"type": "Property", "value": 11, "datasetId": "urn:ngsi-ld:Dataset:gps"},
        ]
    }
    assert parse_q("speed<20").matches(attributes)
    assert parse_q("speed>50").matches(attributes)
    assert not parse_q("speed==20..50").matches(attributes)
    assert parse_q('speed.datasetId=="urn:ngsi-ld:Dataset:gps"').matches(attributes)
    assert parse_q("speed!=20").matches(attributes)
    assert not parse_q("!speed").matches(attributes)


def test_rename_translates_attribute_and_sub_attribute_names_not_keys() -> None:
    expression = parse_q("(temperature.accuracy<1|!name);address[postal.code]==1")
    renamed = expression.rename(lambda name: f"x:{name}")
    assert renamed.attribute_names() == {"x:temperature", "x:name", "x:address"}
    attributes = {f"x:{k}": v for k, v in beach_attributes().items()}
    attributes["x:temperature"] = {
        **attributes["x:temperature"],
        "x:accuracy": {"type": "Property", "value": 0.1},
    }
    attributes["x:address"] = {"type": "Property", "value": {"postal": {"code": 1}}}
    assert renamed.matches(attributes)


def test_full_iri_names_keep_their_dots() -> None:
    expression = parse_q("https://uri.etsi.org/ngsi-ld/default-context/isParked==true")
    assert expression.attribute_names() == {"https://uri.etsi.org/ngsi-ld/default-context/isParked"}
    parked = {
        "https://uri.etsi.org/ngsi-ld/default-context/isParked": {"type": "Property", "value": True}
    }
    assert expression.matches(parked)


def test_attribute_names_are_the_top_level_names() -> None:
    expression = parse_q('(temperature.observedAt>2020-01-01;address[a.b]=="x")|name|open==true')
    assert expression.attribute_names() == {"temperature", "address", "name", "open"}


@pytest.mark.parametrize(
    ("expression", "position", "expected"),
    [
        ("", 0, "expected an attribute name"),
        ("temperature=20", 11, "expected '=='"),
        ("temperature==", 13, "expected a value"),
        ("name==Slädaviken", 6, "expected a value"),
        ("(temperature>1", 14, "expected ')'"),
        ("temperature>1)", 13, "unexpected ')'"),
        ("open>true", 5, "'>' needs a number"),
        ('name=="Släd', 6, "unterminated string"),
        ("name~=(", 6, "invalid regular expression"),
        ("name~=", 6, "expected a regular expression"),
        ("address[x", 7, "unclosed '['"),
        ("address[]", 7, "expected key names"),
        ("temperature==1 2", 15, "after the value"),
        ("temperature==1..x:y", 13, "a range needs"),
        ("a;;b", 2, "expected an attribute name"),
        ("a|", 2, "expected an attribute name"),
        ("temperature.", 12, "sub-attribute name"),
        ("dateObserved>2021-13-01", 13, "invalid date"),
        ("dateObserved>2021-05-18T25:00:00Z", 13, "invalid datetime"),
    ],
)
def test_syntax_errors_state_position_and_expectation(
    expression: str, position: int, expected: str
) -> None:
    with pytest.raises(QSyntaxError, match=re.escape(expected)) as caught:
        parse_q(expression)
    assert caught.value.position == position
    assert f"at position {position}" in str(caught.value)


def test_nesting_is_limited() -> None:
    deep_ok = "(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH
    assert parse_q(deep_ok).matches({"a": {"type": "Property", "value": 1}})
    with pytest.raises(QSyntaxError, match="nested deeper"):
        parse_q("(" * 3000 + "a" + ")" * 3000)


def test_term_count_is_limited() -> None:
    parse_q(";".join(["a==1"] * MAX_TERMS))
    with pytest.raises(QSyntaxError, match="more than"):
        parse_q(";".join(["a==1"] * (MAX_TERMS + 1)))


def test_long_input_is_rejected() -> None:
    with pytest.raises(QSyntaxError, match="longer than"):
        parse_q("a==" + "1" * 100_000)


def test_huge_integer_is_a_syntax_error() -> None:
    with pytest.raises(QSyntaxError, match="invalid number"):
        parse_q("a==" + "9" * 5000)


def test_incompatible_stored_values_never_raise() -> None:
    odd: dict[str, dict[str, Any]] = {
        "a": {
            "type": "Property",
            "value": {"@type": "DateTime", "@value": "0001-01-01T00:00:00+01:00"},
        },
        "b": {"type": "Property", "value": None},
        "c": {"type": "Property", "value": [1, "x", None, {"k": 1}]},
        "d": {"type": "Relationship"},
    }
    for expression in ["a>2020-01-01T00:00:00Z", "b==1", "b", "c==1", "c>0", 'c=="x"', "d"]:
        parse_q(expression).matches(odd)
    assert parse_q("c>0").matches(odd)
    assert not parse_q("b").matches(odd)


Q_ALPHABET = st.sampled_from(
    [*'abtemp.[]()|;=!<>~",.:-TZ0123456789 ', "==", "..", "true", "urn:x:1", "2020-01-01"]
)
ANY_ATTRIBUTES = beach_attributes()


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=200), st.lists(Q_ALPHABET, max_size=60).map("".join)))
def test_arbitrary_text_only_raises_syntax_errors(text: str) -> None:
    error: QSyntaxError | None
    try:
        expression = parse_q(text)
    except QSyntaxError as exc:
        error = exc
    else:
        error = None
    if error is not None:
        assert 0 <= error.position <= len(text)
        return
    assert isinstance(expression.matches(ANY_ATTRIBUTES), bool)
    assert isinstance(expression.attribute_names(), set)
