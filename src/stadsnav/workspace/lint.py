"""``stadsnav lint``: every problem in a workspace, including those that span files."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from pathlib import Path as FsPath
from typing import TypeVar

from pydantic import BaseModel

from stadsnav.workspace.files import Located, ParsedWorkspace, Place, parse_workspace
from stadsnav.workspace.models import Dataset
from stadsnav.workspace.problems import Problem
from stadsnav.workspace.sources import HttpPollSource
from stadsnav.workspace.yamlpos import Path

M = TypeVar("M", bound=BaseModel)


def lint_workspace(
    path: str | FsPath,
    known_codecs: Collection[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> list[Problem]:
    """All problems of the workspace at ``path``; codec ids are checked when ``known_codecs``."""
    parsed = parse_workspace(FsPath(path), environ)
    return check(parsed, known_codecs)


def check(parsed: ParsedWorkspace, known_codecs: Collection[str] | None = None) -> list[Problem]:
    """The problems met while parsing plus the cross-file checks, sorted by file and line."""
    problems = [*parsed.problems, *_duplicates(parsed), *_references(parsed), *_types(parsed)]
    problems += [*_sites(parsed), *_licences(parsed), *_undecodable(parsed)]
    problems += [*_observations(parsed), *_rollups(parsed), *_filters(parsed)]
    problems += _identifying(parsed)
    if known_codecs is not None:
        problems += _codecs(parsed, known_codecs)
    return sorted(problems, key=lambda p: (p.file != "stadsnav.toml", p.file, p.line or 0))


def suggest(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when a candidate is close to ``name``, else ``''``."""
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def _duplicates(parsed: ParsedWorkspace) -> Iterator[Problem]:
    yield from _unique("dataset id", parsed.datasets, lambda d: d.id, ("id",))
    yield from _unique("integration id", parsed.integrations, lambda i: i.id, ("id",))
    yield from _unique("product id", parsed.products, lambda p: p.id, ("id",))
    yield from _unique("product path", parsed.products, lambda p: p.path, ("path",))
    yield from _unique("entity id", parsed.entities, lambda e: e.id, ("id",))
    yield from _unique("device dev_eui", parsed.devices, lambda d: d.dev_eui, ("dev_eui",))
    yield from _unique("device name", parsed.devices, lambda d: d.name, ("name",))


def _unique(
    what: str, items: list[Located[M]], key: Callable[[M], str], field: Path
) -> Iterator[Problem]:
    first: dict[str, Located[M]] = {}
    for item in items:
        value = key(item.model)
        if value in first:
            message = f"duplicate {what} {value!r} (also at {first[value].where(*field)})"
            yield item.problem(field, message)
        else:
            first[value] = item


def _datasets(parsed: ParsedWorkspace) -> dict[str, Dataset]:
    return {d.model.id: d.model for d in reversed(parsed.datasets)}


def _references(parsed: ParsedWorkspace) -> Iterator[Problem]:
    if not parsed.readable("datasets"):
        return
    known = {*_datasets(parsed), *parsed.declared_ids.get("datasets", ())}
    refs: list[tuple[Place, Path, str]] = []
    refs += [(e, ("dataset",), e.model.dataset) for e in parsed.entities]
    refs += [(i, ("dataset",), i.model.dataset) for i in parsed.integrations]
    for p in parsed.products:
        refs.append((p, ("dataset",), p.model.dataset))
        if p.model.observation is not None:
            ref = p.model.observation.dataset
            refs.append((p, ("observation", "dataset"), ref))
    for item, field, name in refs:
        if name not in known:
            yield item.problem(field, f"unknown dataset {name!r}{suggest(name, known)}")


def _identifying(parsed: ParsedWorkspace) -> list[Problem]:
    """A product shows its fields to every reader of its dataset: none may show an attribute
    that identifies a person (those are shown only to keys with identify:<dataset>)."""
    known = _datasets(parsed)
    problems = []
    for product in parsed.products:
        dataset = known.get(product.model.dataset)
        if dataset is None or not dataset.identifying:
            continue
        if "location" in dataset.identifying:
            message = (
                f"dataset {dataset.id!r} lists location as identifying, and a product always "
                "shows its items' location: this dataset can have no product"
            )
            problems.append(product.problem(("dataset",), message))
        for name, source in product.model.fields.items():
            if source.split(".")[0] in dataset.identifying:
                message = (
                    f"{source!r} identifies a person (dataset {dataset.id!r}, identifying): "
                    "a product may not show it; leave the field out"
                )
                problems.append(product.problem(("fields", name), message))
    return problems


