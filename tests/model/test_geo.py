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
        ("near;maxDistance==-5", "Point", "[0,0]", "> 0"),
        ("near;maxDistance==0", "Point", "[0,0]", "> 0"),
        ("near;maxDistance==inf", "Point", "[0,0]", "finite"),
        ("near;maxDistance==1e400", "Point", "[0,0]", "finite"),
        ("near;maxDistance==5;minDistance==1", "Point", "[0,0]", "exactly one"),
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


# Berlin geometries of the ETSI conformance suite (TP 019_10, 019_11): two buildings with
# polygon footprints, three with points. The first polygon crosses itself near its north-west
# corner, as the suite's data does.
BERLIN_POLYGONS = [
    [[[13.2865906, 52.5648645], [13.2879639, 52.5648645], [13.2797241, 52.4988679],
      [13.477478, 52.4712703], [13.5049438, 52.5373084], [13.2865906, 52.5648645]]],
    [[[13.315773, 52.4757209], [13.339119, 52.4443421], [13.3892441, 52.4669371],
      [13.315773, 52.4757209]]],
]  # fmt: skip
BERLIN_POINTS = [[13.3986, 52.5547], [13.509818, 52.363457], [13.215983, 52.470441]]
AROUND_BERLIN = [[[13.1616211, 52.5438124], [13.597641, 52.4840224], [13.5948944, 52.3402782],
                  [13.142395, 52.386428], [13.1616211, 52.5438124]]]  # fmt: skip
CROSSING_SOUTH = [[[13.3456421, 52.4794848], [13.3641815, 52.4428773], [13.4177399, 52.4730023],
                   [13.3459854, 52.479903], [13.3456421, 52.4794848]]]  # fmt: skip
INSIDE_NORTH = [[[13.3844376, 52.5356966], [13.3844376, 52.5356966], [13.381691, 52.5123012],
                 [13.4235764, 52.5100027], [13.4331894, 52.5273425],
                 [13.3844376, 52.5356966]]]  # fmt: skip
WEST_OF_ALL = [[[13.1369019, 52.5198225], [13.1365585, 52.5200314], [13.131752, 52.4980907],
                [13.1832504, 52.5026887], [13.1369019, 52.5198225]]]  # fmt: skip
AROUND_SOUTH = [[[13.3023834, 52.4903066], [13.3027267, 52.4905156], [13.2745743, 52.465632],
                 [13.3343124, 52.4185447], [13.4311295, 52.47107],
                 [13.3023834, 52.4903066]]]  # fmt: skip


def matches(georel: str, geometry: str, coordinates: Any, entities: list[Any]) -> int:
    query = parse_geo_query(georel, geometry, json.dumps(coordinates))
    return sum(query.matches(entity) for entity in entities)


@pytest.mark.parametrize(
    ("georel", "geometry", "coordinates", "expected"),
    [
        ("equals", "Polygon", BERLIN_POLYGONS[0], 1),
        ("intersects", "Polygon", CROSSING_SOUTH, 1),
        ("contains", "Polygon", INSIDE_NORTH, 1),
        ("contains", "Polygon", WEST_OF_ALL, 0),
        ("disjoint", "Polygon", WEST_OF_ALL, 2),
        ("within", "Polygon", AROUND_SOUTH, 1),
        ("overlaps", "Polygon", CROSSING_SOUTH, 1),
        ("contains", "Point", [13.3442688, 52.4650045], 1),
    ],
)
def test_relations_on_berlin_polygons(
    georel: str, geometry: str, coordinates: Any, expected: int
) -> None:
    entities = [geo({"type": "Polygon", "coordinates": c}) for c in BERLIN_POLYGONS]
    assert matches(georel, geometry, coordinates, entities) == expected


