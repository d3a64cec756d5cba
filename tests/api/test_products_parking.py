"""The parking data product as pure configuration: self-observed counts, unknown when stale,
filters, multiple entity types, a nested path, history and a weekly profile; the item cache."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from textwrap import dedent
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from stadsnav.api.app import create_app
from stadsnav.api.products.profile import Profile
from stadsnav.api.products.view import INLINE_PATCH, Near, ProductView
from stadsnav.model.geo import haversine_m
from stadsnav.runtime import Runtime
from stadsnav.store.base import AttributeWrite, ContextStore
from stadsnav.store.factory import open_store
from stadsnav.store.postgres import PostgresStore
from stadsnav.workspace import Workspace, load_workspace
from support import drop_schema, fresh_schema, key_headers, postgres_url, wait_for

OFF, ON = "OffStreetParking", "OnStreetParking"
HERE = "20.9525,64.7507"  # Skellefteå, Stadshuset
FACILITIES = "/api/v1/parking/facilities"
STOCKHOLM = ZoneInfo("Europe/Stockholm")
FILES = {
    "stadsnav.toml": """\
        [workspace]
        name = "Testby kommun"
        timezone = "Europe/Stockholm"
        """,
    "datasets/parking.yaml": """\
        id: parking
        title: Parkering
        owner: {name: Gatukontoret, email: gata@example.org}
        classification: open
        licence: CC0-1.0
        entity_types: [OffStreetParking, OnStreetParking, ParkingSpot]
        freshness: PT15M
        """,
    "products/parking.yaml": """\
        id: parking-facilities
        title: Parkering
        description: Free spaces at every operator's car parks.
        path: parking/facilities
        dataset: parking
        entity_type: [OffStreetParking, OnStreetParking]
        fields: {name: name, capacity: totalSpotNumber, operator: operator}
        observation:
          dataset: parking
          values: {free: availableSpotNumber, occupied: occupiedSpotNumber, status: status}
          history: occupancy
          profile: profile
          when_stale: unknown
        filters:
          minFree: {field: free, op: min, description: At least this many free spaces}
          operator: {field: operator, op: eq}
          maxOccupied: {field: occupied, op: max}
        """,
}


def write_workspace(root: Path) -> Path:
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text), encoding="utf-8")
    return root


def open_backend(backend: str, tmp_path: Path) -> tuple[ContextStore, str | None]:
    if backend == "sqlite":
        return open_store(f"sqlite:///{tmp_path / 'parking.db'}"), None
    url, schema = postgres_url(), fresh_schema()
    return PostgresStore(url, schema=schema), schema


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def parking(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Runtime]:
    """A runtime of the parking workspace on each backend."""
    workspace = load_workspace(write_workspace(tmp_path / "workspace"))
    store, schema = open_backend(request.param, tmp_path)
    yield Runtime.open(workspace, store=store)
    store.close()
    if schema is not None:
        drop_schema(postgres_url(), schema)


@pytest.fixture
def client(parking: Runtime) -> Iterator[TestClient]:
    """An HTTP client of the parking runtime's app."""
    with TestClient(create_app(parking), headers=key_headers(parking.store)) as test_client:
        yield test_client


def facility_id(key: str, entity_type: str = OFF) -> str:
    return f"urn:ngsi-ld:{entity_type}:se:testby:{key}"


def describe(
    store: ContextStore,
    key: str,
    entity_type: str,
    name: str,
    capacity: int,
    operator: str,
    at: tuple[float, float] | None,
) -> None:
    """A facility's description: name, capacity, operator and position, without history."""
    entity_id = facility_id(key, entity_type)
    writes = [
        AttributeWrite(entity_id, entity_type, attr, {"type": "Property", "value": value})
        for attr, value in (("name", name), ("totalSpotNumber", capacity), ("operator", operator))
    ]
    if at is not None:
        point = {"type": "Point", "coordinates": list(at)}
        writes.append(
            AttributeWrite(
                entity_id, entity_type, "location", {"type": "GeoProperty", "value": point}
            )
        )
    store.commit_batch([], writes, [])


