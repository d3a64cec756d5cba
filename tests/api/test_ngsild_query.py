"""NGSI-LD query and retrieval over HTTP (GS CIM 009, 5.7.1, 5.7.2, 6.23), on every store.

Entities are created through the API with a user @context served by a local HTTP server, as the
ETSI conformance suite does with its own context: types and attributes are stored under their
IRIs, and the request's Link header must translate names both ways.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stadsnav.runtime import Runtime
from stadsnav.store.base import EntityChange, StoredEntity

ENTITIES = "/ngsi-ld/v1/entities"
QUERY = "/ngsi-ld/v1/entityOperations/query"
ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"
TST = "https://ngsi-ld-test-suite/context#"
CONTEXT = {
    "@context": {
        "tst": TST,
        **{term: f"tst:{term}" for term in ("Building", "Vehicle", "City", "Country")},
        **{
            term: f"tst:{term}"
            for term in ("name", "airQualityLevel", "almostFull", "street", "address", "speed")
        },
        "locatedAt": {"@id": "tst:locatedAt", "@type": "@id"},
        "isInCountry": {"@id": "tst:isInCountry", "@type": "@id"},
        "category": {"@id": "tst:category", "@type": "@vocab"},
        "commercial": "tst:commercial",
        "description": "http://purl.org/dc/terms/description",
    }
}
B1, B2, B3 = (f"urn:ngsi-ld:Building:{n}" for n in ("eiffel", "pisa", "bigben"))
V1 = "urn:ngsi-ld:Vehicle:A4567"
PARIS, FRANCE = "urn:ngsi-ld:City:Paris", "urn:ngsi-ld:Country:France"
GPS = "urn:ngsi-ld:Dataset:gps"


class _ContextHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(CONTEXT).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/ld+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def context_url() -> Iterator[str]:
    """The URL of the test @context, served over HTTP from this process."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ContextHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/ngsi-ld-test-suite.jsonld"
    server.shutdown()
    server.server_close()


def prop(value: Any, **members: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, **members}


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}


def rel(target: str) -> dict[str, Any]:
    return {"type": "Relationship", "object": target}


def seed_entities() -> list[dict[str, Any]]:
    """Three buildings in Berlin, a vehicle with a multi-attribute, a city and a country."""
    return [
        {
            "id": B1,
            "type": "Building",
            "name": prop("Eiffel Tower"),
            "airQualityLevel": prop(4),
            "almostFull": prop(False),
            "locatedAt": rel(PARIS),
            "location": point(13.3986, 52.5547),
            "street": {
                "type": "LanguageProperty",
                "languageMap": {"fr": "Grand Place", "nl": "Grote Markt"},
            },
            "address": prop({"city": "Berlin", "street": "Unter den Linden"}),
        },
        {
            "id": B2,
            "type": "Building",
            "name": prop("Pisa Tower"),
            "airQualityLevel": prop(6),
            "almostFull": prop(False),
            "locatedAt": rel("urn:ngsi-ld:City:Pisa"),
            "location": point(13.509818, 52.363457),
        },
        {
            "id": B3,
            "type": "Building",
            "name": prop("Big Ben"),
            "airQualityLevel": prop(2),
            "almostFull": prop(True),
            "location": point(13.215983, 52.470441),
        },
        {
            "id": V1,
            "type": "Vehicle",
            "speed": [prop(55), prop(11, datasetId=GPS)],
            "category": {"type": "VocabProperty", "vocab": "commercial"},
        },
        {"id": PARIS, "type": "City", "name": prop("Paris"), "isInCountry": rel(FRANCE)},
        {"id": FRANCE, "type": "Country", "description": prop("A European country")},
    ]


def link(url: str) -> dict[str, str]:
    return {
        "Link": f'<{url}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
    }


@pytest.fixture
def seeded(client: TestClient, context_url: str) -> TestClient:
    """The client, with the seed entities created through the API."""
    for entity in seed_entities():
        response = client.post(
            ENTITIES,
            content=json.dumps({**entity, "@context": [context_url]}),
            headers={"Content-Type": "application/ld+json"},
        )
        assert response.status_code == 201, response.text
    return client


