"""API keys in the store, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stadsnav.gateway.keys import new_key, secret_hash
from stadsnav.store.sql import SqlStore

NOW = datetime(2026, 11, 27, 9, tzinfo=UTC)


def test_keys_are_stored_found_listed_and_revoked_once(store: SqlStore) -> None:
    first, first_text = new_key("Fritid", ["read:beach-water-temperature"], NOW, purpose="app")
    second, _ = new_key("IT", ["admin"], NOW + timedelta(seconds=1), expires_at=NOW + timedelta(1))
    store.add_api_key(first, secret_hash(first_text))
    store.add_api_key(second, "0" * 64)
    assert store.api_key(first.id) == (first, secret_hash(first_text))
    assert store.api_key("nosuchid") is None
    assert store.api_keys() == [first, second]
    revoked = store.revoke_api_key(first.id, NOW + timedelta(hours=1))
    assert revoked is not None
    assert revoked.revoked_at == NOW + timedelta(hours=1)
    # A second revocation keeps the first time.
    again = store.revoke_api_key(first.id, NOW + timedelta(hours=2))
    assert again is not None
    assert again.revoked_at == NOW + timedelta(hours=1)
    assert store.revoke_api_key("nosuchid", NOW) is None


def test_a_key_keeps_its_plan_and_notification_address(store: SqlStore) -> None:
    key, text = new_key(
        "Partner AB",
        ["read:parking"],
        NOW,
        plan="partner",
        notify_url="https://partner.example/quota",
        plans=["partner"],
    )
    store.add_api_key(key, secret_hash(text))
    found = store.api_key(key.id)
    assert found is not None
    assert found[0].plan == "partner"
    assert found[0].notify_url == "https://partner.example/quota"
