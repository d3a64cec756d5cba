"""NGSI-LD context provision over HTTP (GS CIM 009, 5.6.1-5.6.6, 5.6.17-5.6.19), on every store."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from stadsnav.model.context import CORE_CONTEXT_URL
from support import SHARED_DATA

ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"
PARK_EXAMPLE = SHARED_DATA / "smart-data-models" / "OffStreetParking" / "example-normalized.jsonld"
PARK = "urn:ngsi-ld:OffStreetParking:skelleftea:kanalgatan"
BASE = "/ngsi-ld/v1/entities"


def car_park() -> dict[str, Any]:
    """The Smart Data Models OffStreetParking example, as a Skellefteå car park."""
    entity: dict[str, Any] = orjson.loads(PARK_EXAMPLE.read_bytes())
    entity["id"] = PARK
    entity.pop("@context", None)
    return entity


def create(client: TestClient, entity: dict[str, Any]) -> None:
    response = client.post(BASE, json=entity)
    assert response.status_code == 201, response.text


def get(client: TestClient, entity_id: str = PARK, **params: str) -> dict[str, Any]:
    response = client.get(f"{BASE}/{entity_id}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def problem(response: Any, status: int, kind: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == ERRORS + kind
    detail: str = body["detail"]
    return detail


def test_create_answers_201_with_location_and_stores_every_attribute(client: TestClient) -> None:
    entity = car_park()
    response = client.post(BASE, json=entity)
    assert response.status_code == 201
    assert response.headers["location"] == f"{BASE}/{PARK}"
    stored = get(client)
    assert stored["type"] == "OffStreetParking"
    for name, attribute in entity.items():
        if name not in ("id", "type"):
            assert stored[name] == attribute, name


def test_create_twice_is_already_exists(client: TestClient) -> None:
    create(client, car_park())
    detail = problem(client.post(BASE, json=car_park()), 409, "AlreadyExists")
    assert PARK in detail


def test_create_with_json_ld_takes_the_context_from_the_body(client: TestClient) -> None:
    entity = {**car_park(), "@context": CORE_CONTEXT_URL}
    response = client.post(
        BASE, content=orjson.dumps(entity), headers={"content-type": "application/ld+json"}
    )
    assert response.status_code == 201, response.text
    assert get(client)["availableSpotNumber"]["value"] == 132


@pytest.mark.parametrize(
    ("content_type", "body", "link", "status", "kind"),
    [
        ("application/ld+json", car_park(), None, 400, "BadRequestData"),
        (
            "application/ld+json",
            {**car_park(), "@context": CORE_CONTEXT_URL},
            CORE_CONTEXT_URL,
            400,
            "BadRequestData",
        ),
        (
            "application/json",
            {**car_park(), "@context": CORE_CONTEXT_URL},
            None,
            400,
            "BadRequestData",
        ),
        ("text/plain", car_park(), None, 415, "UnsupportedMediaType"),
    ],
)
def test_context_and_media_type_rules(
    client: TestClient,
    content_type: str,
    body: dict[str, Any],
    link: str | None,
    status: int,
    kind: str,
) -> None:
    headers = {"content-type": content_type}
    if link is not None:
        headers["link"] = f'<{link}>; rel="http://www.w3.org/ns/json-ld#context"'
    problem(client.post(BASE, content=orjson.dumps(body), headers=headers), status, kind)
    assert client.get(f"{BASE}/{PARK}").status_code == 404


def test_malformed_json_is_invalid_request(client: TestClient) -> None:
    response = client.post(
        BASE, content=b'{"id": "urn:x:1", ', headers={"content-type": "application/json"}
    )
    problem(response, 400, "InvalidRequest")


def test_an_invalid_entity_says_what_to_fix(client: TestClient) -> None:
    entity = car_park()
    entity["availableSpotNumber"] = {"type": "Property"}
    detail = problem(client.post(BASE, json=entity), 400, "BadRequestData")
    assert "availableSpotNumber" in detail
    assert "value" in detail


def test_system_attributes_with_sys_attrs(client: TestClient) -> None:
    create(client, car_park())
    plain = get(client)
    assert "createdAt" not in plain
    assert "createdAt" not in plain["name"]
    timed = get(client, options="sysAttrs")
    assert timed["createdAt"] <= timed["modifiedAt"]
    assert timed["name"]["createdAt"] == timed["name"]["modifiedAt"]


def test_update_attributes_replaces_existing_and_adds_the_others(client: TestClient) -> None:
    create(client, car_park())
    before = get(client, options="sysAttrs")
    response = client.patch(
        f"{BASE}/{PARK}/attrs",
        json={"availableSpotNumber": {"type": "Property", "value": 97}, "floors": 3},
    )
    assert response.status_code == 204, response.text
    after = get(client, options="sysAttrs")
    assert after["availableSpotNumber"]["value"] == 97
    assert "observedAt" not in after["availableSpotNumber"]  # replaced, not merged
    assert after["availableSpotNumber"]["createdAt"] == before["availableSpotNumber"]["createdAt"]
    assert after["floors"]["value"] == 3
    ok = client.patch(f"{BASE}/{PARK}/attrs", json={"availableSpotNumber": 96})
    assert ok.status_code == 204


NULLS = {
    "name": {"type": "Property", "value": "urn:ngsi-ld:null"},
    "operator": {"type": "Relationship", "object": "urn:ngsi-ld:null"},
    "location": {"type": "GeoProperty", "value": "urn:ngsi-ld:null"},
    "street": {"type": "LanguageProperty", "languageMap": {"@none": "urn:ngsi-ld:null"}},
}
"""One ``urn:ngsi-ld:null`` of each kind of attribute: a write that meets one deletes it."""


def park_with_every_kind() -> dict[str, Any]:
    entity = car_park()
    entity["operator"] = {"type": "Relationship", "object": "urn:ngsi-ld:Organization:sparkab"}
    entity["street"] = {"type": "LanguageProperty", "languageMap": {"sv": "Kanalgatan"}}
    entity["name"] = [
        {"type": "Property", "value": "P-hus Kanalgatan"},
        {"type": "Property", "value": "Kanalen", "datasetId": "urn:ngsi-ld:Dataset:short"},
    ]
    return entity


@pytest.mark.parametrize("name", sorted(NULLS))
def test_update_attributes_with_ngsi_ld_null_deletes_the_attribute(
    client: TestClient, name: str
) -> None:
    create(client, park_with_every_kind())
    response = client.patch(f"{BASE}/{PARK}/attrs", json={name: NULLS[name]})
    assert response.status_code == 204, response.text
    stored = get(client)
    if name == "name":  # only the default instance goes
        assert stored["name"]["datasetId"] == "urn:ngsi-ld:Dataset:short"
    else:
        assert name not in stored


@pytest.mark.parametrize("name", sorted(NULLS))
def test_partial_update_with_ngsi_ld_null_deletes_the_instance(
    client: TestClient, name: str
) -> None:
    create(client, park_with_every_kind())
    response = client.patch(f"{BASE}/{PARK}/attrs/{name}", json=NULLS[name])
    assert response.status_code == 204, response.text
    if name != "name":
        assert name not in get(client)
        return
    assert get(client)["name"]["datasetId"] == "urn:ngsi-ld:Dataset:short"
    short = {**NULLS["name"], "datasetId": "urn:ngsi-ld:Dataset:short"}
    assert client.patch(f"{BASE}/{PARK}/attrs/name", json=short).status_code == 204
    assert "name" not in get(client)


def test_merge_with_a_null_language_map_deletes_the_language_property(
    client: TestClient,
) -> None:
    create(client, park_with_every_kind())
    response = client.patch(f"{BASE}/{PARK}", json={"street": NULLS["street"]})
    assert response.status_code == 204, response.text
    assert "street" not in get(client)


def test_update_attributes_replaces_a_scope_but_does_not_add_one(client: TestClient) -> None:
    create(client, car_park())
    response = client.patch(f"{BASE}/{PARK}/attrs", json={"scope": "/Skelleftea/Parking"})
    assert response.status_code == 207
    assert response.json()["notUpdated"][0]["attributeName"] == "https://uri.etsi.org/ngsi-ld/scope"
    assert "scope" not in get(client)
    assert client.post(f"{BASE}/{PARK}/attrs", json={"scope": "/Skelleftea"}).status_code == 204
    response = client.patch(f"{BASE}/{PARK}/attrs", json={"scope": "/Skelleftea/Parking"})
    assert response.status_code == 204, response.text
    assert get(client)["scope"] == "/Skelleftea/Parking"


def test_append_without_overwrite_adds_scopes_to_the_entity_s(client: TestClient) -> None:
    create(client, {**car_park(), "scope": "/Skelleftea"})
    response = client.post(
        f"{BASE}/{PARK}/attrs?options=noOverwrite",
        json={"scope": ["/Skelleftea", "/Parking/Garages"]},
    )
    assert response.status_code == 204, response.text
    assert get(client)["scope"] == ["/Skelleftea", "/Parking/Garages"]


def test_the_scope_is_not_an_attribute_to_replace_or_patch(client: TestClient) -> None:
    create(client, {**car_park(), "scope": "/Skelleftea"})
    for method in (client.put, client.patch):
        response = method(f"{BASE}/{PARK}/attrs/scope", json={"value": "/Parking"})
        assert "scope" in problem(response, 400, "BadRequestData")
    assert get(client)["scope"] == "/Skelleftea"


def test_append_adds_and_overwrites_unless_no_overwrite(client: TestClient) -> None:
    create(client, car_park())
    appended = client.post(
        f"{BASE}/{PARK}/attrs",
        json={"totalSpotNumber": 450, "operator": {"object": "urn:ngsi-ld:Organization:sparkab"}},
    )
    assert appended.status_code == 204
    stored = get(client)
    assert stored["totalSpotNumber"]["value"] == 450
    assert stored["operator"] == {
        "type": "Relationship",
        "object": "urn:ngsi-ld:Organization:sparkab",
    }
    kept = client.post(
        f"{BASE}/{PARK}/attrs?options=noOverwrite", json={"totalSpotNumber": 1, "floors": 3}
    )
    assert kept.status_code == 207
    # UpdateResult names are string values, which JSON-LD compaction leaves expanded (TP 010_04).
    default = "https://uri.etsi.org/ngsi-ld/default-context/"
    assert kept.json()["updated"] == [default + "floors"]
    assert kept.json()["notUpdated"][0]["attributeName"] == default + "totalSpotNumber"
    assert get(client)["totalSpotNumber"]["value"] == 450


def test_writes_to_a_missing_entity_are_resource_not_found(client: TestClient) -> None:
    missing = "urn:ngsi-ld:OffStreetParking:nowhere"
    for response in (
        client.patch(f"{BASE}/{missing}/attrs", json={"a": 1}),
        client.post(f"{BASE}/{missing}/attrs", json={"a": 1}),
        client.patch(f"{BASE}/{missing}", json={"a": 1}),
        client.put(f"{BASE}/{missing}", json={"type": "OffStreetParking", "a": 1}),
        client.patch(f"{BASE}/{missing}/attrs/a", json={"value": 1}),
        client.delete(f"{BASE}/{missing}/attrs/a"),
        client.delete(f"{BASE}/{missing}"),
    ):
        problem(response, 404, "ResourceNotFound")


def test_partial_attribute_update_keeps_the_members_not_sent(client: TestClient) -> None:
    entity = car_park()
    entity["totalSpotNumber"] = {"type": "Property", "value": 420, "unitCode": "C62"}
    create(client, entity)
    response = client.patch(f"{BASE}/{PARK}/attrs/totalSpotNumber", json={"value": 430})
    assert response.status_code == 204, response.text
    assert get(client)["totalSpotNumber"] == {"type": "Property", "value": 430, "unitCode": "C62"}
    detail = problem(
        client.patch(f"{BASE}/{PARK}/attrs/noSuchThing", json={"value": 1}), 404, "ResourceNotFound"
    )
    assert "noSuchThing" in detail
    # A partial update cannot change the attribute's type (5.6.4, ETSI TP 012_02_03).
    relationship = {"type": "Relationship", "object": "urn:ngsi-ld:Thing:1"}
    detail = problem(
        client.patch(f"{BASE}/{PARK}/attrs/totalSpotNumber", json=relationship),
        400,
        "BadRequestData",
    )
    assert "Property" in detail
    assert get(client)["totalSpotNumber"]["value"] == 430


def test_replace_attribute_drops_the_members_not_sent(client: TestClient) -> None:
    entity = car_park()
    entity["totalSpotNumber"] = {"type": "Property", "value": 420, "unitCode": "C62"}
    create(client, entity)
    response = client.put(
        f"{BASE}/{PARK}/attrs/totalSpotNumber", json={"type": "Property", "value": 440}
    )
    assert response.status_code == 204, response.text
    assert get(client)["totalSpotNumber"] == {"type": "Property", "value": 440}


def test_delete_attribute(client: TestClient) -> None:
    create(client, car_park())
    assert client.delete(f"{BASE}/{PARK}/attrs/description").status_code == 204
    assert "description" not in get(client)
    problem(client.delete(f"{BASE}/{PARK}/attrs/description"), 404, "ResourceNotFound")


def test_multi_attributes_by_dataset_id(client: TestClient) -> None:
    entity = car_park()
    entity["availableSpotNumber"] = [
        {"type": "Property", "value": 132},
        {"type": "Property", "value": 130, "datasetId": "urn:ngsi-ld:Dataset:barrier-count"},
        {"type": "Property", "value": 135, "datasetId": "urn:ngsi-ld:Dataset:camera-count"},
    ]
    create(client, entity)
    stored = get(client)["availableSpotNumber"]
    assert isinstance(stored, list)
    assert {i.get("datasetId"): i["value"] for i in stored} == {
        None: 132,
        "urn:ngsi-ld:Dataset:barrier-count": 130,
        "urn:ngsi-ld:Dataset:camera-count": 135,
    }
    patched = client.patch(
        f"{BASE}/{PARK}/attrs/availableSpotNumber",
        json={"value": 129, "datasetId": "urn:ngsi-ld:Dataset:camera-count"},
    )
    assert patched.status_code == 204
    deleted = client.delete(
        f"{BASE}/{PARK}/attrs/availableSpotNumber",
        params={"datasetId": "urn:ngsi-ld:Dataset:barrier-count"},
    )
    assert deleted.status_code == 204
    stored = get(client)["availableSpotNumber"]
    assert {i.get("datasetId"): i["value"] for i in stored} == {
        None: 132,
        "urn:ngsi-ld:Dataset:camera-count": 129,
    }
    all_gone = client.delete(f"{BASE}/{PARK}/attrs/availableSpotNumber?deleteAll=true")
    assert all_gone.status_code == 204
    assert "availableSpotNumber" not in get(client)


def test_merge_adds_merges_and_deletes_with_ngsi_ld_null(client: TestClient) -> None:
    entity = car_park()
    entity["totalSpotNumber"] = {
        "type": "Property",
        "value": 420,
        "reliability": {"type": "Property", "value": 0.9},
        "source": {"type": "Property", "value": "operator"},
    }
    create(client, entity)
    response = client.patch(
        f"{BASE}/{PARK}",
        content=orjson.dumps(
            {
                "description": "urn:ngsi-ld:null",
                "totalSpotNumber": {"value": 421, "source": "urn:ngsi-ld:null"},
                "floors": 4,
            }
        ),
        headers={"content-type": "application/merge-patch+json"},
    )
    assert response.status_code == 204, response.text
    stored = get(client)
    assert "description" not in stored
    assert stored["floors"] == {"type": "Property", "value": 4}
    assert stored["totalSpotNumber"] == {
        "type": "Property",
        "value": 421,
        "reliability": {"type": "Property", "value": 0.9},
    }


def test_replace_entity_keeps_only_the_new_attributes_and_the_creation_time(
    client: TestClient,
) -> None:
    create(client, car_park())
    created = get(client, options="sysAttrs")["createdAt"]
    replacement = {"type": "OffStreetParking", "name": "P-hus Kanalgatan", "totalSpotNumber": 420}
    response = client.put(f"{BASE}/{PARK}", json=replacement)
    assert response.status_code == 204, response.text
    stored = get(client, options="sysAttrs")
    assert sorted(k for k in stored if k not in ("id", "type", "createdAt", "modifiedAt")) == [
        "name",
        "totalSpotNumber",
    ]
    assert stored["createdAt"] == created
    other = {**replacement, "id": "urn:ngsi-ld:OffStreetParking:other"}
    detail = problem(client.put(f"{BASE}/{PARK}", json=other), 400, "BadRequestData")
    assert "differs" in detail


def test_delete_entity_removes_it_and_its_history(client: TestClient) -> None:
    entity = car_park()
    create(client, entity)
    later = {"type": "Property", "value": 120, "observedAt": "2018-09-21T12:10:00Z"}
    assert (
        client.patch(f"{BASE}/{PARK}/attrs", json={"availableSpotNumber": later}).status_code == 204
    )
    temporal = client.get(f"/ngsi-ld/v1/temporal/entities/{PARK}?attrs=availableSpotNumber")
    assert [i["value"] for i in temporal.json()["availableSpotNumber"]] == [132, 120]
    assert client.delete(f"{BASE}/{PARK}").status_code == 204
    problem(client.get(f"{BASE}/{PARK}"), 404, "ResourceNotFound")
    problem(client.get(f"/ngsi-ld/v1/temporal/entities/{PARK}"), 404, "ResourceNotFound")
    create(client, car_park())  # the id is free again


def test_an_api_write_reaches_the_data_products(client: TestClient) -> None:
    beach = "urn:ngsi-ld:Beach:se:skelleftea:byske-havsbad"
    before = client.get("/api/v1/beaches/byske-havsbad").json()["data"]
    renamed = client.patch(f"{BASE}/{beach}", json={"name": "Byske havsbad (norra)"})
    assert renamed.status_code == 204, renamed.text
    after = client.get("/api/v1/beaches/byske-havsbad").json()["data"]
    assert before["name"] != after["name"] == "Byske havsbad (norra)"


def test_entity_ids_in_the_path_must_be_uris(client: TestClient) -> None:
    problem(client.patch(f"{BASE}/not-a-uri/attrs", json={"a": 1}), 400, "BadRequestData")
    problem(client.delete(f"{BASE}/not-a-uri"), 400, "BadRequestData")


def test_a_body_too_large_is_refused(client: TestClient) -> None:
    entity = copy.deepcopy(car_park())
    entity["description"] = {"type": "Property", "value": "x" * (9 << 20)}
    response = client.post(BASE, json=entity)
    assert response.status_code == 413


def test_a_deleted_entity_leaves_the_data_products(client: TestClient) -> None:
    beach = "urn:ngsi-ld:Beach:se:skelleftea:byske-havsbad"
    listed = {item["id"] for item in client.get("/api/v1/beaches").json()["data"]}
    assert beach in listed
    assert client.delete(f"{BASE}/{beach}").status_code == 204
    listed = {item["id"] for item in client.get("/api/v1/beaches").json()["data"]}
    assert beach not in listed
    assert client.get("/api/v1/beaches/byske-havsbad").status_code == 404


def test_a_partial_update_may_change_only_metadata(client: TestClient) -> None:
    entity = car_park()
    entity["totalSpotNumber"] = {"type": "Property", "value": 420, "unitCode": "C62"}
    create(client, entity)
    patched = client.patch(
        f"{BASE}/{PARK}/attrs/totalSpotNumber",
        json={"unitCode": "XPP", "observedAt": "2026-11-27T08:00:00Z"},
    )
    assert patched.status_code == 204, patched.text
    assert get(client)["totalSpotNumber"] == {
        "type": "Property",
        "value": 420,
        "unitCode": "XPP",
        "observedAt": "2026-11-27T08:00:00Z",
    }


def test_replacing_an_attribute_with_ngsi_ld_null_is_refused(client: TestClient) -> None:
    create(client, car_park())
    response = client.put(f"{BASE}/{PARK}/attrs/name", json={"value": "urn:ngsi-ld:null"})
    assert "DELETE" in problem(response, 400, "BadRequestData")
    assert get(client)["name"]["value"] == car_park()["name"]["value"]


def test_a_body_nested_too_deep_is_refused_not_a_crash(client: TestClient) -> None:
    entity = car_park()
    nested: dict[str, Any] = {"type": "Property", "value": 1}
    for _ in range(500):
        nested = {"type": "Property", "value": 1, "sub": nested}
    entity["deep"] = nested
    detail = problem(client.post(BASE, json=entity), 400, "BadRequestData")
    assert "32 levels" in detail


def test_a_merge_patches_a_json_object_value_and_a_partial_update_refuses_nulls_in_it(
    client: TestClient,
) -> None:
    entity = car_park()
    entity["postal"] = {"type": "Property", "value": {"street": "Kanalgatan", "city": "Skellefteå"}}
    create(client, entity)
    nested_null = {"value": {"city": "urn:ngsi-ld:null"}}
    response = client.patch(f"{BASE}/{PARK}/attrs/postal", json=nested_null)
    assert "only in a merge" in problem(response, 400, "BadRequestData")
    merge = {
        "postal": {"type": "Property", "value": {"street": "Torget", "city": "urn:ngsi-ld:null"}}
    }
    response = client.patch(f"{BASE}/{PARK}", json=merge)
    assert response.status_code == 204, response.text
    assert get(client)["postal"]["value"] == {"street": "Torget"}


def test_ngsi_ld_null_cannot_be_created(client: TestClient) -> None:
    entity = car_park()
    entity["name"] = {"type": "Property", "value": 1, "note": {"value": "urn:ngsi-ld:null"}}
    assert "cannot be stored" in problem(client.post(BASE, json=entity), 400, "BadRequestData")
    assert client.get(f"{BASE}/{PARK}").status_code == 404


def test_update_attributes_with_a_type_selector_updates_only_an_entity_of_that_type(
    client: TestClient,
) -> None:
    create(client, car_park())
    fragment = {"totalSpotNumber": 500}
    other = client.patch(f"{BASE}/{PARK}/attrs", params={"type": "Beach"}, json=fragment)
    problem(other, 404, "ResourceNotFound")
    assert get(client)["totalSpotNumber"]["value"] != 500
    same = client.patch(
        f"{BASE}/{PARK}/attrs", params={"type": "Beach|OffStreetParking"}, json=fragment
    )
    assert same.status_code == 204, same.text
    assert get(client)["totalSpotNumber"]["value"] == 500
