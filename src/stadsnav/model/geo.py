"""NGSI-LD geo-queries (ETSI GS CIM 009, clause 4.10) on GeoJSON geometries in lon/lat degrees."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Final

EARTH_RADIUS_M: Final = 6_371_008.8
"""Mean radius of the WGS84 ellipsoid (IUGG R1), in metres."""
_BOX_PAD: Final = 1e-7
"""Degrees (about 1 cm) added around a search box, for rounding in the distance and crossing
tests."""

GEORELS: Final = frozenset(
    {"near", "within", "intersects", "disjoint", "equals", "contains", "overlaps"}
)
GEOMETRIES: Final = (
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
)

Position = tuple[float, float]
Path = tuple[Position, ...]


class GeoQueryError(ValueError):
    """An invalid georel, geometry, coordinates or geoproperty."""


@dataclass(frozen=True, slots=True)
class Geometry:
    """A GeoJSON geometry broken into vertices, paths (lines and rings) and polygons."""

    kind: str
    points: Path
    paths: tuple[Path, ...]
    polygons: tuple[tuple[Path, ...], ...]
    """Each polygon as its rings: the outer ring first, then holes."""


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres between two lon/lat points on the WGS84 mean sphere."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def parse_geometry(kind: str, coordinates: Any) -> Geometry:
    """A validated Geometry from a GeoJSON type and its coordinates; GeoQueryError if invalid."""
    if kind == "Point":
        point = _position(coordinates, "Point coordinates")
        return Geometry(kind, (point,), (), ())
    if kind == "MultiPoint":
        points = tuple(_position(p, "MultiPoint position") for p in _array(coordinates, kind))
        return Geometry(kind, points, (), ())
    if kind == "LineString":
        line = _line(coordinates, kind)
        return Geometry(kind, line, (line,), ())
    if kind == "MultiLineString":
        lines = tuple(_line(c, "MultiLineString line") for c in _array(coordinates, kind))
        return Geometry(kind, _flat(lines), lines, ())
    if kind == "Polygon":
        polygon = _polygon(coordinates, kind)
        return Geometry(kind, _flat(polygon), polygon, (polygon,))
    if kind == "MultiPolygon":
        polygons = tuple(_polygon(c, "MultiPolygon polygon") for c in _array(coordinates, kind))
        rings = tuple(ring for polygon in polygons for ring in polygon)
        return Geometry(kind, _flat(rings), rings, polygons)
    raise GeoQueryError(f"unsupported geometry {kind!r}; expected one of {', '.join(GEOMETRIES)}")


def geometry_from_geojson(value: Any) -> Geometry:
    """A Geometry from a GeoJSON geometry object; GeoQueryError if invalid."""
    if not isinstance(value, Mapping):
        raise GeoQueryError("a GeoJSON geometry must be an object with type and coordinates")
    return parse_geometry(str(value.get("type")), value.get("coordinates"))


@dataclass(frozen=True, slots=True)
class GeoQuery:
    """A parsed geo-query: ``georel`` between the entity's ``geoproperty`` and ``geometry``."""

    georel: str
    geometry: Geometry
    geoproperty: str = "location"
    max_distance: float | None = None
    min_distance: float | None = None

    def matches(self, attributes: Mapping[str, Any]) -> bool:
        """Whether the entity's geoproperty stands in this relation to the query geometry.

        Of a multi-attribute (a list of instances), any instance may match.
        """
        return any(self._relates(mine) for mine in entity_geometries(attributes, self.geoproperty))

    def _relates(self, mine: Geometry) -> bool:
        if self.georel == "near":
            distance = geometry_distance(self.geometry, mine)
            too_far = self.max_distance is not None and distance > self.max_distance
            too_close = self.min_distance is not None and distance < self.min_distance
            return not (too_far or too_close)
        return _RELATIONS[self.georel](mine, self.geometry)

    def search_box(self) -> Box | None:
        """A box met by the bounding box of every geometry this query matches (edges included).

        None when the relation bounds nothing: ``disjoint``, and ``near`` with only a
        ``minDistance``. A store may read only the geometries whose boxes meet it; whether they
        match is still for ``matches`` to say.
        """
        if self.georel == "disjoint" or (self.georel == "near" and self.max_distance is None):
            return None
        box = bounding_box(self.geometry)
        if self.georel == "near":
            assert self.max_distance is not None
            box = _around(box, self.max_distance)
        return box.padded(_BOX_PAD)

    def distance(self, attributes: Mapping[str, Any]) -> float | None:
        """Metres from the query geometry to the nearest instance of the entity's geoproperty."""
        found = [
            geometry_distance(self.geometry, g)
            for g in entity_geometries(attributes, self.geoproperty)
        ]
        return min(found, default=None)


