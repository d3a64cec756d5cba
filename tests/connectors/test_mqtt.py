"""MQTT connector on the real Mosquitto: QoS 1 uplinks stored, and redelivered after a stop."""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal

import orjson
import paho.mqtt.client as paho
import pytest

from stadsnav.connectors.mqtt import message_id_for
from stadsnav.runtime import Runtime
from stadsnav.store.base import NewInboxMessage
from stadsnav.workspace import Workspace
from stadsnav.workspace.models import MqttSource
from support import (
    BROKER,
    BYSKE_SENSOR,
    SHARED_DATA,
    SUNDSVALL_BEACH_PAYLOAD,
    UplinkFactory,
    require_broker,
)

pytestmark = pytest.mark.mqtt
ENTITY = "urn:ngsi-ld:WaterQualityObserved:skelleftea:elt2-byske-havsbad"
BOVIKEN_SENSOR = "a81758fffe05c3a2"
BYSKE_DEVICE = "urn:ngsi-ld:Device:elt2-byske-havsbad"
BOVIKEN_DEVICE = "urn:ngsi-ld:Device:elt2-bovikens-havsbad"


@pytest.fixture(autouse=True)
def _broker() -> None:
    require_broker()


def subscribe_integration(workspace: Workspace, fmt: str, topic: str) -> None:
    """Point the demo's MQTT integration at a topic and a client id of this test only."""
    workspace.integrations.pop("beach-sensors-tts", None)
    workspace.integrations["beach-sensors-mqtt"].source = MqttSource(
        type="mqtt",
        format=fmt,
        topics=[topic],
        qos=1,
        client_id=f"stadsnav-test-{uuid.uuid4().hex[:8]}",
    )


@pytest.fixture
def mqtt_runtime(workspace: Workspace) -> Runtime:
    """The demo's MQTT integration, for The Things Stack's topic layout."""
    subscribe_integration(
        workspace, "tts_v3", f"v3/beaches-{uuid.uuid4().hex[:8]}@test/devices/+/up"
    )
    return Runtime.open(workspace)


def publish(topic: str, bodies: list[bytes]) -> None:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.connect(*BROKER)
    client.loop_start()
    infos = [client.publish(topic, body, qos=1) for body in bodies]
    for info in infos:
        info.wait_for_publish(10)
    client.loop_stop()
    client.disconnect()


async def wait_stored(runtime: Runtime, count: int, timeout: float = 15) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        history = runtime.store.history(ENTITY).get("temperature", [])
        if len(history) >= count:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{len(history)} of {count} stored")
        await asyncio.sleep(0.05)


def topic_of(runtime: Runtime) -> str:
    source = runtime.workspace.integrations["beach-sensors-mqtt"].source
    assert isinstance(source, MqttSource)
    return source.topics[0].replace("+", "elt2-byske-havsbad")


def uplinks(make_uplink: UplinkFactory, count: int, first: int = 0) -> list[bytes]:
    start = datetime(2026, 7, 1, tzinfo=UTC)
    return [
        make_uplink(dev_eui=BYSKE_SENSOR, f_cnt=i, received_at=start + timedelta(minutes=i))
        for i in range(first, first + count)
    ]


async def connected(runtime: Runtime) -> None:
    while not all(c.status().get("connected") for c in runtime.connectors if c.type == "mqtt"):
        await asyncio.sleep(0.02)


def test_qos1_uplinks_are_stored(mqtt_runtime: Runtime, make_uplink: UplinkFactory) -> None:
    async def scenario() -> None:
        await mqtt_runtime.start()
        try:
            await asyncio.wait_for(connected(mqtt_runtime), 10)
            await asyncio.to_thread(publish, topic_of(mqtt_runtime), uplinks(make_uplink, 50))
            await wait_stored(mqtt_runtime, 50)
            assert mqtt_runtime.store.dead_letters() == []
        finally:
            await mqtt_runtime.stop()

    asyncio.run(scenario())


def test_messages_published_while_stopped_arrive_after_restart(
    mqtt_runtime: Runtime, make_uplink: UplinkFactory
) -> None:
    topic = topic_of(mqtt_runtime)

    async def first_run() -> None:
        await mqtt_runtime.start()
        await asyncio.wait_for(connected(mqtt_runtime), 10)
        await mqtt_runtime.stop()

    asyncio.run(first_run())  # the broker now holds a persistent session for our client id
    publish(topic, uplinks(make_uplink, 20))

    again = Runtime.open(mqtt_runtime.workspace)

    async def second_run() -> None:
        await again.start()
        try:
            await wait_stored(again, 20)
        finally:
            await again.stop()

    asyncio.run(second_run())


