"""Fixtures of the workspace tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from workspace_factory import WorkspaceFactory, write_workspace


@pytest.fixture
def make_workspace(tmp_path: Path) -> WorkspaceFactory:
    """Write the base workspace, with some files replaced or removed, into tmp_path."""

    def make(files: dict[str, str | None] | None = None) -> Path:
        return write_workspace(tmp_path / "ws", files)

    return make
