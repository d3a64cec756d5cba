"""NGSI-LD broker: batch upserts, then ``q`` + ``near`` queries over the entities they made.

Both against the bare baselines in the same run: the upserts against an app that reads and
parses each body, the queries against an app answering with the same body as the broker.
"""

from __future__ import annotations

import math
import random
from urllib.parse import quote

import orjson

from bench.common import (
    Result,
    bare_server,
    copy_workspace,
    http_get,
    issue_key,
    progress,
    stadsnav_server,
    temp_dir,
)
from bench.http_load import get_requests, post_requests, send

BATCH = 1000
QUERIES = 400
CONNECTIONS = 8
CENTRE = (20.9528, 64.7507)  # Skellefteå, Kanalgatan
SPREAD_M = 5000.0


def spots(count: int, seed: int = 7) -> list[dict[str, object]]:
    """``count`` parking bays scattered within 5 km of the centre, a third of them free."""
    rng = random.Random(seed)
    found = []
    for number in range(count):
        north, east = (rng.uniform(-SPREAD_M, SPREAD_M) for _ in range(2))
        lat = CENTRE[1] + north / 111_320
        lon = CENTRE[0] + east / (111_320 * math.cos(math.radians(CENTRE[1])))
        found.append(
            {
                "id": f"urn:ngsi-ld:ParkingSpot:bench:{number}",
                "type": "ParkingSpot",
                "status": {"type": "Property", "value": "free" if number % 3 == 0 else "occupied"},
                "location": {
                    "type": "GeoProperty",
                    "value": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
                },
                "refParkingSite": {
                    "type": "Relationship",
                    "object": f"urn:ngsi-ld:OnStreetParking:bench:{number // 50}",
                },
            }
        )
    return found


def query_paths(count: int, seed: int = 11) -> list[str]:
    """Free bays within 300 m of points around the centre."""
    rng = random.Random(seed)
    paths = []
    for _ in range(count):
        lon = CENTRE[0] + rng.uniform(-0.05, 0.05)
        lat = CENTRE[1] + rng.uniform(-0.02, 0.02)
        query = (
            "type=ParkingSpot&q=" + quote('status=="free"') + "&georel="
            + quote("near;maxDistance==300") + "&geometry=Point&coordinates="
            + quote(f"[{lon:.5f},{lat:.5f}]") + "&limit=100"
        )  # fmt: skip
        paths.append(f"/ngsi-ld/v1/entities?{query}")
    return paths


def run(count: int = 100_000) -> Result:
    """Upsert ``count`` entities in batches of 1,000, then run 400 ``q`` + ``near`` queries."""
    entities = spots(count)
    bodies = [orjson.dumps(entities[i : i + BATCH]) for i in range(0, count, BATCH)]
    paths = query_paths(QUERIES)
    queries = [request for path in paths for request in get_requests(path, 1)]
    with temp_dir() as folder:
        workspace = copy_workspace(folder, keep=())
        # A partner's key, as a parking operator's system would send its spots with.
        key = issue_key(folder / "stadsnav.db", "write:parking")
        upserts = post_requests("/ngsi-ld/v1/entityOperations/upsert", bodies, key)
        with stadsnav_server(workspace, folder / "stadsnav.db") as server:
            progress(
                "ngsild", f"stadsnav run: upserting {count:,} entities in {len(bodies)} batches"
            )
            upserted = send(server.port, upserts, connections=2, processes=1)
            if upserted.count(201) != len(bodies):
                raise RuntimeError(f"upserts: {upserted.statuses}")
            status, headers, body = http_get(server.port, paths[0], timeout=60)
            if status != 200:
                raise RuntimeError(f"GET {paths[0]}: {status} {body[:300]!r}")
            progress("ngsild", f"{upserted.seconds:.1f} s; {QUERIES} q + near queries")
            queried = send(server.port, queries, CONNECTIONS, processes=1)
            if queried.count(200) != QUERIES:
                raise RuntimeError(f"queries: {queried.statuses}")
        progress("ngsild", f"{queried.seconds:.1f} s; now the bare apps")
        with bare_server("ingest", folder) as bare:
            parsed = send(bare.port, upserts, connections=2, processes=1)
        body_file = folder / "query.json"
        body_file.write_bytes(body)
        with bare_server("constant", folder, str(body_file), headers["content-type"]) as bare:
            answered = send(bare.port, queries, CONNECTIONS, processes=1)
    upsert = Result(
        "ngsild upsert", count / upserted.seconds, "ent/s", count / parsed.seconds, "ent/s", 0.0
    )
    query = Result(
        "ngsild q+near",
        QUERIES / queried.seconds,
        "req/s",
        QUERIES / answered.seconds,
        "req/s",
        0.0,
    )
    return Result(
        upsert.name,
        upsert.subject,
        upsert.subject_unit,
        upsert.baseline,
        upsert.baseline_unit,
        upsert.min_ratio,
        more=(query,),
        notes=(f"{count:,} ParkingSpot entities; each query finds up to 100 free bays in 300 m",),
    )
