"""Codecs by id (``vendor/model``, as in the TTN device repository).

Built-in codec modules and those of installed packages (entry point group ``stadsnav.codecs``,
each naming a module with a ``CODECS`` iterable) are registered alike.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from difflib import get_close_matches
from importlib.metadata import entry_points

from stadsnav.codecs.base import Codec

BUILTIN_MODULES: tuple[str, ...] = tuple(
    f"stadsnav.codecs.{vendor}"
    for vendor in (
        "airquality",
        "axioma",
        "axsensor",
        "bosch",
        "decentlab",
        "dingtek",
        "elsys",
        "enviot",
        "milesight",
        "milesight_extra",
        "netvox",
        "niab",
        "nwave",
        "senlab",
        "sensative",
        "sensefarm",
        "talkpool",
        "vega",
        "x2climate",
    )
)
ENTRY_POINT_GROUP = "stadsnav.codecs"


class UnknownCodecError(LookupError):
    """No codec is registered under the requested id."""

    def __init__(self, codec_id: str) -> None:
        self.codec_id = codec_id
        self.suggestions = close_matches(codec_id)
        hint = f"; close matches: {', '.join(self.suggestions)}" if self.suggestions else ""
        super().__init__(f"unknown codec id {codec_id!r}{hint}")


def close_matches(codec_id: str) -> list[str]:
    """Registered ids that look like ``codec_id``, also when only the model part is given."""
    found = get_close_matches(codec_id, _CODECS, n=5, cutoff=0.6)
    # "ers-co2" or "acme/ers-co2" should still point at "elsys/ers-co2".
    model = codec_id.rpartition("/")[2]
    by_model = {known.rpartition("/")[2]: known for known in _CODECS}
    for name in get_close_matches(model, by_model, n=5, cutoff=0.75):
        if by_model[name] not in found:
            found.append(by_model[name])
    return found[:5]


def _native_codecs() -> dict[str, Codec]:
    modules = [importlib.import_module(name) for name in BUILTIN_MODULES]
    modules += [entry.load() for entry in entry_points(group=ENTRY_POINT_GROUP)]
    codecs: dict[str, Codec] = {}
    for module in modules:
        found: Iterable[Codec] = module.CODECS
        codecs.update((codec.id, codec) for codec in found)
    return codecs


_CODECS: dict[str, Codec] = _native_codecs()


def get_codec(codec_id: str) -> Codec:
    """The codec registered under ``codec_id``; raises ``UnknownCodecError`` if there is none."""
    try:
        return _CODECS[codec_id]
    except KeyError:
        raise UnknownCodecError(codec_id) from None


def codec_ids() -> list[str]:
    """Every registered codec id, sorted."""
    return sorted(_CODECS)
