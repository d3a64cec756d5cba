"""JSON-LD terms for NGSI-LD: process @contexts, expand terms to IRIs and compact them again.

A broker needs only the term part of JSON-LD (JSON-LD 1.1, 4.1 and 4.2): which IRI a term, a
compact IRI (``schema:name``) or a bare name under ``@vocab`` stands for, and the reverse. Entities
are stored with their names compacted by the *stored* context (the core context); each request's
own context translates between its terms and the stored names (:class:`Vocabulary`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final
from urllib.parse import urljoin

from stadsnav.model.context import CORE_CONTEXT_URL, core_context

KEYWORDS: Final = frozenset(
    {
        "@base", "@container", "@context", "@direction", "@graph", "@id", "@import",
        "@included", "@index", "@json", "@language", "@list", "@nest", "@none", "@prefix",
        "@propagate", "@protected", "@reverse", "@set", "@type", "@value", "@version", "@vocab",
    }
)  # fmt: skip
_KEYWORD_FORM: Final = re.compile(r"^@[A-Za-z]+$")
_SCHEME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_GEN_DELIMS: Final = frozenset(":/?#[]@")
_TYPE_KEYWORDS: Final = frozenset({"@id", "@vocab", "@json", "@none"})
_CORE_URL: Final = re.compile(
    r"^https?://uri\.etsi\.org/ngsi-ld/v1/ngsi-ld-core-context(?:-v\d+(?:\.\d+)*)?\.jsonld$"
)
MAX_CONTEXT_DEPTH: Final = 16
"""How deeply remote contexts may include others before the context is refused."""

ContextLoader = Callable[[str], Any]
"""Returns the document a context URL points to (its ``@context`` member is used)."""


class ContextError(ValueError):
    """An @context that cannot be processed: malformed, a loop, or a term that cannot be defined."""


def is_core_context(url: str) -> bool:
    """Whether ``url`` names the NGSI-LD core @context, of any version."""
    return _CORE_URL.match(url) is not None


def resolve_url(base: str | None, url: str) -> str:
    """A context URL as written in the document at ``base`` (None: the request), made absolute."""
    return url if base is None else urljoin(base, url)


def context_urls(local: Any, base: str | None = None) -> list[str]:
    """The URLs a context includes directly: its string entries and its objects' ``@import``."""
    found: list[str] = []
    for item in local if isinstance(local, list) else [local]:
        if isinstance(item, str):
            found.append(resolve_url(base, item))
        elif isinstance(item, Mapping) and isinstance(item.get("@import"), str):
            found.append(resolve_url(base, item["@import"]))
    return found


CACHED_NAMES: Final = 4096
"""Translations a context or vocabulary remembers; clients choose the names, so it is bounded."""


def remember(cache: dict[str, str], key: str, value: str) -> str:
    """Keep ``value`` under ``key`` in ``cache``, emptied first when full; return ``value``."""
    if len(cache) >= CACHED_NAMES:
        cache.clear()
    cache[key] = value
    return value


@dataclass(frozen=True, slots=True)
class Term:
    """One term definition: the IRI it stands for and how its values are typed."""

    iri: str | None
    """None for a term defined as null: it stands for no IRI, and ``@vocab`` does not apply."""
    type: str | None = None
    """``@id``, ``@vocab``, ``@json``, a datatype IRI, or None."""
    prefix: bool = False
    """Usable as the prefix of a compact IRI (``prefix:suffix``)."""
    container: str | None = None


