"""What a change did to an entity: the notification triggers of GS CIM 009, 5.2.12."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from stadsnav.model.entity import StoredEntity
from stadsnav.notify import changes

T0 = datetime(2026, 7, 1, 8, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)


def room(
    attributes: dict[str, Any],
    datasets: dict[str, Any] | None = None,
    *,
    kind: str = "Room",
    modified: datetime = T1,
) -> StoredEntity:
    return StoredEntity("urn:ngsi-ld:Room:1", kind, attributes, T0, modified, datasets or {})


def prop(value: Any, **members: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, **members}


def test_every_instance_of_a_created_entity_is_created() -> None:
    entity = room(
        {"temperature": prop(20)},
        {"name": {"urn:ngsi-ld:Dataset:sv": prop("Rum", datasetId="urn:ngsi-ld:Dataset:sv")}},
    )

    change = changes.created(entity)

    assert change.kind == "created"
    assert change.created == {("temperature", ""), ("name", "urn:ngsi-ld:Dataset:sv")}


def test_an_update_tells_created_updated_and_deleted_instances_apart() -> None:
    before = room({"temperature": prop(20), "humidity": prop(40), "name": prop("A")})
    after = room({"temperature": prop(21), "name": prop("A"), "co2": prop(400)})

    change = changes.updated(before, after)

    assert change is not None
    assert change.kind == "updated"
    assert change.created == {("co2", "")}
    assert change.updated == {("temperature", "")}
    assert change.deleted == {("humidity", "")}
    assert changes.names(change.created | change.updated) == {"co2", "temperature"}


def test_the_same_state_again_is_no_change_but_a_new_type_or_scope_is() -> None:
    state = room({"temperature": prop(20)})

    assert changes.updated(state, room({"temperature": prop(20)})) is None
    retyped = changes.updated(state, room({"temperature": prop(20)}, kind="Office"))
    assert retyped is not None
    assert not (retyped.created)
    assert not (retyped.updated)
    assert not (retyped.deleted)
    scoped = changes.updated(state, room({"temperature": prop(20), "scope": "/Kiruna"}))
    assert scoped is not None


def test_a_deleted_entity_deletes_every_instance_it_had() -> None:
    before = room({"temperature": prop(20)})

    known = changes.deleted(before.id, "Room", before)
    unknown = changes.deleted("urn:ngsi-ld:Room:2", "Room", None)

    assert known.kind == unknown.kind == "deleted"
    assert known.deleted == {("temperature", "")}
    assert unknown.deleted == frozenset()
    assert unknown.entity_type == "Room"


def test_without_the_state_before_the_latest_write_tells_a_creation_from_an_update() -> None:
    created = changes.unknown_previous(room({"temperature": prop(20)}, modified=T0))
    updated = changes.unknown_previous(room({"temperature": prop(20)}, modified=T1))

    assert created.kind == "created"
    assert updated.kind == "updated"
    assert updated.updated == {("temperature", "")}
