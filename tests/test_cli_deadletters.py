"""``stadsnav deadletters list|show|replay`` on a real store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from stadsnav.cli import app
from stadsnav.runtime import Runtime
from stadsnav.store.base import NewInboxMessage
from stadsnav.workspace import load_workspace
from support import UplinkFactory

runner = CliRunner(env={"COLUMNS": "250"})


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


def test_replay_picks_dead_letters_by_integration_and_time_and_is_idempotent(
    workspace_dir: Path, make_uplink: UplinkFactory
) -> None:
    runtime = Runtime.open(load_workspace(workspace_dir))
    unknown = "a81758fffe0a0b0c"
    now = datetime.now(UTC).replace(microsecond=0)
    runtime.store.inbox_append(
        [
            NewInboxMessage(
                source,
                f"m{i}",
                now,
                "application/json",
                make_uplink(dev_eui=unknown, f_cnt=i, received_at=now - timedelta(minutes=i)),
            )
            for i, source in enumerate(["beach-sensors-tts", "beach-sensors-chirpstack"])
        ]
    )
    runtime.runner.drain()
    assert len(runtime.store.dead_letters()) == 2
    runtime.store.close()
    devices = workspace_dir / "devices" / "beach-sensors.yaml"
    devices.write_text(devices.read_text().replace("a81758fffe05c3a1", unknown))
    replay = ["deadletters", "replay", str(workspace_dir)]

    later = runner.invoke(app, [*replay, "--since", (now + timedelta(hours=1)).isoformat()])
    assert "replayed 0 message(s)" in later.output
    wrong = runner.invoke(app, [*replay, "--since", "yesterday"])
    assert wrong.exit_code == 2
    assert "neither a time like 2026-11-27T06:00:00Z nor a duration" in wrong.output
    unknown_integration = runner.invoke(app, [*replay, "--integration", "beach-sensors"])
    assert unknown_integration.exit_code == 2
    assert "no integration 'beach-sensors'" in unknown_integration.output

    first = runner.invoke(app, [*replay, "--integration", "beach-sensors-tts", "--since", "PT1H"])
    assert first.exit_code == 0, first.output
    assert "replayed 1 message(s): 1 stored, 0 dead-lettered again" in first.output
    again = runner.invoke(app, [*replay, "--integration", "beach-sensors-tts"])
    assert "replayed 0 message(s)" in again.output
    store = Runtime.open(load_workspace(workspace_dir)).store
    assert [d.source for d in store.dead_letters()] == ["beach-sensors-chirpstack"]
    entity = "urn:ngsi-ld:WaterQualityObserved:skelleftea:elt2-byske-havsbad"
    assert len(store.history(entity)["temperature"]) == 1
    store.close()


def test_one_dead_letter_is_shown_in_full(workspace_dir: Path) -> None:
    runtime = Runtime.open(load_workspace(workspace_dir))
    now = datetime.now(UTC)
    bodies = [b'{"end_device_ids": "not an object"}', b"\xff\xfe binary"]
    runtime.store.inbox_append(
        [
            NewInboxMessage("beach-sensors-tts", f"m{i}", now, "application/json", body, "/ingest")
            for i, body in enumerate(bodies)
        ]
    )
    runtime.runner.drain()
    letters = {d.message_id: d.id for d in runtime.store.dead_letters()}
    runtime.store.close()

    shown = runner.invoke(app, ["deadletters", "show", str(workspace_dir), str(letters["m0"])])
    assert shown.exit_code == 0, shown.output
    assert "integration:   beach-sensors-tts" in shown.output
    assert "stage:         envelope" in shown.output
    assert "topic or URL:  /ingest" in shown.output
    assert '"end_device_ids": "not an object"' in shown.output  # indented JSON
    binary = runner.invoke(app, ["deadletters", "show", str(workspace_dir), str(letters["m1"])])
    assert "(not UTF-8; hex) fffe2062696e617279" in binary.output
    missing = runner.invoke(app, ["deadletters", "show", str(workspace_dir), "999"])
    assert missing.exit_code == 1
    assert "no dead letter 999" in missing.output