def observe(
    store: ContextStore, key: str, moment: datetime, entity_type: str = OFF, **values: Any
) -> None:
    """Observed attributes of a facility at ``moment`` (availableSpotNumber=40 ...)."""
    entity_id = facility_id(key, entity_type)
    stamp = moment.isoformat().replace("+00:00", "Z")
    store.commit_batch(
        [],
        [
            AttributeWrite(
                entity_id,
                entity_type,
                attr,
                {"type": "Property", "value": value, "observedAt": stamp},
                observed_at=moment,
            )
            for attr, value in values.items()
        ],
        [],
    )


def counts(free: int, occupied: int, status: str = "spacesAvailable") -> dict[str, Any]:
    return {"availableSpotNumber": free, "occupiedSpotNumber": occupied, "status": status}


def minutes_ago(minutes: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes)


@pytest.fixture
def town(parking: Runtime) -> Runtime:
    """Four facilities of two types and operators around Stadshuset, one far, one unplaced."""
    store = parking.store
    describe(store, "kanalgatan", OFF, "Kanalgatan", 120, "Skellefteå Parkering", (20.953, 64.751))
    describe(store, "torget", ON, "Torget", 12, "Parkera AB", (20.960, 64.7507))
    describe(store, "stationen", OFF, "Stationen", 200, "Skellefteå Parkering", (20.940, 64.745))
    describe(store, "nygatan", OFF, "Nygatan", 60, "Parkera AB", (20.970, 64.760))
    describe(store, "depa", OFF, "Depån", 30, "Parkera AB", None)
    observe(store, "kanalgatan", minutes_ago(2), **counts(40, 80))
    observe(store, "torget", minutes_ago(1), ON, **counts(3, 9, "almostFull"))
    observe(store, "stationen", minutes_ago(180), **counts(150, 50))
    spot = "urn:ngsi-ld:ParkingSpot:se:testby:kanalgatan-1"
    store.commit_batch(
        [],
        [AttributeWrite(spot, "ParkingSpot", "status", {"type": "Property", "value": "free"})],
        [],
    )
    return parking


def observed_at(runtime: Runtime, key: str) -> str:
    """When the facility's free spaces were last observed, as stored."""
    entity = runtime.store.get_entity(facility_id(key))
    assert entity is not None
    text: str = entity.attributes["availableSpotNumber"]["observedAt"]
    return text


def by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["id"].rsplit(":", 1)[1]: item for item in items}


def test_fresh_counts_are_known_stale_ones_unknown(client: TestClient, town: Runtime) -> None:
    body = client.get(FACILITIES).json()
    items = by_id(body["data"])
    assert set(items) == {"depa", "kanalgatan", "nygatan", "stationen", "torget"}
    kanal = items["kanalgatan"]
    assert kanal["name"] == "Kanalgatan"
    assert kanal["capacity"] == 120
    assert kanal["operator"] == "Skellefteå Parkering"
    assert (kanal["free"], kanal["occupied"], kanal["status"]) == (40, 80, "spacesAvailable")
    assert kanal["availability"] == "known"
    assert kanal["stale"] is False
    assert "sensor" not in kanal  # the facility observes itself

    stationen = items["stationen"]
    assert stationen["availability"] == "unknown"
    assert stationen["stale"] is True
    assert (stationen["free"], stationen["occupied"], stationen["status"]) == (None, None, None)
    assert stationen["observedAt"] == observed_at(town, "stationen")  # "no data since ..."
    assert stationen["capacity"] == 200  # the description is not an observation

    never = items["nygatan"]
    assert (never["availability"], never["observedAt"], never["free"]) == ("unknown", None, None)
    assert body["meta"]["staleAfterSeconds"] == 900
    assert body["meta"]["licence"] == "CC0-1.0"


def test_a_value_older_than_freshness_is_unknown_even_beside_a_fresh_one(
    client: TestClient, town: Runtime
) -> None:
    observe(town.store, "nygatan", minutes_ago(60), occupiedSpotNumber=10)
    observe(town.store, "nygatan", newest := minutes_ago(1), availableSpotNumber=50)
    item = client.get(f"{FACILITIES}/nygatan").json()["data"]
    assert (item["free"], item["occupied"], item["availability"]) == (50, None, "known")
    assert item["observedAt"] == newest.isoformat().replace("+00:00", "Z")


