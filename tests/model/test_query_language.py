"""The language filter (GS CIM 009, 4.15): which text of a languageMap is served."""

import pytest

from stadsnav.model.language import LanguageFilterError, parse_lang

STREET = {"fr": "Grand Place", "nl": "Grote Markt"}
REGIONAL = {"de": "Hauptplatz", "en-US": "Main Square"}


@pytest.mark.parametrize(
    ("lang", "language_map", "expected"),
    [
        ("fr", STREET, ("fr", "Grand Place")),
        ("fr-CH,fr", STREET, ("fr", "Grand Place")),
        ("fr-CH,fr;q=0.9,en;q=0.8,*;q=0.5", STREET, ("fr", "Grand Place")),
        ("*", STREET, ("fr", "Grand Place")),
        ("fr;q=0.2,nl;q=0.9", STREET, ("nl", "Grote Markt")),
        ("FR", STREET, ("fr", "Grand Place")),
        ("nl-BE", STREET, ("nl", "Grote Markt")),
        ("en", REGIONAL, ("en-US", "Main Square")),
        ("pt", STREET, ("fr", "Grand Place")),
        ("pt", {"@none": "Plaza", "es": "Plaza Mayor"}, ("@none", "Plaza")),
        ("en;q=0,nl", STREET, ("nl", "Grote Markt")),
    ],
)
def test_choice(lang: str, language_map: dict[str, str], expected: tuple[str, str]) -> None:
    assert parse_lang(lang).choose(language_map) == expected


def test_an_empty_language_map_has_nothing_to_serve() -> None:
    assert parse_lang("fr").choose({}) is None


@pytest.mark.parametrize("lang", ["", "fr;q=2", "fr;x=1", "f r", "fr,,nl", "123456789"])
def test_invalid_lang(lang: str) -> None:
    with pytest.raises(LanguageFilterError):
        parse_lang(lang)
