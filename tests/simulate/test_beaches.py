"""The demo's simulator sends what the platform's own decoders read back: plausible and varied."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stadsnav.pipeline.processor import Processor, StageError
from stadsnav.simulate.beaches import BAD_KINDS, BeachSimulator
from stadsnav.store.base import InboxMessage
from stadsnav.workspace import Workspace

MOMENT = datetime(2026, 7, 20, 14, tzinfo=UTC)


def inbox(path: str, body: bytes) -> InboxMessage:
    source = path.removeprefix("/ingest/")
    return InboxMessage(1, source, "m", MOMENT, "application/json", body, path, 0)


def test_every_sensor_of_the_demo_is_simulated_through_two_network_servers(
    workspace: Workspace,
) -> None:
    simulator = BeachSimulator.for_workspace(workspace)
    water = [d for d in workspace.devices.values() if "temperature" in d.measures]
    assert len(simulator.sensors) == len(water)
    assert {sensor.format for sensor in simulator.sensors} == {"tts_v3", "chirpstack_v4"}
    codecs = {sensor.device.codec for sensor in simulator.sensors}
    assert {"elsys/elt-2", "decentlab/dl-ds18", "milesight-iot/em500-pt100"} <= codecs


def test_simulated_uplinks_decode_to_a_summer_water_temperature(workspace: Workspace) -> None:
    simulator = BeachSimulator.for_workspace(workspace)
    processor = Processor(workspace)
    for sensor in simulator.sensors:
        writes = processor.process(inbox(sensor.path, simulator.uplink(sensor, MOMENT)))
        [temperature] = [w for w in writes if w.name == "temperature"]
        assert 14 <= temperature.attribute["value"] <= 20, sensor.device.name
        assert temperature.observed_at == MOMENT


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_uplinks_are_rejected_with_a_reason(workspace: Workspace, kind: str) -> None:
    simulator = BeachSimulator.for_workspace(workspace)
    path, body = simulator.bad_uplink(kind, datetime.now(UTC))
    with pytest.raises(StageError) as caught:
        Processor(workspace).process(inbox(path, body))
    assert caught.value.reason


def test_backfill_is_on_a_fixed_grid_so_a_restart_repeats_the_same_observations(
    workspace: Workspace,
) -> None:
    first = BeachSimulator.for_workspace(workspace)
    second = BeachSimulator.for_workspace(workspace)
    until = datetime(2026, 7, 20, 14, 7, tzinfo=UTC)
    processor = Processor(workspace)

    def times(simulator: BeachSimulator) -> set[tuple[str, datetime]]:
        found = set()
        for path, body in simulator.backfill(until, 2, timedelta(minutes=20)):
            for write in processor.process(inbox(path, body)):
                if write.observed_at is not None and write.history:
                    found.add((write.entity_id, write.observed_at))
        return found

    assert times(first) == times(second)
    assert len(times(first)) == 7 * len(first.sensors)  # 12:00, 12:20 ... 14:00
