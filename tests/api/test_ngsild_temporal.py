"""The NGSI-LD temporal API over HTTP (GS CIM 009, 5.6.11-5.6.16, 5.7.3, 5.7.4), on every store.

Beach water temperatures every ten minutes, and diwise's real temporal WaterQualityObserved.
"""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from fastapi.testclient import TestClient

from stadsnav.api.app import create_app
from stadsnav.model.context import CORE_CONTEXT_URL
from stadsnav.runtime import Runtime
from support import SHARED_DATA, UplinkFactory, key_headers, process_inbox

ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"
BASE = "/ngsi-ld/v1/temporal/entities"
DIWISE = (
    SHARED_DATA
    / "beach"
    / ("handlers_waterquality__context_broker_input__waterqualityTemporalJson.json")
)
WATER = "urn:ngsi-ld:WaterQualityObserved:testID"
BYSKE = "urn:ngsi-ld:WaterQualityObserved:skelleftea:byske-havsbad"
KURJOVIKEN = "urn:ngsi-ld:WaterQualityObserved:skelleftea:kurjoviken"
START = datetime(2026, 7, 1, 6, tzinfo=UTC)
STEP = timedelta(minutes=10)


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def diwise_document() -> dict[str, Any]:
    """diwise's temporal WaterQualityObserved; its @context names a remote context, so the
    test sends it as plain JSON in the core context."""
    document: dict[str, Any] = orjson.loads(DIWISE.read_bytes())
    document.pop("@context")
    return document


def water_temperatures(count: int, base: float = 16.0, start: datetime = START) -> list[float]:
    """A beach warming up over the day, every ten minutes."""
    return [
        round(base + 2.5 * math.sin(math.pi * i / 144) + 0.1 * (i % 3), 1) for i in range(count)
    ]


def readings(values: list[float], start: datetime = START, **extra: Any) -> list[dict[str, Any]]:
    return [
        {
            "type": "Property",
            "value": value,
            "unitCode": "CEL",
            "observedAt": stamp(start + i * STEP),
            **extra,
        }
        for i, value in enumerate(values)
    ]


def beach(entity_id: str, values: list[float], start: datetime = START, **more: Any) -> dict:
    return {
        "id": entity_id,
        "type": "WaterQualityObserved",
        "temperature": readings(values, start),
        **more,
    }


def create(client: TestClient, body: dict[str, Any], status: int = 201, **headers: str) -> None:
    response = client.post(BASE, json=body, headers=headers)
    assert response.status_code == status, response.text


def temporal(client: TestClient, entity_id: str, status: int = 200, **params: Any) -> Any:
    response = client.get(f"{BASE}/{entity_id}", params=params)
    assert response.status_code == status, response.text
    return response.json()


def current(client: TestClient, entity_id: str) -> dict[str, Any]:
    response = client.get(f"/ngsi-ld/v1/entities/{entity_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def problem(response: Any, status: int, kind: str = "BadRequestData") -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == ERRORS + kind
    detail: str = response.json()["detail"]
    return detail


def instance_url(entity_id: str, attribute: str, instance_id: str) -> str:
    return f"{BASE}/{entity_id}/attrs/{attribute}/{quote(instance_id, safe=':')}"


# 5.6.11 Create or update the temporal evolution of an entity


def test_create_answers_201_then_204_and_keeps_every_instance(client: TestClient) -> None:
    response = client.post(BASE, json=diwise_document())
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"{BASE}/{WATER}"
    [only] = temporal(client, WATER)["temperature"]
    assert only["value"] == 10.8
    assert only["observedAt"] == "2021-05-18T19:23:09Z"
    assert only["instanceId"].startswith("urn:ngsi-ld:instance:")
    # Attributes without observedAt are the entity's current values, not history.
    now = current(client, WATER)
    assert now["location"]["value"]["coordinates"] == [17.39364, 62.297684]
    assert now["temperature"]["value"] == 10.8

    later = datetime(2021, 5, 18, 19, 33, 9, tzinfo=UTC)
    more = {"id": WATER, "type": "WaterQualityObserved"}
    more["temperature"] = readings([11.0, 11.3, 11.1], later)  # type: ignore[assignment]
    create(client, more, status=204)
    history = temporal(client, WATER)["temperature"]
    assert [i["value"] for i in history] == [10.8, 11.0, 11.3, 11.1]
    assert len({i["instanceId"] for i in history}) == 4
    assert current(client, WATER)["temperature"]["observedAt"] == "2021-05-18T19:53:09Z"


def test_create_with_json_ld_and_answer_in_json_ld(client: TestClient) -> None:
    body = {**beach(BYSKE, water_temperatures(3)), "@context": CORE_CONTEXT_URL}
    response = client.post(
        BASE, content=orjson.dumps(body), headers={"content-type": "application/ld+json"}
    )
    assert response.status_code == 201, response.text
    answer = client.get(f"{BASE}/{BYSKE}", headers={"accept": "application/ld+json"})
    assert answer.json()["@context"] == CORE_CONTEXT_URL
    assert len(answer.json()["temperature"]) == 3


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"type": "WaterQualityObserved", "temperature": readings([15.0])}, "no id"),
        ({"id": "invalidId", "type": "WaterQualityObserved"}, "not a URI"),
        ({"id": BYSKE, "temperature": readings([15.0])}, "no type"),
        (
            {**beach(BYSKE, [15.0]), "expiresAt": "urn:ngsi-ld:null"},
            "partial update or merge",
        ),
        (
            {
                "id": BYSKE,
                "type": "WaterQualityObserved",
                "temperature": [{"value": 1, "observedAt": "noon"}],
            },
            "observedAt",
        ),
    ],
)
def test_create_refuses_invalid_entities_and_stores_nothing(
    client: TestClient, body: dict[str, Any], fragment: str
) -> None:
    assert fragment in problem(client.post(BASE, json=body), 400)
    problem(client.get(f"{BASE}/{BYSKE}"), 404, "ResourceNotFound")


