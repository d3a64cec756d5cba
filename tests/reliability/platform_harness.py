"""The reliability suite's harness: a real `stadsnav run` process and senders that count."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import paho.mqtt.client as paho
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from psycopg import sql

from stadsnav.simulate.chirpstack import chirpstack_up
from stadsnav.simulate.tts import tts_uplink
from stadsnav.store.base import ContextStore, DeadLetter
from stadsnav.store.factory import open_store
from support import (
    BROKER,
    REPO_ROOT,
    STADSNAV,
    drop_schema,
    free_port,
    fresh_schema,
    postgres_url,
    wait_healthy,
)

T = TypeVar("T")
BASE_TIME = datetime(2026, 7, 1, tzinfo=UTC)
"""Observation time of sequence number 0; number n is observed n seconds later."""
WEBHOOK_DEVICE = ("elt2-byske-havsbad", "a81758fffe05c3a1")
MQTT_DEVICE = ("elt2-bovikens-havsbad", "a81758fffe05c3a2")
WEBHOOK = "beach-sensors-tts"
"""The demo's beach webhook (The Things Stack uplinks)."""
MQTT = "beach-sensors-mqtt"
"""The demo's beach MQTT integration (ChirpStack events)."""
TLS = httpx.create_ssl_context()
"""Shared by requests: loading the CA bundle for each one took ~40 ms, most of a webhook post."""


def entity_of(device: tuple[str, str]) -> str:
    """The WaterQualityObserved entity a beach sensor's uplinks go to."""
    return f"urn:ngsi-ld:WaterQualityObserved:skelleftea:{device[0]}"


WEBHOOK_KEY = (entity_of(WEBHOOK_DEVICE), "temperature")
MQTT_KEY = (entity_of(MQTT_DEVICE), "temperature")
"""(entity, attribute) whose history holds the sequence numbers of each beach source."""


@contextmanager
def fresh_store(folder: Path, backend: str) -> Iterator[str]:
    """A store URL of its own: a SQLite file in ``folder``, or a PostgreSQL schema dropped after."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'stadsnav.db'}"
        return
    url, schema = postgres_url(), fresh_schema()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        drop_schema(url, schema)


def reliability_workspace(target: Path, mqtt_topic: str | None = None) -> Path:
    """A copy of the demo workspace with only the beach webhook (and, if given, MQTT) sources.

    The MQTT integration gets a topic and client id of this test only, so a persistent session
    of another test cannot take its messages.
    """
    shutil.copytree(
        REPO_ROOT / "workspaces" / "demo", target, ignore=shutil.ignore_patterns("data")
    )
    integrations = target / "integrations"
    for path in integrations.glob("*.yaml"):
        if path.stem != "beach-sensors-tts" and not (
            mqtt_topic and path.stem == "beach-sensors-mqtt"
        ):
            path.unlink()
    if mqtt_topic:
        path = integrations / "beach-sensors-mqtt.yaml"
        text = path.read_text()
        text = text.replace('["application/+/device/+/event/up"]', f'["{mqtt_topic}"]')
        text = text.replace(
            "client_id: stadsnav-beach-sensors", f"client_id: stadsnav-rel-{uuid.uuid4().hex[:8]}"
        )
        path.write_text(text)
    return target


class Platform:
    """One `stadsnav run` process on a workspace: started, killed and restarted by a test."""

    def __init__(self, workspace: Path, storage_url: str, extra_env: dict[str, str] | None = None):
        self.workspace = workspace
        self.storage_url = storage_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "STADSNAV_STORAGE_URL": storage_url, **(extra_env or {})}
        self.log = workspace.parent / "stadsnav-run.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._read_key: str | None = None

    def read_key(self) -> str:
        """An API key that reads every dataset, on the plan without rate limits, issued once
        with ``stadsnav keys create``."""
        if self._read_key is None:
            create = ["keys", "create", str(self.workspace), "--owner=tests", "--scope=read"]
            create.append("--plan=internal")
            issued = subprocess.run(
                [*STADSNAV, *create],
                env=self.env,
                capture_output=True,
                text=True,
                check=True,
            )
            self._read_key = issued.stdout.strip()
        return self._read_key

    def start(self, timeout: float = 30.0) -> None:
        """Start the process and wait until ``/healthz`` answers."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*STADSNAV, "run", str(self.workspace), "--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        wait_healthy(self.process, self.url, lambda: self.output()[-3000:], timeout)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a power cut of the process."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout: float = 10.0) -> float:
        """SIGTERM; the seconds until the process exited (fails if not 0 within ``timeout``)."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        assert code == 0, f"stadsnav run exited {code}:\n{self.output()[-3000:]}"
        return time.monotonic() - started

    def close(self) -> None:
        """Kill the process if a test left it running."""
        if self.process is not None and self.process.poll() is None:
            self.kill()

    def output(self) -> str:
        """What the process wrote so far (all runs)."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def store(self) -> ContextStore:
        """The platform's store, opened from the test (close it after use)."""
        return open_store(self.storage_url)

    def metric(self, name: str, **labels: str) -> float:
        """The sum of a metric's samples in ``/metrics`` whose labels include ``labels``."""
        return metric_sum(httpx.get(f"{self.url}/metrics", timeout=5).text, name, **labels)


