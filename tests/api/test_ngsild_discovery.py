"""NGSI-LD discovery of types and attributes (GS CIM 009, 5.7.5-5.7.10), on every store."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.testclient import TestClient

V1 = "/ngsi-ld/v1"
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"
SDM_PARKING = "https://smartdatamodels.org/dataModel.Parking/"
# An inline @context: nothing to fetch, and ParkingSpot's terms are Smart Data Models IRIs.
PARKING_CONTEXT = {
    "ParkingSpot": f"{SDM_PARKING}ParkingSpot",
    "category": f"{SDM_PARKING}category",
    "refParkingSite": {"@id": f"{SDM_PARKING}refParkingSite", "@type": "@id"},
}


def create_spots(client: TestClient, *numbers: int, tenant: str | None = None) -> None:
    headers = {"content-type": "application/ld+json"}
    if tenant is not None:
        headers["NGSILD-Tenant"] = tenant
    for number in numbers:
        spot = {
            "@context": PARKING_CONTEXT,
            "id": f"urn:ngsi-ld:ParkingSpot:skelleftea:storgatan:{number}",
            "type": "ParkingSpot",
            "category": ["onStreet"],
            "refParkingSite": {"object": "urn:ngsi-ld:OnStreetParking:skelleftea:storgatan"},
        }
        response = client.post(f"{V1}/entities", content=orjson.dumps(spot), headers=headers)
        assert response.status_code == 201, response.text


def get(client: TestClient, path: str, **headers: str) -> Any:
    response = client.get(f"{V1}{path}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_entity_types_of_the_demo_municipality(client: TestClient) -> None:
    listed = get(client, "/types")
    assert listed["type"] == "EntityTypeList"
    assert listed["id"].startswith("urn:ngsi-ld:EntityTypeList:")
    assert {"Beach", "OffStreetParking", "OnStreetParking"} <= set(listed["typeList"])
    detailed = {item["typeName"]: item for item in get(client, "/types?details=true")}
    beach = detailed["Beach"]
    assert beach["id"] == DEFAULT + "Beach"
    assert beach["type"] == "EntityType"
    assert {"name", "location", "address"} <= set(beach["attributeNames"])


def test_the_lists_answer_at_their_path_with_a_trailing_slash(client: TestClient) -> None:
    # Clients (the ETSI suite's 022_01, 023_01) ask for GET /types/?details=...
    listed = get(client, "/types/?details=false")
    assert listed["type"] == "EntityTypeList"
    assert listed["typeList"] == get(client, "/types")["typeList"]
    assert get(client, "/types/?details=true") == get(client, "/types?details=true")
    assert get(client, "/attributes/?details=true") == get(client, "/attributes?details=true")


def test_one_entity_type_with_its_attribute_details(client: TestClient) -> None:
    info = get(client, "/types/Beach")
    assert info["type"] == "EntityTypeInfo"
    assert info["typeName"] == "Beach"
    assert info["entityCount"] == 6
    details = {item["attributeName"]: item for item in info["attributeDetails"]}
    assert details["location"] == {
        "id": "https://uri.etsi.org/ngsi-ld/location",
        "type": "Attribute",
        "attributeName": "location",
        "attributeTypes": ["GeoProperty"],
    }
    assert get(client, f"/types/{DEFAULT}Beach")["entityCount"] == 6


def test_attributes_list_and_details(client: TestClient) -> None:
    create_spots(client, 1, 2)
    listed = get(client, "/attributes")
    assert listed["type"] == "AttributeList"
    assert {"name", "location", f"{SDM_PARKING}category"} <= set(listed["attributeList"])
    detailed = {item["attributeName"]: item for item in get(client, "/attributes?details=true")}
    # 5.7.9: each Attribute with its name and entity types; counts are for 5.7.10 (ETSI 026_01).
    assert detailed[f"{SDM_PARKING}category"] == {
        "id": f"{SDM_PARKING}category",
        "type": "Attribute",
        "attributeName": f"{SDM_PARKING}category",
        "typeNames": [f"{SDM_PARKING}ParkingSpot"],
    }
    category = get(client, f"/attributes/{SDM_PARKING}category")
    assert category["attributeCount"] == 2
    assert category["attributeTypes"] == ["Property"]
    relationship = get(client, f"/attributes/{SDM_PARKING}refParkingSite")
    assert relationship["attributeTypes"] == ["Relationship"]
    location = get(client, "/attributes/location")
    assert location["attributeCount"] == 8
    assert set(location["typeNames"]) == {"Beach", "OffStreetParking", "OnStreetParking"}


def test_types_written_in_a_users_context_are_full_iris_to_others(client: TestClient) -> None:
    create_spots(client, 1)
    assert f"{SDM_PARKING}ParkingSpot" in get(client, "/types")["typeList"]
    assert get(client, f"/types/{SDM_PARKING}ParkingSpot")["entityCount"] == 1
    missing = client.get(f"{V1}/types/ParkingSpot")  # default-context ParkingSpot: none
    assert missing.status_code == 404


def test_unknown_type_and_attribute_are_resource_not_found(client: TestClient) -> None:
    for path in ("/types/Spaceship", "/attributes/warpSpeed"):
        response = client.get(f"{V1}{path}")
        assert response.status_code == 404
        assert response.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound"


def test_discovery_sees_only_the_tenants_entities(client: TestClient) -> None:
    create_spots(client, 7, tenant="skelleftea-energi")
    tenant = get(client, "/types", **{"NGSILD-Tenant": "skelleftea-energi"})
    assert tenant["typeList"] == [f"{SDM_PARKING}ParkingSpot"]
    assert f"{SDM_PARKING}ParkingSpot" not in get(client, "/types")["typeList"]
    unknown = client.get(f"{V1}/types", headers={"NGSILD-Tenant": "nobody"})
    assert unknown.status_code == 404
    assert unknown.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/NonexistentTenant"


def test_a_full_iri_and_its_term_name_one_attribute(client: TestClient) -> None:
    entity = {
        "id": "urn:ngsi-ld:Building:skelleftea:sara-kulturhus",
        "type": f"{DEFAULT}Building",
        f"{DEFAULT}floors": 20,
    }
    assert client.post(f"{V1}/entities", json=entity).status_code == 201
    stored = get(client, "/entities/urn:ngsi-ld:Building:skelleftea:sara-kulturhus")
    assert stored["type"] == "Building"
    assert stored["floors"] == {"type": "Property", "value": 20}
    assert get(client, "/types/Building")["entityCount"] == 1
    only_type = {"id": "urn:ngsi-ld:Building:skelleftea:nordanaa", "type": f"{DEFAULT}Building"}
    assert client.post(f"{V1}/entities", json=only_type).status_code == 201
    assert get(client, "/types/Building")["entityCount"] == 2


def test_answers_name_the_tenant_they_are_for(client: TestClient) -> None:
    create_spots(client, 3, tenant="skelleftea-energi")
    headers = {"NGSILD-Tenant": "skelleftea-energi"}
    answered = client.get(
        f"{V1}/entities/urn:ngsi-ld:ParkingSpot:skelleftea:storgatan:3", headers=headers
    )
    assert answered.status_code == 200
    assert answered.headers["ngsild-tenant"] == "skelleftea-energi"
    assert "ngsild-tenant" not in client.get(f"{V1}/types").headers
