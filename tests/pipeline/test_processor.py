"""The processor turns real uplinks into attribute writes, and every failure into a stage error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from stadsnav.codecs.repository import import_codecs, known_codecs
from stadsnav.pipeline.processor import Batch, Processor, StageError
from stadsnav.store.base import AttributeWrite, InboxMessage
from stadsnav.workspace import Workspace, lint_workspace, load_workspace
from support import BYSKE_SENSOR, REPO_ROOT, SHARED_DATA, UplinkFactory


def inbox_message(body: bytes, source: str = "beach-sensors-tts") -> InboxMessage:
    return InboxMessage(1, source, "msg-1", datetime.now(UTC), "application/json", body, None, 0)


def stage_of(processor: Processor, body: bytes, source: str = "beach-sensors-tts") -> StageError:
    with pytest.raises(StageError) as caught:
        processor.process(inbox_message(body, source))
    return caught.value


def test_sundsvall_payload_becomes_water_quality_observed(
    workspace: Workspace, make_uplink: UplinkFactory
) -> None:
    received = datetime(2026, 7, 1, 12, 0, 5, tzinfo=UTC)
    writes = Processor(workspace).process(inbox_message(make_uplink(received_at=received)))
    by_name = {w.name: w for w in writes if w.entity_type == "WaterQualityObserved"}
    assert set(by_name) == {
        "temperature",
        "refPointOfInterest",
        "location",
        "refDevice",
        "qualityIssues",
    }
    temperature = by_name["temperature"]
    assert temperature.entity_id == "urn:ngsi-ld:WaterQualityObserved:skelleftea:elt2-byske-havsbad"
    assert temperature.entity_type == "WaterQualityObserved"
    assert temperature.attribute == {
        "type": "Property",
        "value": 19.3,
        "observedAt": "2026-07-01T12:00:05Z",
        "unitCode": "CEL",
    }
    assert temperature.observed_at == received
    assert temperature.provenance is not None
    assert temperature.provenance.integration == "beach-sensors-tts"
    assert temperature.provenance.source_message_id == "msg-1"
    assert by_name["refPointOfInterest"].attribute == {
        "type": "Relationship",
        "object": "urn:ngsi-ld:Beach:se:skelleftea:byske-havsbad",
    }
    device = workspace.devices[BYSKE_SENSOR]
    assert device.location is not None
    assert by_name["location"].attribute["value"] == {
        "type": "Point",
        "coordinates": [device.location.lon, device.location.lat],
    }


def test_real_tts_envelope_from_an_unregistered_device_is_a_device_error(
    workspace: Workspace,
) -> None:
    body = (SHARED_DATA / "envelopes" / "tb_tts_v3_ttn_community_elsys_ers2.json").read_bytes()
    error = stage_of(Processor(workspace), body)
    assert error.stage == "device"
    assert "device registry" in error.reason


def test_real_tts_envelope_with_a_registered_eui_decodes(workspace: Workspace) -> None:
    document = orjson.loads(
        (SHARED_DATA / "envelopes" / "tb_tts_v3_ttn_community_elsys_ers2.json").read_bytes()
    )
    document["end_device_ids"]["dev_eui"] = BYSKE_SENSOR.upper()
    # An ERS measures indoor temperature only: the beach mapping requires the external probe.
    error = stage_of(Processor(workspace), orjson.dumps(document))
    assert error.stage == "map"
    assert "data.externalTemperature is missing" in error.reason


@pytest.mark.parametrize(
    ("change", "stage", "words"),
    [
        ({"payload": bytes.fromhex("0100e807")}, "decode", "truncated"),
        ({"payload": bytes.fromhex("ff0102")}, "decode", "unknown type"),
        ({"f_port": None}, "envelope", "f_port is missing"),
        ({"dev_eui": "a81758fffe0fffff"}, "device", "unknown device a81758fffe0fffff"),
        ({"received_at": datetime.now(UTC) + timedelta(days=30)}, "validate", "future_timestamp: "),
        ({"payload": bytes.fromhex("0c0190")}, "validate", "outside the dataset's range"),
    ],
)
def test_bad_messages_fail_at_their_stage(
    workspace: Workspace,
    make_uplink: UplinkFactory,
    change: dict[str, object],
    stage: str,
    words: str,
) -> None:
    error = stage_of(Processor(workspace), make_uplink(**change))
    assert error.stage == stage
    assert words in error.reason


def test_invalid_json_is_an_envelope_error(workspace: Workspace) -> None:
    error = stage_of(Processor(workspace), b'{"end_device_ids": ')
    assert error.stage == "envelope"
    assert "invalid JSON" in error.reason


def test_message_of_an_unknown_integration_is_rejected(
    workspace: Workspace, make_uplink: UplinkFactory
) -> None:
    error = stage_of(Processor(workspace), make_uplink(), source="removed-integration")
    assert error.stage == "receive"


def test_a_netmore_batch_maps_every_uplink(workspace: Workspace) -> None:
    """The real Netmore array form, with two registered beach sensors in one delivery."""
    [template] = orjson.loads(
        (SHARED_DATA / "envelopes" / "diwise_netmore_elsys_elt2hp.json").read_bytes()
    )
    byske, boviken = dict(template), dict(template)
    byske |= {"devEui": BYSKE_SENSOR, "payload": "070d8a0c00c1"}
    boviken |= {"devEui": "a81758fffe05c3a2", "payload": "0c00b4", "fCntUp": 7}
    body = orjson.dumps([byske, boviken])
    workspace.integrations["beach-sensors-tts"].source.format = "netmore"
    writes = Processor(workspace).process(inbox_message(body))
    temperatures = {
        w.entity_id.rsplit(":", 1)[1]: w.attribute["value"]
        for w in writes
        if w.name == "temperature"
    }
    assert temperatures == {"elt2-byske-havsbad": 19.3, "elt2-bovikens-havsbad": 18.0}


def test_a_batch_with_one_bad_uplink_is_dead_lettered_whole(workspace: Workspace) -> None:
    [template] = orjson.loads(
        (SHARED_DATA / "envelopes" / "diwise_netmore_elsys_elt2hp.json").read_bytes()
    )
    good = dict(template) | {"devEui": BYSKE_SENSOR, "payload": "070d8a0c00c1"}
    bad = dict(template) | {"devEui": BYSKE_SENSOR, "payload": "0c01"}
    workspace.integrations["beach-sensors-tts"].source.format = "netmore"
    error = stage_of(Processor(workspace), orjson.dumps([good, bad]))
    assert error.stage == "decode"
    assert error.reason.startswith("uplink 2 of 2 in the batch: ")


def test_a_device_decoded_by_an_imported_javascript_codec(
    workspace_dir: Path, make_uplink: UplinkFactory
) -> None:
    """A codec imported from a TTN-repository checkout is used like a native one, and lints."""
    import_codecs(REPO_ROOT / "tests" / "fixtures" / "ttn-repo", workspace_dir)
    devices = workspace_dir / "devices" / "beach-sensors.yaml"
    devices.write_text(
        devices.read_text().replace("codec: elsys/elt-2", "codec: nordtest/tlv-sensor", 1)
    )
    assert not [
        p
        for p in lint_workspace(workspace_dir, known_codecs=known_codecs(workspace_dir))
        if p.is_error
    ]
    workspace = load_workspace(workspace_dir)
    assert workspace.devices[BYSKE_SENSOR].codec == "nordtest/tlv-sensor"
    writes = Processor(workspace).process(inbox_message(make_uplink()))
    [temperature] = [w for w in writes if w.name == "temperature"]
    assert temperature.attribute["value"] == 19.3


# --- the device's own Smart Data Models Device entity -----------------------------------------

BYSKE_DEVICE = "urn:ngsi-ld:Device:elt2-byske-havsbad"
CS4_STATUS = "chirpstack_v4_status_docs_example.json"
CS3_STATUS = "diwise_servanet_chirpstack_v3_status_event_watermeter.json"


def device_attributes(writes: list[AttributeWrite]) -> dict[str, dict[str, object]]:
    """The attributes written to the Byske sensor's Device entity, by name."""
    return {w.name: w.attribute for w in writes if w.entity_id == BYSKE_DEVICE}


