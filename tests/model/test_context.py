from stadsnav.model.context import CORE_CONTEXT_URL, core_context, link_header


def test_core_context_is_v1_8() -> None:
    assert CORE_CONTEXT_URL == "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
    context = core_context()["@context"]
    assert context["@vocab"] == "https://uri.etsi.org/ngsi-ld/default-context/"
    assert context["@version"] == 1.1
    assert context["@protected"] is True
    assert context["ngsi-ld"] == "https://uri.etsi.org/ngsi-ld/"
    assert context["Property"] == "ngsi-ld:Property"
    assert context["GeoProperty"] == "ngsi-ld:GeoProperty"
    assert context["Relationship"] == "ngsi-ld:Relationship"
    assert context["observedAt"] == {"@id": "ngsi-ld:observedAt", "@type": "DateTime"}
    assert context["object"] == {"@id": "ngsi-ld:hasObject", "@type": "@id"}
    assert context["value"] == "ngsi-ld:hasValue"
    assert context["unitCode"] == "ngsi-ld:unitCode"
    assert context["location"] == "ngsi-ld:location"
    assert context["languageMap"] == {"@id": "ngsi-ld:hasLanguageMap", "@container": "@language"}
    # Terms new in v1.8 (absent from v1.6/v1.7).
    assert context["VocabProperty"] == "ngsi-ld:VocabProperty"
    assert context["JsonProperty"] == "ngsi-ld:JsonProperty"
    assert context["jsonKeys"] == "ngsi-ld:jsonKeys"


def test_core_context_returns_independent_copies() -> None:
    first = core_context()
    first["@context"]["Property"] = "changed"
    assert core_context()["@context"]["Property"] == "ngsi-ld:Property"


def test_every_term_maps_to_an_iri_or_keyword() -> None:
    context = core_context()["@context"]
    for term, definition in context.items():
        target = definition["@id"] if isinstance(definition, dict) else definition
        if term in ("@version", "@protected"):
            continue
        assert isinstance(target, str)
        assert target.startswith(("@", "ngsi-ld:", "geojson:", "http")) or target in (
            "attributeCount",
            "attributeDetails",
        ), term


def test_link_header() -> None:
    assert link_header() == (
        "<https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld>; "
        'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
    )
    assert link_header("https://example.org/ctx.jsonld").startswith(
        "<https://example.org/ctx.jsonld>; rel="
    )