def parse_geo_query(
    georel: str,
    geometry: str,
    coordinates: str | list[Any],
    geoproperty: str = "location",
) -> GeoQuery:
    """Parse the ``georel``, ``geometry``, ``coordinates`` and ``geoproperty`` query parameters."""
    name, *modifiers = georel.split(";")
    if name not in GEORELS:
        raise GeoQueryError(
            f"unknown georel {name!r}; expected one of {', '.join(sorted(GEORELS))}"
        )
    if not geoproperty:
        raise GeoQueryError("geoproperty must not be empty")
    if isinstance(coordinates, str):
        try:
            coordinates = json.loads(coordinates)
        except (ValueError, RecursionError) as exc:
            raise GeoQueryError(f"coordinates are not valid JSON: {exc}") from exc
    shape = parse_geometry(geometry, coordinates)
    if name != "near":
        if modifiers:
            raise GeoQueryError(f"georel {name!r} takes no modifiers, got {';'.join(modifiers)!r}")
        return GeoQuery(name, shape, geoproperty)
    limits = _near_limits(modifiers)
    return GeoQuery(name, shape, geoproperty, limits.get("maxDistance"), limits.get("minDistance"))


def entity_geometry(attributes: Mapping[str, Any], name: str) -> Geometry | None:
    """The geometry of an entity's GeoProperty ``name`` (its default instance), or None."""
    return next(iter(entity_geometries(attributes, name)), None)


def entity_geometries(attributes: Mapping[str, Any], name: str) -> list[Geometry]:
    """The valid geometries of every instance of the entity's GeoProperty ``name``."""
    found = attributes.get(name)
    geometries: list[Geometry] = []
    for attribute in found if isinstance(found, list) else [found]:
        if not isinstance(attribute, Mapping):
            continue
        try:
            geometries.append(geometry_from_geojson(attribute.get("value")))
        except GeoQueryError:
            continue
    return geometries


@dataclass(frozen=True, slots=True)
class Box:
    """A longitude/latitude bounding box in degrees, its edges included."""

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    def meets(self, other: Box) -> bool:
        """Whether the two boxes share a point."""
        return (
            self.min_lon <= other.max_lon
            and other.min_lon <= self.max_lon
            and self.min_lat <= other.max_lat
            and other.min_lat <= self.max_lat
        )

    def padded(self, degrees: float) -> Box:
        """The box grown by ``degrees`` on every side, within longitude ±180 and latitude ±90."""
        return Box(
            max(-180.0, self.min_lon - degrees),
            max(-90.0, self.min_lat - degrees),
            min(180.0, self.max_lon + degrees),
            min(90.0, self.max_lat + degrees),
        )


WORLD: Final = Box(-180.0, -90.0, 180.0, 90.0)


def bounding_box(geometry: Geometry) -> Box:
    """The smallest box holding every vertex of the geometry (and so all of it)."""
    lons = [p[0] for p in geometry.points]
    lats = [p[1] for p in geometry.points]
    return Box(min(lons), min(lats), max(lons), max(lats))


def _around(box: Box, metres: float) -> Box:
    """A box holding every point within ``metres`` (great-circle) of some point of ``box``."""
    angle = metres / EARTH_RADIUS_M
    if angle >= math.pi / 2:
        return WORLD
    dlat = math.degrees(angle)
    min_lat, max_lat = max(-90.0, box.min_lat - dlat), min(90.0, box.max_lat + dlat)
    # From latitude φ, distance d reaches asin(sin d / cos φ) of longitude: the farther from the
    # equator, the more (at 65°N, 2.4 times the latitude reached). The box's most poleward edge
    # bounds φ.
    reach = math.sin(angle) / math.cos(math.radians(max(abs(box.min_lat), abs(box.max_lat))))
    if reach < 1:
        dlon = math.degrees(math.asin(reach))
        if box.min_lon - dlon >= -180 and box.max_lon + dlon <= 180:
            return Box(box.min_lon - dlon, min_lat, box.max_lon + dlon, max_lat)
    # The circle reaches a pole or wraps across the antimeridian: every longitude.
    return Box(-180.0, min_lat, 180.0, max_lat)