def test_every_uplink_updates_the_device_entity_latest_only(
    workspace: Workspace, make_uplink: UplinkFactory
) -> None:
    received = datetime(2026, 7, 1, 12, 0, 5, tzinfo=UTC)
    writes = Processor(workspace).process(inbox_message(make_uplink(received_at=received)))
    device_writes = [w for w in writes if w.entity_id == BYSKE_DEVICE]
    assert {w.entity_type for w in device_writes} == {"Device"}
    assert all(w.provenance is not None for w in device_writes)
    # Readings carry the uplink's time (newest wins, no history); the registry's measures none.
    stamped = {w.name: w.observed_at for w in device_writes}
    assert stamped.pop("controlledProperty") is None
    assert set(stamped.values()) == {received}
    assert not any(w.history for w in device_writes if w.observed_at is not None)
    # The simulated TTS uplink is heard by skelleftea-gw-01 at -97 dBm, SNR 7.5 dB.
    assert device_attributes(writes) == {
        "dateLastValueReported": {
            "type": "Property",
            "value": {"@type": "DateTime", "@value": "2026-07-01T12:00:05Z"},
        },
        "rssi": {
            "type": "Property",
            "value": -97,
            "unitCode": "DBM",
            "observedAt": "2026-07-01T12:00:05Z",
        },
        "snr": {
            "type": "Property",
            "value": 7.5,
            "unitCode": "2N",
            "observedAt": "2026-07-01T12:00:05Z",
        },
        "gateway": {
            "type": "Property",
            "value": "skelleftea-gw-01",
            "observedAt": "2026-07-01T12:00:05Z",
        },
        "controlledProperty": {"type": "Property", "value": ["temperature"]},
    }
    [link] = [w for w in writes if w.name == "refDevice"]
    assert link.entity_id == "urn:ngsi-ld:WaterQualityObserved:skelleftea:elt2-byske-havsbad"
    assert link.attribute == {"type": "Relationship", "object": BYSKE_DEVICE}
    assert link.observed_at is None


