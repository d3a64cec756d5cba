"""Redeliveries stored once, conflicts and poison messages dead-lettered, replay after the fix."""

from __future__ import annotations

import subprocess

import httpx
import orjson
import paho.mqtt.client as paho
import pytest

from outages import post_concurrently
from platform_harness import (
    MQTT_DEVICE,
    WEBHOOK_DEVICE,
    Platform,
    dead_letter_reasons,
    entity_of,
    mqtt_body,
    post_webhook,
    publish_all,
    stored_sequences,
    wait_stored,
    webhook_body,
)
from support import STADSNAV, wait_for

MESSAGES = 1_000
DELIVERIES = 10
MQTT_ROUND = 100
"""Messages per MQTT round, each published ``DELIVERIES`` times: Mosquitto queues at most 1,000
messages for a client by default (max_queued_messages) and drops the rest, at QoS 1 too;
docs/reliability.md says so."""


def status_of(platform: Platform, body: bytes, client: httpx.Client) -> str:
    """Post one uplink; its 202 answer's status (accepted, duplicate)."""
    response = post_webhook(platform, body, client=client)
    assert response.status_code == 202, response.text
    status: str = response.json()["status"]
    return status


def counts(platform: Platform) -> tuple[float, float]:
    """Messages received as new, and as duplicates, over all sources."""
    return (
        platform.metric("stadsnav_messages_received_total"),
        platform.metric("stadsnav_messages_duplicate_total"),
    )


def repeated(bodies: list[bytes]) -> list[bytes]:
    """Every body ``DELIVERIES`` times in a row, so that the copies of one message race."""
    return [body for body in bodies for _ in range(DELIVERIES)]


def deliver_repeatedly(platform: Platform, bodies: list[bytes]) -> list[str]:
    """Every body ``DELIVERIES`` times, from 4 senders at once, as retrying servers would;
    the status each 202 answer gives (accepted, duplicate)."""
    answers = post_concurrently(platform, repeated(bodies), connections=4)
    assert {status for status, _ in answers} == {202}, answers[:3]
    return [orjson.loads(answer)["status"] for _, answer in answers]


@pytest.mark.mqtt
def test_each_message_delivered_ten_times_is_stored_once(
    mqtt_platform: tuple[Platform, str], publisher: paho.Client
) -> None:
    platform, topic = mqtt_platform
    answers = deliver_repeatedly(platform, [webhook_body(n) for n in range(MESSAGES)])
    assert answers.count("accepted") == MESSAGES
    assert answers.count("duplicate") == MESSAGES * (DELIVERIES - 1)

    for first in range(0, MESSAGES, MQTT_ROUND):
        bodies = [mqtt_body(n) for n in range(first, first + MQTT_ROUND)]
        publish_all(publisher, topic, repeated(bodies))
        done = first + MQTT_ROUND
        expected = (MESSAGES + done, (MESSAGES + done) * (DELIVERIES - 1))
        wait_for(lambda: counts(platform) == expected, timeout=30)  # noqa: B023

    for device in (WEBHOOK_DEVICE, MQTT_DEVICE):
        stored = wait_stored(platform, entity_of(device), MESSAGES)
        assert sorted(stored) == list(range(MESSAGES))  # none missing, none twice
    platform.stop()


def test_the_same_message_id_with_other_content_is_a_conflict(platform: Platform) -> None:
    platform.start()
    original = webhook_body(7)
    with httpx.Client() as client:
        assert status_of(platform, original, client) == "accepted"
        wait_stored(platform, entity_of(WEBHOOK_DEVICE), 1)
        tampered = orjson.loads(original)
        tampered["uplink_message"]["frm_payload"] = "DAEs"  # 30.0 °C under the same message id
        assert status_of(platform, orjson.dumps(tampered), client) == "conflict"
        assert status_of(platform, original, client) == "duplicate"

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
    with httpx.Client() as client:
        for n in range(40):
            body = poison_body(n) if n % 10 == 3 else webhook_body(n)
            status_of(platform, unknown_device_body(n) if n % 10 == 6 else body, client)
    healthy = [n for n in range(40) if n % 10 not in (3, 6)]
    assert sorted(wait_stored(platform, entity_of(WEBHOOK_DEVICE), len(healthy))) == healthy

    # The mapping failures are tried 3 times, 2 s then 4 s apart, before they are dead letters.
    wait_for(lambda: len(dead_letter_reasons(platform)) == 8, timeout=30)
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
    # The running platform may take some of them before the command does: counted apart.
    assert "replayed 8 message(s): " in outputs[0]
    assert "replayed 4 message(s): 0 stored, " in outputs[1]
    wait_for(lambda: len(dead_letter_reasons(platform)) == 4)
    store = platform.store()
    try:
        assert sorted(stored_sequences(store, entity_of(("elt2-new-beach", "")))) == [6, 16, 26, 36]
    finally:
        store.close()
    assert sorted(stage for stage, _, _ in dead_letter_reasons(platform)) == ["map"] * 4
    platform.stop()
