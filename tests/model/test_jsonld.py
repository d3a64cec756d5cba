"""JSON-LD 1.1 term definitions as NGSI-LD needs them: expansion, compaction, remote contexts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stadsnav.model.context import CORE_CONTEXT_URL
from stadsnav.model.jsonld import (
    MAX_CONTEXT_DEPTH,
    ContextError,
    Vocabulary,
    context_urls,
    core_terms,
    is_core_context,
    process_context,
    user_context,
)
from support import REPO_ROOT, SHARED_DATA

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "jsonld"
PARKING_URL = (
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Parking/master/context.jsonld"
)
COMPOUND_URL = (
    "https://forge.etsi.org/rep/cim/ngsi-ld-test-suite/-/raw/develop/resources/jsonld-contexts/"
    "ngsi-ld-test-suite-compound.jsonld"
)
SUITE_URL = (
    "https://forge.etsi.org/rep/cim/ngsi-ld-test-suite/-/raw/develop/resources/jsonld-contexts/"
    "ngsi-ld-test-suite.jsonld"
)
NGSI_LD = "https://uri.etsi.org/ngsi-ld/"
DEFAULT = NGSI_LD + "default-context/"
SDM = "https://smartdatamodels.org/"


def fixture(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return document


def loader(documents: dict[str, Any]) -> Any:
    """A context loader over fixed documents, recording what it loaded."""
    loaded: list[str] = []

    def load(url: str) -> Any:
        loaded.append(url)
        if url not in documents:
            raise ContextError(f"no document at {url}")
        return documents[url]

    load.loaded = loaded  # type: ignore[attr-defined]
    return load


def terms(local: Any, documents: dict[str, Any] | None = None) -> Any:
    return user_context(local, loader(documents or {}))


# the core context


def test_the_core_context_expands_and_compacts_its_own_terms() -> None:
    core = core_terms()

    assert core.expand("observedAt") == NGSI_LD + "observedAt"
    assert core.expand("ngsi-ld:observedAt") == NGSI_LD + "observedAt"
    assert core.expand("temperature") == DEFAULT + "temperature"
    assert core.expand("id") == "@id"
    assert core.compact(NGSI_LD + "hasValue") == "value"
    assert core.compact(DEFAULT + "temperature") == "temperature"
    assert core.compact(NGSI_LD + "notATerm") == "ngsi-ld:notATerm"
    assert core.compact("https://schema.org/name") == "https://schema.org/name"


@pytest.mark.parametrize(
    ("url", "core"),
    [
        ("https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld", True),
        ("https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld", True),
        ("https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld", True),
        ("http://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.3.1.jsonld", True),
        ("https://uri.etsi.org/ngsi-ld/v1/other-context.jsonld", False),
        ("https://example.org/ngsi-ld-core-context-v1.8.jsonld", False),
    ],
)
def test_every_version_of_the_core_url_is_the_core_context(url: str, core: bool) -> None:
    assert is_core_context(url) is core


def test_a_context_of_core_urls_only_is_the_shared_core() -> None:
    versions = [CORE_CONTEXT_URL, "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"]

    assert terms(versions) is core_terms()
    assert Vocabulary(terms(versions)).identity


# prefixes


def test_only_simple_definitions_ending_in_a_gen_delim_are_prefixes() -> None:
    active = terms(
        {
            "slash": "https://example.org/a/",
            "hash": "https://example.org/b#",
            "object": {"@id": "https://example.org/c/"},
            "noDelim": "https://example.org/d",
            "explicit": {"@id": "https://example.org/e", "@prefix": True},
        }
    )

    assert active.expand("slash:x") == "https://example.org/a/x"
    assert active.expand("hash:x") == "https://example.org/b#x"
    # Not prefixes: the value is an absolute IRI with that scheme (JSON-LD 1.1, 5.2.2 step 6.4).
    assert active.expand("object:x") == "object:x"
    assert active.expand("noDelim:x") == "noDelim:x"
    assert active.expand("explicit:x") == "https://example.org/ex"
    assert active.compact("https://example.org/a/x") == "slash:x"
    assert active.compact("https://example.org/c/x") == "https://example.org/c/x"


def test_a_term_with_a_colon_or_slash_cannot_be_declared_a_prefix() -> None:
    with pytest.raises(ContextError, match="cannot be a prefix"):
        terms(
            {
                "ex": "https://example.org/",
                "ex:y": {"@id": "https://example.org/y", "@prefix": True},
            }
        )


def test_blank_node_and_scheme_relative_values_are_not_compact_iris() -> None:
    active = terms({"http": "https://wrong.example/", "_": "https://wrong.example/"})

    assert active.expand("http://example.org/x") == "http://example.org/x"
    assert active.expand("_:b0") == "_:b0"


# terms through other terms


def test_terms_may_be_defined_through_terms_defined_later_in_the_same_context() -> None:
    active = terms(
        {
            "occupancy": "park:occupancy",
            "Spot": {"@id": "park:ParkingSpot", "@type": "@id"},
            "park": "sdm:dataModel.Parking/",
            "sdm": SDM,
            "alias": "occupancy",
        }
    )

    assert active.expand("occupancy") == SDM + "dataModel.Parking/occupancy"
    assert active.expand("Spot") == SDM + "dataModel.Parking/ParkingSpot"
    assert active.expand("alias") == SDM + "dataModel.Parking/occupancy"
    assert active.terms["park"].prefix


def test_a_term_defined_through_itself_is_refused() -> None:
    with pytest.raises(ContextError, match="through itself"):
        terms({"a": "b:x", "b": "a:y"})


def test_a_term_that_looks_like_an_iri_must_expand_to_its_own_definition() -> None:
    active = terms({"ex": "https://example.org/", "ex:name": {"@id": "https://example.org/name"}})
    assert active.expand("ex:name") == "https://example.org/name"

    with pytest.raises(ContextError, match="looks like an IRI"):
        terms({"ex": "https://example.org/", "ex:name": {"@id": "https://other.example/name"}})


# @vocab


def test_vocab_expands_every_name_without_a_term() -> None:
    active = terms({"@vocab": "https://example.org/vocab#"})

    assert active.expand("speed") == "https://example.org/vocab#speed"
    assert active.compact("https://example.org/vocab#speed") == "speed"
    # Core terms keep their meaning; names the core has no term for follow the new @vocab.
    assert active.expand("observedAt") == NGSI_LD + "observedAt"
    # The core's prefix keeps a name of the default @vocab apart from the new one.
    assert active.compact(DEFAULT + "speed") == "ngsi-ld:default-context/speed"


def test_vocab_may_be_a_compact_iri_of_a_prefix_defined_before() -> None:
    active = terms([{"ex": "https://example.org/"}, {"@vocab": "ex:terms/"}])

    assert active.vocab == "https://example.org/terms/"
    assert active.expand("speed") == "https://example.org/terms/speed"


def test_vocab_may_use_a_prefix_of_the_core_context() -> None:
    assert terms({"@vocab": "ngsi-ld:mine/"}).expand("a") == NGSI_LD + "mine/a"


def test_a_relative_vocab_extends_the_current_one() -> None:
    active = terms({"@vocab": "parking/"})

    assert active.vocab == DEFAULT + "parking/"


def test_a_null_vocab_removes_it() -> None:
    active = terms({"@vocab": None})

    assert active.vocab is None
    assert active.expand("speed") == "speed"


def test_a_term_without_id_needs_a_vocab() -> None:
    assert terms({"speed": {"@type": "@id"}}).expand("speed") == DEFAULT + "speed"
    with pytest.raises(ContextError, match="no @vocab"):
        terms([{"@vocab": None}, {"speed": {"@type": "@id"}}])


def test_a_vocab_that_is_no_iri_is_refused() -> None:
    with pytest.raises(ContextError, match="@vocab"):
        terms([{"@vocab": None}, {"@vocab": "relative"}])
    with pytest.raises(ContextError, match="@vocab"):
        terms({"@vocab": 5})


# null definitions and null contexts


def test_a_term_defined_as_null_stands_for_no_iri_and_is_never_chosen() -> None:
    active = terms({"@vocab": "https://example.org/", "secret": None})

    assert active.expand("secret") == "secret"
    assert active.expand("other") == "https://example.org/other"
    assert active.compact("https://example.org/secret") == "https://example.org/secret"


def test_a_null_context_drops_user_terms_but_not_the_core() -> None:
    active = terms([{"speed": "https://example.org/speed"}, None])

    assert active.expand("speed") == "speed"  # no @vocab either after the reset
    assert active.expand("observedAt") == NGSI_LD + "observedAt"


# protected terms


def test_a_user_context_cannot_change_a_core_term() -> None:
    active = terms({"location": "https://example.org/location", "speed": "https://example.org/s"})

    assert active.expand("location") == NGSI_LD + "location"
    assert active.expand("speed") == "https://example.org/s"


def test_repeating_core_terms_identically_is_fine() -> None:
    active = terms(
        {
            "ngsi-ld": NGSI_LD,
            "location": "ngsi-ld:location",
            "observedAt": {"@id": "ngsi-ld:observedAt", "@type": "DateTime"},
        }
    )

    assert active.expand("ngsi-ld:x") == NGSI_LD + "x"
    assert active.compact(NGSI_LD + "location") == "location"


def test_a_protected_user_term_cannot_be_redefined_by_a_later_context() -> None:
    first = {"@protected": True, "speed": "https://example.org/speed"}

    assert terms([first, {"speed": "https://example.org/speed"}]).expand("speed").endswith("speed")
    with pytest.raises(ContextError, match="protected"):
        terms([first, {"speed": "https://example.org/velocity"}])


# lists mixing URLs and objects, remote contexts


def test_a_list_mixes_urls_and_objects_and_later_definitions_win() -> None:
    load = loader({PARKING_URL: fixture("smart-data-models-parking-context.jsonld")})
    active = user_context(
        [PARKING_URL, {"name": "https://schema.org/name"}, CORE_CONTEXT_URL], load
    )

    assert active.expand("availableSpotNumber") == SDM + "dataModel.Parking/availableSpotNumber"
    assert active.expand("name") == "https://schema.org/name"
    assert load.loaded == [PARKING_URL]  # the core context is bundled, never loaded


def test_a_remote_context_whose_context_is_a_list_of_urls() -> None:
    # A stand-in for the suite's own context, which is not kept here.
    suite_vocab = "https://ngsi-ld-test-suite/context#"
    suite = {"@context": {"@vocab": suite_vocab, "Building": suite_vocab + "Building"}}
    load = loader({COMPOUND_URL: fixture("ngsi-ld-test-suite-compound.jsonld"), SUITE_URL: suite})
    active = user_context(COMPOUND_URL, load)

    assert active.expand("Building") == suite_vocab + "Building"
    assert active.expand("observedAt") == NGSI_LD + "observedAt"
    # The core context comes last in the compound context, so its @vocab is the one in effect.
    assert active.expand("airQualityIndex") == DEFAULT + "airQualityIndex"
    assert load.loaded == [COMPOUND_URL, SUITE_URL]


def test_relative_urls_in_a_remote_context_resolve_against_its_url() -> None:
    main = "https://contexts.example/city/main.jsonld"
    documents = {
        main: {"@context": ["parts/parking.jsonld", {"@import": "../shared.jsonld"}]},
        "https://contexts.example/city/parts/parking.jsonld": {"@context": {"spots": "p:spots"}},
        "https://contexts.example/shared.jsonld": {"@context": {"p": "https://example.org/p/"}},
    }

    assert context_urls(documents[main]["@context"], main) == [
        "https://contexts.example/city/parts/parking.jsonld",
        "https://contexts.example/shared.jsonld",
    ]
    assert terms(main, documents).expand("p:x") == "https://example.org/p/x"


def test_import_puts_the_imported_definitions_under_the_local_ones() -> None:
    documents = {
        "https://example.org/base.jsonld": {
            "@context": {"speed": "https://example.org/speed", "unit": "https://example.org/u"}
        }
    }
    active = terms(
        {"@import": "https://example.org/base.jsonld", "unit": "https://example.org/unit"},
        documents,
    )

    assert active.expand("speed") == "https://example.org/speed"
    assert active.expand("unit") == "https://example.org/unit"


@pytest.mark.parametrize(
    "documents",
    [
        {"https://a.example/c": {"@context": "https://a.example/c"}},
        {
            "https://a.example/c": {"@context": ["https://b.example/c"]},
            "https://b.example/c": {
                "@context": [{"x": "https://x.example/"}, "https://a.example/c"]
            },
        },
    ],
    ids=["itself", "through-another"],
)
def test_contexts_that_include_themselves_are_refused(documents: dict[str, Any]) -> None:
    with pytest.raises(ContextError, match="includes itself"):
        terms("https://a.example/c", documents)


def test_the_same_context_twice_is_no_loop() -> None:
    documents = {"https://a.example/c": {"@context": {"x": "https://x.example/x"}}}

    active = terms(["https://a.example/c", "https://a.example/c"], documents)

    assert active.expand("x") == "https://x.example/x"


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    documents = {
        f"https://a.example/{i}": {"@context": f"https://a.example/{i + 1}"}
        for i in range(MAX_CONTEXT_DEPTH + 1)
    }

    with pytest.raises(ContextError, match="deep"):
        terms("https://a.example/0", documents)


# malformed contexts


@pytest.mark.parametrize(
    ("local", "message"),
    [
        (7, "URL or an object"),
        ([{"a": "https://a.example/"}, True], "URL or an object"),
        ({"a": 5}, "string, an object or null"),
        ({"a": {"@id": 5}}, "must be a string"),
        ({"": "https://a.example/"}, "empty string"),
        ({"@version": 1.0}, "@version"),
        ({"@protected": "yes"}, "@protected"),
        ({"a": {"@id": "relative"}, "@vocab": None}, "does not expand to an IRI"),
        ({"a": {"@id": "@context"}}, "@context"),
        ({"@import": 5}, "@import"),
    ],
)
def test_malformed_contexts_are_refused(local: Any, message: str) -> None:
    with pytest.raises(ContextError, match=message):
        terms(local)


def test_a_document_without_context_member_is_refused() -> None:
    with pytest.raises(ContextError, match="no @context member"):
        terms("https://a.example/c", {"https://a.example/c": {"terms": {}}})


def test_an_id_that_only_looks_like_a_keyword_leaves_the_term_undefined() -> None:
    active = terms({"reserved": {"@id": "@future"}})

    assert "reserved" not in active.terms
    assert active.expand("reserved") == DEFAULT + "reserved"


def test_process_context_can_seal_its_terms() -> None:
    sealed = process_context({"a": "https://a.example/a"}, loader({}), protect=True)

    changed = process_context({"a": "https://b.example/a"}, loader({}), sealed)

    assert changed.expand("a") == "https://a.example/a"


# compaction


def test_compaction_picks_the_shortest_then_least_term() -> None:
    active = terms(
        {
            "temperature": "https://example.org/temperature",
            "temp": "https://example.org/temperature",
            "tmpx": "https://example.org/temperature",
            "t": {"@id": "https://example.org/temperature", "@type": "@id"},
        }
    )

    assert active.compact("https://example.org/temperature") == "t"


def test_compaction_picks_the_shortest_compact_iri_that_is_no_other_term() -> None:
    active = terms(
        [
            {"park:spots": {"@id": "park:spots"}},  # an absolute IRI, before "park" is a prefix
            {"sdm": SDM, "park": "sdm:dataModel.Parking/"},
        ]
    )

    assert active.compact(SDM + "dataModel.Parking/floors") == "park:floors"
    # "park:spots" is a term for something else, so the other prefix is used.
    assert active.compact(SDM + "dataModel.Parking/spots") == "sdm:dataModel.Parking/spots"


def test_compaction_prefers_vocab_to_a_compact_iri() -> None:
    active = terms({"@vocab": "https://example.org/v/", "ex": "https://example.org/"})

    assert active.compact("https://example.org/v/speed") == "speed"
    assert active.compact("https://example.org/w/speed") == "ex:w/speed"


# real Smart Data Models contexts


def test_the_smart_data_models_parking_context() -> None:
    active = terms(PARKING_URL, {PARKING_URL: fixture("smart-data-models-parking-context.jsonld")})
    names = Vocabulary(active)

    assert names.to_stored("availableSpotNumber") == SDM + "dataModel.Parking/availableSpotNumber"
    assert names.to_stored("location") == "location"
    assert names.to_stored("status") == "status"
    assert names.to_stored("description") == "description"
    assert names.to_stored("OffStreetParking") == "OffStreetParking"
    assert names.to_request(SDM + "name") == "name"
    assert names.to_request("temperature") == "temperature"


def test_a_real_parking_entity_round_trips_through_its_context() -> None:
    entity = json.loads(
        (
            SHARED_DATA / "smart-data-models" / "OffStreetParking" / "example-normalized.jsonld"
        ).read_text(encoding="utf-8")
    )
    assert entity["@context"] == [PARKING_URL]
    documents = {PARKING_URL: fixture("smart-data-models-parking-context.jsonld")}
    names = Vocabulary(terms(entity["@context"], documents), entity["@context"])

    stored = names.entity_to_stored(entity)

    assert stored["type"] == "OffStreetParking"
    assert stored[SDM + "dataModel.Parking/availableSpotNumber"]["value"] == 132
    assert stored["location"] == entity["location"]
    assert names.entity_to_request(stored) == entity


def test_the_environment_context_uses_the_core_prefix_it_does_not_define() -> None:
    url = "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/context.jsonld"
    active = terms(url, {url: fixture("smart-data-models-environment-context-excerpt.jsonld")})

    assert active.expand("location") == NGSI_LD + "location"
    assert active.expand("temperature") == SDM + "dataModel.Environment/temperature"
    assert Vocabulary(active).to_request("temperature") == "ngsi-ld:default-context/temperature"


# @vocab-typed values


def test_vocab_values_and_object_types_are_translated() -> None:
    schema = "https://schema.org/"
    names = Vocabulary(
        terms({"schema": schema, "Female": "schema:Female", "Person": "schema:Person"})
    )
    entity = {
        "id": "urn:ngsi-ld:Person:1",
        "type": ["Person", "Visitor"],
        "gender": {"type": "VocabProperty", "vocab": "Female"},
        "likes": {"type": "VocabProperty", "vocab": ["Female", "schema:Male"]},
        "knows": {"type": "Relationship", "object": "urn:ngsi-ld:Person:2", "objectType": "Person"},
        "was": {"type": "VocabProperty", "vocab": "Female", "previousVocab": "schema:Male"},
    }

    stored = names.entity_to_stored(entity)

    assert stored["type"] == [schema + "Person", "Visitor"]
    assert stored["gender"]["vocab"] == schema + "Female"
    assert stored["likes"]["vocab"] == [schema + "Female", schema + "Male"]
    assert stored["knows"]["objectType"] == schema + "Person"
    assert stored["knows"]["object"] == "urn:ngsi-ld:Person:2"
    assert stored["was"]["previousVocab"] == schema + "Male"
    back = names.entity_to_request(stored)
    assert back["likes"]["vocab"] == ["Female", "schema:Male"]
    assert back["knows"] == entity["knows"]


def test_names_clients_invent_do_not_grow_the_caches_without_bound() -> None:
    from stadsnav.model.jsonld import CACHED_NAMES, Vocabulary, core_terms

    vocabulary = Vocabulary(core_terms())
    for n in range(CACHED_NAMES * 2):
        assert vocabulary.to_stored(f"a:x{n}") == f"a:x{n}"
    assert len(core_terms()._expanded) <= CACHED_NAMES
    assert len(core_terms()._compacted) <= CACHED_NAMES
