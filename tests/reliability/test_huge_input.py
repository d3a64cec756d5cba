"""Huge input: bodies, messages and pages far over the limits are refused before they are held.

Memory is read from ``/proc/<pid>/status`` of the real `stadsnav run` process: ``VmHWM`` is its
peak resident size, so a body that was buffered, even briefly, shows as growth.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import paho.mqtt.client as paho
import pytest

from platform_harness import (
    MQTT_DEVICE,
    WEBHOOK_DEVICE,
    Platform,
    WebhookSender,
    dead_letter_reasons,
    entity_of,
    mqtt_body,
    peak_rss_mb,
    post_webhook,
    publish_all,
    wait_stored,
    webhook_body,
)

MIB = 1024 * 1024
BODY_LIMIT = 1_048_576
"""``server.max_body_bytes`` and ``mqtt.max_message_bytes`` of the demo workspace."""
PAGE_LIMIT = 1000
"""The largest NGSI-LD page (``MAX_LIMIT`` of the entities API)."""
HUGE_MQTT_MESSAGE = 64 * MIB
"""MQTT cannot carry the 300 MB of the issue: its largest packet is 256 MB (268,435,455 bytes of
remaining length), so a broker refuses to take such a message at all. 64 MiB is far over the
limit and cheap to publish on a shared machine."""


def padded_uplink(size: int) -> bytes:
    """A valid uplink as JSON, padded with an extra member to ``size`` bytes."""
    uplink = webhook_body(0)
    padding = size - len(uplink) - len(b',"padding":""')
    return uplink[:-1] + b',"padding":"' + b"x" * padding + b'"}'


def chunks(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """The body in pieces, so httpx sends it without a Content-Length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def million_element_array() -> bytes:
    """``[0,0,…]`` with a million elements: 2 MB, so it cannot fit in a 1 MiB body."""
    return b"[" + b",".join([b"0"] * 1_000_000) + b"]"


def test_bodies_over_the_limit_get_413_before_they_are_buffered(platform: Platform) -> None:
    platform.start()
    body = padded_uplink(10 * MIB)
    before = peak_rss_mb(platform)

    declared = post_webhook(platform, body)
    streamed = post_webhook(platform, chunks(body))
    array = post_webhook(platform, million_element_array())

    growth = peak_rss_mb(platform) - before
    assert declared.status_code == 413, declared.text
    assert str(BODY_LIMIT) in declared.json()["detail"]
    assert streamed.status_code == 413, streamed.text
    assert streamed.request.headers["transfer-encoding"] == "chunked"
    assert array.status_code == 413, array.text
    # Three bodies of 10, 10 and 2 MB went by; at most about one limit's worth was held.
    assert growth < 4, f"peak memory grew by {growth:.1f} MiB"
    # The platform takes the next uplink as before.
    WebhookSender(platform.url).send(1)
    assert wait_stored(platform, entity_of(WEBHOOK_DEVICE), 1, timeout=15) == [1]
    assert dead_letter_reasons(platform) == []


def test_a_million_element_array_within_the_body_limit_is_a_client_error(
    platform: Platform,
) -> None:
    """Past the size check the array reaches the envelope parser: a 4xx, never a 5xx."""
    settings = platform.workspace / "stadsnav.toml"
    text = settings.read_text()
    assert f"max_body_bytes = {BODY_LIMIT}" in text
    settings.write_text(
        text.replace(f"max_body_bytes = {BODY_LIMIT}", f"max_body_bytes = {4 * MIB}")
    )
    platform.start()

    flat = post_webhook(platform, million_element_array())
    objects = post_webhook(platform, b"[" + b",".join([b"{}"] * 1_000_000) + b"]")

    for response in (flat, objects):
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == "application/problem+json"
    assert platform.process is not None
    assert platform.process.poll() is None


def test_a_huge_page_size_is_refused_with_the_maximum_named(platform: Platform) -> None:
    platform.start()
    entities = f"{platform.url}/ngsi-ld/v1/entities"

    headers = {"X-API-Key": platform.read_key()}  # the internal plan: the platform's maximum
    huge = httpx.get(
        entities, params={"type": "Beach", "limit": 1_000_000_000}, headers=headers, timeout=10
    )
    largest = httpx.get(
        entities, params={"type": "Beach", "limit": PAGE_LIMIT}, headers=headers, timeout=10
    )
    anonymous = httpx.get(entities, params={"type": "Beach", "limit": PAGE_LIMIT}, timeout=10)

    # NGSI-LD (ETSI GS CIM 009) answers a limit over the implementation's maximum with
    # TooManyResults (403), not with a shorter page a client could take for the whole result.
    assert huge.status_code == 403, huge.text
    assert huge.headers["content-type"] == "application/problem+json"
    problem = huge.json()
    assert problem["type"] == "https://uri.etsi.org/ngsi-ld/errors/TooManyResults"
    assert str(PAGE_LIMIT) in problem["detail"]
    assert largest.status_code == 200, largest.text
    assert 0 < len(largest.json()) <= PAGE_LIMIT
    # Anonymous callers' plan has a smaller page.
    assert anonymous.status_code == 403
    assert "this plan's page size of 100" in anonymous.json()["detail"]


def test_a_data_product_ignores_a_huge_limit(platform: Platform) -> None:
    """A product list has no client-chosen page size: it is the product's items, however asked."""
    platform.start()
    beaches = f"{platform.url}/api/v1/beaches"

    plain = httpx.get(beaches, timeout=10)
    huge = httpx.get(beaches, params={"limit": 1_000_000_000}, timeout=10)

    assert plain.status_code == 200, plain.text
    assert huge.status_code == 200, huge.text
    assert orjson.loads(huge.content)["data"] == orjson.loads(plain.content)["data"]


@pytest.mark.mqtt
def test_an_mqtt_message_over_the_limit_is_dropped_by_the_broker_unread(
    mqtt_platform: tuple[Platform, str], publisher: paho.Client
) -> None:
    platform, topic = mqtt_platform
    entity = entity_of(MQTT_DEVICE)
    # A first uplink stored: messages flow, and the memory baseline includes handling one.
    publish_all(publisher, topic, [mqtt_body(0)])
    wait_stored(platform, entity, 1, timeout=15)
    before = peak_rss_mb(platform)

    publish_all(publisher, topic, [b"x" * HUGE_MQTT_MESSAGE])
    publish_all(publisher, topic, [mqtt_body(1)])
    stored = wait_stored(platform, entity, 2, timeout=15)

    growth = peak_rss_mb(platform) - before
    assert sorted(stored) == [0, 1]
    # Read and committed, the message would have raised the peak by several times its size
    # (measured: +466 MiB) and ended as a dead letter; Mosquitto dropped it for us instead.
    assert growth < HUGE_MQTT_MESSAGE / 8 / MIB, f"peak memory grew by {growth:.1f} MiB"
    assert dead_letter_reasons(platform) == []