def metric_sum(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples in a Prometheus exposition whose labels include ``labels``.

    ``name`` is a sample's name: ``stadsnav_messages_received_total`` for a counter.
    """
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def peak_rss_mb(platform: Platform) -> float:
    """The process's peak resident set size so far (``VmHWM`` in /proc, Linux), in MiB."""
    assert platform.process is not None
    status = Path(f"/proc/{platform.process.pid}/status").read_text()
    [line] = [line for line in status.splitlines() if line.startswith("VmHWM:")]
    return int(line.split()[1]) / 1024


def post_webhook(
    platform: Platform,
    content: bytes | Iterator[bytes],
    content_type: str | None = "application/json",
    client: httpx.Client | None = None,
) -> httpx.Response:
    """One POST to the beach webhook (chunked when ``content`` is an iterator), answered as is."""
    headers = {} if content_type is None else {"content-type": content_type}
    url = f"{platform.url}/ingest/{WEBHOOK}"
    if client is not None:
        return client.post(url, content=content, headers=headers)
    return httpx.post(url, content=content, headers=headers, timeout=10, verify=TLS)


def stored_entity(platform: Platform, entity_id: str) -> dict[str, Any] | None:
    """The NGSI-LD entity as ``GET /ngsi-ld/v1/entities/{id}`` answers it; None while 404."""
    response = httpx.get(
        f"{platform.url}/ngsi-ld/v1/entities/{entity_id}",
        headers={"X-API-Key": platform.read_key()},
        timeout=10,
    )
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def entity(platform: Platform, entity_id: str) -> dict[str, Any]:
    """The NGSI-LD entity, which must be stored."""
    found = stored_entity(platform, entity_id)
    assert found is not None, f"{entity_id} is not stored"
    return found


def product_item(platform: Platform, path: str) -> dict[str, Any]:
    """One item of a data product: the ``data`` of ``GET /api/v1/{path}``."""
    response = httpx.get(f"{platform.url}/api/v1/{path}", timeout=10)
    assert response.status_code == 200, response.text
    item: dict[str, Any] = response.json()["data"]
    return item


def beach_payload(sequence: int) -> bytes:
    """An ELT-2 payload (external temperature) that encodes the sequence number."""
    return b"\x0c" + (sequence % 300).to_bytes(2, "big")


def webhook_body(sequence: int, device: tuple[str, str] = WEBHOOK_DEVICE) -> bytes:
    """A The Things Stack uplink observed ``sequence`` seconds after ``BASE_TIME``."""
    return _uplink(tts_uplink, "skelleftea-beaches", sequence, device)


def mqtt_body(sequence: int, device: tuple[str, str] = MQTT_DEVICE) -> bytes:
    """A ChirpStack v4 ``up`` event observed ``sequence`` seconds after ``BASE_TIME``."""
    return _uplink(chirpstack_up, "beaches", sequence, device)


def _uplink(
    simulate: Callable[..., dict[str, Any]],
    application: str,
    sequence: int,
    device: tuple[str, str],
) -> bytes:
    uplink = simulate(
        device_id=device[0],
        dev_eui=device[1],
        application_id=application,
        f_port=5,
        f_cnt=sequence,
        payload=beach_payload(sequence),
        received_at=BASE_TIME + timedelta(seconds=sequence),
    )
    return orjson.dumps(uplink)


@dataclass
class WebhookSender:
    """Posts numbered uplinks like a network server: retried until answered 202."""

    url: str
    integration: str = WEBHOOK
    acknowledged: set[int] = field(default_factory=set)
    refused: int = 0

    def send(self, sequence: int, body: bytes | None = None, retry_for: float = 60.0) -> None:
        """Post until 202; a refused or failed attempt is retried after a short wait."""
        deadline = time.monotonic() + retry_for
        while True:
            try:
                response = httpx.post(
                    f"{self.url}/ingest/{self.integration}",
                    content=body if body is not None else webhook_body(sequence),
                    headers={"content-type": "application/json"},
                    timeout=10,
                    verify=TLS,
                )
                if response.status_code == 202:
                    self.acknowledged.add(sequence)
                    return
                assert response.status_code in (429, 503), response.text
                assert "retry-after" in response.headers
                self.refused += 1
            except httpx.HTTPError:
                self.refused += 1
            if time.monotonic() > deadline:
                raise AssertionError(f"message {sequence} not accepted in {retry_for} s")
            time.sleep(0.05)


def mqtt_publisher() -> paho.Client:
    """A connected QoS 1 publisher with its network loop running."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.connect(*BROKER)
    client.loop_start()
    return client


def publish_all(client: paho.Client, topic: str, bodies: Iterable[bytes]) -> None:
    """Publish at QoS 1 and wait for every PUBACK from the broker."""
    infos = [client.publish(topic, body, qos=1) for body in bodies]
    for info in infos:
        info.wait_for_publish(30)


def stored_sequences(
    store: ContextStore, entity_id: str, attribute: str = "temperature"
) -> list[int]:
    """The sequence numbers of an entity's history of ``attribute``, one per history row."""
    history = store.history(entity_id, [attribute]).get(attribute, [])
    return [int((i.observed_at - BASE_TIME).total_seconds()) for i in history]


def wait_stored(platform: Platform, entity_id: str, count: int, timeout: float = 60.0) -> list[int]:
    """Wait until an entity has ``count`` history rows; its sequence numbers."""
    deadline = time.monotonic() + timeout
    while True:
        store = platform.store()
        try:
            found = stored_sequences(store, entity_id)
        finally:
            store.close()
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(found)} of {count} stored in {timeout} s")
        time.sleep(0.2)


