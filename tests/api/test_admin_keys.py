"""``/admin/keys``: issue, list and revoke API keys; who gets in (OWASP API2: authentication)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from stadsnav.gateway.keys import new_key, secret_hash
from stadsnav.runtime import Runtime

KEYS = "/admin/keys"


def issue(client: TestClient, admin_headers: dict[str, str], **body: object) -> dict[str, object]:
    response = client.post(
        KEYS, json={"owner": "Partner AB", "scopes": ["read"], **body}, headers=admin_headers
    )
    assert response.status_code == 201, response.text
    issued: dict[str, object] = response.json()
    return issued


def status(client: TestClient, **headers: str) -> int:
    return client.get(KEYS, headers=headers).status_code


def test_an_issued_key_is_shown_once_listed_without_secret_and_revocable(
    client: TestClient, anonymous: TestClient, admin_headers: dict[str, str]
) -> None:
    issued = issue(client, admin_headers, scopes=["admin"], purpose="the city's console")
    text = str(issued["key"])
    assert text.startswith(f"snk_{issued['id']}_")
    listed = client.get(KEYS, headers=admin_headers).json()
    shown = next(key for key in listed if key["id"] == issued["id"])
    assert shown["owner"] == "Partner AB"
    assert shown["status"] == "active"
    assert shown["purpose"] == "the city's console"
    assert text not in client.get(KEYS, headers=admin_headers).text
    # The key works in either header.
    assert status(anonymous, **{"X-API-Key": text}) == 200
    assert status(anonymous, Authorization=f"Bearer {text}") == 200
    revoked = client.delete(f"{KEYS}/{issued['id']}", headers=admin_headers)
    assert revoked.status_code == 204
    refused = anonymous.get(KEYS, headers={"X-API-Key": text})
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]
    assert client.delete(f"{KEYS}/nosuchid", headers=admin_headers).status_code == 404


def test_without_a_valid_admin_key_nothing_gets_in(
    client: TestClient, anonymous: TestClient, admin_headers: dict[str, str], runtime: Runtime
) -> None:
    nobody = anonymous.get(KEYS)
    assert nobody.status_code == 401
    assert nobody.headers["www-authenticate"].startswith("Bearer")
    assert nobody.headers["content-type"] == "application/problem+json"
    reader = str(issue(client, admin_headers)["key"])
    assert status(anonymous, **{"X-API-Key": reader}) == 403
    assert (
        client.post(
            KEYS, json={"owner": "me", "scopes": ["admin"]}, headers={"X-API-Key": reader}
        ).status_code
        == 403
    )
    forged = "snk_abcdefgh_" + "A" * 43
    assert status(anonymous, **{"X-API-Key": forged}) == 401
    tampered = reader[:-1] + ("B" if reader[-1] != "B" else "C")
    assert status(anonymous, **{"X-API-Key": tampered}) == 401
    assert status(anonymous, **{"X-API-Key": "not a key"}) == 401
    assert status(anonymous, Authorization="Basic dXNlcjpwYXNz") == 401
    expired, text = new_key(
        "old",
        ["admin"],
        datetime.now(UTC) - timedelta(days=2),
        expires_at=datetime.now(UTC) - timedelta(days=1),
    )
    runtime.store.add_api_key(expired, secret_hash(text))
    answer = anonymous.get(KEYS, headers={"X-API-Key": text})
    assert answer.status_code == 401
    assert "expired" in answer.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"owner": "a", "scopes": ["superuser"]},
        {"owner": "", "scopes": ["read"]},
        {"owner": "a", "scopes": ["read"], "expiresAt": "2020-01-01T00:00:00Z"},
        {"owner": "a"},
        {"owner": "a", "scopes": ["read"], "secret": "mine"},
        {"owner": "a", "scopes": ["read"], "plan": "gold"},
        {"owner": "a", "scopes": ["read"], "notifyUrl": "mailto:it@example.se"},
    ],
)
def test_keys_that_cannot_be_issued_are_bad_requests(
    client: TestClient, admin_headers: dict[str, str], body: dict[str, object]
) -> None:
    response = client.post(KEYS, json=body, headers=admin_headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_a_key_is_issued_on_a_plan_with_a_notification_address(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    body = {"owner": "Partner AB", "scopes": ["read:parking"], "plan": "partner"}
    body["notifyUrl"] = "https://partner.example/quota"
    created = client.post(KEYS, json=body, headers=admin_headers)
    assert created.status_code == 201, created.text
    shown = client.get(created.headers["Location"], headers=admin_headers).json()
    assert shown["plan"] == "partner"
    assert shown["notifyUrl"] == "https://partner.example/quota"
