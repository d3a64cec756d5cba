"""Queries narrowed in SQL answer exactly as the full Python filter does, on every store.

The same real queries run with the prefilter (q terms, attrs and the location index pushed into
SQL, candidates read in small chunks) and without it; every answer, Link and count must match.
The location index follows every write of the API.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from stadsnav.model import entity_query
from stadsnav.model.entity_query import EntityQuery

ENTITIES = "/ngsi-ld/v1/entities"
QUERY = "/ngsi-ld/v1/entityOperations/query"
UPSERT = "/ngsi-ld/v1/entityOperations/upsert"
GPS = "urn:ngsi-ld:Dataset:gps"
JSON_HEADERS = {"Content-Type": "application/json"}
CENTRE = "[20.9528,64.7507]"


def bays(count: int) -> list[dict[str, Any]]:
    """Parking bays scattered within 1.5 km of Kanalgatan, a third of them free."""
    rng = random.Random(7)
    found = []
    for number in range(count):
        north, east = (rng.uniform(-1500, 1500) for _ in range(2))
        lat = 64.7507 + north / 111_320
        lon = 20.9528 + east / (111_320 * math.cos(math.radians(64.7507)))
        found.append(
            {
                "id": f"urn:ngsi-ld:ParkingSpot:bench:{number}",
                "type": "ParkingSpot",
                "status": prop("free" if number % 3 == 0 else "occupied"),
                "location": geo("Point", [round(lon, 6), round(lat, 6)]),
                "refParkingSite": {
                    "type": "Relationship",
                    "object": f"urn:ngsi-ld:OnStreetParking:bench:{number // 50}",
                },
            }
        )
    return found


def prop(value: Any, **members: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, **members}


def geo(kind: str, coordinates: Any, **members: Any) -> dict[str, Any]:
    return {"type": "GeoProperty", "value": {"type": kind, "coordinates": coordinates}, **members}


def things() -> list[dict[str, Any]]:
    """Entities whose attributes SQL cannot always compare: multi-attributes, lists, languages,
    numbers of both kinds, booleans, shapes."""
    return [
        {
            "id": "urn:ngsi-ld:Thing:multi",
            "type": "Thing",
            "status": [prop("occupied"), prop("free", datasetId=GPS)],
            "level": [prop(2), prop(7.5, datasetId=GPS)],
            "location": [geo("Point", [20.953, 64.751]), geo("Point", [0, 0], datasetId=GPS)],
        },
        {
            "id": "urn:ngsi-ld:Thing:list",
            "type": "Thing",
            "status": prop(["free", "closed"]),
            "level": prop("3"),
            "location": geo(
                "Polygon", [[[20.94, 64.74], [20.96, 64.74], [20.96, 64.76], [20.94, 64.74]]]
            ),
        },
        {
            "id": "urn:ngsi-ld:Thing:language",
            "type": "Thing",
            "status": {"type": "LanguageProperty", "languageMap": {"sv": "ledig", "en": "free"}},
            "level": prop(3.0),
            "location": geo("LineString", [[20.90, 64.70], [21.00, 64.80]]),
            "scope": "/Skelleftea/Centrum",
        },
        {
            "id": "urn:ngsi-ld:Thing:bool",
            "type": "Thing",
            "status": prop(True),
            "level": prop(True),
            "name": prop("Östra Kanalgatan"),
        },
        {
            "id": "urn:ngsi-ld:Thing:link",
            "type": "Thing",
            "status": {"type": "Relationship", "object": "urn:ngsi-ld:Status:free"},
            "level": prop(-4),
            "name": prop("Zeta"),
            "location": geo("Point", [20.9528, 64.7507]),
        },
        {
            "id": "urn:ngsi-ld:Thing:object",
            "type": "Thing",
            "status": prop({"@value": "free"}),
            "level": prop({"floor": 3}),
            "name": prop("alfa"),
            "location": geo("MultiPoint", [[20.9529, 64.7508], [25.0, 66.0]]),
        },
    ]


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    """240 parking bays of the benchmark and the things SQL cannot always compare."""
    corpus = bays(240) + things()
    for start in range(0, len(corpus), 100):
        body = orjson.dumps(corpus[start : start + 100])
        response = client.post(UPSERT, content=body, headers=JSON_HEADERS)
        assert response.status_code in (201, 204), response.text
    return client


NEAR = {"georel": "near;maxDistance==800", "geometry": "Point", "coordinates": CENTRE}
WITHIN = {
    "georel": "within",
    "geometry": "Polygon",
    "coordinates": "[[[20.93,64.74],[20.97,64.74],[20.97,64.76],[20.93,64.76],[20.93,64.74]]]",
}
GET_QUERIES: list[dict[str, Any]] = [
    {"type": "ParkingSpot", "q": 'status=="free"', **NEAR, "limit": 100},
    {"type": "ParkingSpot", "q": 'status=="free"', **NEAR, "limit": 5, "offset": 3},
    {"type": "ParkingSpot,Thing", "q": 'status=="free"', **NEAR, "count": "true"},
    {"type": "ParkingSpot,Thing", "q": 'status!="free"', "limit": 50, "offset": 20},
    {"type": "Thing", "q": 'status=="free"'},
    {"type": "Thing", "q": 'status>"f";status<"p"', "count": "true"},
    {"type": "Thing", "q": "level>3"},
    {"type": "Thing", "q": "level<3"},
    {"type": "Thing", "q": "level>=3"},
    {"type": "Thing", "q": "level<=3.0"},
    {"type": "Thing", "q": "level==3"},
    {"type": "Thing", "q": "level!=3"},
    {"type": "Thing", "q": 'level=="3"'},
    {"type": "Thing", "q": "level==2..7.5"},
    {"type": "Thing", "q": "level[floor]==3"},
    {"type": "Thing", "q": 'name>"Z"'},
    {"type": "Thing", "q": 'name<"Ö"'},
    {"type": "Thing", "q": "status"},
    {"type": "Thing", "q": "!name"},
    {"type": "Thing", "q": 'status=="free"|level<0'},
    {"type": "Thing", "q": 'status~="fr.*"'},
    {"type": "Thing", "q": "status==urn:ngsi-ld:Status:free"},
    {"type": "Thing,ParkingSpot", "attrs": "name,level", "count": "true"},
    {"type": "ParkingSpot", "attrs": "status", "q": 'status=="occupied"', "limit": 7},
    {"type": "Thing", "scopeQ": "/Skelleftea/#"},
    {"type": "ParkingSpot,Thing", **WITHIN, "count": "true", "limit": 1000},
    {"type": "ParkingSpot,Thing", **{**WITHIN, "georel": "intersects"}, "limit": 1000},
    {"type": "ParkingSpot,Thing", **{**WITHIN, "georel": "overlaps"}, "limit": 1000},
    {"type": "ParkingSpot,Thing", **{**WITHIN, "georel": "contains"}, "limit": 1000},
    {"type": "ParkingSpot,Thing", **{**WITHIN, "georel": "disjoint"}, "count": "true"},
    {"type": "Thing", "georel": "equals", "geometry": "Point", "coordinates": CENTRE},
    {"type": "Thing", "georel": "near;minDistance==1000", "geometry": "Point",
     "coordinates": CENTRE},
    {"type": "ParkingSpot", "georel": "near;maxDistance==400", "geometry": "LineString",
     "coordinates": "[[20.94,64.745],[20.96,64.755]]", "count": "true", "limit": 0},
    {"type": "ParkingSpot", "q": 'status=="free"', "count": "true", "limit": 0},
    {"idPattern": "Thing:(multi|list)", "q": 'status=="free"', "limit": 1},
    {"id": "urn:ngsi-ld:Thing:link,urn:ngsi-ld:ParkingSpot:bench:3", "q": "level<0|status"},
    {"q": 'status=="free"', **NEAR, "limit": 50, "offset": 10},
]  # fmt: skip
POST_QUERIES: list[dict[str, Any]] = [
    {
        "type": "Query",
        "entities": [{"type": "Thing"}, {"type": "ParkingSpot", "idPattern": ":1[0-9]$"}],
        "q": 'status=="free"',
        "geoQ": {"geometry": "Point", "coordinates": [20.9528, 64.7507],
                 "georel": "near;maxDistance==3000"},
    },
    {
        "type": "Query",
        "entities": [{"type": "ParkingSpot", "idPattern": "2$"}, {"type": "ParkingSpot"}],
        "q": 'status!="occupied"',
    },
]  # fmt: skip


PAGES: list[dict[str, str | int]] = [
    {"limit": 3},
    {"limit": 4, "offset": 2, "count": "true"},
    {"limit": 100},
]


def answer(response: Any) -> tuple[Any, ...]:
    return (
        response.status_code,
        response.json(),
        response.headers.get_list("link"),
        response.headers.get("ngsild-results-count"),
    )


def answers(client: TestClient) -> list[tuple[Any, ...]]:
    found = [answer(client.get(ENTITIES, params=params)) for params in GET_QUERIES]
    for body in POST_QUERIES:
        for page in PAGES:
            found.append(answer(client.post(QUERY, params=page, json=body)))
    return found


def test_pushed_down_queries_answer_as_the_python_filter_does(
    seeded: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small chunks, so pages end and resume in the middle of the matches.
    monkeypatch.setattr(entity_query, "CHUNK", 7)
    monkeypatch.setattr(entity_query, "FIRST_CHUNK", 3)
    pushed = answers(seeded)
    with monkeypatch.context() as off:
        off.setattr(EntityQuery, "prefilter", lambda self: None)
        assert answers(seeded) == pushed
    assert all(status == 200 for status, *_ in pushed)
    # Not vacuous: the queries find things, some with a next page.
    assert sum(len(body) for _, body, _, _ in pushed) > 500
    assert any('rel="next"' in " ".join(links) for _, _, links, _ in pushed)
    bench_like = pushed[0][1]
    assert 0 < len(bench_like) < 100
    assert all(spot["status"]["value"] == "free" for spot in bench_like)


def ids(client: TestClient, **params: Any) -> list[str]:
    response = client.get(ENTITIES, params=params)
    assert response.status_code == 200, response.text
    return [entity["id"] for entity in response.json()]


def next_link(client: TestClient, **params: Any) -> str | None:
    links = client.get(ENTITIES, params=params).headers.get_list("link")
    return next((link for link in links if 'rel="next"' in link), None)


def test_a_page_without_count_links_the_next_page_only_when_there_is_one(
    seeded: TestClient,
) -> None:
    free = ids(seeded, type="ParkingSpot", q='status=="free"', limit=1000)
    assert len(free) == 80
    for offset, more in ((0, True), (70, True), (75, False), (78, False), (80, False)):
        params = {"type": "ParkingSpot", "q": 'status=="free"', "limit": 5, "offset": offset}
        assert (next_link(seeded, **params) is not None) == more, offset
        assert ids(seeded, **params) == free[offset : offset + 5]
    counted = seeded.get(ENTITIES, params={"type": "ParkingSpot", "count": "true", "limit": 1})
    assert counted.headers["ngsild-results-count"] == "240"


def near(client: TestClient, at: str = CENTRE, metres: int = 100) -> list[str]:
    return ids(
        client,
        type="Bay",
        georel=f"near;maxDistance=={metres}",
        geometry="Point",
        coordinates=at,
    )


def test_every_write_of_the_api_moves_the_bay_in_near_queries(client: TestClient) -> None:
    bay, other = "urn:ngsi-ld:Bay:1", "[21.0500,64.8000]"

    def send(method: str, path: str, body: Any, status: int = 204) -> None:
        response = client.request(method, path, content=json.dumps(body), headers=JSON_HEADERS)
        assert response.status_code == status, response.text

    here = geo("Point", [20.9528, 64.7507])
    there = geo("Point", [21.05, 64.80])
    send("POST", ENTITIES, {"id": bay, "type": "Bay", "location": here}, 201)
    assert (near(client), near(client, other)) == ([bay], [])
    send("PUT", f"{ENTITIES}/{bay}", {"type": "Bay", "location": there})
    assert (near(client), near(client, other)) == ([], [bay])
    send("PATCH", f"{ENTITIES}/{bay}", {"location": here})
    assert (near(client), near(client, other)) == ([bay], [])
    send("PATCH", f"{ENTITIES}/{bay}/attrs", {"location": there})
    assert (near(client), near(client, other)) == ([], [bay])
    send("PUT", f"{ENTITIES}/{bay}/attrs/location", here)
    assert near(client) == [bay]
    send(
        "POST", f"{ENTITIES}/{bay}/attrs", {"location": geo("Point", [21.05, 64.8], datasetId=GPS)}
    )
    assert (near(client), near(client, other)) == ([bay], [bay])
    send("DELETE", f"{ENTITIES}/{bay}/attrs/location?datasetId={GPS}", None)
    assert (near(client), near(client, other)) == ([bay], [])
    send("PATCH", f"{ENTITIES}/{bay}", {"location": "urn:ngsi-ld:null"})
    assert near(client) == []
    send("POST", f"{ENTITIES}/{bay}/attrs", {"location": there})
    assert near(client, other) == [bay]
    send("DELETE", f"{ENTITIES}/{bay}/attrs/location", None)
    assert near(client, other) == []
    send("POST", UPSERT, [{"id": bay, "type": "Bay", "location": here}])
    assert near(client) == [bay]
    send("DELETE", f"{ENTITIES}/{bay}", None)
    assert near(client) == []
