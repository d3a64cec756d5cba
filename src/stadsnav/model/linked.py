"""Linked entity retrieval (ETSI GS CIM 009, 4.5.23): ``join=inline|flat`` with ``joinLevel``.

The entities a Relationship points to are fetched level by level and kept as a tree of
:class:`Node`; ``pick``/``omit`` project each level; then the tree is put ``inline`` (each
Relationship carries its ``entity``; in keyValues the entity replaces the object) or ``flat``
(the linked entities follow the requested ones in the answer, each once).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from stadsnav.model.entity import StoredEntity
from stadsnav.model.projection import Projection
from stadsnav.model.render import attribute_instances, attribute_names

MAX_JOIN_LEVEL: Final = 10
JOINS: Final = ("inline", "flat")
MAX_JOIN_NODES: Final = 10_000
"""Most entities one joined answer may render: entities linking each other would otherwise
be rendered again at every level, their number growing exponentially with ``joinLevel``."""


class JoinTooLargeError(ValueError):
    """A join that would render more than ``MAX_JOIN_NODES`` entities."""


@dataclass(slots=True)
class Node:
    """A rendered entity and, per Relationship (by its name in the answer), the entities it
    links to, by id."""

    id: str
    body: dict[str, Any]
    links: dict[str, dict[str, Node]] = field(default_factory=dict)


def link_targets(entity: StoredEntity) -> dict[str, list[str]]:
    """Relationship name (stored) → the ids its instances point to, in order."""
    targets: dict[str, list[str]] = {}
    for name in attribute_names(entity):
        ids: list[str] = []
        for instance in attribute_instances(entity, name):
            kind = instance.get("type")
            if kind == "Relationship":
                ids += _ids(instance.get("object"))
            elif kind == "ListRelationship":
                ids += _ids(instance.get("objectList"))
        if ids:
            targets[name] = list(dict.fromkeys(ids))
    return targets


def _ids(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    found: list[str] = []
    for item in items:
        if isinstance(item, Mapping):
            item = item.get("object")
        if isinstance(item, str):
            found.append(item)
    return found


def build_nodes(
    entities: Sequence[StoredEntity],
    render: Callable[[StoredEntity, int], dict[str, Any]],
    fetch: Callable[[list[str]], Iterable[StoredEntity]],
    level: int,
    rename: Callable[[str], str],
) -> list[Node]:
    """Render ``entities`` and, ``level`` Relationships deep, the entities they link to.

    ``render`` gets each entity with its depth (0 for the requested ones); ``fetch`` loads
    entities by id (unknown ones are left out); each is loaded once.
    """
    known: dict[str, StoredEntity | None] = {entity.id: entity for entity in entities}
    roots = [Node(entity.id, render(entity, 0)) for entity in entities]
    rendered = len(roots)
    layer = [(node, entity) for node, entity in zip(roots, entities, strict=True)]
    for depth in range(1, level + 1):
        wanted = {
            target
            for _, entity in layer
            for ids in link_targets(entity).values()
            for target in ids
            if target not in known
        }
        if wanted:
            loaded = {entity.id: entity for entity in fetch(sorted(wanted))}
            known.update({target: loaded.get(target) for target in wanted})
        next_layer: list[tuple[Node, StoredEntity]] = []
        for node, entity in layer:
            for name, ids in link_targets(entity).items():
                linked: dict[str, Node] = {}
                for target in ids:
                    found = known.get(target)
                    if found is not None:
                        rendered += 1
                        if rendered > MAX_JOIN_NODES:
                            raise JoinTooLargeError(
                                f"the join renders more than {MAX_JOIN_NODES:,} entities: "
                                "ask for a lower joinLevel or fewer entities"
                            )
                        child = Node(found.id, render(found, depth))
                        linked[target] = child
                        next_layer.append((child, found))
                if linked:
                    node.links[rename(name)] = linked
        layer = next_layer
    return roots


def project(node: Node, pick: Projection | None, omit: Projection | None) -> Node:
    """The node with ``pick`` and ``omit`` applied to it and, through braces, to linked ones."""
    body = node.body
    links = node.links
    if pick is not None:
        body = {key: value for key, value in body.items() if key in pick}
        links = {
            key: {i: project(n, pick[key], None) for i, n in linked.items()}
            for key, linked in links.items()
            if key in pick
        }
    if omit is not None:
        body = {key: value for key, value in body.items() if key not in omit or omit[key]}
        links = {
            key: {i: project(n, None, omit.get(key)) for i, n in linked.items()}
            for key, linked in links.items()
            if key not in omit or omit[key]
        }
    return Node(node.id, body, links)


def inline(node: Node, key_values: bool) -> dict[str, Any]:
    """The entity with each linked entity inside the Relationship that points to it."""
    body = dict(node.body)
    for name, linked in node.links.items():
        if name not in body:
            continue
        entities = {target: inline(child, key_values) for target, child in linked.items()}
        body[name] = _embed(body[name], entities, key_values)
    return body


def _embed(member: Any, entities: Mapping[str, dict[str, Any]], key_values: bool) -> Any:
    if key_values:
        if isinstance(member, str):
            return entities.get(member, member)
        if isinstance(member, list):
            return [entities.get(item, item) if isinstance(item, str) else item for item in member]
        if isinstance(member, Mapping) and isinstance(member.get("dataset"), Mapping):
            dataset = {k: _embed(v, entities, True) for k, v in member["dataset"].items()}
            return {"dataset": dataset}
        return member
    if isinstance(member, list):
        return [_embed(instance, entities, False) for instance in member]
    if not isinstance(member, Mapping):
        return member
    instance = dict(member)
    target = instance.get("object")
    if isinstance(target, str) and target in entities:
        instance["entity"] = entities[target]
    objects = target if isinstance(target, list) else instance.get("objectList")
    if isinstance(objects, list):
        found = [entities[i] for i in _ids(objects) if i in entities]
        if found:
            instance["entityList"] = found
    return instance


def flat(nodes: Sequence[Node]) -> list[dict[str, Any]]:
    """The entities, then every linked entity once, level by level."""
    seen = {node.id for node in nodes}
    bodies = [node.body for node in nodes]
    layer = list(nodes)
    while layer:
        next_layer: list[Node] = []
        for node in layer:
            for linked in node.links.values():
                for child in linked.values():
                    if child.id not in seen:
                        seen.add(child.id)
                        bodies.append(child.body)
                    next_layer.append(child)
        layer = next_layer
    return bodies


__all__ = [
    "JOINS",
    "MAX_JOIN_LEVEL",
    "JoinTooLargeError",
    "Node",
    "build_nodes",
    "flat",
    "inline",
    "link_targets",
    "project",
]