def test_create_needs_json(client: TestClient) -> None:
    response = client.post(BASE, content=b"{}", headers={"content-type": "text/plain"})
    problem(response, 415, "UnsupportedMediaType")


# 5.6.12 Add attributes: an older instance is history, a newer one the current value


def test_older_instances_are_history_and_newer_ones_the_current_value(client: TestClient) -> None:
    create(client, beach(BYSKE, water_temperatures(6)))
    newest = current(client, BYSKE)["temperature"]
    assert newest["observedAt"] == stamp(START + 5 * STEP)

    earlier = {"temperature": readings([14.2], START - timedelta(hours=1))}
    response = client.post(f"{BASE}/{BYSKE}/attrs", json=earlier)
    assert response.status_code == 204, response.text
    assert current(client, BYSKE)["temperature"]["observedAt"] == newest["observedAt"]
    assert temporal(client, BYSKE)["temperature"][0]["value"] == 14.2

    later = {"temperature": readings([19.4], START + 6 * STEP)}
    assert client.post(f"{BASE}/{BYSKE}/attrs", json=later).status_code == 204
    assert current(client, BYSKE)["temperature"]["value"] == 19.4
    assert len(temporal(client, BYSKE)["temperature"]) == 8


def test_add_attributes_to_a_missing_entity_is_not_found(client: TestClient) -> None:
    response = client.post(f"{BASE}/{BYSKE}/attrs", json={"temperature": readings([15.0])})
    problem(response, 404, "ResourceNotFound")


def test_instances_of_datasets_are_separate_series(client: TestClient) -> None:
    surface = readings([17.0, 17.4], datasetId="urn:ngsi-ld:Dataset:surface")
    bottom = readings([12.1, 12.0], datasetId="urn:ngsi-ld:Dataset:bottom")
    create(
        client, beach(BYSKE, [16.5, 16.8], temperature=[]) | {"temperature": [*surface, *bottom]}
    )
    history = temporal(client, BYSKE)["temperature"]
    assert len(history) == 4
    assert len({i["instanceId"] for i in history}) == 4
    values = temporal(client, BYSKE, options="temporalValues")["temperature"]
    by_dataset = {series["datasetId"]: series["values"] for series in values}
    assert by_dataset["urn:ngsi-ld:Dataset:bottom"] == [
        [12.1, stamp(START)],
        [12.0, stamp(START + STEP)],
    ]
    now = current(client, BYSKE)["temperature"]
    assert {i["datasetId"]: i["value"] for i in now} == {
        "urn:ngsi-ld:Dataset:surface": 17.4,
        "urn:ngsi-ld:Dataset:bottom": 12.0,
    }


# 5.6.15 Modify an attribute instance; 5.6.16 delete one


def test_modify_an_instance_keeps_its_id(client: TestClient) -> None:
    create(client, beach(BYSKE, [15.1, 15.4, 15.9]))
    first, _, last = temporal(client, BYSKE)["temperature"]

    response = client.patch(
        instance_url(BYSKE, "temperature", first["instanceId"]), json={"value": 14.9}
    )
    assert response.status_code == 204, response.text
    history = temporal(client, BYSKE)["temperature"]
    assert history[0] == {**first, "value": 14.9}

    moved_to = stamp(START + 3 * STEP)
    response = client.patch(
        instance_url(BYSKE, "temperature", last["instanceId"]),
        json={"type": "Property", "value": 16.2, "observedAt": moved_to},
    )
    assert response.status_code == 204, response.text
    moved = temporal(client, BYSKE)["temperature"][-1]
    assert (moved["instanceId"], moved["observedAt"], moved["value"]) == (
        last["instanceId"],
        moved_to,
        16.2,
    )
    assert current(client, BYSKE)["temperature"]["value"] == 16.2
    # Found by its kept id, it can be deleted too; the value before it is current again.
    response = client.delete(instance_url(BYSKE, "temperature", last["instanceId"]))
    assert response.status_code == 204, response.text
    assert current(client, BYSKE)["temperature"]["value"] == 15.4


def test_modify_or_delete_what_is_not_there(client: TestClient) -> None:
    create(client, beach(BYSKE, [15.1]))
    [one] = temporal(client, BYSKE)["temperature"]
    unknown = "urn:ngsi-ld:instance:0000000000000000:1"
    for method in ("patch", "delete"):
        kwargs: dict[str, Any] = {"json": {"value": 1}} if method == "patch" else {}
        call = getattr(client, method)
        problem(
            call(instance_url(BYSKE, "temperature", unknown), **kwargs), 404, "ResourceNotFound"
        )
        problem(call(instance_url(BYSKE, "temperature", "invalidId"), **kwargs), 400)
        problem(call(instance_url(BYSKE, "invalid(Id", one["instanceId"]), **kwargs), 400)
        problem(
            call(instance_url(BYSKE, "salinity", one["instanceId"]), **kwargs),
            404,
            "ResourceNotFound",
        )
        missing = instance_url(KURJOVIKEN, "temperature", one["instanceId"])
        problem(call(missing, **kwargs), 404, "ResourceNotFound")


def test_deleting_every_instance_removes_the_attribute(client: TestClient) -> None:
    create(client, beach(BYSKE, [15.1, 15.4], salinity=readings([0.3])))
    for instance in temporal(client, BYSKE)["temperature"][::-1]:
        response = client.delete(instance_url(BYSKE, "temperature", instance["instanceId"]))
        assert response.status_code == 204, response.text
    assert "temperature" not in current(client, BYSKE)
    assert "temperature" not in temporal(client, BYSKE)
    assert "salinity" in temporal(client, BYSKE)


# 5.6.13 Delete an attribute's history; 5.6.14 delete the temporal entity


def test_delete_attribute_by_dataset_or_all(client: TestClient) -> None:
    surface = readings([17.0], datasetId="urn:ngsi-ld:Dataset:surface")
    create(client, beach(BYSKE, [16.5, 16.8]) | {"temperature": [*readings([16.5]), *surface]})
    url = f"{BASE}/{BYSKE}/attrs/temperature"
    assert client.delete(url).status_code == 204
    [left] = temporal(client, BYSKE)["temperature"]
    assert left["datasetId"] == "urn:ngsi-ld:Dataset:surface"
    problem(client.delete(url), 404, "ResourceNotFound")
    problem(client.delete(url, params={"datasetId": "not a uri"}), 400)
    response = client.delete(url, params={"datasetId": "urn:ngsi-ld:Dataset:surface"})
    assert response.status_code == 204
    assert "temperature" not in temporal(client, BYSKE)

    create(client, beach(KURJOVIKEN, [15.0]) | {"temperature": [*readings([15.0]), *surface]})
    all_of_it = f"{BASE}/{KURJOVIKEN}/attrs/temperature"
    assert client.delete(all_of_it, params={"deleteAll": "true"}).status_code == 204
    assert "temperature" not in current(client, KURJOVIKEN)


def test_delete_the_temporal_entity(client: TestClient) -> None:
    create(client, beach(BYSKE, [15.1, 15.4]))
    assert client.delete(f"{BASE}/{BYSKE}").status_code == 204
    problem(client.get(f"{BASE}/{BYSKE}"), 404, "ResourceNotFound")
    problem(client.get(f"/ngsi-ld/v1/entities/{BYSKE}"), 404, "ResourceNotFound")
    problem(client.delete(f"{BASE}/{BYSKE}"), 404, "ResourceNotFound")
    problem(client.delete(f"{BASE}/not-a-uri"), 400)


# 5.7.3 Retrieve: window, lastN, representations, time property


def test_window_last_n_and_simplified_values(client: TestClient) -> None:
    values = water_temperatures(12)
    create(client, beach(BYSKE, values))
    between = temporal(
        client,
        BYSKE,
        timerel="between",
        timeAt=stamp(START + 2 * STEP),
        endTimeAt=stamp(START + 5 * STEP),
    )
    assert [i["value"] for i in between["temperature"]] == values[2:5]
    after = temporal(client, BYSKE, timerel="after", timeAt=stamp(START + 10 * STEP))
    assert [i["value"] for i in after["temperature"]] == values[10:]
    before = temporal(client, BYSKE, timerel="before", timeAt=stamp(START + STEP))
    assert [i["value"] for i in before["temperature"]] == values[:1]
    last = temporal(client, BYSKE, lastN=3)
    assert [i["value"] for i in last["temperature"]] == values[-3:]
    simple = temporal(client, BYSKE, format="temporalValues", lastN=2)["temperature"]
    assert simple == {
        "type": "Property",
        "values": [[values[-2], stamp(START + 10 * STEP)], [values[-1], stamp(START + 11 * STEP)]],
    }
    # format takes precedence over options and aggrMethods (6.3.12, ETSI TP 021_19_02).
    chosen = temporal(
        client, BYSKE, format="temporalValues", options="aggregatedValues", aggrMethods="sum"
    )
    assert len(chosen["temperature"]["values"]) == 12
    # None of the attributes asked for is ResourceNotFound, as in the core API (TP 020_08).
    missing = client.get(f"{BASE}/{BYSKE}", params={"attrs": "salinity"})
    problem(missing, 404, "ResourceNotFound")


@pytest.mark.parametrize(
    "params",
    [
        {"timerel": "between", "timeAt": "2026-07-01T00:00:00Z"},
        {"timerel": "after"},
        {"timerel": "during", "timeAt": "2026-07-01T00:00:00Z"},
        {"timeAt": "2026-07-01T00:00:00Z"},
        {"timerel": "after", "timeAt": "yesterday"},
        {"lastN": "0"},
        {"lastN": "1.5"},
        {"timeproperty": "receivedAt"},
        {"options": "keyValues,aggregatedValues", "aggrMethods": "avg"},
    ],
)
def test_invalid_temporal_parameters_are_bad_requests(
    client: TestClient, params: dict[str, str]
) -> None:
    create(client, beach(BYSKE, [15.0]))
    problem(client.get(f"{BASE}/{BYSKE}", params=params), 400)


@pytest.mark.parametrize(
    "params",
    [
        {"format": "invalidFormat"},
        {"options": "fancy"},
        {"options": "temporalValues,fancy"},
        {"format": "temporalValues", "options": "aggregatedValues,fancy"},
    ],
)
def test_unknown_formats_and_options_are_invalid_requests(
    client: TestClient, params: dict[str, str]
) -> None:
    # As in the core API: a value the parameter does not define (6.3.12, 6.3.20; ETSI 021_20).
    create(client, beach(BYSKE, [15.0]))
    problem(client.get(f"{BASE}/{BYSKE}", params=params), 400, "InvalidRequest")
    query = {"type": "WaterQualityObserved", **params}
    problem(client.get(BASE, params=query), 400, "InvalidRequest")