def test_near_sorts_by_distance_in_metres(client: TestClient, town: Runtime) -> None:
    items = client.get(FACILITIES, params={"near": HERE}).json()["data"]
    assert [item["id"].rsplit(":", 1)[1] for item in items] == [
        "kanalgatan",
        "torget",
        "stationen",
        "nygatan",
    ]  # depå has no position, so no distance
    assert items[0]["distance"] == round(haversine_m(20.9525, 64.7507, 20.953, 64.751))
    assert all(isinstance(item["distance"], int) for item in items)
    close = client.get(FACILITIES, params={"near": HERE, "radius": 400}).json()["data"]
    assert [item["id"] for item in close] == [facility_id("kanalgatan"), facility_id("torget", ON)]


def test_radius_keeps_exactly_the_points_within_it(parking: Runtime) -> None:
    # Points on every side of a centre, at distances just inside and outside the radius.
    store, centre = parking.store, (20.9525, 64.7507)
    for index, (dlon, dlat) in enumerate(
        [(0.0, 0.00899), (0.0, -0.00902), (0.0209, 0.0), (-0.0212, 0.0), (0.015, 0.0063)]
    ):
        describe(
            store, f"p{index}", OFF, f"P{index}", 10, "X", (centre[0] + dlon, centre[1] + dlat)
        )
    view = ProductView(parking.workspace.products["parking-facilities"], parking.workspace)
    for radius in (500.0, 995.0, 1000.0, 1005.0, 2000.0):
        found = {item["id"] for item in view.items(store, Near(*centre, radius))}
        expected = {
            item["id"]
            for item in view.items(store)
            if haversine_m(*centre, *item["location"]["coordinates"]) <= radius
        }
        assert found == expected, radius


def test_filters_from_the_workspace(client: TestClient, town: Runtime) -> None:
    def ids(**params: Any) -> list[str]:
        items = client.get(FACILITIES, params=params).json()["data"]
        return [item["id"].rsplit(":", 1)[1] for item in items]

    # Stationen's 150 free spaces are three hours old: not "at least 5" now.
    assert ids(minFree="5") == ["kanalgatan"]
    assert ids(minFree="3") == ["kanalgatan", "torget"]
    assert ids(minFree="2.5", near=HERE) == ["kanalgatan", "torget"]
    assert ids(operator="skellefteå PARKERING") == ["kanalgatan", "stationen"]
    assert ids(operator="Parkera AB", near=HERE, radius="500") == ["torget"]
    assert ids(maxOccupied="10") == ["torget"]
    assert ids(minFree="1000") == []


@pytest.mark.parametrize(
    "query",
    ["minFree=many", "minFree=nan", "minFree=inf", "maxOccupied=", "operator="],
)
def test_unusable_filter_values_are_problems(client: TestClient, query: str) -> None:
    response = client.get(f"{FACILITIES}?{query}")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert query.split("=")[0] in response.json()["detail"]


def test_formats_of_the_list_and_one_item(client: TestClient, town: Runtime) -> None:
    geo = client.get(FACILITIES, params={"format": "geojson", "near": HERE}).json()
    assert geo["type"] == "FeatureCollection"
    first = geo["features"][0]
    assert first["geometry"]["coordinates"] == [20.953, 64.751]
    assert first["properties"]["availability"] == "known"

    rows = list(csv.DictReader(io.StringIO(client.get(FACILITIES, params={"format": "csv"}).text)))
    stationen = next(row for row in rows if row["id"] == facility_id("stationen"))
    assert (stationen["free"], stationen["availability"], stationen["stale"]) == (
        "",
        "unknown",
        "true",
    )
    assert float(stationen["longitude"]) == 20.94

    one = client.get(f"{FACILITIES}/torget", headers={"accept": "application/geo+json"}).json()
    assert one["type"] == "Feature"
    assert one["properties"]["free"] == 3
    as_csv = client.get(f"{FACILITIES}/{facility_id('torget', ON)}", params={"format": "csv"})
    assert as_csv.text.splitlines()[0].startswith("id,name,capacity,operator,free,occupied")
    missing = client.get(f"{FACILITIES}/no-such-place")
    assert missing.status_code == 404
    assert "OffStreetParking or OnStreetParking" in missing.json()["detail"]


