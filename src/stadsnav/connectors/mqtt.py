"""MQTT connector: subscribes to uplink (and status) topics; PUBACK only after commit.

It speaks MQTT 5 to declare a Maximum Packet Size: the broker then never sends a larger message,
so one is refused before a byte of it is read. Such a message is dropped by the broker for this
client (Mosquitto logs "Dropping too large outgoing PUBLISH"): it cannot reach the dead-letter
store, as neither paho nor aiomqtt tells the client about it. Over MQTT 3.1.1, which has no such
property, a larger message is read whole and then dropped here, counted as ``too_large``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ssl
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
import structlog
from paho.mqtt.client import MQTT_CLEAN_START_FIRST_ONLY
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from stadsnav.connectors.base import Connector, register
from stadsnav.connectors.envelopes import EnvelopeError, envelope_message_id
from stadsnav.connectors.topics import Kind, is_other_event_topic, match_topic
from stadsnav.pipeline.inbox import InboxUnavailableError
from stadsnav.store.base import NewInboxMessage
from stadsnav.workspace.models import MqttSettings, MqttSource

log = structlog.get_logger("stadsnav.mqtt")


def connect_properties(settings: MqttSettings) -> Properties:
    """CONNECT properties: a session that outlives a disconnect, and our largest packet."""
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    # Without an expiry an MQTT 5 session ends with the connection, and with it the QoS 1
    # messages the broker holds for us while we restart.
    properties.SessionExpiryInterval = int(settings.session_expiry.total_seconds())
    properties.MaximumPacketSize = settings.max_message_bytes
    return properties


def message_id_for(body: bytes, fmt: str, kind: Kind = "up") -> str:
    """The message's own id, or a content hash for one the pipeline will dead-letter."""
    try:
        return envelope_message_id(body, fmt, kind)
    except EnvelopeError:
        return "sha256:" + hashlib.sha256(body).hexdigest()


@register
class MqttConnector(Connector):
    """A persistent-session QoS 1 subscriber; a message unacknowledged at a crash is redelivered."""

    type = "mqtt"
    reconnect_max_delay = 30.0
    window = 1000
    """Most messages waiting for their commit at once (the broker's in-flight limit is lower)."""

    topic_cache_size = 10_000
    """Most topics whose match is remembered; a network server uses one topic per device."""

    _task: asyncio.Task[None] | None = None
    _connected = False
    _topic_kinds: dict[str, Kind | None] | None = None

    async def start(self) -> None:
        """Connect in the background, reconnecting with backoff until stopped."""
        self._task = asyncio.create_task(self._run(), name=f"mqtt-{self.integration.id}")

    async def stop(self) -> None:
        """Disconnect; unacknowledged messages stay with the broker."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def status(self) -> dict[str, Any]:
        """Connection state for ``/healthz``."""
        return {**super().status(), "connected": self._connected}

    def _client(self) -> aiomqtt.Client:
        source = self._source()
        settings = self.workspace.settings.mqtt
        url = urlsplit(settings.url)
        tls = url.scheme == "mqtts"
        v5 = settings.protocol == "5"
        client = aiomqtt.Client(
            url.hostname or "127.0.0.1",
            url.port or (8883 if tls else 1883),
            username=settings.username or url.username,
            password=settings.password or url.password,
            identifier=source.client_id or f"stadsnav-{self.integration.id}",
            protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
            # Both keep the session (and the unacknowledged messages) across a reconnect.
            clean_session=None if v5 else False,
            clean_start=False if v5 else MQTT_CLEAN_START_FIRST_ONLY,
            properties=connect_properties(settings) if v5 else None,
            tls_context=ssl.create_default_context() if tls else None,
        )
        # aiomqtt acknowledges on receipt; the paho client beneath it can leave PUBACK to us,
        # and it must be set before connecting, as a persistent session delivers at once.
        client._client.manual_ack_set(True)
        return client

    def _source(self) -> MqttSource:
        source = self.integration.source
        assert isinstance(source, MqttSource)
        return source

    async def _run(self) -> None:
        delay = 1.0
        while True:
            try:
                client = self._client()
                async with client:
                    for topic in self._source().topics:
                        await client.subscribe(topic, qos=self._source().qos)
                    self._connected = True
                    delay = 1.0
                    log.info("mqtt_connected", integration=self.integration.id)
                    await self._consume(client)
            except* (aiomqtt.MqttError, InboxUnavailableError) as group:
                # Unacknowledged messages are redelivered by the broker when we reconnect.
                log.warning(
                    "mqtt_disconnected",
                    integration=self.integration.id,
                    error="; ".join(str(error) for error in group.exceptions),
                    retry_in=delay,
                )
            except* Exception as group:
                # A bug must cost a reconnect, not the subscription: the task would end for good.
                log.error(
                    "mqtt_receive_failed",
                    integration=self.integration.id,
                    error="; ".join(repr(error) for error in group.exceptions),
                    retry_in=delay,
                )
            finally:
                self._connected = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.reconnect_max_delay)

    async def _consume(self, client: aiomqtt.Client) -> None:
        # One task per message lets the inbox commit many messages in one transaction;
        # the window bounds how many wait for their commit (and their PUBACK) at once.
        window = asyncio.Semaphore(self.window)
        async with asyncio.TaskGroup() as tasks:
            async for message in client.messages:
                await window.acquire()
                task = tasks.create_task(self._receive(client, message))
                task.add_done_callback(lambda _: window.release())

    async def _receive(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        body = bytes(message.payload) if isinstance(message.payload, bytes | bytearray) else b""
        kind = self._topic_kind(topic)
        if len(body) > self.workspace.settings.mqtt.max_message_bytes:
            # Only over MQTT 3.1.1, or from a broker that ignores our Maximum Packet Size.
            self._drop_too_large(topic, len(body))
        elif kind is None:
            self.metrics.messages_rejected.labels(self.integration.id, "not_ingested_event").inc()
        else:
            inbox_message = NewInboxMessage(
                self.integration.id,
                message_id_for(body, self._source().format, kind),
                datetime.now(UTC),
                "application/json",
                body,
                topic,
            )
            # Waits for room rather than refusing: an MQTT sender cannot be told to retry,
            # and a message we do not acknowledge is redelivered only after a reconnect.
            self.count_received(await self.inbox.submit(inbox_message, wait=True))
        if message.qos > 0:
            client._client.ack(message.mid, message.qos)

    def _drop_too_large(self, topic: str, size: int) -> None:
        self.metrics.messages_rejected.labels(self.integration.id, "too_large").inc()
        log.warning(
            "mqtt_message_too_large",
            integration=self.integration.id,
            topic=topic,
            size=size,
            limit=self.workspace.settings.mqtt.max_message_bytes,
            fix="raise [mqtt] max_message_bytes in stadsnav.toml if such messages are expected",
        )

    def _topic_kind(self, topic: str) -> Kind | None:
        # Topics repeat with every uplink of a device; matching each one again costs ~3 µs.
        cache = self._topic_kinds
        if cache is None:
            cache = self._topic_kinds = {}
        if topic in cache:
            return cache[topic]
        if len(cache) >= self.topic_cache_size:
            cache.clear()
        match = match_topic(topic)
        if match is not None:
            kind: Kind | None = match.kind
        else:
            kind = None if is_other_event_topic(topic) else "up"
        cache[topic] = kind
        return kind
