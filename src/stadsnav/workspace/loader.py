"""``load_workspace``: lint, then build the Workspace the rest of Stadsnav runs on."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from stadsnav.workspace.files import parse_workspace
from stadsnav.workspace.lint import check
from stadsnav.workspace.models import Workspace
from stadsnav.workspace.problems import WorkspaceError


def load_workspace(path: str | Path, *, environ: Mapping[str, str] | None = None) -> Workspace:
    """Load the workspace at ``path``; raises WorkspaceError listing every problem on any error."""
    root = Path(path).resolve()
    parsed = parse_workspace(root, environ)
    problems = check(parsed)
    if parsed.settings is None or any(p.is_error for p in problems):
        raise WorkspaceError(problems)
    return Workspace(
        root=root,
        settings=parsed.settings,
        datasets={d.model.id: d.model for d in parsed.datasets},
        devices={d.model.dev_eui: d.model for d in parsed.devices},
        entities=[e.model for e in parsed.entities],
        integrations={i.model.id: i.model for i in parsed.integrations},
        products={p.model.id: p.model for p in parsed.products},
    )