# Crash tests: a polled feed, senders that keep sending, and what the store holds.

POLL_INTEGRATION = "reliability-feed"
POLL_ENTITY = "urn:ngsi-ld:OffStreetParking:skelleftea:reliability-feed"
POLL_ATTRIBUTE = "availableSpotNumber"
POLL_KEY = (POLL_ENTITY, POLL_ATTRIBUTE)


def feed_record(sequence: int) -> dict[str, Any]:
    """Record ``sequence`` of the simulated feed, observed ``sequence`` seconds after BASE_TIME."""
    observed = BASE_TIME + timedelta(seconds=sequence)
    return {"seq": sequence, "observed": observed.isoformat(), "free": sequence % 50}


class FeedServer:
    """A vendor's JSON feed of numbered records that grows over time, served page by page.

    ``GET /feed?cursor=k`` answers records k … k+page_size-1 of those released so far, and in
    ``next`` the cursor of the following page, null on the last one.
    """

    def __init__(
        self, backlog: int = 0, rate: float = 0.0, page_size: int = 25, page_delay: float = 0.0
    ) -> None:
        self.backlog = backlog
        self.rate = rate
        """Records released per second after the backlog."""
        self.page_size = page_size
        self.page_delay = page_delay
        """Seconds each page takes to answer, so a poll of many pages is often cut by a kill."""
        self.pages_served = 0
        self._started = time.monotonic()
        self._frozen: int | None = None
        handler = type("Handler", (_FeedHandler,), {"feed": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/feed"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def released(self) -> int:
        """How many records the feed holds now."""
        if self._frozen is not None:
            return self._frozen
        return self.backlog + int((time.monotonic() - self._started) * self.rate)

    def freeze(self) -> int:
        """Stop growing; the number of records the feed holds from now on."""
        self._frozen = self.released()
        return self._frozen

    def page(self, cursor: int) -> bytes:
        """The page that starts at record ``cursor``."""
        released = self.released()
        end = min(cursor + self.page_size, released)
        records = [feed_record(n) for n in range(cursor, end)]
        following = cursor + self.page_size
        return orjson.dumps(
            {"records": records, "next": following if following < released else None}
        )

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


class _FeedHandler(BaseHTTPRequestHandler):
    feed: FeedServer

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        cursor = int(query.get("cursor", ["0"])[0])
        time.sleep(self.feed.page_delay)
        body = self.feed.page(cursor)
        self.feed.pages_served += 1
        try:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the platform was killed while it read the page

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a test's output is for its failures."""


def add_poll_integration(workspace: Path, feed_url: str, interval: float = 0.2) -> None:
    """Add integration ``POLL_INTEGRATION``: ``feed_url`` polled every ``interval`` seconds."""
    (workspace / "integrations" / f"{POLL_INTEGRATION}.yaml").write_text(
        f"""id: {POLL_INTEGRATION}
title: Reliability feed
description: Numbered records of a simulated vendor feed, polled page by page.
dataset: parking
source:
  type: http_poll
  url: {feed_url}
  interval: {interval}
  format: json
  records: records
  timeout: 5
  max_pages: 100000
  backoff: {{initial: 0.1, max: 0.5}}
  pagination: {{type: cursor, cursor_path: next, cursor_param: cursor}}
mapping:
  entity_type: OffStreetParking
  entity_id: "{POLL_ENTITY}"
  observed_at: data.observed
  properties:
    {POLL_ATTRIBUTE}: {{value: data.free, required: true}}
"""
    )


def poll_cursor(store: ContextStore, integration: str = POLL_INTEGRATION) -> int:
    """The first record of the next page the saved poll state names; 0 between polls.

    Every record before it was on a page the state claims is committed.
    """
    saved = store.poll_state(integration) or {}
    next_url = saved.get("next_url")
    if not next_url:
        return 0
    return int(parse_qs(urlsplit(next_url).query).get("cursor", ["0"])[0])


def pending_bodies(storage_url: str, source: str) -> list[bytes]:
    """Bodies of the messages from ``source`` committed to the inbox and not processed yet.

    Read with plain SQL: the store's own inbox read claims the messages it returns.
    """
    query = "SELECT body FROM inbox WHERE source = {}"
    if storage_url.startswith("sqlite:///"):
        connection = sqlite3.connect(storage_url.removeprefix("sqlite:///"), timeout=30)
        try:
            rows = connection.execute(query.format("?"), (source,)).fetchall()
        finally:
            connection.close()
    else:
        with psycopg.connect(storage_url) as pg:
            rows = pg.execute(query.format("%s"), (source,)).fetchall()
    return [bytes(row[0]) for row in rows]


def body_sequences(body: bytes) -> list[int]:
    """The sequence numbers in a webhook, MQTT or feed body (page or record) of this harness."""
    doc = orjson.loads(body)
    if "records" in doc:
        return [record["seq"] for record in doc["records"]]
    if "seq" in doc:
        return [doc["seq"]]
    if "uplink_message" in doc:
        return [doc["uplink_message"]["f_cnt"]]
    return [doc["fCnt"]]


def pending_sequences(storage_url: str, source: str) -> set[int]:
    """The sequence numbers of the messages from ``source`` waiting in the inbox."""
    return {n for body in pending_bodies(storage_url, source) for n in body_sequences(body)}


def committed_sequences(
    platform: Platform, source: str, entity_id: str, attribute: str = "temperature"
) -> set[int]:
    """Sequence numbers of ``source`` the store holds: stored as history, or in the inbox."""
    pending = pending_sequences(platform.storage_url, source)
    store = platform.store()
    try:
        return pending | set(stored_sequences(store, entity_id, attribute))
    finally:
        store.close()


def wait_mqtt_subscribed(platform: Platform, timeout: float = 20.0) -> None:
    """Wait until every MQTT integration of the platform is connected and subscribed."""
    deadline = time.monotonic() + timeout
    while True:
        connectors = httpx.get(f"{platform.url}/healthz", timeout=5).json().get("connectors", [])
        if all(c.get("connected", True) for c in connectors):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"MQTT not subscribed in {timeout} s: {connectors}")
        time.sleep(0.05)


def forget_mqtt_session(workspace: Path) -> None:
    """End the broker's persistent session of the workspace's MQTT integration, if it has one."""
    path = workspace / "integrations" / "beach-sensors-mqtt.yaml"
    if not path.exists():
        return
    client_id = next(
        line.split(":", 1)[1].strip()
        for line in path.read_text().splitlines()
        if line.strip().startswith("client_id:")
    )
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    client.connect(*BROKER)
    client.disconnect()


class Ingest:
    """Numbered uplinks sent from threads, without end, while a test kills and restarts.

    Webhook uplinks are retried until answered 202 (``acknowledged``); MQTT ones are published at
    QoS 1 (``published`` once the broker acknowledged them, when ingest stops).
    """

    def __init__(
        self,
        url: str,
        mqtt_topic: str | None = None,
        webhook_threads: int = 1,
        pause: float = 0.0,
        mqtt_pause: float = 0.005,
    ) -> None:
        self.webhook = WebhookSender(url)
        self.mqtt_topic = mqtt_topic
        self.pause = pause
        self.mqtt_pause = mqtt_pause
        self.sent = 0
        self.published: set[int] = set()
        self.errors: list[BaseException] = []
        self._acknowledged: list[int] = []
        self._lock = threading.Lock()
        self._numbers = itertools.count()
        self._stopping = threading.Event()
        self._aborted = threading.Event()
        self._threads = [
            threading.Thread(target=self._guarded, args=(self._send_webhooks,), daemon=True)
            for _ in range(webhook_threads)
        ]
        if mqtt_topic is not None:
            self._threads.append(
                threading.Thread(target=self._guarded, args=(self._publish,), daemon=True)
            )

    def start(self) -> Ingest:
        """Begin sending."""
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 90.0) -> None:
        """Stop sending, wait for what is under way; raise what a sender thread raised."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout)
            assert not thread.is_alive(), "a sender did not finish"
        if self.errors:
            raise self.errors[0]

    def close(self) -> None:
        """Give up at once, also on messages under way: for a test that already failed."""
        self._aborted.set()
        self._stopping.set()
        for thread in self._threads:
            thread.join(10)

    def acknowledged(self) -> set[int]:
        """Webhook sequence numbers answered 202 so far."""
        with self._lock:
            return set(self._acknowledged)

    def webhook_sent(self) -> int:
        """Webhook sequence numbers taken so far (each is sent until acknowledged)."""
        with self._lock:
            return self.sent

    def _guarded(self, send: Any) -> None:
        try:
            send()
        except BaseException as error:
            self.errors.append(error)

    def _send_webhooks(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                sequence = next(self._numbers)
                self.sent += 1
            self._deliver(sequence)
            with self._lock:
                self._acknowledged.append(sequence)
            if self.pause:
                time.sleep(self.pause)

    def _deliver(self, sequence: int) -> None:
        # Retried in short rounds, so that close() can end a sender the platform never answers.
        deadline = time.monotonic() + 120
        while True:
            try:
                self.webhook.send(sequence, retry_for=1)
                return
            except AssertionError as error:
                late = "not accepted in" not in str(error) or time.monotonic() > deadline
                if late or self._aborted.is_set():
                    raise

    def _publish(self) -> None:
        assert self.mqtt_topic is not None
        client = mqtt_publisher()
        try:
            infos = []
            for sequence in itertools.count():
                if self._stopping.is_set():
                    break
                infos.append(
                    (sequence, client.publish(self.mqtt_topic, mqtt_body(sequence), qos=1))
                )
                time.sleep(self.mqtt_pause)
            for sequence, info in infos:
                if self._aborted.is_set():
                    return
                info.wait_for_publish(60)
                assert info.is_published(), (
                    f"MQTT message {sequence} not acknowledged by the broker"
                )
                self.published.add(sequence)
        finally:
            client.loop_stop()
            client.disconnect()


def wait_all_stored(
    platform: Platform,
    expected: dict[tuple[str, str], set[int]],
    timeout: float = 90.0,
) -> dict[tuple[str, str], list[int]]:
    """Wait until every (entity, attribute) holds its expected sequence numbers; the history rows.

    Fails with what is missing when ``timeout`` runs out.
    """
    deadline = time.monotonic() + timeout
    while True:
        store = platform.store()
        try:
            found = {key: stored_sequences(store, *key) for key in expected}
        finally:
            store.close()
        missing = {key: wanted - set(found[key]) for key, wanted in expected.items()}
        if not any(missing.values()):
            return found
        if time.monotonic() > deadline:
            summary = {
                key[0]: f"{len(gap)} missing, e.g. {sorted(gap)[:10]}"
                for key, gap in missing.items()
                if gap
            }
            raise AssertionError(f"not stored in {timeout} s: {summary}")
        time.sleep(0.2)


def duplicates(rows: list[int]) -> list[int]:
    """Sequence numbers that occur in more than one history row."""
    return sorted(n for n, count in Counter(rows).items() if count > 1)


FEED_KEY = "reliability-test-key"
"""The API key the parking feed's integration sends (from STADSNAV_PARKERA_NORR_KEY)."""
SQLITE_ONLY = pytest.mark.parametrize("storage_url", ["sqlite"], indirect=True)
"""For tests where the backend does not matter: the pipeline rejects before the store is asked."""