def test_chirpstack_v4_events_on_their_topic_layout(workspace: Workspace) -> None:
    """The docs' ChirpStack v4 `up` event, from a registered sensor, arrives as stored values."""
    tag = uuid.uuid4().hex[:8]
    subscribe_integration(workspace, "chirpstack_v4", f"application/{tag}/device/+/event/up")
    runtime = Runtime.open(workspace)
    event = orjson.loads(
        (SHARED_DATA / "envelopes" / "chirpstack_v4_up_docs_example.json").read_bytes()
    )
    event["deviceInfo"]["devEui"] = BYSKE_SENSOR
    event["fPort"] = 5
    event["data"] = base64.b64encode(SUNDSVALL_BEACH_PAYLOAD).decode()
    status = orjson.loads(
        (SHARED_DATA / "envelopes" / "chirpstack_v4_status_docs_example.json").read_bytes()
    )

    async def scenario() -> None:
        await runtime.start()
        try:
            await asyncio.wait_for(connected(runtime), 10)
            base = f"application/{tag}/device/{BYSKE_SENSOR}/event"
            await asyncio.to_thread(publish, f"{base}/status", [orjson.dumps(status)])
            await asyncio.to_thread(publish, f"{base}/up", [orjson.dumps(event)])
            await wait_stored(runtime, 1)
            entity = runtime.store.get_entity(ENTITY)
            assert entity is not None
            assert entity.attributes["temperature"]["value"] == 19.3
            assert entity.attributes["temperature"]["observedAt"] == "2022-07-18T09:34:15.775Z"
            assert runtime.store.dead_letters() == []
        finally:
            await runtime.stop()

    asyncio.run(scenario())


def test_chirpstack_status_events_reach_the_device_entities(workspace: Workspace) -> None:
    """v4 ``event/status`` and v3 ``status`` topics are committed, then become battery levels."""
    tag = uuid.uuid4().hex[:8]
    workspace.integrations.pop("beach-sensors-tts", None)
    workspace.integrations["beach-sensors-mqtt"].source = MqttSource(
        type="mqtt",
        format="auto",
        topics=[f"application/{tag}/device/+/event/status", f"application/{tag}/device/+/status"],
        qos=1,
        client_id=f"stadsnav-test-{tag}",
    )
    runtime = Runtime.open(workspace)
    v4 = orjson.loads(
        (SHARED_DATA / "envelopes" / "chirpstack_v4_status_docs_example.json").read_bytes()
    )
    v4["deviceInfo"]["devEui"] = BYSKE_SENSOR
    v3 = orjson.loads(
        (
            SHARED_DATA / "envelopes" / "diwise_servanet_chirpstack_v3_status_event_watermeter.json"
        ).read_bytes()
    )
    v3["devEUI"] = BOVIKEN_SENSOR

    def battery(entity_id: str) -> object:
        entity = runtime.store.get_entity(entity_id)
        return None if entity is None else entity.attributes.get("batteryLevel", {}).get("value")

    async def scenario() -> None:
        await runtime.start()
        try:
            await asyncio.wait_for(connected(runtime), 10)
            base = f"application/{tag}/device"
            await asyncio.to_thread(
                publish, f"{base}/{BYSKE_SENSOR}/event/status", [orjson.dumps(v4)]
            )
            await asyncio.to_thread(publish, f"{base}/{BOVIKEN_SENSOR}/status", [orjson.dumps(v3)])
            deadline = asyncio.get_running_loop().time() + 15
            while battery(BYSKE_DEVICE) is None or battery(BOVIKEN_DEVICE) is None:
                assert asyncio.get_running_loop().time() < deadline, "status events not stored"
                await asyncio.sleep(0.05)
            assert battery(BYSKE_DEVICE) == 0.883
            assert battery(BOVIKEN_DEVICE) == 0.9567
            assert runtime.store.dead_letters() == []
        finally:
            await runtime.stop()

    asyncio.run(scenario())


def test_status_topics_get_the_status_event_id() -> None:
    body = (SHARED_DATA / "envelopes" / "chirpstack_v4_status_docs_example.json").read_bytes()
    assert message_id_for(body, "chirpstack_v4", "status") == (
        "bf2a9746-1c8b-49be-a92e-f0b89c8534e4"
    )
    # As an uplink it is not valid, so an uplink topic would name it by its content.
    assert message_id_for(body, "chirpstack_v4").startswith("sha256:")


