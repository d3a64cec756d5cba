import json
import math
from pathlib import Path
from typing import Any

import pytest

from stadsnav.model.geo import EARTH_RADIUS_M, GeoQueryError, haversine_m, parse_geo_query

BEACH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "beach"


def geo(geometry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Attributes of an entity whose location is ``geometry``."""
    return {"location": {"type": "GeoProperty", "value": geometry}}


def point(lon: float, lat: float) -> dict[str, dict[str, Any]]:
    return geo({"type": "Point", "coordinates": [lon, lat]})


def square(lon: float, lat: float, size: float) -> list[list[list[float]]]:
    """A closed square ring with its south-west corner at lon, lat."""
    return [
        [
            [lon, lat],
            [lon + size, lat],
            [lon + size, lat + size],
            [lon, lat + size],
            [lon, lat],
        ]
    ]


def sladaviken() -> dict[str, dict[str, Any]]:
    """The real Slädaviken beach (a MultiPolygon) from the diwise test data."""
    beaches = json.loads(
        (BEACH / "svc_beaches__context_broker_input__beachesJson.json").read_text()
    )
    return geo(beaches[0]["location"])


def water_quality_points() -> dict[str, dict[str, dict[str, Any]]]:
    """The real WaterQualityObserved points, by entity id."""
    entities = json.loads(
        (BEACH / "svc_waterquality__context_broker_input__waterQualityJSON.json").read_text()
    )
    return {e["id"].rsplit(":", 1)[-1]: geo(e["location"]) for e in entities}


def law_of_cosines_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """An independent great-circle formula to check haversine against."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    return EARTH_RADIUS_M * math.acos(
        math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    )


def test_haversine_along_a_meridian_in_skelleftea() -> None:
    # 0.01° of latitude on the mean sphere is R·π/180/100 = 1111.95 m.
    assert haversine_m(20.95, 64.75, 20.95, 64.76) == pytest.approx(1111.9508, abs=1e-3)


def test_haversine_agrees_with_the_law_of_cosines() -> None:
    # Skellefteå town square and Skellefteå airport.
    square_, airport = (20.9526, 64.7507), (21.0765, 64.6248)
    expected = law_of_cosines_m(*square_, *airport)
    assert haversine_m(*square_, *airport) == pytest.approx(expected, rel=1e-9)
    assert 14_000 < expected < 16_000


def test_near_max_distance() -> None:
    query = parse_geo_query("near;maxDistance==1000", "Point", "[20.95,64.75]")
    assert query.matches(point(20.95, 64.758))
    assert not query.matches(point(20.95, 64.76))
    assert query.distance(point(20.95, 64.76)) == pytest.approx(1111.95, abs=0.01)


def test_near_min_distance() -> None:
    query = parse_geo_query("near;minDistance==1000", "Point", [20.95, 64.75])
    assert query.matches(point(20.95, 64.76))
    assert not query.matches(point(20.95, 64.758))


def test_near_a_polygon_measures_to_its_edge() -> None:
    query = parse_geo_query("near;maxDistance==2000", "Point", "[20.95,64.74]")
    entity = geo({"type": "Polygon", "coordinates": square(20.94, 64.75, 0.02)})
    assert query.distance(entity) == pytest.approx(1111.95, abs=0.5)
    assert query.matches(entity)
    inside = parse_geo_query("near;maxDistance==1", "Point", "[20.95,64.76]")
    assert inside.distance(entity) == 0


def test_near_the_real_beach_finds_its_own_sampling_point() -> None:
    points = water_quality_points()
    query = parse_geo_query("near;maxDistance==500", "Point", "[17.4735,62.4345]")
    assert query.matches(points["testID2"])
    assert not query.matches(points["testID"])
    assert query.matches(sladaviken())


def test_missing_or_invalid_geoproperty_does_not_match() -> None:
    query = parse_geo_query("near;maxDistance==10", "Point", "[0,0]")
    assert not query.matches({})
    assert query.distance({}) is None
    assert not query.matches(geo({"type": "Point", "coordinates": [999, 0]}))
    assert not query.matches({"location": {"type": "GeoProperty", "value": "here"}})


def test_custom_geoproperty() -> None:
    query = parse_geo_query(
        "near;maxDistance==10", "Point", "[0,0]", geoproperty="observationSpace"
    )
    assert query.matches({"observationSpace": point(0, 0)["location"]})
    assert not query.matches(point(0, 0))


def test_point_within_real_beach_polygon() -> None:
    beach_centre = json.dumps([17.4741, 62.4349])
    beach = sladaviken()["location"]["value"]
    within = parse_geo_query("within", "MultiPolygon", json.dumps(beach["coordinates"]))
    assert within.matches(point(17.4741, 62.4349))
    assert not within.matches(point(17.4800, 62.4349))
    contains = parse_geo_query("contains", "Point", beach_centre)
    assert contains.matches(sladaviken())


