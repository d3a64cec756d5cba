"""The bundled NGSI-LD core @context and the Link header that points to it."""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib.resources import files
from typing import Any

CORE_CONTEXT_URL = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
"""The URL of the NGSI-LD core @context (ETSI GS CIM 009 v1.8) bundled with the package."""

_CORE_CONTEXT_FILE = "ngsi-ld-core-context-v1.8.jsonld"
JSONLD_CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"


@cache
def _load_core_context() -> dict[str, Any]:
    text = files("stadsnav.model").joinpath("contexts", _CORE_CONTEXT_FILE).read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def core_context() -> dict[str, Any]:
    """The NGSI-LD core @context document (a fresh copy; the file is read once)."""
    return copy.deepcopy(_load_core_context())


def link_header(url: str = CORE_CONTEXT_URL) -> str:
    """The HTTP ``Link`` header value that names ``url`` as the JSON-LD @context."""
    return f'<{url}>; rel="{JSONLD_CONTEXT_REL}"; type="application/ld+json"'