def test_a_bridge_topic_of_another_network_server_is_ingested(workspace: Workspace) -> None:
    """Netmore has no standard MQTT layout: whatever arrives on the subscribed topic is ingested."""
    topic = f"netmore/{uuid.uuid4().hex[:8]}/uplinks"
    subscribe_integration(workspace, "netmore", topic)
    runtime = Runtime.open(workspace)
    [uplink] = orjson.loads(
        (SHARED_DATA / "envelopes" / "diwise_netmore_elsys_elt2hp.json").read_bytes()
    )
    uplink |= {"devEui": BYSKE_SENSOR, "payload": SUNDSVALL_BEACH_PAYLOAD.hex()}

    async def scenario() -> None:
        await runtime.start()
        try:
            await asyncio.wait_for(connected(runtime), 10)
            await asyncio.to_thread(publish, topic, [orjson.dumps([uplink])])
            await wait_stored(runtime, 1)
        finally:
            await runtime.stop()

    asyncio.run(scenario())


def test_a_failure_before_the_commit_leaves_the_message_with_the_broker(
    mqtt_runtime: Runtime, make_uplink: UplinkFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No PUBACK without a commit: after a crash in receiving, the broker delivers it again."""
    real_submit = mqtt_runtime.inbox.submit
    failures = [RuntimeError("a bug in receiving")]

    async def submit_failing_once(message: NewInboxMessage, wait: bool = False) -> bool:
        if failures:
            raise failures.pop()
        return await real_submit(message, wait)

    monkeypatch.setattr(mqtt_runtime.inbox, "submit", submit_failing_once)
    [connector] = [c for c in mqtt_runtime.connectors if c.type == "mqtt"]
    monkeypatch.setattr(type(connector), "reconnect_max_delay", 0.2)

    async def scenario() -> None:
        await mqtt_runtime.start()
        try:
            await asyncio.wait_for(connected(mqtt_runtime), 10)
            await asyncio.to_thread(publish, topic_of(mqtt_runtime), uplinks(make_uplink, 1))
            await wait_stored(mqtt_runtime, 1, timeout=20)
            assert not failures
        finally:
            await mqtt_runtime.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_a_message_over_max_message_bytes_is_dropped(
    mqtt_runtime: Runtime, make_uplink: UplinkFactory, protocol: Literal["5", "3.1.1"]
) -> None:
    """MQTT 5: the broker honours our Maximum Packet Size. 3.1.1: the connector drops it, read."""
    mqtt_runtime.workspace.settings.mqtt.protocol = protocol
    mqtt_runtime.workspace.settings.mqtt.max_message_bytes = 16 * 1024
    first, second = uplinks(make_uplink, 2)
    # The same uplink padded: had it been taken in, ``first`` would be a conflict dead letter.
    large = orjson.dumps({**orjson.loads(first), "padding": "x" * 64 * 1024})
    labels = {"integration": "beach-sensors-mqtt", "reason": "too_large"}

    async def scenario() -> None:
        await mqtt_runtime.start()
        try:
            await asyncio.wait_for(connected(mqtt_runtime), 10)
            await asyncio.to_thread(publish, topic_of(mqtt_runtime), [large, first, second])
            await wait_stored(mqtt_runtime, 2)
            assert mqtt_runtime.store.dead_letters() == []
        finally:
            await mqtt_runtime.stop()

    asyncio.run(scenario())
    dropped = mqtt_runtime.metrics.registry.get_sample_value(
        "stadsnav_messages_rejected_total", labels
    )
    assert dropped == (1 if protocol == "3.1.1" else None)


def test_the_session_of_an_mqtt_3_1_1_connection_outlives_a_stop(
    mqtt_runtime: Runtime, make_uplink: UplinkFactory
) -> None:
    """A broker without MQTT 5 keeps our session too: clean_session=False."""
    mqtt_runtime.workspace.settings.mqtt.protocol = "3.1.1"

    async def first_run() -> None:
        await mqtt_runtime.start()
        await asyncio.wait_for(connected(mqtt_runtime), 10)
        await mqtt_runtime.stop()

    asyncio.run(first_run())
    publish(topic_of(mqtt_runtime), uplinks(make_uplink, 5))
    again = Runtime.open(mqtt_runtime.workspace)

    async def second_run() -> None:
        await again.start()
        try:
            await wait_stored(again, 5)
        finally:
            await again.stop()

    asyncio.run(second_run())