def test_new_observations_and_facilities_show_at_once(client: TestClient, town: Runtime) -> None:
    assert by_id(client.get(FACILITIES).json()["data"])["kanalgatan"]["free"] == 40
    observe(town.store, "kanalgatan", minutes_ago(0.5), **counts(39, 81))
    describe(town.store, "ahlens", OFF, "Åhléns", 90, "Parkera AB", (20.951, 64.751))
    observe(town.store, "ahlens", minutes_ago(0.5), **counts(12, 78))
    items = by_id(client.get(FACILITIES).json()["data"])
    assert items["kanalgatan"]["free"] == 39
    assert items["ahlens"]["free"] == 12
    assert [item["id"] for item in client.get(FACILITIES).json()["data"]] == sorted(
        facility_id(k, ON if k == "torget" else OFF) for k in items
    )


def test_counts_go_unknown_as_time_passes_without_a_write(town: Runtime) -> None:
    now = [datetime.now(UTC)]
    workspace = town.workspace
    view = ProductView(workspace.products["parking-facilities"], workspace, clock=lambda: now[0])
    assert by_id(view.items(town.store))["kanalgatan"]["availability"] == "known"
    now[0] += timedelta(minutes=20)  # nothing written meanwhile: a cached item must age too
    kanal = by_id(view.items(town.store))["kanalgatan"]
    assert (kanal["availability"], kanal["free"], kanal["stale"]) == ("unknown", None, True)
    assert kanal["observedAt"] == observed_at(town, "kanalgatan")
    entity = town.store.get_entity(facility_id("kanalgatan"))
    assert entity is not None
    assert view.item(town.store, entity)["availability"] == "unknown"


def test_occupancy_history_of_a_facility(client: TestClient, parking: Runtime) -> None:
    describe(parking.store, "kanalgatan", OFF, "Kanalgatan", 120, "X", (20.953, 64.751))
    start = datetime(2026, 3, 2, 7, tzinfo=UTC)
    for hour in range(4):
        observe(
            parking.store,
            "kanalgatan",
            start + timedelta(hours=hour),
            **counts(100 - hour, 20 + hour),
        )
    series = client.get(
        f"{FACILITIES}/kanalgatan/occupancy",
        params={"from": "2026-03-02T08:00:00Z", "to": "2026-03-02T10:00:00Z"},
    ).json()
    assert series["data"] == [
        {
            "observedAt": "2026-03-02T08:00:00Z",
            "free": 99,
            "occupied": 21,
            "status": "spacesAvailable",
        },
        {
            "observedAt": "2026-03-02T09:00:00Z",
            "free": 98,
            "occupied": 22,
            "status": "spacesAvailable",
        },
    ]
    assert series["meta"]["id"] == facility_id("kanalgatan")
    text = client.get(
        f"{FACILITIES}/kanalgatan/occupancy",
        params={"from": "2026-03-02T00:00:00Z", "to": "2026-03-03T00:00:00Z", "format": "csv"},
    ).text.splitlines()
    assert text[0] == "observedAt,free,occupied,status"
    assert text[1] == "2026-03-02T07:00:00Z,100,20,spacesAvailable"
    assert len(text) == 5


