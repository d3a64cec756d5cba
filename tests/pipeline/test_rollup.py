"""Per-spot sensors: each spot a ParkingSpot, counted into the facility it belongs to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from stadsnav.runtime import Runtime
from stadsnav.simulate.tts import tts_uplink
from stadsnav.store.base import NewInboxMessage
from stadsnav.workspace import Workspace, load_workspace
from support import process_inbox, vector_rows

SITE = "urn:ngsi-ld:OnStreetParking:test:kanalgatan"
SPOTS = {f"70b3d5e75e00{n:04x}": f"kanalgatan-{n}" for n in range(1, 4)}
# Real Nwave NPS frames (ThingsBoard's vectors): a parking status and a heartbeat.
[OCCUPIED] = vector_rows("thingsboard_vectors.jsonl", id="tb-0021")
[HEARTBEAT_FREE] = vector_rows("thingsboard_vectors.jsonl", id="tb-0022")

CONFIG = {
    "datasets/parking-test.yaml": """
id: parking-test
title: Parking
owner: {name: Trafik, email: trafik@example.se}
classification: open
licence: CC0-1.0
entity_types: [OnStreetParking, ParkingSpot]
""",
    "entities/parking-test.yaml": f"""
entities:
  - id: "{SITE}"
    type: OnStreetParking
    dataset: parking-test
    name: Kanalgatan
    location: [20.9512, 64.7507]
""",
    "devices/parking-test.yaml": "devices:\n"
    + "".join(
        f'  - {{dev_eui: "{eui}", name: {name}, codec: nwave/nps405sm, site: "{SITE}"}}\n'
        for eui, name in SPOTS.items()
    ),
    "integrations/parking-test.yaml": """
id: parking-test
title: Spot sensors
dataset: parking-test
source: {type: webhook, format: tts_v3}
mapping:
  entity_type: ParkingSpot
  entity_id: "urn:ngsi-ld:ParkingSpot:test:{device.name}"
  properties:
    status: {value: data.occupied, lookup: {true: occupied, false: free}, required: true}
  relationships:
    refParkingSite: device.site
rollup:
  relationship: refParkingSite
  property: status
  counts: {occupied: occupiedSpotNumber, free: availableSpotNumber}
  total: totalSpotNumber
""",
}


@pytest.fixture
def workspace(workspace_dir: Path) -> Workspace:
    """The demo workspace plus three Nwave spot sensors on one street."""
    for name, text in CONFIG.items():
        (workspace_dir / name).write_text(text)
    return load_workspace(workspace_dir)


def send(runtime: Runtime, eui: str, row: dict[str, object], at: datetime, n: int) -> None:
    body = tts_uplink(
        device_id=SPOTS[eui],
        dev_eui=eui,
        application_id="parking",
        f_port=int(str(row["fport"])),
        f_cnt=n,
        payload=bytes.fromhex(str(row["bytes_hex"])),
        received_at=at,
    )
    message = NewInboxMessage("parking-test", f"m{n}", at, "application/json", orjson.dumps(body))
    runtime.store.inbox_append([message])


def counts(runtime: Runtime) -> tuple[object, ...]:
    """The street's (occupied, free, total) spots, as stored."""
    site = runtime.store.get_entity(SITE)
    assert site is not None
    names = ("occupiedSpotNumber", "availableSpotNumber", "totalSpotNumber")
    return tuple(site.attributes[name]["value"] for name in names)


def test_spots_are_counted_into_their_street(runtime: Runtime) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    [a, b, c] = SPOTS
    send(runtime, a, OCCUPIED, start, 1)
    send(runtime, b, OCCUPIED, start + timedelta(seconds=1), 2)
    send(runtime, c, HEARTBEAT_FREE, start + timedelta(seconds=2), 3)
    process_inbox(runtime)
    assert counts(runtime) == (2, 1, 3)
    spot = runtime.store.get_entity("urn:ngsi-ld:ParkingSpot:test:kanalgatan-3")
    assert spot is not None
    assert spot.attributes["status"]["value"] == "free"
    assert spot.attributes["refParkingSite"]["object"] == SITE
    # In a later batch one car leaves: the count is derived from the stored spots plus the new one.
    send(runtime, b, HEARTBEAT_FREE, start + timedelta(minutes=5), 4)
    process_inbox(runtime)
    assert counts(runtime) == (1, 2, 3)
    site = runtime.store.get_entity(SITE)
    assert site is not None
    free = site.attributes["availableSpotNumber"]
    assert free["observedAt"] == (start + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    history = runtime.store.history(SITE, ["availableSpotNumber"])["availableSpotNumber"]
    assert [i.attribute["value"] for i in history] == [1, 2]


def test_a_late_uplink_does_not_undo_a_newer_state(runtime: Runtime) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    [a, *_] = SPOTS
    send(runtime, a, HEARTBEAT_FREE, now - timedelta(minutes=1), 1)
    process_inbox(runtime)
    send(runtime, a, OCCUPIED, now - timedelta(minutes=30), 2)
    process_inbox(runtime)
    assert counts(runtime) == (0, 1, 1)
