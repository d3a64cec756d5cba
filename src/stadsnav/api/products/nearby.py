"""Which items lie within a radius of a point, and how far away."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from stadsnav.api.products.items import BaseItem
from stadsnav.model.geo import EARTH_RADIUS_M, haversine_m


@dataclass(frozen=True, slots=True)
class Near:
    """A distance filter around a point."""

    lon: float
    lat: float
    radius_m: float | None


def nearby(bases: Iterable[BaseItem], near: Near) -> Iterator[tuple[BaseItem, float]]:
    """Items with a point within the radius (any distance without one), with their metres."""
    box = _bounding_box(near)
    for base in bases:
        point = base.point
        if point is None:
            continue
        if box is not None:
            lon_span, lat_min, lat_max = box
            if not lat_min <= point[1] <= lat_max:
                continue
            if lon_span is not None and abs(point[0] - near.lon) > lon_span:
                continue
        distance = haversine_m(near.lon, near.lat, point[0], point[1])
        if near.radius_m is None or distance <= near.radius_m:
            yield base, distance


def _bounding_box(near: Near) -> tuple[float | None, float, float] | None:
    """Longitude span and latitude range holding every point within the radius, in degrees.

    A cheap comparison rules out most points before the great-circle distance is computed.
    """
    if near.radius_m is None:
        return None
    # A little wider than exact, so rounding never rules out a point the distance would keep.
    angle = near.radius_m / EARTH_RADIUS_M * 1.000001
    lat_span = math.degrees(angle)
    lat_min, lat_max = near.lat - lat_span, near.lat + lat_span
    return _lon_span(near, angle, lat_min, lat_max), lat_min, lat_max


def _lon_span(near: Near, angle: float, lat_min: float, lat_max: float) -> float | None:
    """The widest longitude difference within ``angle``; None when no span rules anything out."""
    if lat_min <= -90 or lat_max >= 90:
        return None  # the circle holds a pole: every longitude is within reach
    span = math.degrees(math.asin(math.sin(angle) / math.cos(math.radians(near.lat))))
    if near.lon - span < -180 or near.lon + span > 180:
        return None  # across the antimeridian a plain difference of longitudes is wrong
    return span