def two_datasets(client: TestClient) -> None:
    """Byske's temperature: two default instances, two surface ones and one at the bottom."""
    surface = readings([17.0, 17.4], datasetId="urn:ngsi-ld:Dataset:surface")
    bottom = readings([12.1], datasetId="urn:ngsi-ld:Dataset:bottom")
    create(client, beach(BYSKE, []) | {"temperature": [*readings([16.5, 16.8]), *surface, *bottom]})


def test_dataset_id_selects_the_instances(client: TestClient) -> None:
    # GS CIM 009 4.5.5: datasetId selects instances, @none the default ones (ETSI 021_18).
    two_datasets(client)
    surface = temporal(
        client, BYSKE, datasetId="urn:ngsi-ld:Dataset:surface", format="temporalValues"
    )["temperature"]
    assert surface == {
        "type": "Property",
        "datasetId": "urn:ngsi-ld:Dataset:surface",
        "values": [[17.0, stamp(START)], [17.4, stamp(START + STEP)]],
    }
    default = temporal(client, BYSKE, datasetId="@none")["temperature"]
    assert [i["value"] for i in default] == [16.5, 16.8]
    assert all("datasetId" not in i for i in default)
    both = temporal(client, BYSKE, datasetId="@none,urn:ngsi-ld:Dataset:bottom")["temperature"]
    assert sorted(i["value"] for i in both) == [12.1, 16.5, 16.8]
    aggregated = temporal(client, BYSKE, datasetId="urn:ngsi-ld:Dataset:bottom", aggrMethods="max")[
        "temperature"
    ]
    assert aggregated["datasetId"] == "urn:ngsi-ld:Dataset:bottom"
    assert aggregated["max"][0][0] == 12.1
    problem(client.get(f"{BASE}/{BYSKE}", params={"datasetId": "not a uri"}), 400)


def test_query_by_dataset_id_matches_only_entities_with_such_instances(
    client: TestClient,
) -> None:
    two_datasets(client)
    query = {"type": "WaterQualityObserved", "attrs": "temperature"}
    [byske] = client.get(BASE, params={**query, "datasetId": "urn:ngsi-ld:Dataset:bottom"}).json()
    assert [i["value"] for i in byske["temperature"]] == [12.1]
    none = client.get(BASE, params={**query, "datasetId": "urn:ngsi-ld:Dataset:elsewhere"})
    assert none.json() == []
    body = {
        "type": "Query",
        "entities": [{"type": "WaterQualityObserved"}],
        "datasetId": ["@none"],
        "temporalQ": {"timerel": "after", "timeAt": stamp(START)},
    }
    posted = client.post("/ngsi-ld/v1/temporal/entityOperations/query", json=body)
    assert [i["value"] for i in posted.json()[0]["temperature"]] == [16.5, 16.8]


def test_pick_and_omit_project_the_temporal_representation(client: TestClient) -> None:
    # GS CIM 009 4.21 on the temporal API (ETSI 020_21, 020_23, 021_22).
    create(client, beach(BYSKE, [15.1, 15.4]) | {"salinity": readings([2.0])})
    picked = temporal(client, BYSKE, pick="temperature")
    assert list(picked) == ["temperature"]
    assert [i["value"] for i in picked["temperature"]] == [15.1, 15.4]
    assert list(temporal(client, BYSKE, pick="id,salinity")) == ["id", "salinity"]
    assert list(temporal(client, BYSKE, omit="type,temperature")) == ["id", "salinity"]
    for params in ({"pick": "unknown"}, {"omit": "id,type,temperature,salinity"}):
        problem(client.get(f"{BASE}/{BYSKE}", params=params), 404, "ResourceNotFound")
    [queried] = client.get(BASE, params={"type": "WaterQualityObserved", "omit": "salinity"}).json()
    assert list(queried) == ["id", "type", "temperature"]
    for params in (
        {"pick": "temperature", "omit": "temperature"},
        {"pick": "temperature", "attrs": "salinity"},
        {"omit": "temperature", "attrs": "salinity"},
    ):
        problem(client.get(f"{BASE}/{BYSKE}", params=params), 400)
        problem(client.get(BASE, params={"type": "WaterQualityObserved", **params}), 400)


def test_system_times_and_the_modified_at_time_property(client: TestClient) -> None:
    create(client, beach(BYSKE, [15.0, 15.2]))
    with_times = temporal(client, BYSKE, options="sysAttrs")
    assert {"createdAt", "modifiedAt"} <= set(with_times)
    assert {"createdAt", "modifiedAt"} <= set(with_times["temperature"][0])
    assert "createdAt" not in temporal(client, BYSKE)["temperature"][0]
    recent = stamp(datetime.now(UTC) - timedelta(hours=1))
    stored = temporal(client, BYSKE, timeproperty="modifiedAt", timerel="after", timeAt=recent)
    assert len(stored["temperature"]) == 2
    values = temporal(client, BYSKE, timeproperty="createdAt", options="temporalValues")
    assert values["temperature"]["values"][0][1] >= recent
    # Nothing was deleted, so there is no deletedAt.
    assert "temperature" not in temporal(client, BYSKE, timeproperty="deletedAt")