def test_profile_by_local_weekday_and_hour(client: TestClient, parking: Runtime) -> None:
    describe(parking.store, "kanalgatan", OFF, "Kanalgatan", 120, "X", (20.953, 64.751))
    today = datetime.now(STOCKHOLM).date()
    monday = today - timedelta(days=today.weekday() + 7)  # last week's Monday

    def local(day: date, hour: int, minute: int) -> datetime:
        return datetime.combine(day, time(hour, minute), STOCKHOLM).astimezone(UTC)

    moments = {
        local(monday, 7, 10): counts(10, 110),
        local(monday - timedelta(days=7), 7, 10): counts(21, 99),
        local(monday - timedelta(days=7), 7, 40): counts(30, 90, "almostFull"),
        local(monday + timedelta(days=6), 23, 30): counts(115, 5),
        # 70 to 76 days back: only in a profile of more than the default 8 weeks.
        local(monday - timedelta(weeks=9), 7, 10): counts(0, 120, "full"),
    }
    for moment, values in moments.items():
        observe(parking.store, "kanalgatan", moment, **values)
    url = f"{FACILITIES}/kanalgatan/profile"
    body = client.get(url).json()
    assert body["data"] == [
        {"weekday": 1, "hour": 7, "free": 20.33, "occupied": 99.67, "samples": 3},
        {"weekday": 7, "hour": 23, "free": 115.0, "occupied": 5.0, "samples": 1},
    ]
    assert body["meta"]["weeks"] == 8
    assert body["meta"]["timezone"] == "Europe/Stockholm"
    longer = client.get(url, params={"weeks": 12}).json()["data"]
    assert longer[0] == {
        "weekday": 1,
        "hour": 7,
        "free": 15.25,
        "occupied": 104.75,
        "samples": 4,
    }
    as_csv = client.get(url, params={"format": "csv"}).text.splitlines()
    assert as_csv[0] == "weekday,hour,free,occupied,samples"  # status is text: no mean
    assert as_csv[1] == "1,7,20.33,99.67,3"


def test_profile_hours_are_local_across_summer_time() -> None:
    profile = Profile(["free", "status"], "Europe/Stockholm")
    # 07:10 in Stockholm on two Mondays: CET (UTC+1) before 29 March 2026, CEST (UTC+2) after.
    profile.add(datetime(2026, 3, 23, 6, 10, tzinfo=UTC), {"free": 10, "status": "open"})
    profile.add(datetime(2026, 3, 30, 5, 10, tzinfo=UTC), {"free": 21, "status": "open"})
    profile.add(datetime(2026, 3, 30, 5, 20, tzinfo=UTC), {"free": True, "status": None})
    assert profile.rows() == [{"weekday": 1, "hour": 7, "free": 15.5, "samples": 3}]


@pytest.mark.parametrize("query", ["weeks=0", "weeks=53", "weeks=two", "format=geojson"])
def test_profile_parameters_out_of_range(client: TestClient, town: Runtime, query: str) -> None:
    response = client.get(f"{FACILITIES}/kanalgatan/profile?{query}")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