class ParkingFeed:
    """A parking operator's JSON API on loopback that serves whatever document the test sets."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = orjson.dumps({"anlaggningar": feed.records})
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/facilities"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def polling_platform_on(tmp_path: Path, storage_url: str, feed: ParkingFeed) -> Platform:
    """The beach webhook plus the demo's Parkera Norr poll, pointed at ``feed`` every second."""
    workspace = reliability_workspace(tmp_path / "workspace")
    demo = REPO_ROOT / "workspaces" / "demo" / "integrations" / "parking-norr.yaml"
    text = demo.read_text()
    text = text.replace("http://127.0.0.1:8092/api/facilities", feed.url)
    text = text.replace("interval: PT1M", "interval: PT1S")
    (workspace / "integrations" / "parking-norr.yaml").write_text(text)
    return Platform(workspace, storage_url, {"STADSNAV_PARKERA_NORR_KEY": FEED_KEY})


def parking_facility(ref: str, free: int, observed: str, capacity: int = 100) -> dict[str, Any]:
    """One car park as Parkera Norr's API lists it; ``observed`` is its senastUppdaterad."""
    return {
        "anlaggningsId": ref,
        "namn": f"P {ref}",
        "position": {"lat": 64.7503, "lng": 20.9521},
        "platser": {"totalt": capacity, "lediga": free, "upptagna": capacity - free},
        "status": "OPPEN",
        "senastUppdaterad": observed,
    }


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 20.0) -> T:
    """Poll ``probe`` until it returns something; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen in {timeout} s: {what}")
        time.sleep(0.1)


def dead_letters(platform: Platform) -> list[DeadLetter]:
    """Every dead letter of the platform."""
    store = platform.store()
    try:
        return store.dead_letters(10_000)
    finally:
        store.close()


def dead_letters_of(platform: Platform, count: int, timeout: float = 20.0) -> list[DeadLetter]:
    """Wait until there are ``count`` dead letters; all of them."""
    return eventually(
        lambda: found if len(found := dead_letters(platform)) >= count else None,
        f"{count} dead letters",
        timeout,
    )


def dead_letter_reasons(platform: Platform) -> list[tuple[str, str, str]]:
    """(stage, reason, message id) of every dead letter."""
    return [(d.stage, d.reason, d.message_id) for d in dead_letters(platform)]
