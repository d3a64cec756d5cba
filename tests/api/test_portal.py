"""The developer portal: open data and how to call it, nothing else, nothing from elsewhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from stadsnav.workspace import Workspace, load_workspace
from stadsnav.workspace.models import Dataset, Owner


@pytest.fixture
def workspace(workspace_dir: Path) -> Workspace:
    loaded = load_workspace(workspace_dir)
    owner = Owner(name="Omsorgen", email="omsorg@skelleftea.se")
    loaded.datasets["care"] = Dataset(
        id="care",
        title="Home sensors of elderly care",
        owner=owner,
        classification="personal",
        entity_types=["HomeSensor"],
    )
    return loaded


def test_the_portal_lists_the_open_datasets_their_apis_plans_and_how_to_get_a_key(
    anonymous: TestClient, workspace: Workspace
) -> None:
    page = anonymous.get("/portal")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    html = page.text
    for dataset in workspace.datasets.values():
        assert (dataset.title in html) == (dataset.classification == "open"), dataset.id
    assert "HomeSensor" not in html
    assert '<a href="/portal/apis/beaches">' in html
    assert "/api/v1/beaches" in html
    assert "anonymous (without a key)" in html
    assert "X-API-Key" in html
    assert "/oauth/token" in html
    assert '<a href="/openapi.json">' in html
    # Nothing is fetched from another site: every link and source is local or mailto.
    for reference in re.findall(r'(?:href|src)="([^"]+)"', html):
        assert reference.startswith(("/", "mailto:")), reference


def test_an_api_page_shows_curl_and_python_that_work(anonymous: TestClient) -> None:
    page = anonymous.get("/portal/apis/beaches")
    assert page.status_code == 200
    url = "http://testserver/api/v1/beaches"
    assert f"curl '{url}?format=geojson'" in page.text
    assert f"httpx.get('{url}').json()['data']" in page.text
    # What the page shows works as shown.
    assert anonymous.get("/api/v1/beaches").json()["data"]
    ngsi = anonymous.get("/portal/apis/ngsi-ld")
    assert ngsi.status_code == 200
    assert "/ngsi-ld/v1/entities?type=" in ngsi.text


def test_a_product_that_is_not_open_or_not_there_has_no_page(anonymous: TestClient) -> None:
    assert anonymous.get("/portal/apis/nosuchproduct").status_code == 404


def test_every_operation_says_how_to_authenticate(anonymous: TestClient) -> None:
    document = anonymous.get("/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert set(schemes) == {"apiKey", "bearer", "clientCredentials"}
    assert schemes["clientCredentials"]["flows"]["clientCredentials"]["tokenUrl"] == "/oauth/token"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert "security" in operation, f"{method} {path}"
            if path.startswith("/admin"):
                assert {} not in operation["security"], f"{method} {path} needs a key"
                assert "429" in operation["responses"]


def test_open_answers_show_only_the_fields_their_product_lists(
    anonymous: TestClient, workspace: Workspace
) -> None:
    """OWASP API3 (object property level): an anonymous answer carries nothing else."""
    for product in workspace.products.values():
        allowed = set(product.item_fields())
        listed = anonymous.get(f"/api/v1/{product.path}")
        assert listed.status_code == 200, product.id
        for item in listed.json()["data"]:
            assert set(item) <= allowed, (product.id, set(item) - allowed)
        features = anonymous.get(f"/api/v1/{product.path}", params={"format": "geojson"}).json()
        for feature in features["features"]:
            assert set(feature) <= {"type", "id", "geometry", "properties"}
            assert set(feature["properties"]) <= allowed, product.id
    assert anonymous.get("/api/v1/beaches").json()["data"], "the demo's beaches are there"
