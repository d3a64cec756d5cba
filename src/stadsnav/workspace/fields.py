"""Field types and the strict base model shared by every workspace file's model."""

from __future__ import annotations

import re
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_DEV_EUI = re.compile(r"^[0-9a-fA-F]{16}$")
_CODEC = re.compile(r"^[a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._-]*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def _slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError(f"{value!r} is not a slug: use lower-case letters, digits and '-'")
    return value


def _slug_path(value: str) -> str:
    for part in value.split("/"):
        _slug(part)
    return value


def _dev_eui(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError("YAML read this DevEUI as a number: put it in quotes")
    if isinstance(value, str) and not _DEV_EUI.match(value):
        raise ValueError(f"{value!r} is not a DevEUI: expected 16 hex digits")
    return value.lower() if isinstance(value, str) else value


def _codec(value: str) -> str:
    if not _CODEC.match(value):
        raise ValueError(f"{value!r} is not a codec id: expected 'vendor/model'")
    return value


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(f"{value!r} is not an e-mail address")
    return value


def _env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise ValueError(f"{value!r} is not an environment variable name")
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}, expected e.g. 'Europe/Stockholm'") from None
    return value


def check_path(value: str) -> str:
    """Validate a mapping path such as ``data.externalTemperature`` or ``device.site``."""
    # The mapping engine's own grammar, so lint accepts exactly what the engine resolves;
    # imported here because the engine imports these models.
    from stadsnav.mapping.paths import PathSyntaxError, compile_path

    try:
        compile_path(value)
    except PathSyntaxError:
        raise ValueError(
            f"path {value!r} must start with 'data.', 'device.' or 'uplink.' "
            "followed by field names separated by dots"
        ) from None
    return value


def template_paths(template: str) -> list[str]:
    """The ``{path}`` placeholders of an id template, in order."""
    return _PLACEHOLDER.findall(template)


def _template(value: str) -> str:
    for path in template_paths(value):
        check_path(path)
    return value


def _urn(value: str) -> str:
    if not value.startswith("urn:ngsi-ld:"):
        raise ValueError(f"entity id {value!r} must start with 'urn:ngsi-ld:'")
    return value


Slug = Annotated[str, AfterValidator(_slug)]
SlugPath = Annotated[str, AfterValidator(_slug_path)]
"""Slugs separated by '/', such as ``parking/facilities``."""
DevEui = Annotated[str, BeforeValidator(_dev_eui)]
CodecId = Annotated[str, AfterValidator(_codec)]
Email = Annotated[str, AfterValidator(_email)]
EnvName = Annotated[str, AfterValidator(_env_name)]
SourcePath = Annotated[str, AfterValidator(check_path)]
IdTemplate = Annotated[str, AfterValidator(_template)]
EntityId = Annotated[str, AfterValidator(_urn)]
TimeZoneName = Annotated[str, AfterValidator(_timezone)]


class StrictModel(BaseModel):
    """A workspace model: unknown keys are errors, so a typo never goes unnoticed."""

    model_config = ConfigDict(extra="forbid")
