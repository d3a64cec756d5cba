"""The location index: boxes kept in step with every write, backfilled, and the geo prefilter."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stadsnav.model.entity_query import EntityQuery, EntitySelector, Prefilter
from stadsnav.model.geo import Box, bounding_box, geometry_from_geojson, parse_geo_query
from stadsnav.model.typequery import TypeName
from stadsnav.store.base import AttributeWrite, EntityChange
from stadsnav.store.migrate import apply_migrations, load_migrations
from stadsnav.store.sql import SqlStore

SPOT = "urn:ngsi-ld:ParkingSpot:kanalgatan:1"
SITE = "urn:ngsi-ld:OffStreetParking:kanalen"
GPS = "urn:ngsi-ld:Dataset:gps"
KANALGATAN = (20.9528, 64.7507)
T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)

Row = tuple[str, str, str, float, float, float, float]


def geo(kind: str, coordinates: Any, **members: Any) -> dict[str, Any]:
    return {"type": "GeoProperty", "value": {"type": kind, "coordinates": coordinates}, **members}


def point(lon: float, lat: float, **members: Any) -> dict[str, Any]:
    return geo("Point", [lon, lat], **members)


def rows(store: SqlStore) -> list[Row]:
    """The index, sorted; on SQLite also checks that its R*Tree holds the same boxes."""
    found = [
        (e, n, d, float(a), float(b), float(c), float(f))
        for e, n, d, a, b, c, f in store._query(
            "SELECT entity_id, name, dataset_id, min_lon, min_lat, max_lon, max_lat "
            "FROM entity_locations ORDER BY entity_id, name, dataset_id"
        )
    ]
    if store.dialect == "sqlite":
        boxes = store._query(
            "SELECT l.entity_id, b.min_lon, b.min_lat, b.max_lon, b.max_lat FROM entity_locations "
            "l JOIN entity_location_boxes b ON b.id = l.id ORDER BY l.entity_id, l.name"
        )
        assert (
            len(boxes)
            == len(found)
            == store._query("SELECT count(*) FROM entity_location_boxes")[0][0]
        )
        for (_, *box), (_, _, _, *exact) in zip(boxes, found, strict=True):
            # 32-bit floats, rounded outwards.
            assert all(rounded <= value for rounded, value in zip(box[:2], exact[:2], strict=True))
            assert all(rounded >= value for rounded, value in zip(box[2:], exact[2:], strict=True))
    return found


def expected(entity_id: str, name: str, attribute: dict[str, Any], dataset: str = "") -> Row:
    box = bounding_box(geometry_from_geojson(attribute["value"]))
    return (entity_id, name, dataset, box.min_lon, box.min_lat, box.max_lon, box.max_lat)


def in_box(store: SqlStore, box: Box, name: str = "location") -> list[str]:
    return [e.id for e in store.find_entities(prefilter=Prefilter(area=(name, box)))]


def located(entity_type: str, location: dict[str, Any]) -> Callable[[Any], EntityChange]:
    """A change creating an entity of the type with this location."""
    return lambda _: EntityChange(type=entity_type, put=[("location", location)])


def change(store: SqlStore, entity_id: str, **fields: Any) -> None:
    store.change_entities({entity_id: lambda _: EntityChange(**fields)})


HERE = Box(20.95, 64.75, 20.96, 64.76)
THERE = Box(21.0, 64.8, 21.1, 64.9)
POLYGON = geo("Polygon", [[[21.0, 64.8], [21.2, 64.8], [21.1, 65.0], [21.0, 64.8]]])


def test_every_api_write_keeps_the_index_in_step(store: SqlStore) -> None:
    here, there = point(20.955, 64.755), point(21.05, 64.85)
    change(store, SPOT, type="ParkingSpot", put=[("location", here), ("status", {"value": 1})])
    assert rows(store) == [expected(SPOT, "location", here)]
    assert (in_box(store, HERE), in_box(store, THERE)) == ([SPOT], [])
    # Replace: the entity's attributes are cleared and written again.
    change(store, SPOT, clear=True, put=[("location", there)])
    assert rows(store) == [expected(SPOT, "location", there)]
    assert (in_box(store, HERE), in_box(store, THERE)) == ([], [SPOT])
    # Merge: another GeoProperty, and an instance of location in a dataset.
    gps = point(20.951, 64.751, datasetId=GPS)
    change(store, SPOT, put=[("area", POLYGON), ("location", gps)])
    assert rows(store) == [
        expected(SPOT, "area", POLYGON),
        expected(SPOT, "location", there),
        expected(SPOT, "location", gps, GPS),
    ]
    assert (in_box(store, HERE), in_box(store, THERE, "area")) == ([SPOT], [SPOT])
    # A value that is no geometry leaves the index; deleting an instance removes its row.
    change(store, SPOT, put=[("location", {"type": "Property", "value": "unknown"})])
    change(store, SPOT, delete=[("location", GPS)])
    assert rows(store) == [expected(SPOT, "area", POLYGON)]
    assert (in_box(store, HERE), in_box(store, THERE)) == ([], [])
    change(store, SPOT, delete_entity=True)
    assert rows(store) == []


def test_pipeline_writes_move_a_location_and_a_late_older_one_does_not(store: SqlStore) -> None:
    def write(attribute: dict[str, Any], observed: datetime | None) -> None:
        location = AttributeWrite(SITE, "OffStreetParking", "location", attribute, observed)
        store.commit_batch([], [location], [])

    first, moved, stale = point(20.955, 64.755), point(21.05, 64.85), point(0.0, 0.0)
    write(first, None)
    assert rows(store) == [expected(SITE, "location", first)]
    write(moved, T0)
    assert rows(store) == [expected(SITE, "location", moved)]
    # An observation older than the stored one does not become the latest value, nor its box.
    write(stale, T0 - timedelta(hours=1))
    assert rows(store) == [expected(SITE, "location", moved)]
    assert (in_box(store, THERE), in_box(store, Box(-1, -1, 1, 1))) == ([SITE], [])


BACKFILLED = {
    "urn:x:point": point(20.9528, 64.7507),
    "urn:x:point3d": geo("Point", [20.9, 64.7, 12.5]),
    "urn:x:line": geo("LineString", [[20.9, 64.7], [21.0, 64.75], [20.95, 64.8]]),
    "urn:x:polygon": geo(
        "Polygon",
        [
            [[20.0, 64.0], [22.0, 64.0], [22.0, 65.0], [20.0, 65.0], [20.0, 64.0]],
            [[20.5, 64.5], [21.5, 64.5], [21.5, 64.6], [20.5, 64.5]],
        ],
    ),
    "urn:x:multipolygon": geo(
        "MultiPolygon",
        [
            [[[-1.5, -2.0], [1.0, -2.0], [1.0, 1.0], [-1.5, -2.0]]],
            [[[10.0, 10.0], [11.0, 10.0], [11.0, 12.25], [10.0, 10.0]]],
        ],
    ),
    "urn:x:multipoint": geo("MultiPoint", [[179.5, -10.0], [-179.5, 10.0]]),
}


def test_the_migration_indexes_the_locations_written_before_it(empty_store: SqlStore) -> None:
    versions = [m.version for m in load_migrations(empty_store.dialect)]
    _fill_before(empty_store, versions[versions.index("0010_entity_locations") - 1])
    assert "0010_entity_locations" in empty_store.migrate()
    wanted = [expected(i, "location", a) for i, a in BACKFILLED.items()]
    wanted.append(expected("urn:x:point", "location", point(1.0, 2.0, datasetId=GPS), GPS))
    assert rows(empty_store) == sorted(wanted)
    assert in_box(empty_store, HERE) == ["urn:x:line", "urn:x:point", "urn:x:polygon"]
    assert in_box(empty_store, Box(10.5, 12.0, 10.6, 12.1)) == ["urn:x:multipolygon"]
    # The triggers are in place too.
    change(empty_store, "urn:x:point", delete_entity=True)
    assert in_box(empty_store, HERE) == ["urn:x:line", "urn:x:polygon"]


def _fill_before(store: SqlStore, version: str) -> None:
    """Migrate to ``version`` and write entities as that schema holds them (today's store code
    writes columns a later migration adds)."""
    apply_migrations(store, until=version)
    written = [(i, "location", "", a) for i, a in BACKFILLED.items()]
    written += [
        ("urn:x:nothing", "note", "", {"type": "Property", "value": "the coordinates are on it"}),
        ("urn:x:nothing", "location", "", geo("Point", ["20.9", "64.7"])),
        ("urn:x:nothing", "shape", "", {"type": "Property", "value": {"coordinates": []}}),
        ("urn:x:point", "location", GPS, point(1.0, 2.0, datasetId=GPS)),
    ]
    now = store.time_in(T0)
    with store._write() as cursor:
        cursor.executemany(
            store.sql(
                "INSERT INTO entities (id, type, created_at, modified_at) VALUES (?, 'Thing', ?, ?)"
            ),
            [(entity_id, now, now) for entity_id in sorted({row[0] for row in written})],
        )
        cursor.executemany(
            store.sql(
                "INSERT INTO entity_attributes (entity_id, name, dataset_id, attribute, "
                "modified_at) VALUES (?, ?, ?, ?, ?)"
            ),
            [(i, name, d, json.dumps(a), now) for i, name, d, a in written],
        )


def destination(lon: float, lat: float, bearing: float, metres: float) -> tuple[float, float]:
    """The point ``metres`` from (lon, lat) along the great circle at ``bearing`` degrees."""
    angle, theta = metres / 6_371_008.8, math.radians(bearing)
    phi1, lambda1 = math.radians(lat), math.radians(lon)
    phi2 = math.asin(
        math.sin(phi1) * math.cos(angle) + math.cos(phi1) * math.sin(angle) * math.cos(theta)
    )
    lambda2 = lambda1 + math.atan2(
        math.sin(theta) * math.sin(angle) * math.cos(phi1),
        math.cos(angle) - math.sin(phi1) * math.sin(phi2),
    )
    return math.degrees(lambda2), math.degrees(phi2)


@pytest.mark.parametrize("centre", [KANALGATAN, (0.0, 0.0), (179.999, -89.99), (25.0, 71.1)])
def test_near_finds_every_point_within_the_distance_whatever_the_bearing(
    store: SqlStore, centre: tuple[float, float]
) -> None:
    changes = {}
    for bearing in range(0, 360, 15):
        for metres in (1.0, 299.0, 299.9, 300.1, 320.0, 600.0):
            lon, lat = destination(*centre, bearing, metres)
            lon = (lon + 540) % 360 - 180
            entity_id = f"urn:ngsi-ld:ParkingSpot:{bearing:03d}:{metres:06.1f}"
            changes[entity_id] = located("ParkingSpot", point(lon, lat))
    store.change_entities(changes)
    near = parse_geo_query("near;maxDistance==300", "Point", list(centre))
    query = EntityQuery((EntitySelector(TypeName("ParkingSpot")),), geo=near)
    everything = query.run(store.find_entities, pushdown=False)
    assert {e.id.split(":")[-1] for e in everything} == {"0001.0", "0299.0", "0299.9"}
    assert [e.id for e in query.run(store.find_entities)] == [e.id for e in everything]


def test_a_tenant_has_its_own_index(store: SqlStore) -> None:
    tenant = store.for_tenant("skelleftea", create=True)
    assert tenant is not None
    change(tenant, SPOT, type="ParkingSpot", put=[("location", point(20.955, 64.755))])
    assert in_box(tenant, HERE) == [SPOT]
    assert in_box(store, HERE) == []
