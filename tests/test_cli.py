"""The command line: lint and the server."""

from __future__ import annotations

import sys
from pathlib import Path

from typer.testing import CliRunner

from stadsnav.cli import _server, app
from stadsnav.workspace import load_workspace

runner = CliRunner(env={"COLUMNS": "250"})


def test_lint_passes_on_the_demo(workspace_dir: Path) -> None:
    result = runner.invoke(app, ["lint", str(workspace_dir)])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output


def test_lint_reports_file_line_and_field(workspace_dir: Path) -> None:
    dataset = workspace_dir / "datasets" / "beach-water-temperature.yaml"
    dataset.write_text(
        dataset.read_text().replace("classification: open", "classification: secret")
    )
    narrow = CliRunner(env={"COLUMNS": "60"})  # problems stay one per line, as editors read them
    result = narrow.invoke(app, ["lint", str(workspace_dir)])
    assert result.exit_code == 1
    line = next(n for n, text in enumerate(dataset.read_text().splitlines(), 1) if "secret" in text)
    [reported] = [text for text in result.output.splitlines() if "beach-water-temperature" in text]
    assert f"datasets/beach-water-temperature.yaml:{line}: classification" in reported
    assert "'open', 'internal' or 'personal'" in reported


def test_the_server_hands_the_interpreter_over_as_configured(workspace_dir: Path) -> None:
    toml = workspace_dir / "stadsnav.toml"
    toml.write_text(toml.read_text().replace("switch_interval = 0.001", "switch_interval = 0.002"))
    workspace = load_workspace(workspace_dir)
    before = sys.getswitchinterval()
    try:
        server = _server(workspace, None, None, False)
        assert sys.getswitchinterval() == 0.002
        server.config.app.state.runtime.store.close()
    finally:
        sys.setswitchinterval(before)
