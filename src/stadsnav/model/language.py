"""The NGSI-LD language filter (ETSI GS CIM 009, clause 4.15): ``lang`` picks one language.

``lang`` is a language tag, ``*``, or a list as in HTTP ``Accept-Language`` (``fr-CH,fr;q=0.9``).
Tags compare case-insensitively and by RFC 4647 lookup (``nl-BE`` falls back to ``nl``; ``en``
finds ``en-US``). When nothing matches, the value without language (``@none``) or else any
language is served, and ``lang`` names the one served.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

NONE_KEY: Final = "@none"
_RANGE_RE: Final = re.compile(r"^(\*|[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*)$")
_QUALITY_RE: Final = re.compile(r"^q=(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$")


class LanguageFilterError(ValueError):
    """A ``lang`` value that is not a language range list."""


@dataclass(frozen=True, slots=True)
class LanguageFilter:
    """Language ranges, most preferred first."""

    ranges: tuple[str, ...]

    def choose(self, language_map: Mapping[str, Any]) -> tuple[str, Any] | None:
        """The (language, text) to serve from a languageMap, or None when it is empty."""
        if not language_map:
            return None
        by_lower = {key.lower(): key for key in language_map}
        for wanted in self.ranges:
            key = _lookup(wanted.lower(), by_lower)
            if key is not None:
                return key, language_map[key]
        if NONE_KEY in language_map:
            return NONE_KEY, language_map[NONE_KEY]
        first = next(iter(language_map))
        return first, language_map[first]


def parse_lang(text: str) -> LanguageFilter:
    """Parse ``lang``; LanguageFilterError if it is not a language range list."""
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(text.split(",")):
        tag, *params = (piece.strip() for piece in part.split(";"))
        if not _RANGE_RE.match(tag):
            raise LanguageFilterError(f"lang: {tag!r} is not a language tag or '*'")
        quality = 1.0
        for param in params:
            found = _QUALITY_RE.match(param)
            if found is None:
                raise LanguageFilterError(f"lang: {param!r} is not a quality value q=0..1")
            quality = float(found.group(1))
        if quality > 0:
            weighted.append((-quality, index, tag))
    return LanguageFilter(tuple(tag for _, _, tag in sorted(weighted)))


def _lookup(wanted: str, by_lower: Mapping[str, str]) -> str | None:
    if wanted == "*":
        for lower, key in by_lower.items():
            if lower != NONE_KEY:
                return key
        return None
    if wanted in by_lower:
        return by_lower[wanted]
    for lower, key in by_lower.items():
        if lower.startswith(wanted + "-"):
            return key
    while "-" in wanted:
        wanted = wanted.rsplit("-", 1)[0]
        if wanted in by_lower:
            return by_lower[wanted]
    return None


__all__ = ["NONE_KEY", "LanguageFilter", "LanguageFilterError", "parse_lang"]
