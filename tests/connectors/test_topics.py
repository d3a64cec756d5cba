"""MQTT uplink topics of The Things Stack v3 and ChirpStack v4."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.client import topic_matches_sub

from stadsnav.connectors.topics import (
    DEFAULT_UPLINK_TOPICS,
    Network,
    TopicMatch,
    match_uplink_topic,
)

TTS_TENANT = "v3/application-tts-name@ttn/devices/eui-1000000000000001/up"
TTS_PLAIN = "v3/app1/devices/dev1/up"
CHIRPSTACK = "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0101010101010101/event/up"


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        (
            TTS_TENANT,
            TopicMatch("tts_v3", "application-tts-name", "ttn", "eui-1000000000000001"),
        ),
        (TTS_PLAIN, TopicMatch("tts_v3", "app1", None, "dev1")),
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
    assert DEFAULT_UPLINK_TOPICS == ("v3/+/devices/+/up", "application/+/device/+/event/up")
    for topic in (TTS_TENANT, TTS_PLAIN, CHIRPSTACK):
        assert any(topic_matches_sub(sub, topic) for sub in DEFAULT_UPLINK_TOPICS)
    status = CHIRPSTACK.replace("/event/up", "/event/status")
    assert not any(topic_matches_sub(sub, status) for sub in DEFAULT_UPLINK_TOPICS)


levels = st.text(st.characters(codec="utf-8", exclude_characters="/+#\x00"), max_size=12)


@given(st.lists(levels | st.sampled_from(["v3", "devices", "up", "application"]), max_size=7))
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
    st.sampled_from(["tts_v3", "chirpstack_v4"]),
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
        topic = f"application/{application}/device/{device}/event/up"
    assert match_uplink_topic(topic) == TopicMatch(network, application, tenant, device)
