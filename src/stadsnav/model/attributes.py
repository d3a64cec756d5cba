"""The NGSI-LD attribute types and the member that holds each one's value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

VALUE_KEYS: Final = {
    "Property": "value",
    "GeoProperty": "value",
    "Relationship": "object",
    "LanguageProperty": "languageMap",
    "VocabProperty": "vocab",
    "JsonProperty": "json",
    "ListProperty": "valueList",
    "ListRelationship": "objectList",
}

ATTRIBUTE_MEMBERS: Final = frozenset(
    {"type", "observedAt", "unitCode", "datasetId", "lang", "objectType", "createdAt",
     "modifiedAt", "deletedAt", "instanceId", "provenance", *VALUE_KEYS.values()}
)  # fmt: skip
"""The members of an attribute that are not sub-attributes."""

NGSI_LD_NULL: Final = "urn:ngsi-ld:null"
"""The value that deletes an attribute (JSON null cannot be stored in JSON-LD, 4.5.x)."""
_NULLS: Final[Mapping[str, Any]] = {
    "LanguageProperty": {"@none": NGSI_LD_NULL},
    "ListProperty": [NGSI_LD_NULL],
    "ListRelationship": [{"object": NGSI_LD_NULL}],
}


def null_value(kind: str) -> Any:
    """What an attribute of type ``kind`` holds in its value member when it is deleted (5.2.1):
    ``urn:ngsi-ld:null``, inside a languageMap or a list where the value is one."""
    return _NULLS.get(kind, NGSI_LD_NULL)