@dataclass(slots=True)
class ActiveContext:
    """The terms in effect after processing a list of contexts."""

    terms: dict[str, Term] = field(default_factory=dict)
    vocab: str | None = None
    protected: frozenset[str] = frozenset()
    """Terms that later contexts may not redefine differently."""
    sealed: frozenset[str] = frozenset()
    """The core context's terms: a user context's other definition of one of them is ignored."""
    _expanded: dict[str, str] = field(default_factory=dict, repr=False)
    _compacted: dict[str, str] = field(default_factory=dict, repr=False)
    _inverse: dict[str, str] | None = field(default=None, repr=False)

    def copy(self) -> ActiveContext:
        """A context with the same terms that can be extended without changing this one."""
        return ActiveContext(dict(self.terms), self.vocab, self.protected, self.sealed)

    def expand(self, value: str) -> str:
        """The IRI a term, compact IRI, absolute IRI or ``@vocab``-relative name stands for.

        A name without an IRI (a term defined as null, or no ``@vocab``) is returned unchanged.
        """
        cached = self._expanded.get(value)
        if cached is None:
            cached = remember(self._expanded, value, self._expand(value))
        return cached

    def _expand(self, value: str) -> str:
        if value in KEYWORDS or _KEYWORD_FORM.match(value):
            return value
        term = self.terms.get(value)
        if term is not None:
            return value if term.iri is None else term.iri
        colon = value.find(":")
        if colon > 0:
            prefix, suffix = value[:colon], value[colon + 1 :]
            if prefix == "_" or suffix.startswith("//"):
                return value
            prefix_term = self.terms.get(prefix)
            if prefix_term is not None and prefix_term.prefix and prefix_term.iri is not None:
                return prefix_term.iri + suffix
            if _SCHEME.match(value):
                return value
        if self.vocab is not None:
            return self.vocab + value
        return value

    def compact(self, iri: str) -> str:
        """The shortest name for an IRI: a term, else a ``@vocab`` suffix, else a compact IRI."""
        cached = self._compacted.get(iri)
        if cached is None:
            cached = remember(self._compacted, iri, self._compact(iri))
        return cached

    def _compact(self, iri: str) -> str:
        # JSON-LD 1.1 IRI compaction (6.2.2) for names: the term selection there picks the
        # shortest, then lexicographically least term; values' types and containers do not
        # matter for names.
        if self._inverse is None:
            inverse: dict[str, str] = {}
            for name, term in sorted(self.terms.items(), key=lambda item: (len(item[0]), item[0])):
                if term.iri is not None:
                    inverse.setdefault(term.iri, name)
            self._inverse = inverse
        known = self._inverse.get(iri)
        if known is not None:
            return known
        if self.vocab is not None and iri.startswith(self.vocab) and len(iri) > len(self.vocab):
            suffix = iri[len(self.vocab) :]
            # A suffix with a colon would read back as a compact or absolute IRI.
            if suffix not in self.terms and ":" not in suffix:
                return suffix
        best: str | None = None
        for name, term in self.terms.items():
            if not term.prefix or term.iri is None or term.iri == iri:
                continue
            if not iri.startswith(term.iri):
                continue
            candidate = f"{name}:{iri[len(term.iri) :]}"
            clash = self.terms.get(candidate)
            if clash is not None and clash.iri != iri:
                continue
            if best is None or (len(candidate), candidate) < (len(best), best):
                best = candidate
        return iri if best is None else best


def process_context(
    local: Any,
    load: ContextLoader,
    active: ActiveContext | None = None,
    *,
    protect: bool = False,
    base: str | None = None,
    _chain: tuple[str, ...] = (),
) -> ActiveContext:
    """The active context after applying ``local`` (a URL, an object, or a list of them).

    ``protect`` seals every term defined (the core context's). Relative URLs are resolved against
    ``base``, the URL of the document ``local`` came from. A context that includes itself, or
    that nests more than ``MAX_CONTEXT_DEPTH`` documents deep, is refused.
    """
    result = ActiveContext() if active is None else active.copy()
    for item in local if isinstance(local, list) else [local]:
        if item is None:
            # A null context resets everything but what is protected.
            kept = {name: result.terms[name] for name in result.protected if name in result.terms}
            result = ActiveContext(kept, None, result.protected, result.sealed)
        elif isinstance(item, str):
            url = resolve_url(base, item)
            document = _load(url, load, _chain)
            result = process_context(
                document["@context"], load, result, protect=protect, base=url, _chain=(*_chain, url)
            )
        elif isinstance(item, Mapping):
            _define_terms(result, item, load, protect, base, _chain)
        else:
            raise ContextError(f"an @context entry must be a URL or an object, not {item!r}")
    return result


def _load(url: str, load: ContextLoader, chain: tuple[str, ...]) -> Mapping[str, Any]:
    if url in chain:
        raise ContextError(f"the context {url} includes itself (through {' → '.join(chain)})")
    if len(chain) >= MAX_CONTEXT_DEPTH:
        raise ContextError(f"contexts include each other more than {MAX_CONTEXT_DEPTH} deep")
    document = load(url)
    if not isinstance(document, Mapping) or "@context" not in document:
        raise ContextError(f"the document at {url} has no @context member")
    return document


def _define_terms(
    active: ActiveContext,
    local: Mapping[str, Any],
    load: ContextLoader,
    protect: bool,
    base: str | None,
    chain: tuple[str, ...],
) -> None:
    """Apply one context object (JSON-LD 1.1, 4.1.2 step 5)."""
    if "@version" in local and local["@version"] != 1.1:
        raise ContextError(f"@version must be 1.1, not {local['@version']!r}")
    if "@import" in local:
        local = _imported(local, load, base, chain)
    for flag in ("@protected", "@propagate"):
        if flag in local and not isinstance(local[flag], bool):
            raise ContextError(f"{flag} must be true or false")
    if "@vocab" in local:
        active.vocab = _vocab(active, local["@vocab"])
        active._expanded.clear()
    protected = protect or local.get("@protected") is True
    defined: dict[str, bool] = {}
    for name in local:
        if not name.startswith("@"):
            _define(active, local, name, defined, protect, protected)
    active._expanded.clear()
    active._compacted.clear()
    active._inverse = None


def _imported(
    local: Mapping[str, Any], load: ContextLoader, base: str | None, chain: tuple[str, ...]
) -> dict[str, Any]:
    """The context object with the definitions of its ``@import`` underneath its own."""
    target = local["@import"]
    if not isinstance(target, str):
        raise ContextError("@import must be the URL of a context")
    url = resolve_url(base, target)
    imported = _load(url, load, chain)["@context"]
    if not isinstance(imported, Mapping):
        raise ContextError(f"the context imported from {url} must be a single object")
    if "@import" in imported:
        raise ContextError(f"the context imported from {url} must not @import another")
    merged = {**imported, **local}
    del merged["@import"]
    return merged


def _vocab(active: ActiveContext, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ContextError("@vocab must be an IRI or null")
    # Expanded against the contexts before this one: a relative value extends the current
    # @vocab, and a compact IRI uses a prefix defined earlier (JSON-LD 1.1, 4.1.2 step 5.8).
    vocab = active.expand(value)
    if not (_SCHEME.match(vocab) or vocab.startswith("_:")):
        raise ContextError(f"@vocab {value!r} does not expand to an IRI")
    return vocab


def _define(
    active: ActiveContext,
    local: Mapping[str, Any],
    name: str,
    defined: dict[str, bool],
    protect: bool,
    protected: bool,
) -> None:
    """Create one term definition, first those its IRI depends on (JSON-LD 1.1, 4.2.2)."""
    state = defined.get(name)
    if state is True:
        return
    if state is False:
        raise ContextError(f"term {name!r} is defined through itself")
    defined[name] = False
    if name == "":
        raise ContextError("a term must not be the empty string")
    value = local[name]
    simple = isinstance(value, str)
    if simple or value is None:
        value = {"@id": value}
    if not isinstance(value, Mapping):
        raise ContextError(f"the definition of term {name!r} must be a string, an object or null")
    iri_text = value.get("@id")
    if "@reverse" in value or (
        isinstance(iri_text, str) and iri_text not in KEYWORDS and _KEYWORD_FORM.match(iri_text)
    ):
        # Reverse properties do not occur in NGSI-LD payloads; an @id that only looks like a
        # keyword leaves the term undefined (JSON-LD 1.1, 4.2.2 step 14.2.2).
        defined[name] = True
        return

    def expand_in_local(text: str) -> str:
        """``text`` expanded once the terms of this context it depends on are defined."""
        colon = text.find(":")
        depends = text[:colon] if colon > 0 else text
        if depends in local and depends != name and not depends.startswith("@"):
            _define(active, local, depends, defined, protect, protected)
        return active.expand(text)

    iri = _iri(active, name, value, expand_in_local)
    container = value.get("@container")
    term = Term(
        iri,
        _type(name, value, expand_in_local),
        _is_prefix(name, value, iri, simple),
        container if isinstance(container, str) else None,
    )
    if term.iri is not None and term.iri == "@context":
        raise ContextError(f"term {name!r} must not stand for @context")
    if name in active.protected and not _redefinable(active, name, term, protect):
        defined[name] = True
        return
    active.terms[name] = term
    active._expanded.clear()
    if protected:
        active.protected = active.protected | {name}
    if protect:
        active.sealed = active.sealed | {name}
    defined[name] = True


def _iri(
    active: ActiveContext, name: str, value: Mapping[str, Any], expand: Callable[[str], str]
) -> str | None:
    """The IRI a term stands for (JSON-LD 1.1, 4.2.2 steps 14-18)."""
    if "@id" in value:
        text = value["@id"]
        if text is None:
            return None
        if not isinstance(text, str):
            raise ContextError(f"the @id of term {name!r} must be a string")
        iri = text if text in KEYWORDS else expand(text)
        if iri not in KEYWORDS and not (_SCHEME.match(iri) or iri.startswith("_:")):
            raise ContextError(f"term {name!r}: {text!r} does not expand to an IRI")
        looks_like_iri = (_has_colon(name) or "/" in name) and name not in active.terms
        if looks_like_iri and iri not in KEYWORDS and expand(name) != iri:
            raise ContextError(f"term {name!r} looks like an IRI but is defined as {iri}")
        return iri
    if _has_colon(name):
        return expand(name)
    if "/" in name:
        iri = expand(name)
        if not _SCHEME.match(iri):
            raise ContextError(f"term {name!r} has no @id and does not expand to an IRI")
        return iri
    if active.vocab is None:
        raise ContextError(f"term {name!r} has no @id and the context has no @vocab")
    return active.vocab + name


def _type(name: str, value: Mapping[str, Any], expand: Callable[[str], str]) -> str | None:
    kind = value.get("@type")
    if kind is None:
        return None
    if not isinstance(kind, str):
        raise ContextError(f"the @type of term {name!r} must be a string")
    return kind if kind in _TYPE_KEYWORDS else expand(kind)


def _is_prefix(name: str, value: Mapping[str, Any], iri: str | None, simple: bool) -> bool:
    """Whether a term may prefix compact IRIs (JSON-LD 1.1, 4.2.2 steps 14.2.5 and 20)."""
    explicit = value.get("@prefix")
    if explicit is not None:
        if not isinstance(explicit, bool):
            raise ContextError(f"@prefix of term {name!r} must be true or false")
        if _has_colon(name) or "/" in name:
            raise ContextError(f"term {name!r} contains ':' or '/' and cannot be a prefix")
        return explicit
    return (
        simple
        and iri is not None
        and not _has_colon(name)
        and "/" not in name
        and bool(iri)
        and (iri[-1] in _GEN_DELIMS or iri.startswith("_:"))
    )


def _redefinable(active: ActiveContext, name: str, term: Term, protect: bool) -> bool:
    """Whether a protected term may take ``term`` as its new definition; raise if it must not."""
    if active.terms.get(name) == term:
        return True  # repeating a protected definition is allowed
    if name in active.sealed and not protect:
        # NGSI-LD applies the core context after the user's (GS CIM 009, 5.5.7): its terms
        # win over a user context's other definition of them.
        return False
    raise ContextError(f"term {name!r} is protected and cannot be redefined")


def _has_colon(name: str) -> bool:
    return name.find(":") > 0


@cache
def core_terms() -> ActiveContext:
    """The active context of the NGSI-LD core @context alone (shared; never modify it)."""
    return process_context(core_context()["@context"], _no_remote, protect=True)


def _no_remote(url: str) -> Any:
    raise ContextError(f"the core context cannot include {url}")


def user_context(local: Any, load: ContextLoader) -> ActiveContext:
    """The active context of a request: the core context, then the request's own contexts.

    The core context's terms are sealed, so a user context cannot change what they mean. Any
    version of the core context's URL, anywhere in the contexts, stands for the bundled one.
    """
    items = local if isinstance(local, list) else [local]
    if all(item is None or (isinstance(item, str) and is_core_context(item)) for item in items):
        return core_terms()
    return process_context(local, _core_aware(load), core_terms())


def _core_aware(load: ContextLoader) -> ContextLoader:
    def loading(url: str) -> Any:
        if is_core_context(url):
            # Its terms are applied and sealed already; named again, it restores its @vocab.
            return {"@context": {"@vocab": core_terms().vocab}}
        return load(url)

    return loading


# Members of an attribute whose values are terms (typed @vocab in the core context).
_VOCAB_VALUED: Final = ("vocab", "objectType", "previousVocab")


class Vocabulary:
    """Translates the names of one request's @context to the stored names, and back.

    Stored names are the core context's compaction of each IRI: a user context's
    ``temperature`` for ``https://uri.etsi.org/ngsi-ld/default-context/temperature`` is stored as
    ``temperature``; ``https://schema.org/name`` stays a full IRI unless the core names it.
    """

    __slots__ = ("_to_request", "_to_stored", "reference", "request", "stored")

    def __init__(
        self,
        request: ActiveContext,
        reference: Any = CORE_CONTEXT_URL,
        stored: ActiveContext | None = None,
    ) -> None:
        self.request = request
        self.reference = reference
        """The @context the request gave (a URL, an object or a list): what answers name."""
        self.stored = core_terms() if stored is None else stored
        self._to_stored: dict[str, str] = {}
        self._to_request: dict[str, str] = {}

    @property
    def identity(self) -> bool:
        """True when the request speaks the stored names (only the core context)."""
        return self.request is self.stored

    def to_stored(self, term: str) -> str:
        """The stored name of a request's term (an attribute name, a type, a vocab value)."""
        if self.identity and ":" not in term:
            return term
        name = self._to_stored.get(term)
        if name is None:
            name = remember(self._to_stored, term, self.stored.compact(self.request.expand(term)))
        return name

    def to_request(self, name: str) -> str:
        """The request's term for a stored name."""
        if self.identity:
            return name
        term = self._to_request.get(name)
        if term is None:
            term = remember(self._to_request, name, self.request.compact(self.stored.expand(name)))
        return term

    def entity_to_stored(self, entity: Mapping[str, Any]) -> dict[str, Any]:
        """An entity's type, attribute and sub-attribute names (and vocab values) as stored."""
        # Under the core context only full IRIs (``https://...``) can differ from stored names.
        as_is = self.identity and not any(":" in key for key in entity)
        as_is = as_is and ":" not in str(entity.get("type", ""))
        return _translate_entity(entity, self.to_stored, as_is)

    def entity_to_request(self, entity: Mapping[str, Any]) -> dict[str, Any]:
        """A stored entity in the request's terms."""
        return _translate_entity(entity, self.to_request, self.identity)

    def attribute_to_stored(self, attribute: Any) -> Any:
        """One attribute (an instance, or a list of them) with its sub-attribute names as stored."""
        return attribute if self.identity else _translate_attribute(attribute, self.to_stored)

    def attribute_to_request(self, attribute: Any) -> Any:
        """One stored attribute in the request's terms."""
        return attribute if self.identity else _translate_attribute(attribute, self.to_request)


_ENTITY_MEMBERS: Final = frozenset(
    {"id", "@id", "type", "@type", "@context", "scope", "location", "observationSpace",
     "operationSpace", "createdAt", "modifiedAt", "deletedAt"}
)  # fmt: skip
_ATTRIBUTE_MEMBERS: Final = frozenset(
    {"type", "value", "object", "observedAt", "unitCode", "datasetId", "createdAt",
     "modifiedAt", "deletedAt", "instanceId", "languageMap", "vocab", "json", "valueList",
     "objectList", "objectType", "lang", "previousValue", "previousObject",
     "previousLanguageMap", "previousVocab", "previousJson", "previousValueList",
     "previousObjectList", "provenance"}
)  # fmt: skip


def _translate_entity(
    entity: Mapping[str, Any], rename: Callable[[str], str], identity: bool
) -> dict[str, Any]:
    if identity:
        return dict(entity)
    result: dict[str, Any] = {}
    for key, value in entity.items():
        if key in ("type", "@type"):
            result[key] = _rename_types(value, rename)
        elif key in _ENTITY_MEMBERS:
            result[key] = value
        else:
            result[rename(key)] = _translate_attribute(value, rename)
    return result


def _translate_attribute(attribute: Any, rename: Callable[[str], str]) -> Any:
    if isinstance(attribute, list):
        return [_translate_attribute(item, rename) for item in attribute]
    if not isinstance(attribute, Mapping):
        return attribute  # keyValues: a plain value
    result: dict[str, Any] = {}
    for key, value in attribute.items():
        if key in _VOCAB_VALUED:
            result[key] = _rename_types(value, rename)
        elif key in _ATTRIBUTE_MEMBERS:
            result[key] = value
        else:
            result[rename(key)] = _translate_attribute(value, rename)
    return result


def _rename_types(value: Any, rename: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return rename(value)
    if isinstance(value, list):
        return [rename(item) if isinstance(item, str) else item for item in value]
    return value
