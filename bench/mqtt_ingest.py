"""MQTT ingest at QoS 1: publish TTS uplinks, time until stored, against a parse-only subscriber."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
import uuid
from collections.abc import Callable
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from pathlib import Path

import aiomqtt
import orjson
import paho.mqtt.client as paho
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from bench.common import (
    Result,
    StoredCounter,
    Uplink,
    copy_workspace,
    http_get,
    progress,
    stadsnav_server,
    temp_dir,
    uplinks,
    wait_until,
)

HOST = "127.0.0.1"
PORT = 1883
INTEGRATION = "beach-sensors-mqtt"
TOPIC_FILTER = "v3/+/devices/+/up"
AHEAD = 500
"""Most messages published but not yet received: Mosquitto drops QoS 1 messages beyond its
per-client queue (max_queued_messages, 1000 by default), so the publisher must not run ahead."""

_FORK = multiprocessing.get_context("fork")


def broker_reachable(timeout: float = 1.0) -> bool:
    """Whether an MQTT broker answers on 127.0.0.1:1883."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-probe-{uuid.uuid4()}")
    try:
        client.connect(HOST, PORT, keepalive=5)
    except OSError:
        return False
    client.disconnect()
    return True


def _mqtt_workspace(folder: Path, client_id: str) -> Path:
    workspace = copy_workspace(folder, keep=(INTEGRATION,))
    path = workspace / "integrations" / f"{INTEGRATION}.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["source"].update(format="tts_v3", topics=[TOPIC_FILTER], client_id=client_id)
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    return workspace


def publish(messages: list[Uplink], received: Callable[[], int]) -> None:
    """Publish at QoS 1, never more than ``AHEAD`` messages ahead of ``received()``."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4()}")
    client.max_inflight_messages_set(100)
    client.connect(HOST, PORT)
    client.loop_start()
    try:
        sent = 0
        while sent < len(messages):
            room = min(received() + AHEAD, len(messages)) - sent
            if room <= 0:
                time.sleep(0.002)
                continue
            for message in messages[sent : sent + room]:
                client.publish(message.topic, message.body, qos=1)
            sent += room
    finally:
        client.loop_stop()
        client.disconnect()


def forget_session(client_id: str) -> None:
    """Remove a persistent session from the broker: connect with a clean session, leave."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    client.connect(HOST, PORT)
    client.disconnect()


def _connected(port: int) -> bool:
    status, _, body = http_get(port, "/healthz")
    return status == 200 and all(c.get("connected") for c in orjson.loads(body)["connectors"])


def _time_subject(messages: list[Uplink], folder: Path) -> float:
    client_id = f"stadsnav-bench-{uuid.uuid4().hex[:12]}"
    workspace = _mqtt_workspace(folder, client_id)
    db = folder / "stadsnav.db"
    try:
        with stadsnav_server(workspace, db) as server:
            wait_until(lambda: _connected(server.port), 15, "stadsnav MQTT subscription", 0.1)
            counter = StoredCounter(db)
            progress("mqtt", f"stadsnav run: publishing {len(messages):,} at QoS 1")
            started = time.perf_counter()
            publish(messages, counter.accepted)
            counter.wait_stored(len(messages), timeout=300)
            seconds = time.perf_counter() - started
            counter.close()
    finally:
        forget_session(client_id)
    return seconds


async def _subscribe(client_id: str, received: Synchronized[int], ready: Event, total: int) -> None:
    client = aiomqtt.Client(HOST, PORT, identifier=client_id, clean_session=False)
    # Acknowledge after parsing, as stadsnav acknowledges after its commit.
    client._client.manual_ack_set(True)
    async with client:
        await client.subscribe(TOPIC_FILTER, qos=1)
        ready.set()
        count = 0
        async for message in client.messages:
            if isinstance(message.payload, bytes | bytearray):
                orjson.loads(message.payload)
            client._client.ack(message.mid, message.qos)
            count += 1
            received.value = count
            if count >= total:
                return


def _baseline_process(
    client_id: str, received: Synchronized[int], ready: Event, total: int
) -> None:
    asyncio.run(_subscribe(client_id, received, ready, total))


def _time_baseline(messages: list[Uplink]) -> float:
    client_id = f"bench-bare-{uuid.uuid4().hex[:12]}"
    received: Synchronized[int] = _FORK.Value("q", 0)
    ready = _FORK.Event()
    process = _FORK.Process(
        target=_baseline_process, args=(client_id, received, ready, len(messages)), daemon=True
    )
    process.start()
    try:
        if not ready.wait(15):
            raise RuntimeError("the baseline subscriber did not subscribe in 15 s")
        started = time.perf_counter()
        publish(messages, lambda: int(received.value))
        wait_until(lambda: received.value >= len(messages), 300, "baseline received", 0.005)
        seconds = time.perf_counter() - started
        process.join(10)
    finally:
        if process.is_alive():
            process.terminate()
        forget_session(client_id)
    return seconds


def run(count: int = 20_000) -> Result:
    """Publish ``count`` uplinks to ``stadsnav run`` and to a bare subscriber."""
    if not broker_reachable():
        raise RuntimeError(f"no MQTT broker on {HOST}:{PORT}")
    progress("mqtt", f"building {count:,} uplinks")
    messages = uplinks(count)
    with temp_dir() as folder:
        subject = _time_subject(messages, folder)
    progress("mqtt", f"stored all in {subject:.2f} s; now a parse-only aiomqtt subscriber")
    baseline = _time_baseline(messages)
    return Result(
        "MQTT ingest", count / subject, "uplinks/s", count / baseline, "msgs/s", min_ratio=0.5
    )
