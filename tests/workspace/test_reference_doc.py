"""docs/workspace.md names every field of every workspace file, so a new field needs its docs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel

from stadsnav.workspace.models import (
    Dataset,
    DeviceFile,
    EntityFile,
    Integration,
    Product,
    Settings,
)
from stadsnav.workspace.sources import Backoff, OAuth2ClientCredentials, PagePagination

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "workspace.md"
ROOTS: tuple[type[BaseModel], ...] = (
    Settings,
    Dataset,
    DeviceFile,
    EntityFile,
    Integration,
    Product,
)


def nested_models(annotation: Any) -> Iterator[type[BaseModel]]:
    """The models inside a field's type: itself, or within unions, lists, dicts and Annotated."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for argument in get_args(annotation):
        yield from nested_models(argument)


def reachable_models(roots: tuple[type[BaseModel], ...]) -> list[type[BaseModel]]:
    """Every model reachable from ``roots`` through their fields, each once, roots first."""
    found: list[type[BaseModel]] = []
    pending = list(roots)
    while pending:
        model = pending.pop(0)
        if model in found:
            continue
        found.append(model)
        for field in model.model_fields.values():
            pending += nested_models(field.annotation)
    return found


def test_the_walk_reaches_models_nested_in_unions_and_dicts() -> None:
    models = reachable_models(ROOTS)

    # auth and pagination are discriminated unions inside an optional field of a union member.
    assert OAuth2ClientCredentials in models
    assert PagePagination in models
    assert Backoff in models


def test_every_field_of_every_workspace_file_is_in_the_reference() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    missing = [
        f"{model.__name__}.{name}"
        for model in reachable_models(ROOTS)
        for name in model.model_fields
        if f"`{name}`" not in text
    ]

    assert not missing, (
        f"{REFERENCE.name} does not document these fields: {', '.join(missing)}; "
        "add each one, in backticks, to the table of its file"
    )
