"""MQTT connector on the real Mosquitto: QoS 1 uplinks stored, and redelivered after a stop."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as paho
import pytest

from stadsnav.runtime import Runtime
from stadsnav.workspace import Workspace
from stadsnav.workspace.models import MqttSource
from support import BYSKE_SENSOR, UplinkFactory

pytestmark = pytest.mark.mqtt
BROKER = ("127.0.0.1", 1883)
ENTITY = "urn:ngsi-ld:WaterQualityObserved:skelleftea:elt2-byske-havsbad"


@pytest.fixture(autouse=True)
def _broker() -> None:
    try:
        socket.create_connection(BROKER, timeout=2).close()
    except OSError as error:
        reason = f"Mosquitto not reachable at {BROKER[0]}:{BROKER[1]}: {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture
def mqtt_runtime(workspace: Workspace) -> Runtime:
    """The demo's MQTT integration on a topic and client id of this test only."""
    workspace.integrations.pop("beach-sensors-tts")
    integration = workspace.integrations["beach-sensors-mqtt"]
    tag = uuid.uuid4().hex[:8]
    integration.source = MqttSource(
        type="mqtt",
        format="tts_v3",
        topics=[f"v3/beaches-{tag}@test/devices/+/up"],
        qos=1,
        client_id=f"stadsnav-test-{tag}",
    )
    runtime = Runtime.open(workspace)
    return runtime


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
    while not all(c.status().get("connected") for c in runtime.connectors):
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