def test_core_deletions_are_kept_with_deleted_at(client: TestClient) -> None:
    # ETSI 020_17_01: deleting an attribute through the core API records the deletion.
    surface = readings([9.0], datasetId="urn:ngsi-ld:Dataset:surface")
    create(client, beach(BYSKE, [15.0, 15.5]) | {"salinity": readings([0.3]), "wind": surface})
    before = stamp(datetime.now(UTC) - timedelta(seconds=1))
    entity_url = f"/ngsi-ld/v1/entities/{BYSKE}"
    assert client.delete(f"{entity_url}/attrs/temperature").status_code == 204
    merge = {"salinity": {"type": "Property", "value": "urn:ngsi-ld:null"}}
    assert client.patch(entity_url, json=merge).status_code == 204
    wind = client.delete(f"{entity_url}/attrs/wind", params={"deleteAll": "true"})
    assert wind.status_code == 204
    deleted = temporal(client, BYSKE, timeproperty="deletedAt")
    assert set(deleted) == {"id", "type", "temperature", "salinity", "wind"}
    [temperature] = deleted["temperature"]
    assert set(temperature) == {"type", "value", "instanceId", "deletedAt"}
    assert temperature["value"] == "urn:ngsi-ld:null"
    assert temperature["deletedAt"] >= before
    assert deleted["wind"][0]["datasetId"] == "urn:ngsi-ld:Dataset:surface"
    after = temporal(client, BYSKE, timeproperty="deletedAt", timerel="after", timeAt=before)
    assert len(after["temperature"]) == 1
    values = temporal(client, BYSKE, timeproperty="deletedAt", options="temporalValues")
    assert values["temperature"]["values"] == [["urn:ngsi-ld:null", temperature["deletedAt"]]]
    # Every other time property leaves the records out: listed, counted, aggregated.
    for params in ({}, {"lastN": 1}, {"timeproperty": "createdAt"}, {"timeproperty": "modifiedAt"}):
        history = temporal(client, BYSKE, **params)
        values = [i["value"] for i in history["temperature"]]
        assert values == [15.0, 15.5][-params.get("lastN", 2) :], params
        assert all("deletedAt" not in i for i in history["temperature"])
    counts = temporal(client, BYSKE, aggrMethods="totalCount,max")
    assert counts["temperature"]["totalCount"][0][0] == 2
    assert counts["temperature"]["max"][0][0] == 15.5
    assert "temperature" not in current(client, BYSKE)
    # A record can be deleted, not modified.
    record = instance_url(BYSKE, "temperature", temperature["instanceId"])
    problem(client.patch(record, json={"value": 1}), 404, "ResourceNotFound")
    assert client.delete(record).status_code == 204
    assert "temperature" not in temporal(client, BYSKE, timeproperty="deletedAt")


def test_replacing_an_entity_records_the_attributes_it_leaves_out(client: TestClient) -> None:
    surface = readings([9.0], datasetId="urn:ngsi-ld:Dataset:surface")
    create(client, beach(BYSKE, [15.0]) | {"salinity": readings([0.3]), "wind": surface})
    replacement = {"type": "WaterQualityObserved", "salinity": {"type": "Property", "value": 0.4}}

    response = client.put(f"/ngsi-ld/v1/entities/{BYSKE}", json=replacement)

    assert response.status_code == 204, response.text
    deleted = temporal(client, BYSKE, timeproperty="deletedAt")
    assert set(deleted) == {"id", "type", "temperature", "wind"}
    assert deleted["wind"][0]["datasetId"] == "urn:ngsi-ld:Dataset:surface"
    assert deleted["temperature"][0]["value"] == "urn:ngsi-ld:null"


def test_deletion_records_of_each_attribute_type(client: TestClient) -> None:
    # ETSI 020_17_02, 020_17_03 and 020_19_01: a Relationship, a LanguageProperty, the scope.
    body = {
        "id": BYSKE,
        "type": "WaterQualityObserved",
        "scope": ["/Skelleftea/Beaches"],
        "refBeach": {"type": "Relationship", "object": "urn:ngsi-ld:Beach:byske"},
        "name": {"type": "LanguageProperty", "languageMap": {"sv": "Byske havsbad"}},
    }
    create(client, body)
    assert current(client, BYSKE)["scope"] == ["/Skelleftea/Beaches"]
    for name in ("refBeach", "name", "scope"):
        response = client.delete(f"/ngsi-ld/v1/entities/{BYSKE}/attrs/{name}")
        assert response.status_code == 204, response.text
    deleted = temporal(client, BYSKE, timeproperty="deletedAt")
    assert deleted["refBeach"][0]["object"] == "urn:ngsi-ld:null"
    assert deleted["name"][0]["languageMap"] == {"@none": "urn:ngsi-ld:null"}
    assert deleted["scope"][0]["value"] == []
    assert all("deletedAt" in deleted[name][0] for name in ("refBeach", "name", "scope"))


def test_pipeline_history_is_served_and_can_be_deleted_by_instance(
    client: TestClient, runtime: Runtime, make_uplink: UplinkFactory
) -> None:
    from stadsnav.store.base import NewInboxMessage

    entity = "urn:ngsi-ld:WaterQualityObserved:skelleftea:elt2-byske-havsbad"
    messages = []
    for i, celsius in enumerate([15.0, 15.5]):
        payload = b"\x0c" + round(celsius * 10).to_bytes(2, "big", signed=True)
        body = make_uplink(payload=payload, f_cnt=i, received_at=START + i * STEP)
        messages.append(
            NewInboxMessage("beach-sensors-tts", f"t{i}", START, "application/json", body)
        )
    runtime.store.inbox_append(messages)
    process_inbox(runtime)
    first, second = temporal(client, entity, attrs="temperature")["temperature"]
    assert first["provenance"]["value"]["integration"] == "beach-sensors-tts"
    response = client.delete(instance_url(entity, "temperature", second["instanceId"]))
    assert response.status_code == 204, response.text
    assert current(client, entity)["temperature"]["value"] == 15.0


# 4.5.19 Aggregated temporal representation


