"""``stadsnav audit``: the log as a city's data protection officer reads it, and its check."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from stadsnav.cli import app

runner = CliRunner(env={"COLUMNS": "250"})


def create_key(workspace_dir: Path, owner: str) -> str:
    args = ["keys", "create", str(workspace_dir), "--owner", owner, "--scope", "read"]
    created = runner.invoke(app, args)
    assert created.exit_code == 0, created.output
    return created.stdout.strip().split("_")[1]


def test_key_actions_on_the_command_line_are_shown_and_the_chain_holds(
    workspace_dir: Path,
) -> None:
    first = create_key(workspace_dir, "Fritid")
    second = create_key(workspace_dir, "Partner AB")
    assert runner.invoke(app, ["keys", "revoke", str(workspace_dir), first]).exit_code == 0
    shown = runner.invoke(app, ["audit", str(workspace_dir)])
    assert shown.exit_code == 0, shown.output
    assert "key-created" in shown.output
    assert "key-revoked" in shown.output
    assert "cli:" in shown.output
    listed = json.loads(runner.invoke(app, ["audit", str(workspace_dir), "--json"]).stdout)
    assert [(r["action"], r["target"]) for r in listed] == [
        ("key-created", first),
        ("key-created", second),
        ("key-revoked", first),
    ]
    only = runner.invoke(app, ["audit", str(workspace_dir), "--json", "--action", "key-revoked"])
    assert [r["seq"] for r in json.loads(only.stdout)] == [3]
    verified = runner.invoke(app, ["audit", str(workspace_dir), "--verify"])
    assert verified.exit_code == 0, verified.output
    assert f"3 records; the last is 3, hash {listed[-1]['hash']}" in verified.output


def test_verify_finds_a_record_changed_behind_the_platforms_back(workspace_dir: Path) -> None:
    key = create_key(workspace_dir, "Fritid")
    create_key(workspace_dir, "Partner AB")
    database = sqlite3.connect(os.environ["STADSNAV_STORAGE_URL"].removeprefix("sqlite:///"))
    # Someone with the database file: the trigger is in the way, so they drop it first.
    database.execute("DROP TRIGGER audit_log_no_update")
    database.execute("UPDATE audit_log SET target = 'someone else' WHERE target = ?", (key,))
    database.commit()
    database.close()
    verified = runner.invoke(app, ["audit", str(workspace_dir), "--verify"])
    assert verified.exit_code == 1
    assert "broken at record 1" in verified.output
    assert "changed" in verified.output


def test_a_wrong_duration_says_what_to_give(workspace_dir: Path) -> None:
    wrong = runner.invoke(app, ["audit", str(workspace_dir), "--since", "last week"])
    assert wrong.exit_code == 2
    assert "P7D" in wrong.output


def test_columns_empty_in_every_record_shown_are_left_out(workspace_dir: Path) -> None:
    create_key(workspace_dir, "Fritid")
    shown = runner.invoke(app, ["audit", str(workspace_dir)])
    header = shown.output.splitlines()[1]
    assert "actor" in header
    assert "subject" not in header  # no personal data was read
    assert "purpose" not in header
