"""Reliability: late, skewed and implausible observations never become the latest value."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import pytest

from platform_harness import (
    BASE_TIME,
    WEBHOOK_DEVICE,
    Platform,
    WebhookSender,
    entity_of,
    reliability_workspace,
    wait_stored,
)
from stadsnav.model.render import format_time
from stadsnav.simulate.tts import tts_uplink
from stadsnav.store.base import DeadLetter
from support import REPO_ROOT

pytestmark = pytest.mark.e2e

BEACH = entity_of(WEBHOOK_DEVICE)
BEACH_DEVICE = f"urn:ngsi-ld:Device:{WEBHOOK_DEVICE[0]}"
FEED_KEY = "reliability-test-key"
PARKING = "urn:ngsi-ld:OffStreetParking:skelleftea:{}"
T = TypeVar("T")
SQLITE_ONLY = pytest.mark.parametrize("storage_url", ["sqlite"], indirect=True)
"""For tests where the backend does not matter: the pipeline rejects before the store is asked."""


class Feed:
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


@pytest.fixture
def feed() -> Iterator[Feed]:
    """A parking feed to poll."""
    serving = Feed()
    yield serving
    serving.close()


def polling_platform_on(tmp_path: Path, storage_url: str, feed: Feed) -> Platform:
    """The beach webhook plus the demo's Parkera Norr poll, pointed at ``feed`` every second."""
    workspace = reliability_workspace(tmp_path / "workspace")
    demo = REPO_ROOT / "workspaces" / "demo" / "integrations" / "parking-norr.yaml"
    text = demo.read_text()
    text = text.replace("http://127.0.0.1:8092/api/facilities", feed.url)
    text = text.replace("interval: PT1M", "interval: PT1S")
    (workspace / "integrations" / "parking-norr.yaml").write_text(text)
    return Platform(workspace, storage_url, {"STADSNAV_PARKERA_NORR_KEY": FEED_KEY})


@pytest.fixture
def polling_platform(tmp_path: Path, storage_url: str, feed: Feed) -> Iterator[Platform]:
    """``polling_platform_on`` as a fixture (not started yet)."""
    running = polling_platform_on(tmp_path, storage_url, feed)
    yield running
    running.close()


def facility(ref: str, free: int, observed: str, capacity: int = 100) -> dict[str, Any]:
    """One car park as Parkera Norr's API lists it; ``observed`` is its senastUppdaterad."""
    return {
        "anlaggningsId": ref,
        "namn": f"P {ref}",
        "position": {"lat": 64.7503, "lng": 20.9521},
        "platser": {"totalt": capacity, "lediga": free, "upptagna": capacity - free},
        "status": "OPPEN",
        "senastUppdaterad": observed,
    }


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


def post(platform: Platform, uplink: dict[str, Any]) -> httpx.Response:
    """One POST to the beach webhook."""
    return httpx.post(
        f"{platform.url}/ingest/beach-sensors-tts",
        content=orjson.dumps(uplink),
        headers={"content-type": "application/json"},
        timeout=10,
    )


def message_id(uplink: dict[str, Any]) -> str:
    """The id the webhook stores an uplink under: its TTS correlation id."""
    return str(uplink["correlation_ids"][0])


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


def dead_letters_of(platform: Platform, count: int) -> list[DeadLetter]:
    """Wait until there are ``count`` dead letters; all of them."""
    return eventually(
        lambda: found if len(found := dead_letters(platform)) >= count else None,
        f"{count} dead letters",
    )