def _types(parsed: ParsedWorkspace) -> Iterator[Problem]:
    known = _datasets(parsed)
    uses: list[tuple[Place, Path, str, str]] = []
    for e in parsed.entities:
        uses.append((e, ("type",), e.model.type, e.model.dataset))
    for i in parsed.integrations:
        mapped = i.model.mapping.entity_type
        uses.append((i, ("mapping", "entity_type"), mapped, i.model.dataset))
    for p in parsed.products:
        for entity_type in p.model.entity_types:
            uses.append((p, ("entity_type",), entity_type, p.model.dataset))
        obs = p.model.observation
        if obs is not None and obs.entity_type is not None:
            uses.append((p, ("observation", "entity_type"), obs.entity_type, obs.dataset))
    for item, field, entity_type, dataset_id in uses:
        dataset = known.get(dataset_id)
        if dataset is not None and entity_type not in dataset.entity_types:
            message = (
                f"entity type {entity_type!r} is not one of dataset {dataset_id!r}'s "
                f"entity_types {dataset.entity_types}{suggest(entity_type, dataset.entity_types)}"
            )
            yield item.problem(field, message)


def _sites(parsed: ParsedWorkspace) -> Iterator[Problem]:
    if not parsed.readable("entities"):
        return
    ids = {e.model.id for e in parsed.entities} | parsed.declared_ids.get("entities", set())
    for device in parsed.devices:
        site = device.model.site
        if site is not None and site not in ids:
            message = f"site {site!r} is not the id of an entity in entities/{suggest(site, ids)}"
            yield device.problem(("site",), message)


def _licences(parsed: ParsedWorkspace) -> Iterator[Problem]:
    for dataset in parsed.datasets:
        if dataset.model.classification == "open" and not dataset.model.licence:
            message = "an open dataset needs a licence (e.g. licence: CC0-1.0)"
            yield dataset.problem(("licence",), message)


def _undecodable(parsed: ParsedWorkspace) -> Iterator[Problem]:
    without = [
        i.model.id
        for i in parsed.integrations
        if i.model.codec is None and not isinstance(i.model.source, HttpPollSource)
    ]
    if not without or not parsed.complete("integrations"):
        return
    for device in parsed.devices:
        if device.model.codec is None:
            message = (
                f"no codec, and integration(s) {', '.join(without)} have no default codec: "
                "uplinks from this device cannot be decoded"
            )
            yield device.problem(("codec",), message, "warning")


def _observations(parsed: ParsedWorkspace) -> Iterator[Problem]:
    if not parsed.complete("integrations"):
        return
    produced = {
        (i.model.mapping.entity_type, rel)
        for i in parsed.integrations
        for rel in i.model.mapping.relationships
    }
    for product in parsed.products:
        obs = product.model.observation
        if obs is None or obs.entity_type is None:
            continue
        if (obs.entity_type, obs.relationship) not in produced:
            message = (
                f"no integration maps {obs.entity_type} with relationship {obs.relationship!r}, "
                "so the product will show no observations"
            )
            yield product.problem(("observation", "relationship"), message, "warning")


def _rollups(parsed: ParsedWorkspace) -> Iterator[Problem]:
    for item in parsed.integrations:
        rollup, mapping = item.model.rollup, item.model.mapping
        if rollup is None:
            continue
        if rollup.relationship not in mapping.relationships:
            message = (
                f"the mapping has no relationship {rollup.relationship!r} to count into"
                f"{suggest(rollup.relationship, mapping.relationships)}"
            )
            yield item.problem(("rollup", "relationship"), message)
        if rollup.property not in mapping.properties:
            message = (
                f"the mapping has no property {rollup.property!r} to count"
                f"{suggest(rollup.property, mapping.properties)}"
            )
            yield item.problem(("rollup", "property"), message)


RESERVED_PARAMETERS = ("near", "radius", "format")
"""Query parameters every product list has; no filter may take their names."""


def _filters(parsed: ParsedWorkspace) -> Iterator[Problem]:
    for item in parsed.products:
        product = item.model
        fields = product.item_fields()
        for name, spec in product.filters.items():
            if name in RESERVED_PARAMETERS:
                message = (
                    f"{name!r} is a query parameter every product has "
                    f"({', '.join(RESERVED_PARAMETERS)}): give the filter another name"
                )
                yield item.problem(("filters", name), message)
            if spec.field not in fields:
                message = (
                    f"{spec.field!r} is not a field of the product's items"
                    f"{suggest(spec.field, fields)}: use one of {', '.join(fields)}"
                )
                yield item.problem(("filters", name, "field"), message)
        observation = product.observation
        if (
            observation is not None
            and observation.profile
            and observation.profile == observation.history
        ):
            message = (
                f"history and profile are both {observation.profile!r}: give them different routes"
            )
            yield item.problem(("observation", "profile"), message)


def _codecs(parsed: ParsedWorkspace, known: Collection[str]) -> Iterator[Problem]:
    uses: list[tuple[Place, str | None]] = []
    uses += [(d, d.model.codec) for d in parsed.devices]
    uses += [(i, i.model.codec) for i in parsed.integrations]
    for item, codec in uses:
        if codec is not None and codec not in known:
            yield item.problem(("codec",), f"unknown codec {codec!r}{suggest(codec, known)}")
