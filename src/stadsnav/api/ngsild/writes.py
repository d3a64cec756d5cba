"""What each NGSI-LD write does to one entity, decided from its current state.

Each write is a callable the store runs inside its transaction (``change_entities``) with the
entity as it is then, so concurrent writers never lose each other's updates. The callable
returns the change to apply and keeps what the client must be told (an error, which attributes
were not updated).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stadsnav.api.problems import ApiError
from stadsnav.model.attributes import ATTRIBUTE_MEMBERS, NGSI_LD_NULL
from stadsnav.model.entity import added_types
from stadsnav.model.entity_input import EntityInput
from stadsnav.model.entity_query import entity_types
from stadsnav.model.render import SCOPE, format_time
from stadsnav.model.typequery import TypeExpr
from stadsnav.store.base import EntityChange, StoredEntity

Instances = dict[str | None, dict[str, Any]]
"""An attribute's instances by datasetId (None: the default instance)."""


@dataclass(slots=True, kw_only=True)
class Write(ABC):
    """One entity's write; ``error`` and ``not_updated`` say how it went once it has run."""

    now: datetime
    error: ApiError | None = None
    created: bool = False
    updated: list[str] = field(default_factory=list)
    not_updated: list[tuple[str, str]] = field(default_factory=list)
    stamp: str = field(init=False, default="")
    """``now`` as stored in createdAt/modifiedAt, formatted once for all of a write's instances."""

    def __post_init__(self) -> None:
        self.stamp = format_time(self.now)

    @abstractmethod
    def __call__(self, current: StoredEntity | None) -> EntityChange | None:
        """The change to apply to ``current`` (None when the entity does not exist)."""

    def fail(self, status: int, detail: str, ngsild_type: str) -> None:
        """Record why the write was refused; the store then applies nothing for it."""
        self.error = ApiError(status, detail, ngsild_type=ngsild_type)

    def stamped(
        self, instance: Mapping[str, Any], previous: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """The instance with its system times: created when first stored, modified now."""
        created = self.stamp if previous is None else previous.get("createdAt", self.stamp)
        return {**instance, "createdAt": created, "modifiedAt": self.stamp}

    def puts(
        self, entity: EntityInput, current: StoredEntity | None
    ) -> list[tuple[str, dict[str, Any]]]:
        """Every instance of ``entity`` to store, stamped against what ``current`` has."""
        found: list[tuple[str, dict[str, Any]]] = []
        for name, instances in entity.attributes.items():
            existing = instances_of(current, name)
            for instance in instances:
                previous = existing.get(instance.get("datasetId"))
                found.append((name, self.stamped(instance, previous)))
        return found


def instances_of(entity: StoredEntity | None, name: str) -> Instances:
    """The stored instances of one attribute, by datasetId."""
    if entity is None:
        return {}
    found: Instances = {}
    default = entity.attributes.get(name)
    if default is not None:
        found[None] = default
    for dataset_id, instance in entity.datasets.get(name, {}).items():
        found[dataset_id] = instance
    return found


def types_after(current: StoredEntity, fragment: EntityInput) -> tuple[str, ...] | None:
    """The types an entity has after a fragment naming types is appended or merged: its own,
    then those it lacks (4.16); None when the fragment names none."""
    return None if fragment.type is None else added_types(current, fragment.type)


def attribute_names(entity: StoredEntity) -> Iterator[str]:
    """Every attribute name the entity has, with a default instance or only dataset ones."""
    yield from entity.attributes
    yield from (name for name in entity.datasets if name not in entity.attributes)


def _missing(entity_id: str) -> tuple[int, str, str]:
    return 404, f"there is no entity {entity_id}", "ResourceNotFound"


@dataclass(slots=True, kw_only=True)
class CreateEntity(Write):
    """Create a new entity; AlreadyExists if the id is taken."""

    entity: EntityInput

    def __call__(self, current: StoredEntity | None) -> EntityChange | None:
        """See :meth:`Write.__call__`."""
        if current is not None:
            self.fail(409, f"entity {current.id} already exists", "AlreadyExists")
            return None
        self.created = True
        return EntityChange(type=self.entity.type, put=self.puts(self.entity, None))


@dataclass(slots=True, kw_only=True)
class ReplaceEntity(Write):
    """Replace every attribute (and the type); with ``upsert``, create a missing entity."""

    entity: EntityInput
    upsert: bool = False

    def __call__(self, current: StoredEntity | None) -> EntityChange | None:
        """See :meth:`Write.__call__`."""
        if current is None:
            if not self.upsert:
                self.fail(*_missing(str(self.entity.id)))
                return None
            self.created = True
            return EntityChange(type=self.entity.type, put=self.puts(self.entity, None))
        entity_type = self.entity.type or current.types
        puts = self.puts(self.entity, None)
        # What the replacement leaves out is deleted: named, so its history records when (4.5.7).
        kept = {(name, instance.get("datasetId")) for name, instance in puts}
        dropped = [
            (name, dataset_id)
            for name in attribute_names(current)
            for dataset_id in instances_of(current, name)
            if (name, dataset_id) not in kept
        ]
        return EntityChange(type=entity_type, clear=True, put=puts, delete=dropped)


@dataclass(slots=True, kw_only=True)
class AppendAttributes(Write):
    """Add attributes and overwrite existing ones (unless ``overwrite`` is False).

    With ``create``, a missing entity is created (an upsert in update mode).
    """

    entity: EntityInput
    entity_id: str = ""
    overwrite: bool = True
    create: bool = False

    def __call__(self, current: StoredEntity | None) -> EntityChange | None:
        """See :meth:`Write.__call__`."""
        if current is None:
            if not (self.create and self.entity.type):
                self.fail(*_missing(self.entity_id))
                return None
            self.created = True
            return EntityChange(type=self.entity.type, put=self.puts(self.entity, None))
        puts: list[tuple[str, dict[str, Any]]] = []
        for name, instances in self.entity.attributes.items():
            existing = instances_of(current, name)
            for instance in instances:
                previous = existing.get(instance.get("datasetId"))
                if previous is not None and not self.overwrite:
                    if name == SCOPE:
                        # noOverwrite adds scopes to those the entity has (4.18, TP 010_07).
                        instance = {**instance, "value": joined_scopes(previous, instance)}
                    else:
                        self.not_updated.append(
                            (name, "the attribute exists and noOverwrite is set")
                        )
                        continue
                puts.append((name, self.stamped(instance, previous)))
                self.updated.append(name)
        return EntityChange(type=types_after(current, self.entity), put=puts)


@dataclass(slots=True, kw_only=True)
class UpdateAttributes(Write):
    """Replace the attributes given, adding those the entity lacks (5.6.2, ETSI TP 011_01_03).

    ``urn:ngsi-ld:null`` deletes the instance it names (011_07, 011_09). The scope is not an
    attribute: it is only replaced when the entity has one (4.18, 011_05). Types the fragment
    names are added to the entity's (4.16, 011_06).
    """

    entity: EntityInput
    entity_id: str = ""
    types: TypeExpr | None = None
    """Update only an entity of these types (4.17); another is ResourceNotFound (5.6.2.4)."""

    def __call__(self, current: StoredEntity | None) -> EntityChange | None:
        """See :meth:`Write.__call__`."""
        if current is None or not (self.types is None or self.types.matches(entity_types(current))):
            self.fail(*_missing(self.entity_id))
            return None
        puts: list[tuple[str, dict[str, Any]]] = []
        deletes: list[tuple[str, str | None]] = []
        for name, instances in self.entity.attributes.items():
            existing = instances_of(current, name)
            for instance in instances:
                dataset_id = instance.get("datasetId")
                previous = existing.get(dataset_id)
                if previous is None and (is_null(instance) or name == SCOPE):
                    self.not_updated.append((name, "the entity has no such attribute instance"))
                    continue
                if is_null(instance):
                    deletes.append((name, dataset_id))
                else:
                    puts.append((name, self.stamped(instance, previous)))
                self.updated.append(name)
        types = types_after(current, self.entity)
        if not (puts or deletes or types):
            return None
        return EntityChange(type=types, put=puts, delete=deletes)


@dataclass(slots=True, kw_only=True)
class MergeEntity(Write):
    """Merge a fragment (GS CIM 009, 5.6.17): attributes added or merged member by member.

    ``urn:ngsi-ld:null`` as a value deletes the attribute (or sub-attribute) it names.
    """

    entity: EntityInput
    entity_id: str = ""

    def __call__(self, current: StoredEntity | None) -> EntityChange | None:
        """See :meth:`Write.__call__`."""
        if current is None:
            self.fail(*_missing(self.entity_id))
            return None
        puts: list[tuple[str, dict[str, Any]]] = []
        deletes: list[tuple[str, str | None]] = []
        for name, instances in self.entity.attributes.items():
            existing = instances_of(current, name)
            for instance in instances:
                dataset_id = instance.get("datasetId")
                previous = existing.get(dataset_id)
                if is_null(instance):
                    if previous is not None:
                        deletes.append((name, dataset_id))
                    continue
                merged = merge_instance(previous or {}, instance, patch_values=True)
                puts.append((name, self.stamped(merged, previous)))
        return EntityChange(type=types_after(current, self.entity), put=puts, delete=deletes)


@dataclass(slots=True, kw_only=True)
class PatchAttribute(Write):
    """Partial update of one attribute instance (5.6.4): its members replaced as given."""

    name: str = ""
    instance: dict[str, Any] = field(default_factory=dict)
    entity_id: str = ""
    replace: bool = False
    """Replace the whole instance (5.6.19, PUT) instead of merging members."""

    def __call__(self, current: StoredEntity | None) -> EntityChange | None:
        """See :meth:`Write.__call__`."""
        if current is None:
            self.fail(*_missing(self.entity_id))
            return None
        dataset_id = self.instance.get("datasetId")
        previous = instances_of(current, self.name).get(dataset_id)
        if previous is None:
            which = "" if dataset_id is None else f" with datasetId {dataset_id}"
            self.fail(
                404, f"entity {current.id} has no attribute {self.name}{which}", "ResourceNotFound"
            )
            return None
        if is_null(self.instance):
            # A partial update with urn:ngsi-ld:null deletes the instance (5.6.4, TP 012_05).
            return EntityChange(delete=[(self.name, dataset_id)])
        kind, was = self.instance.get("type"), previous.get("type", "Property")
        if not self.replace and kind is not None and kind != was:
            self.fail(
                400,
                f"attribute {self.name} is a {was}: a partial update cannot make it a {kind} "
                "(replace the attribute to change its type)",
                "BadRequestData",
            )
            return None
        merged = self.instance if self.replace else merge_instance(previous, self.instance)
        return EntityChange(put=[(self.name, self.stamped(merged, previous))])


@dataclass(slots=True, kw_only=True)
class DeleteAttribute(Write):
    """Delete one attribute instance, or all of them with ``delete_all``."""

    name: str = ""
    dataset_id: str | None = None
    delete_all: bool = False
    entity_id: str = ""

    def __call__(self, current: StoredEntity | None) -> EntityChange | None:
        """See :meth:`Write.__call__`."""
        if current is None:
            self.fail(*_missing(self.entity_id))
            return None
        existing = instances_of(current, self.name)
        targets = list(existing) if self.delete_all else [self.dataset_id]
        targets = [dataset_id for dataset_id in targets if dataset_id in existing]
        if not targets:
            which = "" if self.dataset_id is None else f" with datasetId {self.dataset_id}"
            self.fail(
                404, f"entity {current.id} has no attribute {self.name}{which}", "ResourceNotFound"
            )
            return None
        return EntityChange(delete=[(self.name, dataset_id) for dataset_id in targets])


@dataclass(slots=True, kw_only=True)
class DeleteEntity(Write):
    """Delete the entity with its attributes and history."""

    entity_id: str = ""

    def __call__(self, current: StoredEntity | None) -> EntityChange | None:
        """See :meth:`Write.__call__`."""
        if current is None:
            self.fail(*_missing(self.entity_id))
            return None
        return EntityChange(delete_entity=True)


def is_null(instance: Mapping[str, Any]) -> bool:
    """True for an instance whose value is ``urn:ngsi-ld:null`` (delete it).

    A LanguageProperty says it with ``{"@none": "urn:ngsi-ld:null"}`` as its languageMap
    (4.5.18).
    """
    if any(instance.get(key) == NGSI_LD_NULL for key in ("value", "object", "vocab", "json")):
        return True
    language_map = instance.get("languageMap")
    return isinstance(language_map, Mapping) and language_map.get("@none") == NGSI_LD_NULL


def joined_scopes(previous: Mapping[str, Any], new: Mapping[str, Any]) -> list[Any]:
    """The previous scope's values followed by the new ones it lacks."""
    joined = _as_list(previous.get("value"))
    joined.extend(scope for scope in _as_list(new.get("value")) if scope not in joined)
    return joined


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def merge_instance(
    previous: Mapping[str, Any], new: Mapping[str, Any], *, patch_values: bool = False
) -> dict[str, Any]:
    """``new``'s members over ``previous``'s; sub-attributes merged, null ones removed.

    With ``patch_values`` (a merge, 5.5.12) a Property's JSON object value is merge-patched
    (RFC 7396) rather than replaced: ``urn:ngsi-ld:null`` removes a key inside it.
    """
    kind = new.get("type", previous.get("type"))
    merged = dict(previous) if kind == previous.get("type") else {}
    for key, value in new.items():
        if key == "value" and patch_values and kind == "Property":
            merged[key] = merge_patch(merged.get(key), value)
        elif key in ATTRIBUTE_MEMBERS:
            merged[key] = value
        elif value == NGSI_LD_NULL or (isinstance(value, Mapping) and is_null(value)):
            merged.pop(key, None)
        elif isinstance(value, Mapping):
            before = merged.get(key)
            before = before if isinstance(before, Mapping) else {}
            merged[key] = merge_instance(before, value, patch_values=patch_values)
        else:
            merged[key] = value
    return merged


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 with ``urn:ngsi-ld:null`` as null: ``patch``'s keys over ``target``'s."""
    if not isinstance(patch, Mapping):
        return patch
    merged = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value == NGSI_LD_NULL:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged
