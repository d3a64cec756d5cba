"""``${NAME}`` and ``${NAME:-default}`` references in stadsnav.toml, and literal secrets in it."""

from __future__ import annotations

import re
from collections.abc import Mapping

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_USERINFO = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://([^/@\s]*)@")
_FROM_ENV = "\x00"


class MissingVariableError(KeyError):
    """A ``${NAME}`` without default whose variable is not set."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def expand(value: str, environ: Mapping[str, str]) -> str:
    """Replace every reference by the variable's value, or its default when unset."""

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is None:
            raise MissingVariableError(name)
        return default

    return _REFERENCE.sub(substitute, value)


def has_reference(value: str) -> bool:
    """True when the value takes something from the environment."""
    return _REFERENCE.search(value) is not None


def literal_password(value: str) -> bool:
    """True when the value, as written in the file, holds a URL with a password in it."""
    written = _REFERENCE.sub(lambda m: m.group(2) or _FROM_ENV, value)
    userinfo = _USERINFO.match(written)
    if userinfo is None or ":" not in userinfo.group(1):
        return False
    password = userinfo.group(1).split(":", 1)[1]
    return bool(password) and _FROM_ENV not in password
