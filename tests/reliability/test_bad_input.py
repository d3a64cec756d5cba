"""Reliability: malformed input gets a 4xx or a dead letter, never a 5xx, a crash or a stall."""

from __future__ import annotations

import base64
import copy
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import paho.mqtt.client as paho
import pytest

from platform_harness import (
    BASE_TIME,
    MQTT,
    MQTT_DEVICE,
    SQLITE_ONLY,
    WEBHOOK,
    WEBHOOK_DEVICE,
    ParkingFeed,
    Platform,
    beach_payload,
    dead_letters_of,
    entity_of,
    eventually,
    parking_facility,
    post_webhook,
    publish_all,
    stored_entity,
    wait_stored,
)
from stadsnav.model.render import format_time
from support import SHARED_DATA

pytestmark = pytest.mark.e2e

ENVELOPES = SHARED_DATA / "envelopes"
OK_PARKING = "urn:ngsi-ld:OffStreetParking:skelleftea:PN-OK"
NUL_PARKING = "urn:ngsi-ld:OffStreetParking:skelleftea:PN-NUL"


@dataclass(frozen=True)
class Case:
    """One malformed message and what the platform must do with it."""

    name: str
    body: bytes
    expect: int | str
    """The 4xx status it is refused with, or the stage of the dead letter it becomes."""
    says: str = ""
    """Text the refusal's ProblemDetails ``detail`` (or the dead letter's reason) contains."""
    content_type: str | None = "application/json"


def real_tts(n: int) -> dict[str, Any]:
    """A real TTN uplink (an Elsys ERS2's), re-addressed to Byske with a valid reading ``n``."""
    doc: dict[str, Any] = orjson.loads(
        (ENVELOPES / "tb_tts_v3_ttn_community_elsys_ers2.json").read_bytes()
    )
    doc["end_device_ids"].update(device_id=WEBHOOK_DEVICE[0], dev_eui=WEBHOOK_DEVICE[1].upper())
    doc["correlation_ids"][0] = f"as:up:corpus-{n:05d}"
    when = format_time(BASE_TIME + timedelta(seconds=n))
    uplink = doc["uplink_message"]
    doc["received_at"] = uplink["received_at"] = when
    uplink.update(f_port=5, f_cnt=n, frm_payload=base64.b64encode(beach_payload(n)).decode())
    return doc


def real_chirpstack(n: int) -> dict[str, Any]:
    """ChirpStack's documented v4 ``up`` event, re-addressed to Bovik with a valid reading ``n``."""
    doc: dict[str, Any] = orjson.loads(
        (ENVELOPES / "chirpstack_v4_up_docs_example.json").read_bytes()
    )
    doc["deviceInfo"].update(deviceName=MQTT_DEVICE[0], devEui=MQTT_DEVICE[1])
    doc["deduplicationId"] = str(uuid.uuid4())
    doc.update(
        time=format_time(BASE_TIME + timedelta(seconds=n)),
        fPort=5,
        fCnt=n,
        data=base64.b64encode(beach_payload(n)).decode(),
    )
    return doc


def mutated(base: dict[str, Any], change: Callable[[dict[str, Any]], object]) -> bytes:
    """``base`` changed by ``change``, as JSON."""
    doc = copy.deepcopy(base)
    change(doc)
    return orjson.dumps(doc)


def up(doc: dict[str, Any]) -> dict[str, Any]:
    """The ``uplink_message`` of a TTS envelope."""
    message: dict[str, Any] = doc["uplink_message"]
    return message