def query(client: TestClient, url: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(ENTITIES, params=params, headers=link(url))
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body


def ids(client: TestClient, url: str, **params: Any) -> list[str]:
    return [entity["id"] for entity in query(client, url, **params)]


def problem(response: Any, status: int, kind: str = "BadRequestData") -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == ERRORS + kind


def test_type_expressions_ids_and_id_patterns(seeded: TestClient, context_url: str) -> None:
    assert ids(seeded, context_url, type="Building") == sorted([B1, B2, B3])
    assert ids(seeded, context_url, type="Building,Vehicle") == sorted([B1, B2, B3, V1])
    assert ids(seeded, context_url, type="Vehicle|City") == sorted([V1, PARIS])
    assert ids(seeded, context_url, type="(Building;Vehicle)") == []
    assert ids(seeded, context_url, type="(Building;Vehicle),City") == [PARIS]
    assert ids(seeded, context_url, type="Building", id=f"{B1},{B3}") == sorted([B1, B3])
    assert ids(seeded, context_url, type="Building", idPattern=".*:(pisa|eiffel)$") == sorted(
        [B1, B2]
    )
    everything = ids(seeded, context_url, type="*", limit=1000)
    assert {B1, V1, PARIS, FRANCE} <= set(everything)
    assert ids(seeded, context_url, local="true", limit=1000) == everything
    without_link = seeded.get(ENTITIES, params={"type": f"{TST}Vehicle"}).json()
    assert [e["type"] for e in without_link] == [f"{TST}Vehicle"]


def test_invalid_selections_are_bad_request_data(seeded: TestClient, context_url: str) -> None:
    for params in [
        {"type": "Building", "id": "thisisaninvaliduri1,thisisaninvaliduri2"},
        {"type": "(Building"},
        {"type": "*", "local": "false"},
        {"idPattern": "(unclosed"},
        {},
    ]:
        problem(seeded.get(ENTITIES, params=params, headers=link(context_url)), 400)


def test_a_query_that_selects_every_entity_is_bad_request_data(
    seeded: TestClient, context_url: str
) -> None:
    # GS CIM 009, 5.7.2.4 (ETSI 019_03_03, 019_03_05): ids need a type, and id, type and the
    # system members are no attributes to narrow a query by.
    for params in [
        {"id": f"{B1},{B2}"},
        {"idPattern": ".*pisa"},
        {"attrs": "id,type"},
        {"attrs": "createdAt"},
        {"q": 'modifiedAt>"2020-01-01T00:00:00Z"'},
    ]:
        problem(seeded.get(ENTITIES, params=params, headers=link(context_url)), 400)
    problem(seeded.post(QUERY, json={"type": "Query"}, headers=link(context_url)), 400)
    assert ids(seeded, context_url, attrs="id,name", limit=1000) == sorted([B1, B2, B3, PARIS])
    assert ids(seeded, context_url, id=f"{B1},{B2}", type="Building") == sorted([B1, B2])


Q_CASES = [
    ('name=="Eiffel Tower"', [B1]),
    ('name=="Pisa Tower";almostFull==false', [B2]),
    ('name=="Pisa Tower"|almostFull==false', [B1, B2]),
    ('(name=="Pisa Tower"|name=="Eiffel Tower");almostFull==false', [B1, B2]),
    ("airQualityLevel>=4;airQualityLevel<7", [B1, B2]),
    ("airQualityLevel==4..5", [B1]),
    ("airQualityLevel!=4..5", [B2, B3]),
    ("airQualityLevel==2,6", [B2, B3]),
    ('name!~="^Eiffel"', [B2, B3]),
    ("name~=(?i)tower", [B1, B2]),
    (f"locatedAt=={PARIS}", [B1]),
    (f'locatedAt=="{PARIS}"|locatedAt==urn:ngsi-ld:City:Madrid', [B1]),
    ('locatedAt>"urn:a"', []),
    ('address[city]=="Berlin"', [B1]),
    ('address[postcode]=="Berlin"', []),
    ("address[city]", [B1]),
    ("!locatedAt", [B3]),
    ('street[nl]=="Grote Markt"', [B1]),
    ('street[fr]=="Grote Markt"', []),
    ('street[*]=="Grote Markt"', [B1]),
    (f"{TST}airQualityLevel>5", [B2]),
]


def test_q_over_user_terms(seeded: TestClient, context_url: str) -> None:
    for q, expected in Q_CASES:
        assert ids(seeded, context_url, type="Building", q=q) == sorted(expected), q


def test_q_sees_every_instance_of_a_multi_attribute(seeded: TestClient, context_url: str) -> None:
    assert ids(seeded, context_url, q="speed<20") == [V1]
    assert ids(seeded, context_url, q=f'speed.datasetId=="{GPS}"') == [V1]
    assert ids(seeded, context_url, q="speed>100") == []


def test_q_syntax_errors_and_count(seeded: TestClient, context_url: str) -> None:
    problem(
        seeded.get(ENTITIES, params={"q": "airQualityLevel>4..5"}, headers=link(context_url)), 400
    )
    problem(seeded.get(ENTITIES, params={"q": "name=Eiffel"}), 400)
    response = seeded.get(
        ENTITIES, params={"type": "Building", "q": "airQualityLevel==6", "count": "true"},
        headers=link(context_url),
    )  # fmt: skip
    assert response.headers["NGSILD-Results-Count"] == "1"


def test_attrs_select_entities_and_their_attributes(seeded: TestClient, context_url: str) -> None:
    found = query(seeded, context_url, attrs="airQualityLevel,speed")
    assert [e["id"] for e in found] == sorted([B1, B2, B3, V1])
    assert set(found[0]) == {"id", "type", "airQualityLevel"}
    by_iri = seeded.get(ENTITIES, params={"attrs": f"{TST}speed"}).json()
    assert [e["id"] for e in by_iri] == [V1]
    assert set(by_iri[0]) == {"id", "type", f"{TST}speed"}


GEO_CASES = [
    ("equals", "Point", "[13.3986, 52.5547]", [B1]),
    ("near;maxDistance==15000", "Point", "[13.388930, 52.534473]", [B1, B3]),
    ("near;minDistance==15000", "Point", "[13.388930, 52.534473]", [B2]),
    (
        "within",
        "Polygon",
        "[[[13.1616211,52.5438124],[13.597641,52.4840224],[13.5948944,52.3402782],"
        "[13.142395,52.386428],[13.1616211,52.5438124]]]",
        [B2, B3],
    ),
    ("disjoint", "Point", "[13.3986, 52.5547]", [B2, B3]),
    ("intersects", "LineString", "[[13.3,52.5547],[13.5,52.5547]]", [B1]),
    ("near;maxDistance==2000", "LineString", "[[13.3,52.56],[13.5,52.56]]", [B1]),
]


def test_geo_queries(seeded: TestClient, context_url: str) -> None:
    for georel, geometry, coordinates, expected in GEO_CASES:
        found = ids(
            seeded, context_url, type="Building", georel=georel, geometry=geometry,
            coordinates=coordinates,
        )  # fmt: skip
        assert found == sorted(expected), georel


def test_geo_query_errors(seeded: TestClient, context_url: str) -> None:
    base = {"type": "Building", "geometry": "Point", "coordinates": "[8,40]"}
    for georel in ["near;maxDistance==0", "near", "touches", "near;maxDistance==5;minDistance==1"]:
        problem(seeded.get(ENTITIES, params={**base, "georel": georel}), 400)
    problem(seeded.get(ENTITIES, params={"type": "Building", "georel": "within"}), 400)
    elsewhere = {"georel": "near;maxDistance==2000", "geoproperty": "observationSpace"}
    near = {"geometry": "Point", "coordinates": "[13.3986, 52.5547]", **elsewhere}
    assert ids(seeded, context_url, type="Building", **near) == []


def test_scope_q(seeded: TestClient, runtime: Runtime, context_url: str) -> None:
    # The API does not write scopes yet: they are stored as the store keeps an entity's scope.
    scopes = {
        B1: ["/Madrid/Gardens/ParqueNorte"],
        B2: ["/Madrid/Gardens/ParqueNorte", "/CompanyA/OrganizationB/UnitC"],
    }

    def scoped(values: list[str]) -> Callable[[StoredEntity | None], EntityChange]:
        return lambda _: EntityChange(put=[("scope", prop(values))])

    runtime.store.change_entities({i: scoped(values) for i, values in scopes.items()})
    for scope_q, expected in [
        ("/Madrid/Gardens/ParqueNorte", [B1, B2]),
        ("/Madrid/+/ParqueNorte", [B1, B2]),
        ("/CompanyA/#", [B2]),
        ("/#", [B1, B2]),
        ("/Madrid/Gardens/ParqueNorte;/CompanyA/OrganizationB/UnitC", [B2]),
        ("/Madrid/Gardens/ParqueNorte,/CompanyA/OrganizationB/UnitC", [B1, B2]),
        ("(/Madrid/Gardens/ParqueNorte;/Nowhere)|/CompanyA/OrganizationB/UnitC", [B2]),
    ]:
        assert ids(seeded, context_url, type="Building", scopeQ=scope_q) == sorted(expected), (
            scope_q
        )
    [retrieved] = query(seeded, context_url, id=B2, type="Building", attrs="name")
    assert retrieved["scope"] == scopes[B2]
    assert "scope" not in query(seeded, context_url, id=B2, type="Building", pick="id,name")[0]
    problem(seeded.get(ENTITIES, params={"type": "Building", "scopeQ": "Madrid"}), 400)


def test_representations(seeded: TestClient, context_url: str) -> None:
    [normalized] = query(seeded, context_url, id=B1, type="Building", attrs="name,locatedAt")
    assert normalized["name"] == prop("Eiffel Tower")
    [simplified] = query(seeded, context_url, id=B1, type="Building", options="keyValues")
    assert simplified["name"] == "Eiffel Tower"
    assert simplified["street"] == {"languageMap": {"fr": "Grand Place", "nl": "Grote Markt"}}
    assert simplified["location"] == {"type": "Point", "coordinates": [13.3986, 52.5547]}
    [concise] = query(seeded, context_url, id=B1, type="Building", format="concise")
    assert concise["name"] == "Eiffel Tower"
    assert concise["locatedAt"] == {"object": PARIS}
    assert concise["address"] == {"value": {"city": "Berlin", "street": "Unter den Linden"}}
    [formatted] = query(
        seeded, context_url, id=B1, type="Building", format="keyValues", options="normalized"
    )
    assert formatted["name"] == "Eiffel Tower"
    [with_sys] = query(seeded, context_url, id=B1, type="Building", options="sysAttrs")
    assert with_sys["createdAt"].endswith("Z")
    assert "createdAt" in with_sys["name"]
    assert "createdAt" not in normalized["name"]
    [vehicle] = query(seeded, context_url, type="Vehicle", options="keyValues")
    assert vehicle["speed"] == {"dataset": {"@none": 55, GPS: 11}}
    assert vehicle["category"] == {"vocab": "commercial"}


def test_invalid_format_or_options_is_invalid_request_before_not_found(
    seeded: TestClient, context_url: str
) -> None:
    for params in [{"format": "invalidFormat"}, {"options": "keyValues,invalid"}]:
        problem(seeded.get(f"{ENTITIES}/urn:ngsi-ld:Building:nowhere", params=params), 400,
                "InvalidRequest")  # fmt: skip
        problem(seeded.get(ENTITIES, params={"type": "Building", **params}), 400, "InvalidRequest")


def test_lang_serves_one_language(seeded: TestClient, context_url: str) -> None:
    cases = [
        ("fr", ("Grand Place", "fr")),
        ("fr-CH,fr;q=0.9,en;q=0.8,*;q=0.5", ("Grand Place", "fr")),
        ("fr;q=0.2,nl;q=0.9", ("Grote Markt", "nl")),
        ("nl-BE", ("Grote Markt", "nl")),
        ("*", ("Grand Place", "fr")),
        ("pt", ("Grand Place", "fr")),
    ]
    for lang, expected in cases:
        response = seeded.get(f"{ENTITIES}/{B1}", params={"lang": lang}, headers=link(context_url))
        street = response.json()["street"]
        assert (street["value"], street["lang"]) == expected
        assert street["type"] == "Property"
    [simplified] = query(
        seeded, context_url, id=B1, type="Building", lang="nl", options="keyValues"
    )
    assert simplified["street"] == "Grote Markt"
    problem(seeded.get(f"{ENTITIES}/{B1}", params={"lang": "fr;q=7"}), 400)


def test_count_limit_and_offset(seeded: TestClient, context_url: str) -> None:
    response = seeded.get(
        ENTITIES,
        params={"type": "Building", "count": "true", "limit": 2},
        headers=link(context_url),
    )
    assert response.headers["NGSILD-Results-Count"] == "3"
    assert [e["id"] for e in response.json()] == sorted([B1, B2, B3])[:2]
    assert ids(seeded, context_url, type="Building", offset=2) == sorted([B1, B2, B3])[2:]
    only_count = seeded.get(
        ENTITIES,
        params={"type": "Building", "count": "true", "limit": 0},
        headers=link(context_url),
    )
    assert only_count.json() == []
    assert only_count.headers["NGSILD-Results-Count"] == "3"
    problem(seeded.get(ENTITIES, params={"type": "Building", "limit": 0}), 400)
    problem(seeded.get(ENTITIES, params={"type": "Building", "limit": 1001}), 403, "TooManyResults")


def test_a_context_source_filter_is_checked(seeded: TestClient, context_url: str) -> None:
    # 5.7.2.4: a csf that is not valid is BadRequestData; a valid one asks no sources here.
    assert ids(seeded, context_url, type="Country", csf='endpoint=="http://a.example"') == [FRANCE]
    problem(seeded.get(ENTITIES, params={"type": "Country", "csf": "))bad(("}), 400)
    body = {"type": "Query", "entities": [{"type": "Country"}], "csf": "))bad(("}
    problem(seeded.post(QUERY, json=body), 400)


def test_order_by(seeded: TestClient, context_url: str) -> None:
    # GS CIM 009 v1.9, 4.23 (ETSI 019_19): names are the request's terms; ties go by id.
    assert ids(seeded, context_url, type="Building", orderBy="name;desc") == [B2, B1, B3]
    assert ids(seeded, context_url, type="Building", orderBy="airQualityLevel") == [B3, B1, B2]
    assert ids(seeded, context_url, type="Building", orderBy="almostFull,name") == [B1, B2, B3]
    assert ids(seeded, context_url, type="Building", orderBy="name;desc", offset=1, limit=1) == [B1]
    found = seeded.post(
        QUERY,
        json={"type": "Query", "entities": [{"type": "Building"}], "orderBy": "airQualityLevel"},
        headers=link(context_url),
    )
    assert [e["id"] for e in found.json()] == [B3, B1, B2]
    bad = seeded.get(ENTITIES, params={"type": "Building", "orderBy": "name;sideways"})
    problem(bad, 400)


def test_pick_and_omit(seeded: TestClient, context_url: str) -> None:
    assert query(seeded, context_url, type="Building", pick="id") == [
        {"id": i} for i in sorted([B1, B2, B3])
    ]
    [picked] = query(seeded, context_url, id=B1, type="Building", pick="id,name")
    assert picked == {"id": B1, "name": prop("Eiffel Tower")}
    [omitted] = query(seeded, context_url, id=B3, type="Building", omit="type,name,location")
    assert omitted == {"id": B3, "airQualityLevel": prop(2), "almostFull": prop(True)}
    for params in [
        {"pick": "name", "omit": "name"},
        {"pick": "name", "attrs": "name"},
        {"pick": "id;name"},
        {"pick": "id,locatedAt{name"},
        {"pick": "id,,name"},
        {"pick": "id,locatedAt{}"},
        {"pick": "locatedAt{name}"},
    ]:
        problem(
            seeded.get(ENTITIES, params={"type": "Building", **params}, headers=link(context_url)),
            400,
        )
    # Entities with none of the picked attributes are no match (ETSI 019_17_01), in the count too.
    response = seeded.get(
        ENTITIES,
        params={"type": "Building,Vehicle", "pick": "name", "count": "true"},
        headers=link(context_url),
    )
    assert response.json() == [
        {"name": prop(name)} for name in ("Big Ben", "Eiffel Tower", "Pisa Tower")
    ]
    assert response.headers["NGSILD-Results-Count"] == "3"
    nothing_left = seeded.get(
        f"{ENTITIES}/{B1}", params={"pick": "unknown"}, headers=link(context_url)
    )
    problem(nothing_left, 404, "ResourceNotFound")


def test_retrieve_filters_and_not_found(seeded: TestClient, context_url: str) -> None:
    headers = link(context_url)
    assert (
        seeded.get(f"{ENTITIES}/{B1}", params={"type": "Building"}, headers=headers).status_code
        == 200
    )
    problem(seeded.get(f"{ENTITIES}/{B1}", params={"type": "Vehicle"}, headers=headers), 404,
            "ResourceNotFound")  # fmt: skip
    problem(seeded.get(f"{ENTITIES}/{B1}", params={"attrs": "speed"}, headers=headers), 404,
            "ResourceNotFound")  # fmt: skip
    partial = seeded.get(f"{ENTITIES}/{B1}", params={"attrs": "name,speed"}, headers=headers).json()
    assert set(partial) == {"id", "type", "name"}
    problem(seeded.get(f"{ENTITIES}/not-a-uri"), 400)


def test_link_context_translates_and_the_fast_lane_keeps_iris(
    seeded: TestClient, context_url: str
) -> None:
    plain = seeded.get(f"{ENTITIES}/{B1}").json()
    assert plain["type"] == f"{TST}Building"
    assert plain[f"{TST}name"] == prop("Eiffel Tower")
    translated = seeded.get(f"{ENTITIES}/{B1}", headers=link(context_url))
    assert translated.json()["type"] == "Building"
    assert translated.json()["name"] == prop("Eiffel Tower")
    assert context_url in translated.headers["link"]
    ld = seeded.get(
        f"{ENTITIES}/{B1}", headers={**link(context_url), "Accept": "application/ld+json"}
    ).json()
    assert ld["@context"] == context_url
    assert ld["locatedAt"] == rel(PARIS)


def test_dataset_ids_select_instances(seeded: TestClient, context_url: str) -> None:
    headers = link(context_url)
    gps = seeded.get(f"{ENTITIES}/{V1}", params={"datasetId": GPS}, headers=headers).json()
    assert gps["speed"] == prop(11, datasetId=GPS)
    assert "category" not in gps
    default = seeded.get(f"{ENTITIES}/{V1}", params={"datasetId": "@none"}, headers=headers).json()
    assert default["speed"] == prop(55)
    both = seeded.get(f"{ENTITIES}/{V1}", headers=headers).json()
    assert both["speed"] == [prop(55), prop(11, datasetId=GPS)]
    problem(seeded.get(f"{ENTITIES}/{V1}", params={"datasetId": "not a uri"}), 400)


def test_linked_entities_inline_and_flat(seeded: TestClient, context_url: str) -> None:
    headers = link(context_url)
    inline = seeded.get(
        f"{ENTITIES}/{B1}", params={"join": "inline", "joinLevel": 2}, headers=headers
    ).json()
    city = inline["locatedAt"]["entity"]
    assert city["id"] == PARIS
    assert city["isInCountry"]["entity"]["description"] == prop("A European country")
    flat = seeded.get(
        f"{ENTITIES}/{B1}", params={"join": "flat", "options": "keyValues"}, headers=headers
    )
    assert [e["id"] for e in flat.json()] == [B1, PARIS]
    # local=true (6.5.3.1, ETSI 018_21): this broker's entities are all local ones.
    omitted = seeded.get(
        f"{ENTITIES}/{B1}",
        params={"join": "inline", "joinLevel": 2, "omit": "type,locatedAt{name}", "local": "true"},
        headers=headers,
    ).json()
    assert "type" not in omitted
    assert set(omitted["locatedAt"]["entity"]) == {"id", "type", "isInCountry"}
    problem(seeded.get(f"{ENTITIES}/{B1}", params={"local": "maybe"}, headers=headers), 400)
    lonely = seeded.get(f"{ENTITIES}/{B2}", params={"join": "flat"}, headers=headers).json()
    assert lonely["id"] == B2
    found = query(
        seeded, context_url, type="Building", join="flat", joinLevel=2, pick="id,locatedAt{name}"
    )
    assert found == [
        {"id": B3},
        {"id": B1, "locatedAt": rel(PARIS)},
        {"id": B2, "locatedAt": rel("urn:ngsi-ld:City:Pisa")},
        {"name": prop("Paris")},
    ]
    problem(seeded.get(ENTITIES, params={"type": "Building", "join": "sideways"}), 400)
    problem(
        seeded.get(ENTITIES, params={"type": "Building", "join": "inline", "joinLevel": 0}), 400
    )


def test_geojson(seeded: TestClient, context_url: str) -> None:
    geo_headers = {**link(context_url), "Accept": "application/geo+json"}
    feature = seeded.get(f"{ENTITIES}/{B1}", headers=geo_headers)
    assert feature.headers["content-type"] == "application/geo+json"
    body = feature.json()
    assert body["type"] == "Feature"
    assert body["geometry"] == {"type": "Point", "coordinates": [13.3986, 52.5547]}
    assert body["properties"]["type"] == "Building"
    assert body["@context"] == context_url
    collection = seeded.get(ENTITIES, params={"type": "Building"}, headers=geo_headers).json()
    assert collection["type"] == "FeatureCollection"
    assert len(collection["features"]) == 3
    no_geometry = seeded.get(
        f"{ENTITIES}/{V1}", params={"geometryProperty": "speed"}, headers=geo_headers
    ).json()
    assert no_geometry["geometry"] is None
    problem(seeded.get(f"{ENTITIES}/{B1}", params={"geometryProperty": "location"}), 400)


def test_post_query(seeded: TestClient, context_url: str) -> None:
    def post(body: dict[str, Any], **params: Any) -> Any:
        return seeded.post(QUERY, json=body, params=params, headers=link(context_url))

    found = post(
        {"type": "Query", "entities": [{"type": "Building", "id": B1}, {"type": "Vehicle"}]}
    )
    assert [e["id"] for e in found.json()] == [B1, V1]
    by_pattern = post({"type": "Query", "entities": [{"type": "Building", "idPattern": ".*pisa"}]})
    assert [e["id"] for e in by_pattern.json()] == [B2]
    precedence = post(
        {"type": "Query", "entities": [{"type": "Building", "id": [B1], "idPattern": ".*pisa"}]}
    )
    assert [e["id"] for e in precedence.json()] == [B1]
    filtered = post(
        {
            "type": "Query",
            "entities": [{"type": "Building,Vehicle"}],
            "q": "airQualityLevel>3",
            "geoQ": {
                "georel": "near;maxDistance==2000",
                "geometry": "Point",
                "coordinates": [13.3986, 52.5547],
            },
            "attrs": ["name"],
        },
        count="true",
    )
    assert filtered.headers["NGSILD-Results-Count"] == "1"
    assert filtered.json() == [{"id": B1, "type": "Building", "name": prop("Eiffel Tower")}]
    attrs_only = post({"type": "Query", "attrs": ["speed"]}, options="keyValues")
    assert attrs_only.json() == [
        {"id": V1, "type": "Vehicle", "speed": {"dataset": {"@none": 55, GPS: 11}}}
    ]
    picked = post({"type": "Query", "entities": [{"type": "Vehicle"}], "pick": ["id", "category"]})
    assert picked.json() == [
        {"id": V1, "category": {"type": "VocabProperty", "vocab": "commercial"}}
    ]
    for bad in [
        {"type": "NotQuery", "entities": [{"type": "Vehicle"}]},
        {"type": "Query", "entities": []},
        {"type": "Query", "entities": [{"id": V1}]},
        {"type": "Query", "entities": [{"type": "Vehicle", "id": "not a uri"}]},
        {"type": "Query", "entities": [{"type": "Vehicle", "id": [V1, 5]}]},
        {"type": "Query", "entities": [{"type": "Vehicle"}], "attrs": []},
        {"type": "Query", "entities": [{"type": "Vehicle"}], "q": 42},
        {"type": "Query", "entities": [{"type": "Vehicle"}], "join": "inline", "joinLevel": 0},
        {"type": "Query", "entities": [{"type": "Vehicle"}], "temporalQ": {"timerel": "after"}},
        {"type": "Query", "entities": [{"type": "Vehicle"}], "geoQ": {"georel": "near"}},
    ]:
        problem(post(bad), 400)
    problem(seeded.post(QUERY, content=b"{", headers={"Content-Type": "application/json"}), 400,
            "InvalidRequest")  # fmt: skip


def test_tenants_are_queried_apart(client: TestClient, context_url: str) -> None:
    tenant = {"NGSILD-Tenant": "kommun"}
    entity = {"id": "urn:ngsi-ld:Building:tenant", "type": "Building", "@context": [context_url]}
    created = client.post(
        ENTITIES, content=json.dumps(entity),
        headers={**tenant, "Content-Type": "application/ld+json"},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    in_tenant = client.get(
        ENTITIES, params={"type": "Building"}, headers={**tenant, **link(context_url)}
    )
    assert [e["id"] for e in in_tenant.json()] == [entity["id"]]
    retrieved = client.get(f"{ENTITIES}/{entity['id']}", headers=tenant)
    assert retrieved.json()["type"] == f"{TST}Building"
    assert client.get(f"{ENTITIES}/{entity['id']}").status_code == 404
    assert client.get(ENTITIES, params={"type": "Building"}, headers=link(context_url)).json() == []
    unknown = client.get(ENTITIES, params={"type": "Building"}, headers={"NGSILD-Tenant": "nobody"})
    problem(unknown, 404, "NonexistentTenant")


def test_pages_link_to_the_previous_and_next_ones(seeded: TestClient, context_url: str) -> None:
    def links(offset: int) -> str:
        params = {"type": "Building", "count": "true", "limit": 1, "offset": offset}
        response = seeded.get(ENTITIES, params=params, headers=link(context_url))
        return ", ".join(response.headers.get_list("link"))

    def page(offset: int, rel: str) -> str:
        return (
            f"<{ENTITIES}?count=true&limit=1&offset={offset}&type=Building>; "
            f'rel="{rel}";type="application/json"'
        )

    first, middle, last = links(0), links(1), links(2)
    assert page(1, "next") in first
    assert 'rel="prev"' not in first
    assert page(0, "prev") in middle
    assert page(2, "next") in middle
    assert page(1, "prev") in last
    assert 'rel="next"' not in last
    assert context_url in first
    quoted = seeded.get(
        ENTITIES,
        params={"type": "Building", "q": "airQualityLevel>1", "limit": 1},
        headers=link(context_url),
    ).headers.get_list("link")
    assert any("q=airQualityLevel%3E1" in value for value in quoted)
