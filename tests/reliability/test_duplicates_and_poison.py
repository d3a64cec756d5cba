"""Redeliveries stored once, conflicts and poison messages dead-lettered, replay after the fix."""

from __future__ import annotations

import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson
import pytest

from platform_harness import (
    MQTT_DEVICE,
    STADSNAV,
    WEBHOOK_DEVICE,
    Platform,
    dead_letter_reasons,
    entity_of,
    mqtt_body,
    mqtt_publisher,
    publish_all,
    reliability_workspace,
    require_broker,
    stored_sequences,
    wait_stored,
    webhook_body,
)
from support import wait_for

MESSAGES = 1_000
DELIVERIES = 10
MQTT_TOPIC = "application/rel-{}/device/{}/event/up"


def post(client: httpx.Client, body: bytes) -> str:
    """Post one uplink; its 202 answer's status (accepted, duplicate)."""
    response = client.post(
        "/ingest/beach-sensors-tts", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 202, response.text
    status: str = response.json()["status"]
    return status


def counts(platform: Platform) -> tuple[float, float]:
    """Messages received as new, and as duplicates, over all sources."""
    return (
        platform.metric("stadsnav_messages_received_total"),
        platform.metric("stadsnav_messages_duplicate_total"),
    )


def deliver_repeatedly(url: str, bodies: list[bytes]) -> list[str]:
    """Every body ``DELIVERIES`` times, from 4 senders at once, as retrying servers would."""
    deliveries = [body for _ in range(DELIVERIES) for body in bodies]
    with httpx.Client(base_url=url, timeout=30) as client, ThreadPoolExecutor(4) as senders:
        return list(senders.map(lambda body: post(client, body), deliveries))


@pytest.mark.mqtt
def test_each_message_delivered_ten_times_is_stored_once(tmp_path: Path, storage_url: str) -> None:
    require_broker()
    run_id = uuid.uuid4().hex[:8]
    topic = MQTT_TOPIC.format(run_id, "+")
    platform = Platform(reliability_workspace(tmp_path / "ws", mqtt_topic=topic), storage_url)
    platform.start()
    try:
        answers = deliver_repeatedly(platform.url, [webhook_body(n) for n in range(MESSAGES)])
        assert answers.count("accepted") == MESSAGES
        assert answers.count("duplicate") == MESSAGES * (DELIVERIES - 1)

        # Round by round: Mosquitto queues at most 1,000 messages for a client by default
        # (max_queued_messages) and drops the rest, at QoS 1 too; docs/reliability.md says so.
        publisher = mqtt_publisher()
        bodies = [mqtt_body(n) for n in range(MESSAGES)]
        for delivery in range(DELIVERIES):
            publish_all(publisher, MQTT_TOPIC.format(run_id, MQTT_DEVICE[0]), bodies)
            expected = (2 * MESSAGES, MESSAGES * (DELIVERIES - 1 + delivery))
            wait_for(lambda: counts(platform) == expected, timeout=30)  # noqa: B023
        publisher.disconnect()

        for device in (WEBHOOK_DEVICE, MQTT_DEVICE):
            stored = wait_stored(platform, entity_of(device), MESSAGES)
            assert sorted(stored) == list(range(MESSAGES))  # none missing, none twice
    finally:
        platform.stop()


def test_the_same_message_id_with_other_content_is_a_conflict(platform: Platform) -> None:
    platform.start()
    original = webhook_body(7)
    with httpx.Client(base_url=platform.url) as client:
        assert post(client, original) == "accepted"
        wait_stored(platform, entity_of(WEBHOOK_DEVICE), 1)
        tampered = orjson.loads(original)
        tampered["uplink_message"]["frm_payload"] = "DAEs"  # 30.0 °C under the same message id
        post(client, orjson.dumps(tampered))
        assert post(client, original) == "duplicate"

    [(stage, reason, message_id)] = dead_letter_reasons(platform)
    assert stage == "conflict"
    assert message_id == tampered["correlation_ids"][0]
    assert reason.startswith(f"conflict: message id {message_id} was first received at ")
    store = platform.store()
    try:
        assert stored_sequences(store, entity_of(WEBHOOK_DEVICE)) == [7]
        [kept] = store.history(entity_of(WEBHOOK_DEVICE))["temperature"]
        assert kept.attribute["value"] == 0.7  # the first content, not the conflicting one
    finally:
        store.close()
    platform.stop()


def unknown_device_body(sequence: int) -> bytes:
    """An uplink from a sensor not (yet) in the device register."""
    return webhook_body(sequence, ("elt2-new-beach", "a81758fffe0a0b0c"))


def poison_body(sequence: int) -> bytes:
    """An ELT-2 uplink with only the internal temperature: the mapping's required value is gone."""
    body = orjson.loads(webhook_body(sequence))
    body["uplink_message"]["frm_payload"] = "AQDm"  # 01 00e6: internal temperature 23.0 °C
    return orjson.dumps(body)


def test_poison_messages_are_dead_lettered_and_replayed_after_the_fix(platform: Platform) -> None:
    platform.start()
    with httpx.Client(base_url=platform.url) as client:
        for n in range(40):
            body = poison_body(n) if n % 10 == 3 else webhook_body(n)
            post(client, unknown_device_body(n) if n % 10 == 6 else body)
    healthy = [n for n in range(40) if n % 10 not in (3, 6)]
    assert sorted(wait_stored(platform, entity_of(WEBHOOK_DEVICE), len(healthy))) == healthy

    letters = dead_letter_reasons(platform)
    assert sorted(stage for stage, _, _ in letters) == ["device"] * 4 + ["map"] * 4
    assert all("data.externalTemperature is missing" in r for s, r, _ in letters if s == "map")

    # The cause is fixed in the workspace (the new sensor registered) and the dead letters of
    # that integration replayed, twice, while the platform runs: stored once.
    devices = platform.workspace / "devices" / "beach-sensors.yaml"
    devices.write_text(
        devices.read_text()
        + "\n  - dev_eui: a81758fffe0a0b0c\n    name: elt2-new-beach\n    codec: elsys/elt-2\n"
        + "    site: urn:ngsi-ld:Beach:se:skelleftea:byske-havsbad\n"
    )
    replay = [*STADSNAV, "deadletters", "replay", str(platform.workspace)]
    options = ["--integration", "beach-sensors-tts", "--since", "PT1H"]
    outputs = [
        subprocess.run(
            [*replay, *options], env=platform.env, capture_output=True, text=True, timeout=60
        ).stdout
        for _ in range(2)
    ]
    assert "replayed 8 message(s): 4 stored, 4 dead-lettered again" in outputs[0]
    assert "replayed 4 message(s): 0 stored, 4 dead-lettered again" in outputs[1]
    store = platform.store()
    try:
        assert sorted(stored_sequences(store, entity_of(("elt2-new-beach", "")))) == [6, 16, 26, 36]
    finally:
        store.close()
    assert sorted(stage for stage, _, _ in dead_letter_reasons(platform)) == ["map"] * 4
    platform.stop()
