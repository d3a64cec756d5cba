"""Reliability: late, skewed and implausible observations never become the latest value."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from platform_harness import (
    BASE_TIME,
    SQLITE_ONLY,
    WEBHOOK_DEVICE,
    ParkingFeed,
    Platform,
    WebhookSender,
    dead_letters_of,
    entity,
    entity_of,
    eventually,
    parking_facility,
    post_webhook,
    product_item,
    stored_entity,
    wait_stored,
)
from stadsnav.model.render import format_time
from stadsnav.simulate.tts import tts_uplink

pytestmark = pytest.mark.e2e

BEACH = entity_of(WEBHOOK_DEVICE)
BEACH_DEVICE = f"urn:ngsi-ld:Device:{WEBHOOK_DEVICE[0]}"
PARKING = "urn:ngsi-ld:OffStreetParking:skelleftea:{}"


def beach_uplink(when: datetime, tenths: int, f_cnt: int) -> dict[str, Any]:
    """A TTS uplink from Byske observed at ``when`` with ``tenths`` / 10 °C in the water."""
    return tts_uplink(
        device_id=WEBHOOK_DEVICE[0],
        dev_eui=WEBHOOK_DEVICE[1],
        application_id="skelleftea-beaches",
        f_port=5,
        f_cnt=f_cnt,
        payload=b"\x0c" + tenths.to_bytes(2, "big", signed=True),
        received_at=when,
    )


def with_received_at(uplink: dict[str, Any], text: str) -> dict[str, Any]:
    """The uplink with every receive time written as ``text`` (e.g. without a time zone)."""
    uplink["received_at"] = uplink["uplink_message"]["received_at"] = text
    return uplink


def message_id(uplink: dict[str, Any]) -> str:
    """The id the webhook stores an uplink under: its TTS correlation id."""
    return str(uplink["correlation_ids"][0])


def beach_history(platform: Platform) -> list[Any]:
    """The stored temperature values of Byske's sensor, oldest first."""
    store = platform.store()
    try:
        history = store.history(BEACH, ["temperature"]).get("temperature", [])
    finally:
        store.close()
    return [instance.attribute["value"] for instance in history]


def test_latest_is_the_newest_observation_not_the_last_received(platform: Platform) -> None:
    platform.start()
    sender = WebhookSender(platform.url)
    newest = 59
    rng = random.Random(5)
    # The newest arrives first; the rest of the first round shuffled, then the oldest half late.
    first = [newest, *rng.sample(range(30, newest), newest - 30)]
    late = rng.sample(range(30), 30)
    for sequence in first:
        sender.send(sequence)
    wait_stored(platform, BEACH, len(first))
    for sequence in late:
        sender.send(sequence)
    assert late[-1] != newest
    stored = wait_stored(platform, BEACH, newest + 1)
    assert stored == list(range(newest + 1)), "history must be in observation order, once each"

    observed = format_time(BASE_TIME + timedelta(seconds=newest))
    temperature = entity(platform, BEACH)["temperature"]
    assert (temperature["value"], temperature["observedAt"]) == (newest / 10, observed)
    reported = entity(platform, BEACH_DEVICE)["dateLastValueReported"]["value"]
    assert reported == {"@type": "DateTime", "@value": observed}
    item = product_item(platform, "beaches/byske-havsbad")
    assert (item["waterTemperature"], item["observedAt"]) == (newest / 10, observed)

    temporal = httpx.get(f"{platform.url}/ngsi-ld/v1/temporal/entities/{BEACH}", timeout=10)
    instants = [i["observedAt"] for i in temporal.json()["temperature"]]
    expected = [format_time(BASE_TIME + timedelta(seconds=s)) for s in range(newest + 1)]
    assert instants == expected
    window = {"from": format_time(BASE_TIME), "to": format_time(BASE_TIME + timedelta(hours=1))}
    series = httpx.get(
        f"{platform.url}/api/v1/beaches/byske-havsbad/temperatures", params=window, timeout=10
    ).json()["data"]
    assert [row["observedAt"] for row in series] == expected


