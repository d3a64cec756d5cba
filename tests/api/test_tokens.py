"""Access tokens (OWASP API2, broken authentication): OAuth2 client credentials for API keys,
and tokens of the city's OpenID Connect provider checked against its published keys."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from stadsnav.gateway.keys import new_key, secret_hash
from stadsnav.gateway.tokens import issue_token
from stadsnav.runtime import Runtime
from stadsnav.workspace import Workspace, load_workspace
from stadsnav.workspace.models import Dataset, IssuerSettings, Owner

TOKEN = "/oauth/token"
METER = "urn:ngsi-ld:EnergyMeter:skelleftea:stadshuset"
ENTITIES = "/ngsi-ld/v1/entities"
ISSUER = "https://login.skelleftea.example/realms/city"


class Provider:
    """An OpenID Connect provider's signing side: an RSA key, published as JWKS over HTTP."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwks = json.dumps({"keys": [{**public, "kid": "city-1", "use": "sig", "alg": "RS256"}]})

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = jwks.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.jwks_url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"

    def token(self, key: Any = None, kid: str = "city-1", **claims: Any) -> str:
        now = datetime.now(UTC)
        body = {
            "iss": ISSUER,
            "aud": "stadsnav",
            "sub": "anna.andersson",
            "roles": ["energy-analyst"],
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(minutes=5)).timestamp()),
            **claims,
        }
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def provider() -> Iterator[Provider]:
    found = Provider()
    yield found
    found.server.shutdown()


@pytest.fixture
def workspace(workspace_dir: Path, provider: Provider) -> Workspace:
    loaded = load_workspace(workspace_dir)
    owner = Owner(name="Fastighetsavdelningen", email="fastighet@skelleftea.se")
    loaded.datasets["energy"] = Dataset(
        id="energy",
        title="Energy",
        owner=owner,
        classification="internal",
        entity_types=["EnergyMeter"],
    )
    loaded.settings.gateway.issuers["city"] = IssuerSettings(
        issuer=ISSUER,
        jwks_url=provider.jwks_url,
        scopes_claim="roles",
        scopes={"energy-analyst": ["read:energy"], "it-admin": ["admin"]},
        plan="partner",
    )
    return loaded


@pytest.fixture
def metered(client: TestClient) -> TestClient:
    meter = {"id": METER, "type": "EnergyMeter", "kWh": {"type": "Property", "value": 42.0}}
    assert client.post(ENTITIES, json=meter).status_code == 201
    return client


def issued_key(runtime: Runtime, *scopes: str) -> tuple[str, str]:
    key, text = new_key("Fastighetsappen", list(scopes), datetime.now(UTC))
    runtime.store.add_api_key(key, secret_hash(text))
    return key.id, text


def basic(client_id: str, secret: str) -> dict[str, str]:
    pair = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


def grant(anonymous: TestClient, headers: dict[str, str], **fields: str) -> Any:
    return anonymous.post(
        TOKEN, data={"grant_type": "client_credentials", **fields}, headers=headers
    )


def test_a_key_gets_a_short_lived_token_that_acts_for_it(
    metered: TestClient, anonymous: TestClient, runtime: Runtime
) -> None:
    key_id, text = issued_key(runtime, "read", "write")
    answer = grant(anonymous, basic(key_id, text))
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert body["scope"] == "read write"
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    assert anonymous.get(f"{ENTITIES}/{METER}", headers=bearer).status_code == 200
    # In the form instead of HTTP Basic, and narrowed to read: the token cannot write.
    narrow = grant(anonymous, {}, client_id=key_id, client_secret=text, scope="read").json()
    reader = {"Authorization": f"Bearer {narrow['access_token']}"}
    assert narrow["scope"] == "read"
    assert anonymous.get(f"{ENTITIES}/{METER}", headers=reader).status_code == 200
    created = anonymous.post(
        ENTITIES, json={"id": METER + "2", "type": "EnergyMeter"}, headers=reader
    )
    assert created.status_code == 403


