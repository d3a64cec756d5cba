"""The command line: lint, dead letters list and replay."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from stadsnav.cli import _server, app
from stadsnav.runtime import Runtime
from stadsnav.store.base import NewInboxMessage
from stadsnav.workspace import load_workspace
from support import UplinkFactory

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


def test_dead_letters_listed_then_replayed_after_the_fix(
    workspace_dir: Path, make_uplink: UplinkFactory
) -> None:
    runtime = Runtime.open(load_workspace(workspace_dir))
    unknown = "a81758fffe0a0b0c"
    runtime.store.inbox_append(
        [
            NewInboxMessage(
                "beach-sensors-tts",
                "m1",
                datetime.now(UTC),
                "application/json",
                make_uplink(dev_eui=unknown),
            )
        ]
    )
    runtime.runner.drain()
    runtime.store.close()

    listed = runner.invoke(app, ["deadletters", "list", str(workspace_dir)])
    assert listed.exit_code == 0, listed.output
    assert "device" in listed.output
    assert "beach-sensors-tts" in listed.output

    devices = workspace_dir / "devices" / "beach-sensors.yaml"
    devices.write_text(devices.read_text().replace("a81758fffe05c3a1", unknown))
    replayed = runner.invoke(app, ["deadletters", "replay", str(workspace_dir)])
    assert replayed.exit_code == 0, replayed.output
    assert "replayed 1 message(s): 1 stored, 0 dead-lettered again" in replayed.output
    after = runner.invoke(app, ["deadletters", "list", str(workspace_dir)])
    assert "0 dead letter(s)" in after.output


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