def entity(platform: Platform, entity_id: str) -> dict[str, Any]:
    """The NGSI-LD entity as ``GET /ngsi-ld/v1/entities/{id}`` answers it."""
    response = httpx.get(f"{platform.url}/ngsi-ld/v1/entities/{entity_id}", timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def stored_entity(platform: Platform, entity_id: str) -> dict[str, Any] | None:
    """The NGSI-LD entity, or None while it is not stored."""
    response = httpx.get(f"{platform.url}/ngsi-ld/v1/entities/{entity_id}", timeout=10)
    return None if response.status_code == 404 else entity(platform, entity_id)


def beach_history(platform: Platform) -> list[Any]:
    """The stored temperature values of Byske's sensor, oldest first."""
    store = platform.store()
    try:
        history = store.history(BEACH, ["temperature"]).get("temperature", [])
    finally:
        store.close()
    return [instance.attribute["value"] for instance in history]


def product(platform: Platform, path: str) -> dict[str, Any]:
    """One item of a data product."""
    response = httpx.get(f"{platform.url}/api/v1/{path}", timeout=10)
    assert response.status_code == 200, response.text
    item: dict[str, Any] = response.json()["data"]
    return item


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
    item = product(platform, "beaches/byske-havsbad")
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
    polling_platform: Platform, feed: Feed
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
        facility("PN-SKEW", 40, format_time(good)),
        *(facility("PN-SKEW", 1 + i, text) for i, text in enumerate(skewed_texts.values())),
        facility("PN-SKEW", 9, local),
    ]
    polling_platform.start()

    accepted = beach_uplink(good, 123, 1)
    assert post(polling_platform, accepted).status_code == 202
    uplinks = {
        name: beach_uplink(moment, 201 + i, 2 + i)
        for i, (name, moment) in enumerate(skewed.items())
    }
    for uplink in uplinks.values():
        assert post(polling_platform, uplink).status_code == 202
    no_zone = with_received_at(beach_uplink(good, 204, 9), local + ".5")
    refused = post(polling_platform, no_zone)
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
    assert product(polling_platform, "beaches/byske-havsbad")["waterTemperature"] == 12.3
    assert beach_history(polling_platform) == [12.3]

    free = entity(polling_platform, key)["availableSpotNumber"]
    assert (free["value"], free["observedAt"]) == (40, format_time(good))
    item = product(polling_platform, "parking/facilities/PN-SKEW")
    assert (item["free"], item["observedAt"]) == (40, format_time(good))
    assert polling_platform.process is not None
    assert polling_platform.process.poll() is None


@SQLITE_ONLY
def test_implausible_values_are_quarantined_or_flagged(
    polling_platform: Platform, feed: Feed
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    feed.records = [facility("PN-NEG", 12, format_time(now - timedelta(minutes=3)))]
    polling_platform.start()

    plausible = beach_uplink(now - timedelta(minutes=3), 123, 1)
    assert post(polling_platform, plausible).status_code == 202
    # A beach at 60 °C, and 68 °F (20 °C) sent as °C: both newer than the plausible reading.
    hot = beach_uplink(now - timedelta(minutes=2), 600, 2)
    fahrenheit = beach_uplink(now - timedelta(minutes=1), 680, 3)
    for uplink in (hot, fahrenheit):
        assert post(polling_platform, uplink).status_code == 202
    letters = {letter.message_id: letter for letter in dead_letters_of(polling_platform, 2)}
    for uplink, shown in ((hot, "60"), (fahrenheit, "68")):
        letter = letters[message_id(uplink)]
        assert (letter.source, letter.stage) == ("beach-sensors-tts", "validate")
        assert letter.reason == (
            f"temperature = {shown} is outside the dataset's range [-2, 35] "
            "(beach-water-temperature)"
        )
    assert entity(polling_platform, BEACH)["temperature"]["value"] == 12.3
    assert product(polling_platform, "beaches/byske-havsbad")["waterTemperature"] == 12.3
    assert beach_history(polling_platform) == [12.3]

    key = PARKING.format("PN-NEG")
    eventually(lambda: stored_entity(polling_platform, key), "PN-NEG")
    assert entity(polling_platform, key)["qualityIssues"]["value"] == []
    negative_at = format_time(now - timedelta(minutes=1))
    feed.records = [facility("PN-NEG", -3, negative_at, capacity=47)]

    def flagged() -> list[str] | None:
        issues: list[str] = entity(polling_platform, key)["qualityIssues"]["value"]
        return issues or None

    issues = eventually(flagged, "PN-NEG flagged")
    assert issues == ["availableSpotNumber = -3 is outside [0, …]"]
    item = product(polling_platform, "parking/facilities/PN-NEG")
    # The parking dataset's rule flags (flag: true) rather than rejects: a rejected record
    # would leave the older, larger count as the current one. The newest reading is shown
    # only together with what is wrong with it.
    assert (item["quality"], item["observedAt"]) == (issues, negative_at)
