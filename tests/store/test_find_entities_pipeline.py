"""A car park the pipeline moves is found at its new place by a near query, on every store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from stadsnav.model.entity_query import EntityQuery, EntitySelector
from stadsnav.model.geo import parse_geo_query
from stadsnav.model.q import parse_q
from stadsnav.model.typequery import TypeName
from stadsnav.runtime import Runtime
from stadsnav.store.base import NewInboxMessage
from stadsnav.workspace import Workspace
from support import process_inbox

SOURCE = "parking-norr"
PARKS = "urn:ngsi-ld:OffStreetParking:skelleftea:"
CENTRUM, MOVED = (20.9521, 64.7503), (20.9800, 64.7600)


@pytest.fixture
def runtime(workspace: Workspace, runtime_of: Callable[[Workspace], Runtime]) -> Runtime:
    """The demo with its Parkera Norr poll, never started: its pages are put in the inbox."""
    return runtime_of(workspace)


def facility(ref: str, at: tuple[float, float], free: int, updated: str) -> dict[str, Any]:
    """One car park as Parkera Norr's API lists it."""
    return {
        "anlaggningsId": ref,
        "namn": f"P {ref}",
        "position": {"lat": at[1], "lng": at[0]},
        "platser": {"totalt": 120, "lediga": free, "upptagna": 120 - free},
        "status": "OPPEN",
        "senastUppdaterad": updated,
    }


def poll(runtime: Runtime, page: str, *facilities: dict[str, Any]) -> None:
    body = orjson.dumps({"anlaggningar": list(facilities), "sida": {"nasta": None}})
    received = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    message = NewInboxMessage(
        SOURCE, f"http://127.0.0.1:8092/{page}", received, "application/json", body
    )
    runtime.store.inbox_append([message])
    process_inbox(runtime)


def near(runtime: Runtime, at: tuple[float, float], q: str | None = None) -> list[str]:
    query = EntityQuery(
        (EntitySelector(TypeName("OffStreetParking")),),
        q=None if q is None else parse_q(q),
        geo=parse_geo_query("near;maxDistance==200", "Point", list(at)),
    )
    found = [e.id for e in query.run(runtime.store.find_entities)]
    assert found == [e.id for e in query.run(runtime.store.find_entities, pushdown=False)]
    return found


def test_an_uplink_that_moves_a_car_park_moves_it_in_near_queries(runtime: Runtime) -> None:
    poll(
        runtime,
        "1",
        facility("P1", CENTRUM, 40, "2026-06-01T11:58:00+02:00"),
        facility("P2", MOVED, 0, "2026-06-01T11:58:00+02:00"),
    )
    assert near(runtime, CENTRUM) == [PARKS + "P1"]
    assert near(runtime, MOVED) == [PARKS + "P2"]
    poll(runtime, "2", facility("P1", MOVED, 12, "2026-06-01T12:03:00+02:00"))
    assert near(runtime, CENTRUM) == []
    assert near(runtime, MOVED) == [PARKS + "P1", PARKS + "P2"]
    assert near(runtime, MOVED, "availableSpotNumber>0") == [PARKS + "P1"]
    assert near(runtime, MOVED, 'status=="open";availableSpotNumber<1') == [PARKS + "P2"]
