"""A session of the ngsildclient package against a broker; prints what it saw as one JSON object.

Runs in ngsildclient's own virtualenv (it pins libraries that clash with Stadsnav's), so it is
started as a subprocess by tests/e2e/test_ngsildclient.py: `python ngsildclient_session.py PORT
KEY`, KEY being a Stadsnav API key that may write the parking dataset.
"""

import json
import sys

from ngsildclient import Client, Entity
from requests.auth import AuthBase

port = int(sys.argv[1])
seen: dict[str, object] = {}


class ApiKey(AuthBase):
    """Sends the key as a partner system would: in the X-API-Key header."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self, request):  # type: ignore[no-untyped-def]
        request.headers["X-API-Key"] = self.key
        return request


with Client(
    hostname="127.0.0.1", port=port, verbose=False, custom_auth=ApiKey(sys.argv[2])
) as client:
    # A car park of Skellefteå Parkerings AB and two of its bays, as a partner system would send.
    park = Entity("OffStreetParking", "skelleftea:p-kanalgatan")
    park.prop("name", "P-hus Kanalgatan")
    park.prop("totalSpotNumber", 420)
    park.prop("availableSpotNumber", 130, observedat="2026-11-27T08:00:00Z")
    park.loc(64.7507, 20.9528)
    client.create(park)
    seen["exists"] = client.exists(park.id)

    bays = []
    for number, status in ((1, "free"), (2, "occupied")):
        bay = Entity("ParkingSpot", f"skelleftea:p-kanalgatan:{number}")
        bay.prop("status", status, observedat="2026-11-27T08:00:00Z")
        bay.rel("refParkingSite", park.id)
        bays.append(bay)
    seen["batch_create"] = bool(client.create(bays))

    fetched = client.get(park.id)
    seen["name"] = fetched["name.value"]
    seen["location"] = fetched["location.value.coordinates"]

    fetched.prop("availableSpotNumber", 129, observedat="2026-11-27T08:05:00Z")
    client.update(fetched)
    seen["after_update"] = client.get(park.id)["availableSpotNumber.value"]

    bays[1].prop("status", "free", observedat="2026-11-27T08:06:00Z")
    client.upsert(bays)
    seen["free_bays"] = sorted(e.id for e in client.query(type="ParkingSpot", q='status=="free"'))
    seen["count"] = client.count(type="ParkingSpot")
    seen["refs"] = sorted(e["refParkingSite.object"] for e in client.query(type="ParkingSpot"))

    client.delete(bays[0])
    seen["after_delete"] = client.count(type="ParkingSpot")
    client.delete(park, bays[1])
    seen["left"] = [client.exists(entity) for entity in (park, *bays)]

print(json.dumps(seen))