def test_static_device_links_are_written_once_per_batch(
    workspace: Workspace, make_uplink: UplinkFactory
) -> None:
    processor = Processor(workspace)
    batch = Batch()
    start = datetime(2026, 7, 1, 10, tzinfo=UTC)
    processor.process(inbox_message(make_uplink(f_cnt=1, received_at=start)), batch)
    second = processor.process(
        inbox_message(make_uplink(f_cnt=2, received_at=start + timedelta(minutes=1))), batch
    )
    late = processor.process(
        inbox_message(make_uplink(f_cnt=3, received_at=start - timedelta(minutes=1))), batch
    )
    names = {w.name for w in second} | {w.name for w in late}
    assert "controlledProperty" not in names
    assert "refDevice" not in names
    # Radio readings and quality issues wait for the end of the batch, and only the newest
    # uplink's are written.
    assert not names & {"rssi", "snr", "gateway", "dateLastValueReported", "qualityIssues"}
    kept = {w.name: w.attribute for w in processor.batch_writes(batch)}
    assert set(kept) == {"rssi", "snr", "gateway", "dateLastValueReported", "qualityIssues"}
    assert kept["rssi"]["observedAt"] == "2026-07-01T10:01:00Z"
    assert kept["qualityIssues"]["observedAt"] == "2026-07-01T10:01:00Z"


def test_a_real_tts_envelope_carries_its_gateway_to_the_device_entity(
    workspace: Workspace,
) -> None:
    document = orjson.loads(
        (
            SHARED_DATA / "envelopes" / "tb_tts_v3_tti_nwave_parking_status_packetbroker.json"
        ).read_bytes()
    )
    document["end_device_ids"]["dev_eui"] = BYSKE_SENSOR
    document["uplink_message"]["frm_payload"] = "Bw2KDADB"  # Elsys: 19.3 °C external probe
    document["uplink_message"]["f_port"] = 5
    attributes = device_attributes(
        Processor(workspace).process(inbox_message(orjson.dumps(document)))
    )
    assert attributes["rssi"]["value"] == -24
    assert attributes["snr"]["value"] == 12
    assert attributes["gateway"]["value"] == "eui-6A7E111A10000000"


def status_body(name: str, **changes: object) -> bytes:
    document = orjson.loads((SHARED_DATA / "envelopes" / name).read_bytes())
    if "deviceInfo" in document:
        document["deviceInfo"]["devEui"] = BYSKE_SENSOR
    document.update(changes)
    return orjson.dumps(document)


def test_a_chirpstack_v4_status_event_sets_the_battery_level(workspace: Workspace) -> None:
    body = status_body(CS4_STATUS)
    writes = Processor(workspace).process(inbox_message(body, "beach-sensors-mqtt"))
    [battery] = writes
    assert (battery.entity_id, battery.entity_type, battery.name) == (
        BYSKE_DEVICE,
        "Device",
        "batteryLevel",
    )
    # ChirpStack's 88.3 % becomes Smart Data Models' 0..1 scale.
    assert battery.attribute == {
        "type": "Property",
        "value": 0.883,
        "observedAt": "2022-07-18T09:35:06.927Z",
    }
    assert battery.observed_at is None
    assert battery.provenance is not None
    assert battery.provenance.integration == "beach-sensors-mqtt"


def test_a_battery_level_the_device_cannot_measure_is_minus_one(workspace: Workspace) -> None:
    body = status_body(CS4_STATUS, batteryLevelUnavailable=True, batteryLevel=0)
    [battery] = Processor(workspace).process(inbox_message(body, "beach-sensors-mqtt"))
    assert battery.attribute["value"] == -1.0


def test_an_externally_powered_device_reports_no_battery(workspace: Workspace) -> None:
    body = status_body(CS4_STATUS, externalPowerSource=True, batteryLevel=0)
    assert Processor(workspace).process(inbox_message(body, "beach-sensors-mqtt")) == []


def test_a_chirpstack_v3_status_event_from_an_unknown_device_is_a_device_error(
    workspace: Workspace,
) -> None:
    workspace.integrations["beach-sensors-mqtt"].source.format = "chirpstack_v3"
    error = stage_of(Processor(workspace), status_body(CS3_STATUS), "beach-sensors-mqtt")
    assert error.stage == "device"
    assert error.reason.startswith("unknown device 8c83fc05007455a5 (07624101)")


def test_a_chirpstack_v3_status_event_of_a_registered_device(workspace: Workspace) -> None:
    workspace.integrations["beach-sensors-mqtt"].source.format = "auto"
    body = status_body(CS3_STATUS, devEUI=BYSKE_SENSOR)
    [battery] = Processor(workspace).process(inbox_message(body, "beach-sensors-mqtt"))
    # The v3 event has no time of its own, so the value carries none.
    assert battery.attribute == {"type": "Property", "value": 0.9567}


def test_a_status_event_on_a_tts_integration_is_an_envelope_error(workspace: Workspace) -> None:
    error = stage_of(Processor(workspace), status_body(CS4_STATUS))
    assert error.stage == "envelope"
    assert "end_device_ids is missing" in error.reason