def test_openapi_documents_filters_and_answers(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    listing = paths[FACILITIES]["get"]
    params = {p["name"]: p for p in listing["parameters"]}
    assert set(params) >= {"near", "radius", "format", "minFree", "operator", "maxOccupied"}
    assert params["minFree"]["schema"] == {"type": "number"}
    assert params["minFree"]["description"].startswith("At least this many free spaces.")
    assert params["operator"]["schema"] == {"type": "string"}
    item = listing["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
    fields = item["data"]["items"]["properties"]
    assert fields["availability"]["enum"] == ["known", "unknown"]
    assert {"stale", "observedAt", "distance"} <= set(fields)
    assert f"{FACILITIES}/{{item_id}}/occupancy" in paths
    profile = paths[f"{FACILITIES}/{{item_id}}/profile"]["get"]
    weeks = next(p for p in profile["parameters"] if p["name"] == "weeks")
    assert (weeks["schema"]["minimum"], weeks["schema"]["maximum"]) == (1, 52)


def test_cached_items_follow_observers_that_move(workspace: Workspace, tmp_path: Path) -> None:
    """Related observers (beach sensors) patched into the cache, also when they move."""
    store = open_store(f"sqlite:///{tmp_path / 'beaches.db'}")
    runtime = Runtime.open(workspace, store=store)
    view = ProductView(workspace.products["beaches"], workspace)
    byske = "urn:ngsi-ld:Beach:se:skelleftea:byske-havsbad"
    boviken = "urn:ngsi-ld:Beach:se:skelleftea:bovikens-havsbad"
    sensor = "urn:ngsi-ld:WaterQualityObserved:skelleftea:probe"

    def measure(beach: str, celsius: float) -> None:
        moment = minutes_ago(1)
        stamp = moment.isoformat().replace("+00:00", "Z")
        kind = "WaterQualityObserved"
        store.commit_batch(
            [],
            [
                AttributeWrite(
                    sensor, kind, "refPointOfInterest", {"type": "Relationship", "object": beach}
                ),
                AttributeWrite(
                    sensor,
                    kind,
                    "temperature",
                    {"type": "Property", "value": celsius, "observedAt": stamp},
                    observed_at=moment,
                ),
            ],
            [],
        )

    def temperatures() -> dict[str, Any]:
        return {item["id"]: item["waterTemperature"] for item in view.items(store)}

    assert temperatures()[byske] is None
    measure(byske, 18.5)
    assert (temperatures()[byske], temperatures()[boviken]) == (18.5, None)
    measure(boviken, 17.0)
    assert (temperatures()[byske], temperatures()[boviken]) == (None, 17.0)
    assert view.item(store, store.get_entity(boviken))["sensor"] == sensor
    runtime.store.close()


def test_items_have_only_the_declared_keys(town: Runtime) -> None:
    workspace = town.workspace
    view = ProductView(workspace.products["parking-facilities"], workspace)
    for item in view.items(town.store, Near(20.9525, 64.7507, None)):
        assert list(item) == view.product.item_fields()


def test_a_short_id_names_one_facility_or_none(client: TestClient, town: Runtime) -> None:
    describe(town.store, "torget", OFF, "Torget (garage)", 40, "Parkera AB", (20.96, 64.751))
    assert client.get(f"{FACILITIES}/torget").status_code == 404  # two types share the name
    both = [facility_id("torget", ON), facility_id("torget", OFF)]
    assert [client.get(f"{FACILITIES}/{i}").json()["data"]["id"] for i in both] == both
    assert (
        client.get(f"{FACILITIES}/urn:ngsi-ld:ParkingSpot:se:testby:kanalgatan-1").status_code
        == 404
    )
    assert client.get(f"{FACILITIES}/kanalgatan-1").status_code == 404


def test_the_cache_is_reused_until_the_store_changes(tmp_path: Path) -> None:
    workspace = load_workspace(write_workspace(tmp_path / "workspace"))
    store = open_store(f"sqlite:///{tmp_path / 'cache.db'}")
    store.migrate()
    describe(store, "kanalgatan", OFF, "Kanalgatan", 120, "X", (20.953, 64.751))
    view = ProductView(workspace.products["parking-facilities"], workspace)
    first = view.snapshot(store)
    assert view.snapshot(store) is first
    spot = "urn:ngsi-ld:ParkingSpot:se:testby:kanalgatan-1"
    free = {"type": "Property", "value": "free"}
    store.commit_batch([], [AttributeWrite(spot, "ParkingSpot", "status", free)], [])
    unrelated = view.snapshot(store)
    assert unrelated.version != first.version
    assert unrelated.items == first.items  # nothing listed changed: nothing rebuilt

    # While another request patches the cache, this one answers from the cached items.
    observe(store, "kanalgatan", minutes_ago(1), **counts(7, 113))
    with view._lock:
        assert view.snapshot(store) is unrelated
    assert view.snapshot(store).items[facility_id("kanalgatan")].observed[0].value == 7
    store.close()


def free_at_p0(view: ProductView, store: ContextStore) -> object:
    item = view.snapshot(store).items.get(facility_id("p0"))
    return None if item is None else item.observed[0].value


def test_a_large_change_is_patched_aside_and_shown_once_done(tmp_path: Path) -> None:
    workspace = load_workspace(write_workspace(tmp_path / "workspace"))
    store = open_store(f"sqlite:///{tmp_path / 'large.db'}")
    store.migrate()
    describe(store, "kanalgatan", OFF, "Kanalgatan", 120, "X", (20.953, 64.751))
    view = ProductView(workspace.products["parking-facilities"], workspace)
    first = view.snapshot(store)
    for round_ in range(3):
        # A feed's whole page: more facilities than a request patches itself.
        for n in range(INLINE_PATCH + 10):
            observe(store, f"p{n}", minutes_ago(1), **counts(round_, 10))
        answered = view.snapshot(store)  # at once, from the cached items
        if round_ == 0:
            assert facility_id("p0") not in answered.items
        else:
            assert answered.items[facility_id("p0")].observed[0].value == round_ - 1
        wait_for(lambda expected=round_: free_at_p0(view, store) == expected)
    assert first.items.keys() < view.snapshot(store).items.keys()
    # One refresher thread for every patch: a store keeps a connection per thread.
    assert len(store._connections) <= 2
    store.close()
