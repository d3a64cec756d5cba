"""The NGSI-LD attribute types and the member that holds each one's value."""

from __future__ import annotations

from typing import Final

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
