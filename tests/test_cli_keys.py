"""``stadsnav keys create|list|revoke`` on a real store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from stadsnav.cli import app
from stadsnav.cli_keys import issue_demo_keys
from stadsnav.gateway.keys import key_id, matches
from stadsnav.runtime import Runtime
from stadsnav.workspace import load_workspace

runner = CliRunner(env={"COLUMNS": "250"})


def test_a_key_is_created_listed_and_revoked(workspace_dir: Path) -> None:
    created = runner.invoke(
        app,
        [
            "keys",
            "create",
            str(workspace_dir),
            "--owner",
            "Fritid",
            "--scope",
            "read:parking",
            "--scope",
            "admin",
            "--expires",
            "P90D",
        ],
    )
    assert created.exit_code == 0, created.output
    text = created.stdout.strip()
    found_id = key_id(text)
    assert found_id is not None
    assert "read:parking, admin" in created.output  # not read as an emoji code
    runtime = Runtime.open(load_workspace(workspace_dir))
    try:
        stored = runtime.store.api_key(found_id)
        assert stored is not None
        assert matches(text, stored[1])
        assert stored[0].expires_at is not None
    finally:
        runtime.store.close()

    listed = runner.invoke(app, ["keys", "list", str(workspace_dir)])
    assert listed.exit_code == 0, listed.output
    assert found_id in listed.stdout
    assert "active" in listed.stdout
    assert text not in listed.stdout

    revoked = runner.invoke(app, ["keys", "revoke", str(workspace_dir), found_id])
    assert revoked.exit_code == 0, revoked.output
    assert "revoked" in runner.invoke(app, ["keys", "list", str(workspace_dir)]).stdout


def test_mistakes_say_what_to_fix(workspace_dir: Path) -> None:
    scope = runner.invoke(
        app, ["keys", "create", str(workspace_dir), "--owner", "a", "--scope", "everything"]
    )
    assert scope.exit_code == 2
    assert "admin, read or write" in scope.output
    expiry = runner.invoke(
        app,
        [
            "keys",
            "create",
            str(workspace_dir),
            "--owner",
            "a",
            "--scope",
            "read",
            "--expires",
            "soon",
        ],
    )
    assert expiry.exit_code == 2
    assert "P90D" in expiry.output
    plan = runner.invoke(
        app,
        ["keys", "create", str(workspace_dir), "--owner", "a", "--scope", "read", "--plan", "gold"],
    )
    assert plan.exit_code == 2
    assert "no plan 'gold'" in plan.output
    assert "open-data-app" in plan.output
    unknown = runner.invoke(app, ["keys", "revoke", str(workspace_dir), "nosuchid"])
    assert unknown.exit_code == 1
    assert "keys list" in unknown.output


def test_each_demo_start_issues_fresh_demo_keys_and_revokes_the_last(workspace_dir: Path) -> None:
    ws = load_workspace(workspace_dir)
    first = issue_demo_keys(ws)
    second = issue_demo_keys(ws)
    assert [(key.scopes, key.plan) for key, _ in second] == [
        (("read", "write"), "internal"),
        (("read:parking", "write:parking"), "partner"),
    ]
    runtime = Runtime.open(ws)
    try:
        stored = {key.id: key for key in runtime.store.api_keys()}
    finally:
        runtime.store.close()
    now = datetime.now(UTC)
    assert [stored[key.id].status(now) for key, _ in first] == ["revoked", "revoked"]
    assert [stored[key.id].status(now) for key, _ in second] == ["active", "active"]
    assert all(key_id(text) == key.id for key, text in second)


def test_a_key_to_personal_data_needs_a_purpose(workspace_dir: Path) -> None:
    (workspace_dir / "datasets" / "care.yaml").write_text(
        "id: care\ntitle: Sensors in the homes of elderly people\n"
        "owner: {name: Omsorg, email: omsorg@skelleftea.se}\n"
        "classification: personal\nentity_types: [HomeSensor]\n",
        encoding="utf-8",
    )
    args = ["keys", "create", str(workspace_dir), "--owner", "Anhörigappen", "--scope", "read:care"]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2
    assert "--purpose" in refused.output
    issued = runner.invoke(app, [*args, "--purpose", "alerting relatives of deviations"])
    assert issued.exit_code == 0, issued.output
