"""What lint reports: a problem at a file, line and field."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a workspace, located like a compiler message."""

    file: str
    line: int | None
    field: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [where]
        if self.severity == "warning":
            parts.append("warning")
        if self.field:
            parts.append(self.field)
        return ": ".join([*parts, self.message])

    @property
    def is_error(self) -> bool:
        """True unless this is a warning."""
        return self.severity == "error"


class WorkspaceError(Exception):
    """The workspace has errors; ``problems`` lists all of them (warnings included)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        errors = sum(p.is_error for p in self.problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{errors} error(s) in the workspace:\n{lines}")