@SQLITE_ONLY
def test_skewed_clocks_are_dead_lettered_never_latest(
    polling_platform: Platform, feed: ParkingFeed
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    good = now - timedelta(minutes=2)
    ahead = now + timedelta(minutes=10)
    skewed = {
        "ahead": ahead,
        "epoch": datetime(1970, 1, 1, tzinfo=UTC),
        "2099": datetime(2099, 6, 1, 12, tzinfo=UTC),
    }
    local = (now - timedelta(minutes=1)).isoformat(timespec="seconds").removesuffix("+00:00")
    skewed_texts = {name: format_time(moment) for name, moment in skewed.items()}
    feed.records = [
        parking_facility("PN-SKEW", 40, format_time(good)),
        *(parking_facility("PN-SKEW", 1 + i, text) for i, text in enumerate(skewed_texts.values())),
        parking_facility("PN-SKEW", 9, local),
    ]
    polling_platform.start()

    accepted = beach_uplink(good, 123, 1)
    assert post_webhook(polling_platform, orjson.dumps(accepted)).status_code == 202
    uplinks = {
        name: beach_uplink(moment, 201 + i, 2 + i)
        for i, (name, moment) in enumerate(skewed.items())
    }
    for uplink in uplinks.values():
        assert post_webhook(polling_platform, orjson.dumps(uplink)).status_code == 202
    no_zone = with_received_at(beach_uplink(good, 204, 9), local + ".5")
    refused = post_webhook(polling_platform, orjson.dumps(no_zone))
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    assert "no time zone" in refused.json()["detail"]

    letters = dead_letters_of(polling_platform, 7)
    by_id = {letter.message_id: letter for letter in letters}
    codes = {"ahead": "future_timestamp:", "epoch": "invalid_time:", "2099": "future_timestamp:"}
    for name, uplink in uplinks.items():
        letter = by_id[message_id(uplink)]
        assert (letter.source, letter.stage) == ("beach-sensors-tts", "validate"), name
        assert letter.reason.startswith(codes[name]), letter.reason
    polled = [letter for letter in letters if letter.source == "parking-norr"]
    assert len(polled) == 4
    reasons = sorted(letter.reason for letter in polled)
    key = PARKING.format("PN-SKEW")
    # A polled record's dead letter names the record (its entity) before the reason.
    assert all(letter.stage == "validate" for letter in polled)
    assert [r.removeprefix(f"{key}: ").split(":")[0] for r in reasons] == [
        "future_timestamp",
        "future_timestamp",
        "invalid_time",
        "invalid_time",
    ]
    assert any("no time zone" in reason for reason in reasons)
    assert any(skewed_texts["epoch"] in reason for reason in reasons)

    temperature = entity(polling_platform, BEACH)["temperature"]
    assert (temperature["value"], temperature["observedAt"]) == (12.3, format_time(good))
    assert product_item(polling_platform, "beaches/byske-havsbad")["waterTemperature"] == 12.3
    assert beach_history(polling_platform) == [12.3]

    free = entity(polling_platform, key)["availableSpotNumber"]
    assert (free["value"], free["observedAt"]) == (40, format_time(good))
    item = product_item(polling_platform, "parking/facilities/PN-SKEW")
    assert (item["free"], item["observedAt"]) == (40, format_time(good))
    assert polling_platform.process is not None
    assert polling_platform.process.poll() is None


@SQLITE_ONLY
def test_implausible_values_are_quarantined_or_flagged(
    polling_platform: Platform, feed: ParkingFeed
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    feed.records = [parking_facility("PN-NEG", 12, format_time(now - timedelta(minutes=3)))]
    polling_platform.start()

    plausible = beach_uplink(now - timedelta(minutes=3), 123, 1)
    assert post_webhook(polling_platform, orjson.dumps(plausible)).status_code == 202
    # A beach at 60 °C, and 68 °F (20 °C) sent as °C: both newer than the plausible reading.
    hot = beach_uplink(now - timedelta(minutes=2), 600, 2)
    fahrenheit = beach_uplink(now - timedelta(minutes=1), 680, 3)
    for uplink in (hot, fahrenheit):
        assert post_webhook(polling_platform, orjson.dumps(uplink)).status_code == 202
    letters = {letter.message_id: letter for letter in dead_letters_of(polling_platform, 2)}
    for uplink, shown in ((hot, "60"), (fahrenheit, "68")):
        letter = letters[message_id(uplink)]
        assert (letter.source, letter.stage) == ("beach-sensors-tts", "validate")
        assert letter.reason == (
            f"temperature = {shown} is outside the dataset's range [-2, 35] "
            "(beach-water-temperature)"
        )
    assert entity(polling_platform, BEACH)["temperature"]["value"] == 12.3
    assert product_item(polling_platform, "beaches/byske-havsbad")["waterTemperature"] == 12.3
    assert beach_history(polling_platform) == [12.3]

    key = PARKING.format("PN-NEG")
    eventually(lambda: stored_entity(polling_platform, key), "PN-NEG")
    assert entity(polling_platform, key)["qualityIssues"]["value"] == []
    negative_at = format_time(now - timedelta(minutes=1))
    feed.records = [parking_facility("PN-NEG", -3, negative_at, capacity=47)]

    def flagged() -> list[str] | None:
        issues: list[str] = entity(polling_platform, key)["qualityIssues"]["value"]
        return issues or None

    issues = eventually(flagged, "PN-NEG flagged")
    assert issues == ["availableSpotNumber = -3 is outside [0, …]"]
    item = product_item(polling_platform, "parking/facilities/PN-NEG")
    # The parking dataset's rule flags (flag: true) rather than rejects: a rejected record
    # would leave the older, larger count as the current one. The newest reading is shown
    # only together with what is wrong with it.
    assert (item["quality"], item["observedAt"]) == (issues, negative_at)