@pytest.mark.parametrize(
    ("georel", "geometry", "coordinates", "expected"),
    [
        ("equals", "Point", [13.3986, 52.5547], 1),
        ("near;maxDistance==15000", "Point", [13.388930, 52.534473], 2),
        ("near;minDistance==15000", "Point", [13.388930, 52.534473], 1),
        ("within", "Polygon", AROUND_BERLIN, 2),
        ("disjoint", "Polygon", AROUND_BERLIN, 1),
        ("disjoint", "Point", [13.3986, 52.5547], 2),
        ("contains", "Point", [13.3986, 52.5547], 1),
        ("intersects", "Point", [13.3986, 52.5547], 1),
        ("overlaps", "Polygon", AROUND_BERLIN, 0),
    ],
)
def test_relations_on_berlin_points(
    georel: str, geometry: str, coordinates: Any, expected: int
) -> None:
    entities = [point(lon, lat) for lon, lat in BERLIN_POINTS]
    assert matches(georel, geometry, coordinates, entities) == expected


def test_near_measures_from_the_nearest_point_of_a_line() -> None:
    east_end = point(10.0, 60.009)
    assert parse_geo_query("near;maxDistance==2000", "LineString", "[[0,60],[10,60]]").matches(
        east_end
    )
    assert not parse_geo_query("near;maxDistance==2000", "LineString", "[[0,61],[10,61]]").matches(
        east_end
    )


def test_near_a_line_at_high_latitude_is_metric() -> None:
    line = geo({"type": "LineString", "coordinates": [[0.0, 85.6], [1.0, 85.0]]})
    query = parse_geo_query("near;maxDistance==20000", "Point", "[0,85]")
    assert query.matches(line)
    distance = query.distance(line)
    assert distance is not None
    assert 9000 < distance < 10000
    assert not parse_geo_query("near;maxDistance==5000", "Point", "[0,85]").matches(line)


def test_within_a_polygon_with_a_hole_excludes_the_hole_and_what_surrounds_it() -> None:
    holed = square(0, 0, 10) + square(4, 4, 2)
    within = parse_geo_query("within", "Polygon", json.dumps(holed))
    assert within.matches(point(2, 2))
    assert not within.matches(point(5, 5))
    assert not within.matches(geo({"type": "Polygon", "coordinates": square(3, 3, 4)}))
    assert within.matches(geo({"type": "Polygon", "coordinates": square(1, 1, 2)}))


def test_a_line_across_the_notch_of_a_concave_polygon_is_not_within_it() -> None:
    notched = json.dumps([[[0, 0], [10, 0], [10, 10], [5, 2], [0, 10], [0, 0]]])
    # From tip to tip: no edge is crossed, only the middle of the line shows it leaves.
    tips = geo({"type": "LineString", "coordinates": [[0, 10], [10, 10]]})
    assert not parse_geo_query("within", "Polygon", notched).matches(tips)
    assert parse_geo_query("intersects", "Polygon", notched).matches(tips)
    in_the_notch = geo({"type": "LineString", "coordinates": [[2, 8], [8, 8]]})
    assert parse_geo_query("disjoint", "Polygon", notched).matches(in_the_notch)
    in_one_arm = geo({"type": "LineString", "coordinates": [[0.5, 1], [0.5, 9]]})
    assert parse_geo_query("within", "Polygon", notched).matches(in_one_arm)


def test_multi_geometries_and_multi_attribute_instances() -> None:
    pair = geo({"type": "MultiPoint", "coordinates": [[1, 1], [20, 20]]})
    assert parse_geo_query("within", "Polygon", json.dumps(square(0, 0, 30))).matches(pair)
    assert not parse_geo_query("within", "Polygon", json.dumps(square(0, 0, 10))).matches(pair)
    assert parse_geo_query("intersects", "Polygon", json.dumps(square(0, 0, 10))).matches(pair)
    instances = {
        "location": [
            {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [50, 50]}},
            {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [1, 1]},
                "datasetId": "urn:ngsi-ld:Dataset:gps",
            },
        ]
    }
    assert parse_geo_query("within", "Polygon", json.dumps(square(0, 0, 10))).matches(instances)
    lines = geo({"type": "MultiLineString", "coordinates": [[[0, 5], [3, 5]], [[20, 5], [25, 5]]]})
    assert parse_geo_query("intersects", "LineString", "[[2,0],[2,10]]").matches(lines)
    assert parse_geo_query("disjoint", "LineString", "[[10,0],[10,10]]").matches(lines)