@pytest.mark.parametrize(
    ("fields", "auth", "status", "error"),
    [
        ({"grant_type": "password"}, True, 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials", "scope": "admin"}, True, 400, "invalid_scope"),
        ({"grant_type": "client_credentials"}, False, 401, "invalid_client"),
    ],
)
def test_grants_that_cannot_be_given_say_why_in_oauth2_terms(
    anonymous: TestClient,
    runtime: Runtime,
    fields: dict[str, str],
    auth: bool,
    status: int,
    error: str,
) -> None:
    key_id, text = issued_key(runtime, "read")
    answer = anonymous.post(TOKEN, data=fields, headers=basic(key_id, text) if auth else {})
    assert answer.status_code == status
    assert answer.json()["error"] == error


def test_a_wrong_secret_a_revoked_key_and_json_are_refused(
    anonymous: TestClient, runtime: Runtime, admin_headers: dict[str, str]
) -> None:
    key_id, text = issued_key(runtime, "read")
    other_id, other = issued_key(runtime, "read")
    assert grant(anonymous, basic(key_id, other)).json()["error"] == "invalid_client"
    assert grant(anonymous, basic(other_id, text)).status_code == 401
    as_json = anonymous.post(TOKEN, json={"grant_type": "client_credentials"})
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"
    bearer = {
        "Authorization": f"Bearer {grant(anonymous, basic(key_id, text)).json()['access_token']}"
    }
    assert anonymous.get(f"{ENTITIES}?type=Beach", headers=bearer).status_code == 200
    assert anonymous.delete(f"/admin/keys/{key_id}", headers=admin_headers).status_code == 204
    refused = anonymous.get(f"{ENTITIES}?type=Beach", headers=bearer)
    assert refused.status_code == 401  # the key behind the token is revoked: so is the token
    assert "revoked" in refused.json()["detail"]
    assert grant(anonymous, basic(key_id, text)).status_code == 401


def test_forged_and_expired_tokens_are_401(anonymous: TestClient, runtime: Runtime) -> None:
    key_id, _ = issued_key(runtime, "read")
    key = runtime.store.api_key(key_id)[0]
    other_secret = "not the platform's secret, but as long as one"
    forged = issue_token(key, ["read"], other_secret, timedelta(minutes=5), datetime.now(UTC))
    answer = anonymous.get(
        f"{ENTITIES}?type=Beach", headers={"Authorization": f"Bearer {forged.text}"}
    )
    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]
    secret = anonymous.app.state.gatekeeper.tokens.secret  # type: ignore[attr-defined]
    old = issue_token(
        key, ["read"], secret, timedelta(minutes=5), datetime.now(UTC) - timedelta(hours=1)
    )
    expired = anonymous.get(
        f"{ENTITIES}?type=Beach", headers={"Authorization": f"Bearer {old.text}"}
    )
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]


def test_a_providers_token_opens_what_its_roles_map_to(
    metered: TestClient, anonymous: TestClient, provider: Provider, runtime: Runtime
) -> None:
    bearer = {"Authorization": f"Bearer {provider.token()}"}
    answer = anonymous.get(f"{ENTITIES}/{METER}", headers=bearer)
    assert answer.status_code == 200, answer.text
    assert answer.headers["RateLimit-Policy"].startswith('"rate";q=200')  # the issuer's plan
    assert (
        anonymous.post(
            ENTITIES, json={"id": METER + "9", "type": "EnergyMeter"}, headers=bearer
        ).status_code
        == 403
    )
    subscribe = {
        "type": "Subscription",
        "entities": [{"type": "EnergyMeter"}],
        "notification": {"endpoint": {"uri": "http://127.0.0.1:9/n"}},
    }
    assert (
        anonymous.post("/ngsi-ld/v1/subscriptions", json=subscribe, headers=bearer).status_code
        == 403
    )
    admin = {"Authorization": f"Bearer {provider.token(roles=['it-admin'])}"}
    assert anonymous.get("/admin/keys", headers=admin).status_code == 200
    [record] = runtime.store.audit_records(action="admin")
    assert record.event.actor == "city:anna.andersson"


@pytest.mark.parametrize(
    ("claims", "says"),
    [
        ({"aud": "someone-else"}, "Audience"),
        ({"iss": "https://evil.example/realm"}, "not accepted here"),
        ({"exp": int((datetime.now(UTC) - timedelta(minutes=1)).timestamp())}, "expired"),
        ({"roles": ["visitor"]}, "grants no scope"),
    ],
)
def test_provider_tokens_that_do_not_hold_are_401(
    anonymous: TestClient, provider: Provider, claims: dict[str, Any], says: str
) -> None:
    answer = anonymous.get(
        f"{ENTITIES}?type=Beach", headers={"Authorization": f"Bearer {provider.token(**claims)}"}
    )
    assert answer.status_code == 401
    assert says in answer.json()["detail"]


def test_a_token_signed_by_another_key_is_401(anonymous: TestClient, provider: Provider) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for token in (provider.token(key=stranger), provider.token(key=stranger, kid="city-2")):
        answer = anonymous.get(
            f"{ENTITIES}?type=Beach", headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 401, token


def test_a_token_whose_algorithm_does_not_fit_the_published_key_is_401(
    anonymous: TestClient, provider: Provider
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    stranger = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    claims = {"iss": ISSUER, "aud": "stadsnav", "sub": "x", "roles": ["energy-analyst"]}
    claims |= {"exp": int((now + timedelta(minutes=5)).timestamp())}
    # ES256 in the header, the RSA key of kid city-1 at the provider: not a 500.
    token = jwt.encode(claims, stranger, algorithm="ES256", headers={"kid": "city-1"})
    answer = anonymous.get(f"{ENTITIES}?type=Beach", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