def test_hourly_aggregation_matches_the_readings(client: TestClient) -> None:
    values = water_temperatures(144)
    create(client, beach(BYSKE, values))
    methods = "totalCount,distinctCount,sum,avg,min,max,stddev,sumsq"
    body = temporal(
        client,
        BYSKE,
        options="aggregatedValues",
        aggrMethods=methods,
        aggrPeriodDuration="PT1H",
        timerel="between",
        timeAt=stamp(START),
        endTimeAt=stamp(START + timedelta(days=1)),
    )
    temperature = body["temperature"]
    assert temperature["type"] == "Property"
    assert len(temperature["avg"]) == 24
    for hour in range(24):
        chunk = values[hour * 6 : hour * 6 + 6]
        start, end = stamp(START + timedelta(hours=hour)), stamp(START + timedelta(hours=hour + 1))
        expected = {
            "totalCount": 6,
            "distinctCount": len(set(chunk)),
            "sum": sum(chunk),
            "avg": statistics.fmean(chunk),
            "min": min(chunk),
            "max": max(chunk),
            "stddev": statistics.stdev(chunk),
            "sumsq": sum(v * v for v in chunk),
        }
        for method, value in expected.items():
            figure, low, high = temperature[method][hour]
            assert (low, high) == (start, end)
            assert figure == pytest.approx(value, abs=1e-9), (method, hour)


def test_aggregation_periods_start_at_the_oldest_instance_without_time_at(
    client: TestClient,
) -> None:
    create(client, beach(BYSKE, [15.0, 16.0, 17.0, 18.0], START + timedelta(minutes=3)))
    whole = temporal(client, BYSKE, options="aggregatedValues", aggrMethods="avg,max")
    assert whole["temperature"]["avg"] == [
        [16.5, stamp(START + timedelta(minutes=3)), stamp(START + timedelta(minutes=33))]
    ]
    half_hours = temporal(
        client, BYSKE, aggrMethods="min", aggrPeriodDuration="PT20M", attrs="temperature"
    )
    assert half_hours["temperature"]["min"] == [
        [15.0, stamp(START + timedelta(minutes=3)), stamp(START + timedelta(minutes=23))],
        [17.0, stamp(START + timedelta(minutes=23)), stamp(START + timedelta(minutes=43))],
    ]


def test_monthly_and_daily_periods_follow_the_calendar(client: TestClient) -> None:
    june = datetime(2026, 6, 30, 22, tzinfo=UTC)
    instances = readings([14.0, 15.0], june) + readings(
        [17.0], datetime(2026, 7, 31, 23, tzinfo=UTC)
    )
    instances += readings([19.0], datetime(2026, 8, 1, tzinfo=UTC))
    create(client, {"id": BYSKE, "type": "WaterQualityObserved", "temperature": instances})
    month = datetime(2026, 6, 1, tzinfo=UTC)
    monthly = temporal(
        client,
        BYSKE,
        aggrMethods="avg,totalCount",
        aggrPeriodDuration="P1M",
        timerel="after",
        timeAt=stamp(month),
    )["temperature"]
    assert monthly["avg"] == [
        [14.5, "2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z"],
        [17.0, "2026-07-01T00:00:00Z", "2026-08-01T00:00:00Z"],
        [19.0, "2026-08-01T00:00:00Z", "2026-09-01T00:00:00Z"],
    ]
    daily = temporal(
        client,
        BYSKE,
        aggrMethods="totalCount",
        aggrPeriodDuration="P1D",
        timerel="after",
        timeAt=stamp(month),
    )["temperature"]["totalCount"]
    assert [count for count, _, _ in daily] == [2, 1, 1]


def test_values_that_are_not_numbers_are_only_counted(client: TestClient) -> None:
    flags = ["good", "good", "poor", "good"]
    body = {
        "id": BYSKE,
        "type": "WaterQualityObserved",
        "bathingQuality": [
            {"type": "Property", "value": flag, "observedAt": stamp(START + i * STEP)}
            for i, flag in enumerate(flags)
        ],
        "isOpen": [
            {
                "type": "Relationship",
                "object": "urn:ngsi-ld:Beach:byske",
                "observedAt": stamp(START),
            }
        ],
    }
    create(client, body)
    answer = temporal(client, BYSKE, aggrMethods="totalCount,distinctCount,avg,max")
    assert answer["bathingQuality"] == {
        "type": "Property",
        "totalCount": [[4, stamp(START), stamp(START + 3 * STEP)]],
        "distinctCount": [[2, stamp(START), stamp(START + 3 * STEP)]],
    }
    assert answer["isOpen"]["type"] == "Relationship"
    assert answer["isOpen"]["totalCount"][0][0] == 1


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"options": "aggregatedValues"}, "aggrMethods"),
        ({"aggrMethods": "avg,median"}, "median"),
        ({"aggrMethods": "avg", "aggrPeriodDuration": "1 hour"}, "aggrPeriodDuration"),
        ({"aggrMethods": "avg", "aggrPeriodDuration": "PT"}, "aggrPeriodDuration"),
        ({"aggrMethods": "avg", "timeproperty": "createdAt"}, "observedAt"),
    ],
)
def test_invalid_aggregations_are_bad_requests(
    client: TestClient, params: dict[str, str], fragment: str
) -> None:
    create(client, beach(BYSKE, [15.0]))
    assert fragment in problem(client.get(f"{BASE}/{BYSKE}", params=params), 400)


# 6.3.10 Pagination of the instances