def webhook_corpus() -> list[Case]:
    """Malformed TTS uplinks, each made from a real envelope that is valid before the change."""
    good = orjson.dumps(real_tts(1))
    n = iter(range(2, 1000))

    def base() -> dict[str, Any]:
        return real_tts(next(n))

    deep = b"[" * 10_000 + b"]" * 10_000
    return [
        Case("truncated", good[: len(good) // 2], 400, "invalid JSON"),
        Case("last byte cut", good[:-1], 400, "invalid JSON"),
        Case("NaN", good.replace(b'"f_cnt":1', b'"f_cnt":NaN'), 400, "invalid JSON"),
        Case("Infinity", good.replace(b'"rssi":-35', b'"rssi":Infinity'), 400, "invalid JSON"),
        Case("invalid UTF-8", good.replace(b"elt2-byske", b"elt2-\xff\xfe"), 400, "UTF-8"),
        Case("UTF-16", good.decode().encode("utf-16"), 400, "invalid JSON"),
        Case("byte order mark", b"\xef\xbb\xbf" + good, 400, "invalid JSON"),
        Case("lone surrogate", good.replace(b"corpus-", b"\\ud800"), 400, "surrogate"),
        Case("10,000-deep array", deep, 400, "depth"),
        Case(
            "10,000 deep in an envelope",
            good.replace(b'"consumed_airtime"', b'"extra":' + deep + b',"consumed_airtime"'),
            400,
            "depth",
        ),
        Case("XML", b"<uplink><f_cnt>1</f_cnt></uplink>", 400, "invalid JSON"),
        Case("whitespace", b" \r\n\t ", 400, "invalid JSON"),
        Case("empty body", b"", 400, "empty body"),
        Case("empty body, no type", b"", 400, "empty body", content_type=None),
        Case("null", b"null", 400, "not a JSON object"),
        Case("an array of envelopes", b"[" + good + b"]", 400, "not a JSON object"),
        Case("f_cnt a word", mutated(base(), lambda d: up(d).update(f_cnt="abc")), 400, "f_cnt"),
        Case("f_cnt negative", mutated(base(), lambda d: up(d).update(f_cnt=-1)), 400, "f_cnt"),
        Case("f_cnt fraction", mutated(base(), lambda d: up(d).update(f_cnt=1.5)), 400, "f_cnt"),
        Case(
            "f_cnt 2**64",
            good.replace(b'"f_cnt":1', b'"f_cnt":18446744073709551616'),
            400,
            "f_cnt",
        ),
        Case(
            "f_port a word", mutated(base(), lambda d: up(d).update(f_port="five")), 400, "f_port"
        ),
        Case("f_port 0", mutated(base(), lambda d: up(d).update(f_port=0)), 400, "f_port"),
        Case("f_port 256", mutated(base(), lambda d: up(d).update(f_port=256)), 400, "f_port"),
        Case(
            "payload not base64",
            mutated(base(), lambda d: up(d).update(frm_payload="not base64!")),
            400,
            "frm_payload is not valid base64",
        ),
        Case(
            "payload a number",
            mutated(base(), lambda d: up(d).update(frm_payload=12)),
            400,
            "frm_payload must be a string",
        ),
        Case(
            "received_at a number",
            mutated(base(), lambda d: up(d).update(received_at=1_782_864_000)),
            400,
            "received_at must be a string",
        ),
        Case(
            "received_at 30 February",
            mutated(base(), lambda d: up(d).update(received_at="2026-02-30T00:00:00Z")),
            400,
            "received_at is not a valid time",
        ),
        Case(
            "received_at a word",
            mutated(base(), lambda d: up(d).update(received_at="yesterday")),
            400,
            "not an RFC 3339 time",
        ),
        Case(
            "dev_eui not hex",
            mutated(base(), lambda d: d["end_device_ids"].update(dev_eui="ZZ1758FFFE05C3A1")),
            400,
            "16 hex digits",
        ),
        Case(
            "dev_eui a number",
            mutated(base(), lambda d: d["end_device_ids"].update(dev_eui=1)),
            400,
            "dev_eui must be a string",
        ),
        Case(
            "end_device_ids an array",
            mutated(base(), lambda d: d.update(end_device_ids=[])),
            400,
            "end_device_ids must be an object",
        ),
        Case(
            "uplink_message a string",
            mutated(base(), lambda d: d.update(uplink_message="up")),
            400,
            "uplink_message must be an object",
        ),
        Case(
            "TTS docs example as published",
            (ENVELOPES / "tts_v3_uplink_docs_example.VERBATIM_INVALID.json").read_bytes(),
            400,
            "invalid JSON",
        ),
        Case(
            "a ChirpStack event on the TTS webhook",
            (ENVELOPES / "chirpstack_v4_up_docs_example.json").read_bytes(),
            400,
            "end_device_ids",
        ),
        Case("text/plain", good, 415, "Content-Type", content_type="text/plain"),
        Case("no Content-Type", good, 415, "Content-Type", content_type=None),
        Case("form", good, 415, "Content-Type", content_type="application/x-www-form-urlencoded"),
        Case("multipart", good, 415, "Content-Type", content_type="multipart/form-data; b=x"),
        Case(
            "an ERS2 frame from Byske's ELT-2",
            mutated(base(), lambda d: up(d).update(frm_payload="AQDiAikEACcFBgYDCAcNYg==")),
            "map",
            "externalTemperature",
        ),
        Case(
            "truncated frame",
            mutated(base(), lambda d: up(d).update(frm_payload="DAE=")),
            "decode",
            "truncated frame",
        ),
        Case(
            "TTS docs example, JSON fixed (still no f_port)",
            (ENVELOPES / "tts_v3_uplink_docs_example.fixed.json").read_bytes(),
            400,
            "f_port is missing",
        ),
        # Well-formed envelopes whose content fails later: accepted, then dead-lettered.
        Case(
            "unregistered device (a real TTN uplink as received)",
            (ENVELOPES / "tb_tts_v3_ttn_community_elsys_ers2.json").read_bytes(),
            "device",
            "unknown device 1000000000000001",
        ),
    ]


def mqtt_corpus() -> list[Case]:
    """Malformed ChirpStack v4 events, each made from the documented example."""
    good = orjson.dumps(real_chirpstack(1))
    n = iter(range(2, 1000))

    def base() -> dict[str, Any]:
        return real_chirpstack(next(n))

    return [
        Case("truncated", good[: len(good) // 2], "envelope", "invalid JSON"),
        Case("NaN", good.replace(b'"fCnt":1', b'"fCnt":NaN'), "envelope", "invalid JSON"),
        Case("invalid UTF-8", good.replace(b"elt2-bovikens", b"\xff\xfe"), "envelope", "UTF-8"),
        Case("10,000-deep array", b"[" * 10_000 + b"]" * 10_000, "envelope", "depth"),
        Case("empty", b"", "envelope", "invalid JSON"),
        Case(
            "fPort a word", mutated(base(), lambda d: d.update(fPort="five")), "envelope", "fPort"
        ),
        Case(
            "data not base64",
            mutated(base(), lambda d: d.update(data="not base64!")),
            "envelope",
            "data is not valid base64",
        ),
        Case(
            "time a number",
            mutated(base(), lambda d: d.update(time=1_782_864_000)),
            "envelope",
            "time must be a string",
        ),
        Case(
            "time without zone",
            mutated(base(), lambda d: d.update(time="2026-07-01T00:00:09")),
            "envelope",
            "no time zone",
        ),
        Case(
            "deviceInfo an array",
            mutated(base(), lambda d: d.update(deviceInfo=[])),
            "envelope",
            "deviceInfo must be an object",
        ),
        Case(
            "truncated frame",
            mutated(base(), lambda d: d.update(data="DAE=")),
            "decode",
            "truncated frame",
        ),
        Case(
            "unregistered device (ChirpStack docs example)",
            (ENVELOPES / "chirpstack_v4_up_docs_example.json").read_bytes(),
            "device",
            "unknown device 0101010101010101",
        ),
    ]


def assert_problem(response: httpx.Response, case: Case) -> None:
    """A refusal with the expected status and a ProblemDetails body that says why."""
    assert response.status_code == case.expect, f"{case.name}: {response.text}"
    assert response.headers["content-type"] == "application/problem+json", case.name
    problem = response.json()
    assert problem["status"] == case.expect, case.name
    assert case.says in problem["detail"], f"{case.name}: {problem['detail']}"


def assert_dead_letters(
    platform: Platform, cases: list[Case], source: str, since: datetime, topic: str
) -> None:
    """One dead letter for each case, and no other: it keeps the message as sent, where it came
    from, when and why."""
    letters = dead_letters_of(platform, len(cases))
    by_body = {letter.body: letter for letter in letters}
    assert len(letters) == len(by_body) == len(cases)
    for case in cases:
        letter = by_body[case.body]
        expected = (source, case.expect, topic)
        assert (letter.source, letter.stage, letter.topic) == expected, case.name
        assert case.says in letter.reason, f"{case.name}: {letter.reason}"
        assert since <= letter.received_at <= letter.failed_at <= datetime.now(UTC), case.name


def assert_healthy(platform: Platform) -> None:
    """Still running, healthy, and nothing in its log at error level."""
    assert platform.process is not None
    assert platform.process.poll() is None
    assert httpx.get(f"{platform.url}/healthz", timeout=5).status_code == 200
    log = platform.output()
    assert "Traceback" not in log, log[-3000:]
    assert '"level": "error"' not in log, log[-3000:]


@SQLITE_ONLY
def test_malformed_webhook_corpus_is_refused_or_dead_lettered(platform: Platform) -> None:
    corpus = webhook_corpus()
    platform.start()
    since = datetime.now(UTC)
    accepted: list[Case] = []
    for case in corpus:
        response = post_webhook(platform, case.body, case.content_type)
        if isinstance(case.expect, int):
            assert_problem(response, case)
        else:
            assert response.status_code == 202, f"{case.name}: {response.text}"
            accepted.append(case)
    assert post_webhook(platform, orjson.dumps(real_tts(5000))).status_code == 202
    assert wait_stored(platform, entity_of(WEBHOOK_DEVICE), 1) == [5000]

    assert_dead_letters(platform, accepted, WEBHOOK, since, f"/ingest/{WEBHOOK}")
    assert_healthy(platform)


@pytest.mark.mqtt
@SQLITE_ONLY
def test_malformed_mqtt_corpus_is_dead_lettered(
    mqtt_platform: tuple[Platform, str], publisher: paho.Client
) -> None:
    platform, topic = mqtt_platform
    since = datetime.now(UTC)
    corpus = mqtt_corpus()
    good = orjson.dumps(real_chirpstack(5000))
    publish_all(publisher, topic, [case.body for case in corpus] + [good])
    assert wait_stored(platform, entity_of(MQTT_DEVICE), 1) == [5000]
    assert_dead_letters(platform, corpus, MQTT, since, topic)
    assert_healthy(platform)


def test_text_no_store_can_keep_costs_no_other_message(platform: Platform) -> None:
    """Ids over PostgreSQL's index limit and NUL characters: never a 5xx, never a stall."""
    cases = {
        # Random, so that PostgreSQL cannot compress it under its index key limit (2.7 kB).
        "a 10 kB correlation id": lambda d: d.update(
            correlation_ids=["as:up:" + secrets.token_hex(5000)]
        ),
        "NUL in the correlation id": lambda d: d.update(correlation_ids=["as:up:a\x00b"]),
        "NUL in the gateway id": lambda d: up(d)["rx_metadata"][0].update(
            gateway_ids={"gateway_id": "gw\x00"}
        ),
        "NUL in the device name": lambda d: d["end_device_ids"].update(device_id="elt2\x00"),
        "NUL in an unknown device's name": lambda d: d["end_device_ids"].update(
            device_id="x\x00", dev_eui="A81758FFFE05C3FF"
        ),
    }
    platform.start()
    for n, (name, change) in enumerate(cases.items()):
        response = post_webhook(platform, mutated(real_tts(n), change))
        # A 503 here would be the store refusing the message and, with it, its neighbours.
        assert response.status_code in (202, 400), f"{name}: {response.text}"
        assert post_webhook(platform, orjson.dumps(real_tts(100 + n))).status_code == 202
    stored = wait_stored(platform, entity_of(WEBHOOK_DEVICE), 2 * len(cases) - 1)
    assert stored == [0, 1, 2, 3, *range(100, 100 + len(cases))]
    [letter] = dead_letters_of(platform, 1)
    assert letter.stage == "device"
    assert letter.reason.startswith("unknown device a81758fffe05c3ff (no name)")
    assert_healthy(platform)


def test_polled_record_with_nul_is_dead_lettered_alone(
    polling_platform: Platform, feed: ParkingFeed
) -> None:
    """A record whose name has a NUL character, in one page with a good record."""
    now = format_time(datetime.now(UTC) - timedelta(minutes=1))
    broken = parking_facility("PN-NUL", 5, now)
    broken["namn"] = "P \x00 Norr"
    feed.records = [parking_facility("PN-OK", 7, now), broken]
    polling_platform.start()

    [letter] = dead_letters_of(polling_platform, 1, timeout=30)
    assert (letter.source, letter.message_id.split("#")[-1]) == ("parking-norr", NUL_PARKING)
    assert "NUL" in letter.reason, letter.reason
    eventually(lambda: stored_entity(polling_platform, OK_PARKING), "PN-OK stored")
    assert stored_entity(polling_platform, NUL_PARKING) is None
    assert_healthy(polling_platform)