@pytest.mark.parametrize(
    ("georel", "entity_square", "expected"),
    [
        ("within", (20.1, 64.1, 0.2), True),
        ("within", (20.5, 64.5, 1.0), False),
        ("contains", (19.5, 63.5, 2.0), True),
        ("contains", (20.1, 64.1, 0.2), False),
        ("intersects", (20.5, 64.5, 1.0), True),
        ("intersects", (22.0, 66.0, 1.0), False),
        ("intersects", (21.0, 64.0, 1.0), True),
        ("disjoint", (22.0, 66.0, 1.0), True),
        ("disjoint", (20.5, 64.5, 1.0), False),
        ("equals", (20.0, 64.0, 1.0), True),
        ("equals", (20.0, 64.0, 0.9), False),
        ("overlaps", (20.5, 64.5, 1.0), True),
        ("overlaps", (20.1, 64.1, 0.2), False),
        ("overlaps", (22.0, 66.0, 1.0), False),
    ],
)
def test_polygon_relations(
    georel: str, entity_square: tuple[float, float, float], expected: bool
) -> None:
    query = parse_geo_query(georel, "Polygon", json.dumps(square(20.0, 64.0, 1.0)))
    entity = geo({"type": "Polygon", "coordinates": square(*entity_square)})
    assert query.matches(entity) is expected


def test_polygon_with_a_hole() -> None:
    rings = square(20.0, 64.0, 1.0) + square(20.4, 64.4, 0.2)
    query = parse_geo_query("within", "Polygon", json.dumps(rings))
    assert query.matches(point(20.1, 64.1))
    assert not query.matches(point(20.5, 64.5))


def test_sampling_point_on_the_beach_boundary_intersects_it() -> None:
    beach_id2 = water_quality_points()["testID2"]["location"]["value"]["coordinates"]
    query = parse_geo_query("intersects", "Point", json.dumps(beach_id2))
    assert query.matches(sladaviken())
    far = water_quality_points()["testID"]["location"]["value"]["coordinates"]
    assert parse_geo_query("disjoint", "Point", json.dumps(far)).matches(sladaviken())


def test_line_crossing_a_polygon_intersects_it() -> None:
    query = parse_geo_query("intersects", "LineString", "[[19.5,64.5],[21.5,64.5]]")
    assert query.matches(geo({"type": "Polygon", "coordinates": square(20.0, 64.0, 1.0)}))
    assert not query.matches(geo({"type": "Polygon", "coordinates": square(20.0, 65.0, 1.0)}))


@pytest.mark.parametrize(
    ("georel", "geometry", "coordinates", "message"),
    [
        ("nearby", "Point", "[0,0]", "unknown georel 'nearby'"),
        ("near", "Point", "[0,0]", "needs maxDistance"),
        ("near;maxDistance=10", "Point", "[0,0]", "unknown near modifier"),
        ("near;maxDistance==ten", "Point", "[0,0]", "maxDistance must be a number"),
        ("near;maxDistance==-5", "Point", "[0,0]", ">= 0"),
        ("near;maxDistance==10", "Polygon", json.dumps(square(0, 0, 1)), "needs geometry 'Point'"),
        ("within;maxDistance==10", "Polygon", json.dumps(square(0, 0, 1)), "takes no modifiers"),
        ("within", "Circle", "[0,0]", "unsupported geometry 'Circle'"),
        ("within", "Point", "[0,", "not valid JSON"),
        ("within", "Point", "[0]", "must be [longitude, latitude]"),
        ("within", "Point", '["a","b"]', "must hold numbers"),
        ("within", "Point", "[64.75,200]", "outside longitude"),
        ("within", "Polygon", "[[[0,0],[1,0],[1,1]]]", "at least 4 positions"),
        ("within", "Polygon", "[[[0,0],[1,0],[1,1],[0,1]]]", "last equal to the first"),
        ("within", "MultiPolygon", "[]", "non-empty array"),
        ("within", "LineString", "[[0,0]]", "at least 2 positions"),
    ],
)
def test_invalid_queries_say_why(
    georel: str, geometry: str, coordinates: str, message: str
) -> None:
    with pytest.raises(GeoQueryError, match=message.replace("[", r"\[").replace("(", r"\(")):
        parse_geo_query(georel, geometry, coordinates)


def test_empty_geoproperty_is_rejected() -> None:
    with pytest.raises(GeoQueryError, match="geoproperty"):
        parse_geo_query("within", "Point", "[0,0]", geoproperty="")