def geometry_distance(a: Geometry, b: Geometry) -> float:
    """Metres between the nearest points of two geometries (0 when they intersect)."""
    if len(a.points) == 1 and len(b.points) == 1 and not a.paths and not b.paths:
        # Two points, the common case of near: what the general case below comes to, sooner.
        (lon1, lat1), (lon2, lat2) = a.points[0], b.points[0]
        return haversine_m(lon1, lat1, lon2, lat2)
    if _intersects(a, b):
        return 0.0
    return min(
        min(_distance(p, b) for p in a.points),
        min(_distance(p, a) for p in b.points),
    )


def _near_limits(modifiers: Sequence[str]) -> dict[str, float]:
    # GS CIM 009, 4.10: nearRel = "near;" distance "==" PositiveNumber, exactly one distance.
    if len(modifiers) != 1:
        raise GeoQueryError(
            "georel 'near' needs exactly one of maxDistance==<m> or minDistance==<m>"
            if modifiers
            else "georel 'near' needs maxDistance==<m> or minDistance==<m>"
        )
    key, sep, number = modifiers[0].partition("==")
    if not sep or key not in ("maxDistance", "minDistance"):
        raise GeoQueryError(
            f"unknown near modifier {modifiers[0]!r}; expected maxDistance==<m> or minDistance==<m>"
        )
    try:
        metres = float(number)
    except ValueError:
        raise GeoQueryError(f"{key} must be a number of metres, got {number!r}") from None
    if not math.isfinite(metres) or metres <= 0:
        raise GeoQueryError(f"{key} must be a finite number of metres > 0, got {number!r}")
    return {key: metres}