def test_instances_over_the_limit_are_paged_with_content_range(runtime: Runtime) -> None:
    runtime.workspace.settings.ngsild.temporal_instances = 5
    with TestClient(create_app(runtime), headers=key_headers(runtime.store)) as client:
        paged_answers(client)


def paged_answers(client: TestClient) -> None:
    values = water_temperatures(12)
    create(client, beach(BYSKE, values, salinity=readings([0.31, 0.32, 0.30])))

    forwards = client.get(f"{BASE}/{BYSKE}")
    assert forwards.status_code == 206
    assert forwards.headers["content-range"] == (
        f"date-time {stamp(START)}-{stamp(START + 4 * STEP)}/*"
    )
    assert [i["value"] for i in forwards.json()["temperature"]] == values[:5]
    assert len(forwards.json()["salinity"]) == 3

    backwards = client.get(f"{BASE}/{BYSKE}", params={"lastN": 8, "attrs": "temperature"})
    assert backwards.status_code == 206
    assert backwards.headers["content-range"] == (
        f"date-time {stamp(START + 11 * STEP)}-{stamp(START + 7 * STEP)}/8"
    )
    assert [i["value"] for i in backwards.json()["temperature"]] == values[-5:]

    # An attribute with instances in the window but none before the cut is shown empty (TP
    # 020_14): the salinity readings are newer than the fifth temperature.
    late = readings([0.2, 0.3], START + 5 * STEP)
    added = client.post(f"{BASE}/{BYSKE}/attrs", json={"oxygen": late})
    assert added.status_code == 204, added.text
    after_cut = client.get(f"{BASE}/{BYSKE}", params={"timerel": "after", "timeAt": stamp(START)})
    assert after_cut.status_code == 206
    assert after_cut.json()["oxygen"] == []
    values_cut = client.get(
        f"{BASE}/{BYSKE}",
        params={"timerel": "after", "timeAt": stamp(START), "format": "temporalValues"},
    )
    assert values_cut.json()["oxygen"] == {"type": "Property", "values": []}

    within = client.get(f"{BASE}/{BYSKE}", params={"lastN": 3})
    assert within.status_code == 200
    assert "content-range" not in within.headers


# 5.7.4 Query the temporal evolution of entities


def create_beaches(client: TestClient) -> None:
    """Byske warm only before noon; Kurjoviken cool all day; a Beach with no temperature."""
    warm_morning = readings([21.5, 21.0], START) + readings(
        [18.0, 18.2], START + timedelta(hours=6)
    )
    create(
        client,
        {
            "id": BYSKE,
            "type": "WaterQualityObserved",
            "temperature": warm_morning,
            "location": {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [21.23, 64.95]},
            },
        },
    )
    create(
        client,
        beach(KURJOVIKEN, [16.0, 16.4, 16.1], START + timedelta(hours=6))
        | {
            "location": {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [20.95, 64.75]},
            }
        },
    )


def test_query_tests_q_on_the_instances_in_the_window(client: TestClient) -> None:
    create_beaches(client)
    params = {"type": "WaterQualityObserved", "q": "temperature>20"}
    morning = client.get(
        BASE, params={**params, "timerel": "before", "timeAt": stamp(START + timedelta(hours=1))}
    )
    assert [e["id"] for e in morning.json()] == [BYSKE]
    afternoon = {"timerel": "after", "timeAt": stamp(START + timedelta(hours=6))}
    assert client.get(BASE, params={**params, **afternoon}).json() == []
    cool = client.get(
        BASE, params={"type": "WaterQualityObserved", "q": "temperature<17", **afternoon}
    )
    [kurjoviken] = cool.json()
    assert kurjoviken["id"] == KURJOVIKEN
    assert [i["value"] for i in kurjoviken["temperature"]] == [16.0, 16.4, 16.1]


def test_query_by_id_geo_and_attrs_with_count_and_pages(client: TestClient) -> None:
    create_beaches(client)
    near = client.get(
        BASE,
        params={
            "type": "WaterQualityObserved",
            "georel": "near;maxDistance==5000",
            "geometry": "Point",
            "coordinates": "[20.95,64.76]",
        },
    )
    assert [e["id"] for e in near.json()] == [KURJOVIKEN]
    page = client.get(
        BASE, params={"type": "WaterQualityObserved", "limit": 1, "count": "true", "lastN": 1}
    )
    assert page.headers["ngsild-results-count"] == "2"
    [first] = page.json()
    assert first["id"] == BYSKE
    assert len(first["temperature"]) == 1
    assert 'rel="next"' in page.headers["link"]
    only = client.get(BASE, params={"id": KURJOVIKEN, "attrs": "location"}).json()
    assert only == []  # location has no history: it is a current value
    aggregated = client.get(
        BASE, params={"type": "WaterQualityObserved", "aggrMethods": "max", "attrs": "temperature"}
    ).json()
    assert [e["temperature"]["max"][0][0] for e in aggregated] == [21.5, 16.4]


def test_entities_without_instances_in_the_window_are_left_out(client: TestClient) -> None:
    # 5.7.4, ETSI TP 021_13: such an entity has no temporal evolution to show.
    create_beaches(client)
    late = {"type": "WaterQualityObserved", "timerel": "after"}
    after = client.get(BASE, params={**late, "timeAt": stamp(START + timedelta(hours=7))})
    assert after.json() == []
    noon = client.get(BASE, params={**late, "timeAt": stamp(START + timedelta(hours=3))})
    assert [e["id"] for e in noon.json()] == [BYSKE, KURJOVIKEN]
    morning = client.get(
        BASE, params={**late, "timeAt": stamp(START), "timerel": "before", "count": "true"}
    )
    assert morning.json() == []
    assert morning.headers["ngsild-results-count"] == "0"


