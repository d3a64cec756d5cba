"""MQTT uplink topics of The Things Stack v3 and ChirpStack v3 and v4."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.client import topic_matches_sub

from stadsnav.connectors.topics import (
    DEFAULT_STATUS_TOPICS,
    DEFAULT_UPLINK_TOPICS,
    Network,
    TopicMatch,
    match_status_topic,
    match_topic,
    match_uplink_topic,
)

TTS_TENANT = "v3/application-tts-name@ttn/devices/eui-1000000000000001/up"
TTS_PLAIN = "v3/app1/devices/dev1/up"
CHIRPSTACK = "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0101010101010101/event/up"
# ChirpStack v3's application ids are numbers; its first default uplink topic ended in /rx.
CHIRPSTACK_V3_RX = "application/102/device/24e124329e090021/rx"
CHIRPSTACK_V3_UP = "application/102/device/24e124329e090021/event/up"


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        (
            TTS_TENANT,
            TopicMatch("tts_v3", "application-tts-name", "ttn", "eui-1000000000000001"),
        ),
        (TTS_PLAIN, TopicMatch("tts_v3", "app1", None, "dev1")),
        (CHIRPSTACK_V3_RX, TopicMatch("chirpstack_v3", "102", None, "24e124329e090021")),
        # The same layout as v4's: the topic cannot tell them apart, the envelope does.
        (CHIRPSTACK_V3_UP, TopicMatch("chirpstack_v4", "102", None, "24e124329e090021")),
        (
            CHIRPSTACK,
            TopicMatch(
                "chirpstack_v4", "17c82e96-be03-4f38-aef3-f83d48582d97", None, "0101010101010101"
            ),
        ),
    ],
)
def test_uplink_topics_match(topic: str, expected: TopicMatch) -> None:
    assert match_uplink_topic(topic) == expected


@pytest.mark.parametrize(
    "topic",
    [
        "application/17c82e96/device/0101010101010101/event/status",
        "application/17c82e96/device/0101010101010101/event/join",
        "application/17c82e96/device/0101010101010101/event/ack",
        "application/17c82e96/device/0101010101010101/command/down",
        "application/17c82e96/device/0101010101010101/event/up/extra",
        "application/17c82e96/device//event/up",
        "application/102/device/24e124329e090021/tx",
        "application/102/device/24e124329e090021/status",
        "application/102/device/24e124329e090021/join",
        "application/102/device/24e124329e090021/error",
        "application/102/device/24e124329e090021/rx/extra",
        "application/102/device//rx",
        "application//device/24e124329e090021/rx",
        "application/102/device/+/rx",
        "application/102/rx",
        "v3/app1@tenant1/devices/dev1/join",
        "v3/app1@tenant1/devices/dev1/down/push",
        "v3/app1@tenant1/devices/dev1/up/extra",
        "v3/app1@/devices/dev1/up",
        "v3/@tenant1/devices/dev1/up",
        "v3/app1@tenant1@x/devices/dev1/up",
        "v3/app1/devices//up",
        "/v3/app1/devices/dev1/up",
        "v2/app1/devices/dev1/up",
        "v3/+/devices/+/up",
        "application/#",
        "",
    ],
)
def test_other_topics_do_not_match(topic: str) -> None:
    assert match_uplink_topic(topic) is None


def test_topic_match_is_frozen() -> None:
    match = match_uplink_topic(TTS_PLAIN)
    assert match is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        match.device = "dev2"  # type: ignore[misc]


def test_default_filters_subscribe_to_every_uplink_topic() -> None:
    assert DEFAULT_UPLINK_TOPICS == (
        "v3/+/devices/+/up",
        "application/+/device/+/event/up",
        "application/+/device/+/rx",
    )
    for topic in (TTS_TENANT, TTS_PLAIN, CHIRPSTACK, CHIRPSTACK_V3_RX, CHIRPSTACK_V3_UP):
        assert any(topic_matches_sub(sub, topic) for sub in DEFAULT_UPLINK_TOPICS)
    for other in (
        CHIRPSTACK.replace("/event/up", "/event/status"),
        CHIRPSTACK_V3_RX.replace("/rx", "/status"),
        CHIRPSTACK_V3_RX.replace("/rx", "/error"),
        CHIRPSTACK_V3_RX.replace("/rx", "/join"),
    ):
        assert not any(topic_matches_sub(sub, other) for sub in DEFAULT_UPLINK_TOPICS)


levels = st.text(st.characters(codec="utf-8", exclude_characters="/+#\x00"), max_size=12)


@given(
    st.lists(
        levels | st.sampled_from(["v3", "devices", "device", "up", "rx", "event", "application"]),
        max_size=7,
    )
)
def test_matches_are_exactly_what_the_filters_subscribe_to(parts: list[str]) -> None:
    topic = "/".join(parts)
    match = match_uplink_topic(topic)
    subscribed = any(topic_matches_sub(sub, topic) for sub in DEFAULT_UPLINK_TOPICS)
    if match is not None:
        assert subscribed
    elif subscribed:
        # The filters are broader only where a level is empty or a TTS id has a stray '@'.
        assert "" in parts or "@" in parts[1]


@given(
    st.sampled_from(["tts_v3", "chirpstack_v4", "chirpstack_v3"]),
    levels.filter(lambda s: s and "@" not in s),
    st.none() | levels.filter(lambda s: s and "@" not in s),
    levels.filter(bool),
)
def test_matches_rebuild_their_topic(
    network: Network, application: str, tenant: str | None, device: str
) -> None:
    if network == "tts_v3":
        app_part = application if tenant is None else f"{application}@{tenant}"
        topic = f"v3/{app_part}/devices/{device}/up"
    else:
        tenant = None
        suffix = "rx" if network == "chirpstack_v3" else "event/up"
        topic = f"application/{application}/device/{device}/{suffix}"
    assert match_uplink_topic(topic) == TopicMatch(network, application, tenant, device)


# --- ChirpStack's device status events -----------------------------------------------------

V4_STATUS = "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0101010101010101/event/status"
V3_STATUS = "application/2/device/8c83fc05007455a5/status"


def test_status_topics_match_as_status() -> None:
    v4 = TopicMatch(
        "chirpstack_v4", "17c82e96-be03-4f38-aef3-f83d48582d97", None, "0101010101010101", "status"
    )
    v3 = TopicMatch("chirpstack_v3", "2", None, "8c83fc05007455a5", "status")
    assert match_status_topic(V4_STATUS) == v4
    assert match_status_topic(V3_STATUS) == v3
    assert (match_topic(V4_STATUS), match_topic(V3_STATUS)) == (v4, v3)
    for topic in DEFAULT_STATUS_TOPICS:
        assert match_status_topic(topic) is None  # a filter, with wildcards, is no topic
    assert all(
        topic_matches_sub(sub, t)
        for sub, t in zip(DEFAULT_STATUS_TOPICS, (V4_STATUS, V3_STATUS), strict=True)
    )


def test_status_and_uplink_topics_do_not_mix() -> None:
    assert match_uplink_topic(V4_STATUS) is None
    assert match_uplink_topic(V3_STATUS) is None
    assert match_status_topic(CHIRPSTACK) is None
    assert match_status_topic(CHIRPSTACK_V3_RX) is None
    uplink = match_topic(CHIRPSTACK)
    assert uplink is not None
    assert uplink.kind == "up"
    assert match_topic("application/1/device/0101010101010101/event/join") is None


@pytest.mark.parametrize(
    ("topic", "other"),
    [
        ("v3/app@ttn/devices/dev-1/join", True),
        ("v3/app@ttn/devices/dev-1/down/ack", True),
        ("application/7/device/0101010101010101/event/join", True),
        ("application/7/device/0101010101010101/event/up", False),
        ("application/7/device/0101010101010101/event/status", False),
        ("netmore/skelleftea/uplinks", False),
        ("loriot/app/rx", False),
    ],
)
def test_other_network_events_are_told_from_unknown_layouts(topic: str, other: bool) -> None:
    from stadsnav.connectors.topics import is_other_event_topic

    assert is_other_event_topic(topic) is other
