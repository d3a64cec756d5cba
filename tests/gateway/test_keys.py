"""API keys: their text, what is stored of them, their status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stadsnav.gateway.keys import InvalidKeyError, key_id, matches, new_key, secret_hash

NOW = datetime(2026, 11, 27, 9, tzinfo=UTC)


def test_a_key_names_its_id_and_only_its_hash_is_needed_to_check_it() -> None:
    key, text = new_key("Skellefteå parkering", ["read:parking", "write"], NOW)
    assert text.startswith(f"snk_{key.id}_")
    assert key_id(text) == key.id
    stored = secret_hash(text)
    assert text not in stored
    assert len(stored) == 64
    assert matches(text, stored)
    assert not matches(text[:-1] + ("A" if text[-1] != "A" else "B"), stored)
    assert key.scopes == ("read:parking", "write")
    assert key.status(NOW) == "active"


def test_two_keys_never_share_an_id_or_a_text() -> None:
    keys = [new_key("a", ["read"], NOW) for _ in range(200)]
    assert len({key.id for key, _ in keys}) == 200
    assert len({text for _, text in keys}) == 200


@pytest.mark.parametrize(
    "text", ["", "snk_", "snk_abcdefgh", "snk_ABCDEFGH_" + "x" * 43, "Bearer snk_x", "x" * 56]
)
def test_text_not_shaped_like_a_key_has_no_id(text: str) -> None:
    assert key_id(text) is None


def test_expiry_and_revocation_end_a_key() -> None:
    key, _ = new_key("a", ["read"], NOW, expires_at=NOW + timedelta(days=90))
    assert key.status(NOW + timedelta(days=89)) == "active"
    assert key.status(NOW + timedelta(days=90)) == "expired"
    revoked = type(key)(key.id, key.owner, key.scopes, NOW, None, NOW + timedelta(hours=1))
    assert revoked.status(NOW) == "active"
    assert revoked.status(NOW + timedelta(hours=1)) == "revoked"
    shown = revoked.as_json(NOW + timedelta(hours=2))
    assert shown["status"] == "revoked"
    assert "key" not in shown
    assert "secret_hash" not in shown


@pytest.mark.parametrize(
    ("owner", "scopes", "expires", "says"),
    [
        ("", ["read"], None, "owner"),
        ("a", [], None, "scopes"),
        ("a", ["superuser"], None, "superuser"),
        ("a", ["read:Parking Lots"], None, "read:Parking Lots"),
        ("a", ["admin:parking"], None, "admin:parking"),
        ("a", ["read"], NOW - timedelta(seconds=1), "not in the future"),
    ],
)
def test_unusable_fields_are_refused_saying_why(
    owner: str, scopes: list[str], expires: datetime | None, says: str
) -> None:
    with pytest.raises(InvalidKeyError, match=says):
        new_key(owner, scopes, NOW, expires_at=expires)