def test_query_needs_a_filter_unless_local(client: TestClient) -> None:
    window = {"timerel": "after", "timeAt": stamp(START)}
    problem(client.get(BASE, params=window), 400)
    # local=true asks for every entity of this broker (ETSI TP 021_25).
    create_beaches(client)
    every = client.get(BASE, params={**window, "local": "true"})
    assert [e["id"] for e in every.json()] == [BYSKE, KURJOVIKEN]


def test_query_ordered_by_and_by_creation_time(client: TestClient) -> None:
    # v1.9 orderBy (4.23, ETSI TP 021_23); current values without observedAt are instances of
    # the createdAt time property.
    names = {KURJOVIKEN: "Kurjoviken", BYSKE: "Byske havsbad", WATER: "Ostviken"}
    for entity_id, name in names.items():
        entity = {"id": entity_id, "type": "Beach", "name": {"type": "Property", "value": name}}
        assert client.post("/ngsi-ld/v1/entities", json=entity).status_code == 201
    params = {"type": "Beach", "timeproperty": "createdAt", "timerel": "after"}
    params["timeAt"] = "1970-01-01T00:00:00Z"
    by_name = client.get(BASE, params={**params, "orderBy": "name"}).json()
    assert [e["id"] for e in by_name] == [BYSKE, KURJOVIKEN, WATER]
    [instance] = by_name[0]["name"]
    assert instance["value"] == "Byske havsbad"
    assert "observedAt" not in instance
    descending = client.get(BASE, params={**params, "orderBy": "name;desc"}).json()
    assert [e["id"] for e in descending] == [WATER, KURJOVIKEN, BYSKE]
    values = client.get(BASE, params={**params, "format": "temporalValues"}).json()
    assert values[0]["name"]["values"][0][0] == "Byske havsbad"
    problem(client.get(BASE, params={**params, "orderBy": "name;sideways"}), 400)


def test_ids_alone_do_not_make_a_temporal_query(client: TestClient) -> None:
    # GS CIM 009 5.7.4.4: types, attrs, q, a geo-query or scopeQ (ETSI 021_24).
    create_beaches(client)
    problem(client.get(BASE, params={"id": BYSKE}), 400)
    problem(client.get(BASE, params={"idPattern": ".*"}), 400)
    body = {"type": "Query", "temporalQ": {"timerel": "after", "timeAt": stamp(START)}}
    problem(client.post("/ngsi-ld/v1/temporal/entityOperations/query", json=body), 400)
    typed = client.get(BASE, params={"id": BYSKE, "type": "WaterQualityObserved"})
    assert [e["id"] for e in typed.json()] == [BYSKE]


def test_query_with_a_query_body(client: TestClient) -> None:
    create_beaches(client)
    query = {
        "type": "Query",
        "entities": [{"type": "WaterQualityObserved"}],
        "attrs": ["temperature"],
        "temporalQ": {"timerel": "after", "timeAt": stamp(START + timedelta(hours=6)), "lastN": 1},
    }
    url = "/ngsi-ld/v1/temporal/entityOperations/query"
    answer = client.post(url, json=query)
    assert answer.status_code == 200, answer.text
    assert [[i["value"] for i in e["temperature"]] for e in answer.json()] == [[18.2], [16.1]]
    aggregated = client.post(
        url, json={**query, "aggrParams": {"aggrMethods": ["avg"], "aggrPeriodDuration": "PT0S"}}
    )
    assert aggregated.status_code == 200, aggregated.text
    assert "instanceId" not in aggregated.text
    assert aggregated.json()[0]["temperature"]["avg"][0][0] == pytest.approx(18.1)
    string_methods = client.post(
        url, json={**query, "temporalQ": {**query["temporalQ"], "aggrMethods": "avg,min"}}
    )
    assert set(string_methods.json()[1]["temperature"]) == {"type", "avg", "min"}


@pytest.mark.parametrize(
    "temporal_q",
    [
        {"timerel": "after", "timeAt": "2026-07-01T00:00:00Z", "lastN": 0},
        {"timerel": "after", "timeAt": "2026-07-01T00:00:00Z", "lastN": 1.5},
        {"timerel": "around", "timeAt": "2026-07-01T00:00:00Z"},
        {"timerel": "between", "timeAt": "2026-07-01T00:00:00Z"},
        {"timerel": "after", "timeAt": "2026-07-01T00:00:00Z", "timeproperty": "seenAt"},
        {"timerel": "after", "timeAt": "2026-07-01T00:00:00Z", "aggrMethods": ["mode"]},
        {
            "timerel": "after",
            "timeAt": "2026-07-01T00:00:00Z",
            "aggrMethods": ["avg"],
            "aggrPeriodDuration": "hourly",
        },
    ],
)
def test_invalid_temporal_q_is_a_bad_request(
    client: TestClient, temporal_q: dict[str, Any]
) -> None:
    create_beaches(client)
    query = {
        "type": "Query",
        "entities": [{"type": "WaterQualityObserved"}],
        "temporalQ": temporal_q,
    }
    problem(client.post("/ngsi-ld/v1/temporal/entityOperations/query", json=query), 400)


def test_tenants_keep_their_own_temporal_entities(client: TestClient) -> None:
    create(client, beach(BYSKE, [15.0, 15.5]), **{"NGSILD-Tenant": "sundsvall"})
    response = client.get(f"{BASE}/{BYSKE}", headers={"NGSILD-Tenant": "sundsvall"})
    assert len(response.json()["temperature"]) == 2
    problem(client.get(f"{BASE}/{BYSKE}"), 404, "ResourceNotFound")
