"""What every ``stadsnav`` command shares: consoles, the workspace argument, loading it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from stadsnav.codecs.repository import known_codecs
from stadsnav.store.base import ContextStore
from stadsnav.workspace import Problem, Workspace, WorkspaceError, lint_workspace, load_workspace

WorkspaceArg = Annotated[Path, typer.Argument(help="Workspace folder (with stadsnav.toml).")]


def out() -> Console:
    """Standard output, sized to the terminal at the time of printing."""
    return Console(soft_wrap=True)


def err() -> Console:
    """Standard error, sized to the terminal at the time of printing."""
    return Console(stderr=True, soft_wrap=True)


def print_problems(problems: list[Problem]) -> None:
    """Each problem on its own line of standard error, errors in red, warnings in yellow."""
    for problem in problems:
        style = "red" if problem.severity == "error" else "yellow"
        err().print(f"[{style}]{problem.severity}[/]: {problem}", highlight=False)


def load_checked(path: Path) -> Workspace:
    """The workspace, or exit 2 after printing every problem in it."""
    problems = lint_workspace(path, known_codecs=known_codecs(path))
    if any(p.severity == "error" for p in problems):
        print_problems(problems)
        err().print(f"[red]{path}: the workspace has errors; fix them and start again.[/]")
        raise typer.Exit(2)
    try:
        return load_workspace(path)
    except WorkspaceError as error:
        print_problems(error.problems)
        raise typer.Exit(2) from None


def open_workspace_store(ws: Workspace) -> ContextStore:
    """The workspace's store, its schema brought up to date (close it after use)."""
    from stadsnav.store.factory import open_store

    store = open_store(ws.storage_url)
    store.migrate()
    return store