def _array(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise GeoQueryError(f"{what} coordinates must be a non-empty array")
    return value


def _position(value: Any, what: str) -> Position:
    if not isinstance(value, list) or len(value) not in (2, 3):
        raise GeoQueryError(f"{what} must be [longitude, latitude], got {_short(value)}")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        raise GeoQueryError(f"{what} must hold numbers, got {_short(value)}")
    lon, lat = float(value[0]), float(value[1])
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise GeoQueryError(f"{what} {_short(value)} is outside longitude ±180, latitude ±90")
    return lon, lat


def _line(value: Any, what: str) -> Path:
    line = tuple(_position(p, f"{what} position") for p in _array(value, what))
    if len(line) < 2:
        raise GeoQueryError(f"{what} needs at least 2 positions")
    return line


def _polygon(value: Any, what: str) -> tuple[Path, ...]:
    rings = tuple(_line(r, f"{what} ring") for r in _array(value, what))
    for ring in rings:
        if len(ring) < 4 or ring[0] != ring[-1]:
            raise GeoQueryError(
                f"{what} rings need at least 4 positions, the last equal to the first"
            )
    return rings


def _flat(paths: tuple[Path, ...]) -> Path:
    return tuple(p for path in paths for p in path)


def _short(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, list | int | float | str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _segments(geometry: Geometry) -> Iterator[tuple[Position, Position]]:
    for path in geometry.paths:
        yield from pairwise(path)


def _orientation(a: Position, b: Position, c: Position) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _on_segment(p: Position, a: Position, b: Position) -> bool:
    if abs(_orientation(a, b, p)) > 1e-12:
        return False
    return min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def _crosses(a: Position, b: Position, c: Position, d: Position, *, proper: bool) -> bool:
    """Whether segment ab meets cd; if ``proper``, only where both cross in their interiors."""
    o1, o2 = _orientation(a, b, c), _orientation(a, b, d)
    o3, o4 = _orientation(c, d, a), _orientation(c, d, b)
    if o1 * o2 < 0 and o3 * o4 < 0:
        return True
    if proper:
        return False
    return (
        _on_segment(c, a, b) or _on_segment(d, a, b) or _on_segment(a, c, d) or _on_segment(b, c, d)
    )


def _in_ring(p: Position, ring: Path) -> bool:
    """Ray casting: an odd number of edge crossings to the right means inside."""
    inside = False
    for (x1, y1), (x2, y2) in pairwise(ring):
        if (y1 > p[1]) != (y2 > p[1]) and p[0] < x1 + (p[1] - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _in_polygon(p: Position, polygon: tuple[Path, ...]) -> bool:
    outer, *holes = polygon
    return _in_ring(p, outer) and not any(_in_ring(p, hole) for hole in holes)


def _covers_point(geometry: Geometry, p: Position) -> bool:
    """Whether ``p`` lies in ``geometry``, its boundary included."""
    if any(_in_polygon(p, polygon) for polygon in geometry.polygons):
        return True
    if any(_on_segment(p, a, b) for a, b in _segments(geometry)):
        return True
    return not geometry.paths and p in geometry.points


def _intersects(a: Geometry, b: Geometry) -> bool:
    if any(_covers_point(b, p) for p in a.points) or any(_covers_point(a, p) for p in b.points):
        return True
    return any(
        _crosses(p1, p2, q1, q2, proper=False) for p1, p2 in _segments(a) for q1, q2 in _segments(b)
    )


def _same(a: Geometry, b: Geometry) -> bool:
    """The same vertices in the same order (also for polygons that cross themselves)."""
    return a.points == b.points and a.paths == b.paths and a.polygons == b.polygons


def _within(a: Geometry, b: Geometry) -> bool:
    """Whether every point of ``a`` lies in ``b`` (boundary included)."""
    if _same(a, b):
        return True
    if not all(_covers_point(b, p) for p in a.points):
        return False
    if not b.paths:
        # b is points only: a must be points, each one of b's.
        return not a.paths
    if any(
        _crosses(p1, p2, q1, q2, proper=True) for p1, p2 in _segments(a) for q1, q2 in _segments(b)
    ):
        return False
    # An edge may leave b and come back through b's vertices: test the middle of each edge.
    if not all(_covers_point(b, _middle(p1, p2)) for p1, p2 in _segments(a)):
        return False
    # A polygon of a may enclose a hole (or any boundary point) of b.
    return not any(_strictly_inside(a, q) for q in b.points)


def _strictly_inside(geometry: Geometry, p: Position) -> bool:
    """Whether ``p`` is in the interior of one of the geometry's polygons (not on an edge)."""
    if not any(_in_polygon(p, polygon) for polygon in geometry.polygons):
        return False
    return not any(_on_segment(p, a, b) for a, b in _segments(geometry))


def _middle(a: Position, b: Position) -> Position:
    return (a[0] + b[0]) / 2, (a[1] + b[1]) / 2


def _dimension(geometry: Geometry) -> int:
    return 2 if geometry.polygons else 1 if geometry.paths else 0


def _overlaps(a: Geometry, b: Geometry) -> bool:
    # Simple Features: only geometries of one dimension overlap; neither may contain the other.
    if _dimension(a) != _dimension(b):
        return False
    return _intersects(a, b) and not _within(a, b) and not _within(b, a)


_RELATIONS: Final[dict[str, Callable[[Geometry, Geometry], bool]]] = {
    "within": _within,
    "contains": lambda a, b: _within(b, a),
    "intersects": _intersects,
    "disjoint": lambda a, b: not _intersects(a, b),
    "equals": lambda a, b: _same(a, b) or (_within(a, b) and _within(b, a)),
    "overlaps": _overlaps,
}


def _distance(p: Position, geometry: Geometry) -> float:
    """Metres from ``p`` to the nearest point of ``geometry`` (0 inside a polygon)."""
    if any(_in_polygon(p, polygon) for polygon in geometry.polygons):
        return 0.0
    nearest = min(haversine_m(p[0], p[1], q[0], q[1]) for q in geometry.points)
    for a, b in _segments(geometry):
        closest = _closest_on_segment(p, a, b)
        nearest = min(nearest, haversine_m(p[0], p[1], closest[0], closest[1]))
    return nearest


def _closest_on_segment(p: Position, a: Position, b: Position) -> Position:
    # A local equirectangular projection around p is accurate enough at city scale.
    scale = math.cos(math.radians(p[1]))
    ax, ay = (a[0] - p[0]) * scale, a[1] - p[1]
    bx, by = (b[0] - p[0]) * scale, b[1] - p[1]
    dx, dy = bx - ax, by - ay
    length = dx * dx + dy * dy
    t = 0.0 if length == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / length))
    return a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])


__all__ = [
    "EARTH_RADIUS_M",
    "GEOMETRIES",
    "GEORELS",
    "WORLD",
    "Box",
    "GeoQuery",
    "GeoQueryError",
    "Geometry",
    "bounding_box",
    "entity_geometries",
    "entity_geometry",
    "geometry_distance",
    "geometry_from_geojson",
    "haversine_m",
    "parse_geo_query",
    "parse_geometry",
]
