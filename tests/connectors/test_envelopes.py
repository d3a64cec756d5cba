"""Uplink envelopes of The Things Stack v3 and ChirpStack v4, from the servers' own examples.

The other network servers' envelopes are tested in test_envelopes_networks.py.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stadsnav.connectors.envelopes import EnvelopeError, detect_format, parse_status, parse_uplink
from stadsnav.connectors.envelopes_common import usable_id
from stadsnav.model.uplink import DeviceStatus, Uplink
from support import json_values

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA = REPO_ROOT.parent / "shared" / "data"
ENVELOPES = DATA / "envelopes"

Doc = dict[str, Any]


def envelope(name: str) -> Doc:
    """One stored envelope, decoded, as a fresh copy the test may change."""
    doc: Doc = orjson.loads((ENVELOPES / name).read_bytes())
    return doc


def parse(doc: Doc, fmt: str = "auto") -> Uplink:
    return parse_uplink(orjson.dumps(doc), fmt)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


TTS_DOCS = "tts_v3_uplink_docs_example.fixed.json"
TTS_TTN = "tb_tts_v3_ttn_community_elsys_ers2.json"
TTS_TTI = "tb_tts_v3_tti_nwave_parking_status_packetbroker.json"
CS_DOCS = "chirpstack_v4_up_docs_example.json"
CS_TB = "tb_chirpstack_v4_nwave_heartbeat.json"


def tts_docs_with_port() -> Doc:
    """The TTS docs example, which leaves out f_port, with the port its decoder expects."""
    doc = envelope(TTS_DOCS)
    doc["uplink_message"]["f_port"] = 1
    return doc


# --- the servers' own example envelopes -------------------------------------------------------


def test_tts_v3_docs_example() -> None:
    uplink = parse(tts_docs_with_port())
    assert uplink == Uplink(
        network="tts_v3",
        message_id="as:up:01E0WZGT6Y7657CPFPE5WEYDSQ",
        dev_eui="0004a30b001c0530",
        device_id="dev1",
        f_port=1,
        payload=bytes.fromhex("8241de"),
        received_at=utc("2020-02-12T15:15:45.789585"),
        f_cnt=1,
        rssi=-35,
        snr=5,
        gateway_id="gtw1",
    )


def test_tts_v3_docs_example_as_published_has_no_f_port() -> None:
    with pytest.raises(EnvelopeError, match=r"^uplink_message\.f_port is missing$"):
        parse_uplink((ENVELOPES / TTS_DOCS).read_bytes())


def test_tts_v3_docs_example_verbatim_is_invalid_json() -> None:
    body = (ENVELOPES / "tts_v3_uplink_docs_example.VERBATIM_INVALID.json").read_bytes()
    with pytest.raises(EnvelopeError, match=r"^invalid JSON: .*line 79") as caught:
        parse_uplink(body)
    assert caught.value.reason == str(caught.value)


def test_tts_v3_community_elsys() -> None:
    uplink = parse_uplink((ENVELOPES / TTS_TTN).read_bytes())
    assert uplink == Uplink(
        network="tts_v3",
        message_id="as:up:01H0S7ZJQ9MQPMVY49FT3SE07M",
        dev_eui="1000000000000001",
        device_id="eui-1000000000000001",
        f_port=85,
        payload=bytes.fromhex("0100e202290400270506060308070d62"),
        received_at=utc("2023-05-19T05:33:35.641841"),
        f_cnt=10335,
        rssi=-35,
        snr=13.2,
        gateway_id="eui-6a7e111a10000000",
    )


def test_tts_v3_industries_packet_broker() -> None:
    uplink = parse_uplink((ENVELOPES / TTS_TTI).read_bytes(), "tts_v3")
    assert (uplink.f_port, uplink.payload, uplink.f_cnt) == (1, b"\x95", 5017)
    assert uplink.message_id == "as:up:01H0PZDGB1NW6NAPD815NGHPF6"
    assert uplink.received_at == utc("2023-05-18T08:25:25.906399")
    # Heard twice at -24 dBm, directly and through Packet Broker: the first entry wins the tie.
    assert (uplink.rssi, uplink.snr, uplink.gateway_id) == (-24, 12, "eui-6A7E111A10000000")


def test_chirpstack_v4_docs_example() -> None:
    uplink = parse_uplink((ENVELOPES / CS_DOCS).read_bytes())
    assert uplink == Uplink(
        network="chirpstack_v4",
        message_id="3ac7e3c4-4401-4b8d-9386-a5c902f9202d",
        dev_eui="0101010101010101",
        device_id="Test device",
        f_port=1,
        payload=b"\xaa",
        received_at=utc("2022-07-18T09:34:15.775023"),
        f_cnt=None,
        rssi=-36,
        snr=10.5,
        gateway_id="0016c001f153a14c",
    )


def test_chirpstack_v4_nwave_heartbeat() -> None:
    uplink = parse_uplink((ENVELOPES / CS_TB).read_bytes(), "chirpstack_v4")
    assert (uplink.f_port, uplink.payload.hex(), uplink.f_cnt) == (2, "00d3d800590b", 4)
    assert uplink.message_id == "57433366-50a6-4dc2-8145-2df1bbc70d9e"
    assert uplink.device_id == "Device name"
    assert uplink.received_at == utc("2023-05-22T07:47:05.404859")


def test_chirpstack_v4_status_event_is_not_an_uplink() -> None:
    body = (ENVELOPES / "chirpstack_v4_status_docs_example.json").read_bytes()
    with pytest.raises(EnvelopeError, match=r"^not an uplink: ChirpStack 'status' event$"):
        parse_uplink(body)


@pytest.mark.parametrize(
    ("extra", "event"),
    [
        ({"devAddr": "00189440"}, "join"),
        ({"level": "ERROR", "code": "UPLINK_CODEC", "description": "bad", "context": {}}, "log"),
        ({"queueItemId": "4ef", "acknowledged": True, "fCntDown": 7}, "ack"),
        ({"downlinkId": 1235, "queueItemId": "4ef", "fCntDown": 7}, "txack"),
        ({"location": {"latitude": 52.3, "longitude": 4.9}}, "location"),
        ({}, "unknown"),
    ],
)
def test_other_chirpstack_v4_events_are_not_uplinks(extra: Doc, event: str) -> None:
    status = envelope("chirpstack_v4_status_docs_example.json")
    doc = {key: status[key] for key in ("deduplicationId", "time", "deviceInfo")} | extra
    with pytest.raises(EnvelopeError, match=rf"^not an uplink: ChirpStack '{event}' event$"):
        parse(doc)


def test_tts_v3_join_accept_is_not_an_uplink() -> None:
    uplink = envelope(TTS_TTN)
    doc = {
        "end_device_ids": uplink["end_device_ids"],
        "correlation_ids": uplink["correlation_ids"],
        "received_at": uplink["received_at"],
        "join_accept": {
            "session_key_id": "AXA50tHUGUucuzS/bCGMNw==",
            "received_at": "2020-02-12T15:15:45Z",
        },
    }
    with pytest.raises(EnvelopeError, match=r"^not an uplink: The Things Stack 'join_accept'"):
        parse(doc)


def test_detect_format() -> None:
    assert detect_format(envelope(TTS_DOCS)) == "tts_v3"
    assert detect_format(envelope(CS_DOCS)) == "chirpstack_v4"
    assert detect_format(envelope("tb_loriot_netvox_r311a.json")) == "loriot"
    assert detect_format({}) is None


def test_explicit_format_is_not_second_guessed() -> None:
    with pytest.raises(EnvelopeError, match=r"^end_device_ids is missing$"):
        parse(envelope(CS_DOCS), "tts_v3")
    with pytest.raises(EnvelopeError, match=r"^deviceInfo is missing$"):
        parse(envelope(TTS_TTN), "chirpstack_v4")
    with pytest.raises(EnvelopeError, match="unknown envelope format 'ttn_v2'"):
        parse(envelope(TTS_TTN), "ttn_v2")


# --- ThingsBoard's vectors, wrapped in the envelope of the integration they were captured with --

TEMPLATES = {
    "ThingsStackCommunity": TTS_TTN,
    "ThingsStackIndustries": TTS_TTI,
    "ChirpStack": CS_TB,
}
TEMPLATE_MILLIS = {TTS_TTN: 1684474415641, TTS_TTI: 1684398325906, CS_TB: 1684741625404}


def thingsboard_rows() -> list[Doc]:
    lines = (DATA / "devices" / "thingsboard_vectors.jsonl").read_bytes().splitlines()
    rows = [orjson.loads(line) for line in lines]
    return [row for row in rows if row["envelope_format"] in ("tts_v3", "chirpstack_v4")]


def wrap(row: Doc, f_port: int | str) -> tuple[str, Doc]:
    """The row's bytes and port in the real envelope its integration's examples came in."""
    name = TEMPLATES[row["integration"]]
    doc = envelope(name)
    if row["envelope_format"] == "tts_v3":
        doc["uplink_message"]["f_port"] = f_port
        doc["uplink_message"]["frm_payload"] = row["bytes_b64"]
    else:
        doc["fPort"] = f_port
        doc["data"] = row["bytes_b64"]
    return name, doc


def first_telemetry_millis(row: Doc) -> int | None:
    result = row["expected_result_full"]
    telemetry = result.get("telemetry")
    ts = telemetry[0].get("ts") if isinstance(telemetry, list) else None
    return ts if isinstance(ts, int) else None


@pytest.mark.parametrize("row", thingsboard_rows(), ids=lambda row: row["id"])
def test_thingsboard_vectors_yield_their_bytes(row: Doc) -> None:
    name, doc = wrap(row, row["fport"])
    uplink = parse(doc)
    assert uplink.network == row["envelope_format"]
    assert uplink.payload == bytes.fromhex(row["bytes_hex"])
    assert uplink.f_port == row["fport"]
    assert int(uplink.received_at.timestamp() * 1000) == TEMPLATE_MILLIS[name]
    # Where ThingsBoard's result came from this very envelope, its timestamp is the one we chose.
    if row["expected_result_full"].get("attributes", {}).get("eui") == uplink.dev_eui:
        assert first_telemetry_millis(row) == TEMPLATE_MILLIS[name]


def test_thingsboard_vectors_cover_both_formats() -> None:
    formats = {row["envelope_format"] for row in thingsboard_rows()}
    assert formats == {"tts_v3", "chirpstack_v4"}
    assert len(thingsboard_rows()) == 141


@pytest.mark.parametrize("row", thingsboard_rows()[:6], ids=lambda row: row["id"])
def test_f_port_as_numeric_string(row: Doc) -> None:
    _, doc = wrap(row, str(row["fport"]))
    assert parse(doc).f_port == row["fport"]


# --- every rejection reason, on real envelopes with one thing broken --------------------------

Mutation = Callable[[Doc], None]


def tts(path: str, value: Any) -> Mutation:
    """Set (or with ``...`` delete) one field of the TTS envelope, by dotted path."""

    def mutate(doc: Doc) -> None:
        *parents, key = path.split(".")
        for parent in parents:
            doc = doc[parent]
        if value is ...:
            del doc[key]
        else:
            doc[key] = value

    return mutate


cs = tts  # ChirpStack paths are dotted the same way.


def without_any_time(doc: Doc) -> None:
    del doc["time"]
    for rx in doc["rxInfo"]:
        rx.pop("time", None)


def without_receive_times(doc: Doc) -> None:
    del doc["received_at"]
    del doc["uplink_message"]["received_at"]


@pytest.mark.parametrize(
    ("name", "mutate", "reason"),
    [
        (TTS_TTN, tts("uplink_message.f_port", 0), r"^uplink_message\.f_port is 0: a MAC-command"),
        (TTS_TTN, tts("uplink_message.f_port", ...), r"^uplink_message\.f_port is missing$"),
        (TTS_TTN, tts("uplink_message.f_port", None), r"^uplink_message\.f_port is missing$"),
        (TTS_TTN, tts("uplink_message.f_port", "x5"), r"^uplink_message\.f_port must be a non-neg"),
        (TTS_TTN, tts("uplink_message.f_port", -1), r"^uplink_message\.f_port must be a non-neg"),
        (TTS_TTN, tts("uplink_message.f_port", 1.5), r"^uplink_message\.f_port must be a non-neg"),
        (TTS_TTN, tts("uplink_message.f_port", True), r"f_port must be .* got a boolean$"),
        (TTS_TTN, tts("uplink_message.f_port", 256), r"^uplink_message\.f_port is 256, outside"),
        (CS_TB, cs("fPort", 0), r"^fPort is 0: a MAC-command frame"),
        (CS_TB, cs("fPort", "0"), r"^fPort is 0: a MAC-command frame"),
        (CS_TB, cs("fPort", ...), r"^fPort is missing$"),
        (CS_TB, cs("fPort", "eighty"), r"^fPort must be a non-negative integer, got 'eighty'$"),
        (TTS_TTN, tts("uplink_message.frm_payload", ...), r"^uplink_message\.frm_payload is miss"),
        (TTS_TTN, tts("uplink_message.frm_payload", "AQD*"), r"frm_payload is not valid base64"),
        (TTS_TTN, tts("uplink_message.frm_payload", 42), r"frm_payload must be a string, not a n"),
        (CS_TB, cs("data", ...), r"^data is missing$"),
        (CS_TB, cs("data", "ANPYAFk"), r"^data is not valid base64: 'ANPYAFk'$"),
        (CS_TB, cs("data", "00 d3 d8 00 59 0b"), r"^data is not valid base64"),
        (TTS_TTN, tts("end_device_ids.dev_eui", ...), r"^end_device_ids\.dev_eui is missing$"),
        (TTS_TTN, tts("end_device_ids.dev_eui", "10000000001"), r"dev_eui must be 16 hex digits"),
        (TTS_TTN, tts("end_device_ids.dev_eui", "10-00-00-00-00-00-00-01"), r"16 hex digits"),
        (TTS_TTN, tts("end_device_ids.dev_eui", "100000000000000g"), r"16 hex digits"),
        (TTS_TTN, tts("end_device_ids.dev_eui", ["10"]), r"dev_eui must be a string, not an array"),
        (TTS_TTN, tts("end_device_ids", ...), r"^end_device_ids is missing$"),
        (TTS_TTN, tts("end_device_ids", "dev1"), r"^end_device_ids must be an object, not a str"),
        (TTS_TTN, tts("uplink_message", ...), r"^uplink_message is missing$"),
        (CS_TB, cs("deviceInfo.devEui", ...), r"^deviceInfo\.devEui is missing$"),
        (CS_TB, cs("deviceInfo.devEui", "0x1000000000000001"), r"devEui must be 16 hex digits"),
        (CS_TB, cs("deviceInfo", []), r"^deviceInfo must be an object, not an array$"),
        (TTS_TTN, without_receive_times, r"^uplink_message\.received_at is missing, and so is"),
        (TTS_TTN, tts("uplink_message.received_at", "yesterday"), r"received_at is not an RFC"),
        (TTS_TTN, tts("uplink_message.received_at", 1684474415), r"received_at must be a string"),
        (TTS_TTN, tts("uplink_message.received_at", "2023-05-19"), r"not an RFC 3339 time"),
        (TTS_TTN, tts("uplink_message.received_at", "2023-02-30T05:33:35Z"), r"not a valid time"),
        (TTS_TTN, tts("uplink_message.received_at", "2023-05-19T25:00:00Z"), r"not a valid time"),
        (
            TTS_TTN,
            tts("uplink_message.received_at", "2023-05-19T05:33:35.641841782"),
            r"^uplink_message\.received_at: receive time has no time zone",
        ),
        (CS_TB, cs("time", "2023-05-22T07:47:05.404859"), r"^time: receive time has no time zone"),
        (CS_TB, without_any_time, r"^time is missing, and no rxInfo\[\] entry has nsTime"),
        (CS_TB, cs("time", "22 May 2023 07:47:05 GMT"), r"^time is not an RFC 3339 time"),
        (CS_TB, cs("fCnt", "four"), r"^fCnt must be a non-negative integer, got 'four'$"),
        (TTS_TTN, tts("uplink_message.f_cnt", -3), r"^uplink_message\.f_cnt must be a non-neg"),
        (TTS_TTN, tts("end_device_ids.device_id", 7), r"device_id must be a string, not a number"),
    ],
)
def test_rejections_say_what_and_where(name: str, mutate: Mutation, reason: str) -> None:
    doc = envelope(name)
    mutate(doc)
    with pytest.raises(EnvelopeError, match=reason):
        parse(doc)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", r"^invalid JSON: "),
        (b"{", r"^invalid JSON: "),
        (b'{"fPort": 1,}', r"^invalid JSON: "),
        (b'{"a": "\xff"}', r"^invalid JSON: "),
        (b"[]", r"^envelope is not a JSON object but an array$"),
        (b'"up"', r"^envelope is not a JSON object but a string$"),
        (b"42", r"^envelope is not a JSON object but a number$"),
        (b"null", r"^envelope is not a JSON object but null$"),
        (b"{}", r"^unknown envelope shape: .*top-level keys: none$"),
        (b'{"payload": "qg=="}', r"^unknown envelope shape: .*top-level keys: payload$"),
    ],
)
def test_rejections_of_the_body(body: bytes, reason: str) -> None:
    with pytest.raises(EnvelopeError, match=reason):
        parse_uplink(body)


def test_envelope_error_is_a_value_error() -> None:
    assert issubclass(EnvelopeError, ValueError)
    assert EnvelopeError("fPort is missing").reason == "fPort is missing"


# --- time and id details --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-02-12T15:15:19.123456789Z", utc("2020-02-12T15:15:19.123456")),
        ("2020-02-12T15:15:19Z", utc("2020-02-12T15:15:19")),
        ("2020-02-12t15:15:19.1z", utc("2020-02-12T15:15:19.100000")),
        ("2020-02-12T17:15:19.5+02:00", utc("2020-02-12T15:15:19.500000")),
        ("2022-07-18T09:34:15.775023242+00:00", utc("2022-07-18T09:34:15.775023")),
        ("2020-02-12T10:15:19-05:00", utc("2020-02-12T15:15:19")),
    ],
)
def test_receive_time_is_rfc3339_in_utc(text: str, expected: datetime) -> None:
    doc = envelope(CS_DOCS)
    doc["time"] = text
    received_at = parse(doc).received_at
    assert received_at == expected
    assert received_at.utcoffset() is not None
    assert received_at.utcoffset() == expected.utcoffset()


def test_tts_v3_falls_back_to_top_level_received_at() -> None:
    doc = envelope(TTS_TTN)
    del doc["uplink_message"]["received_at"]
    assert parse(doc).received_at == utc("2023-05-19T05:33:35.848446")


@pytest.mark.parametrize(
    ("rx_info", "expected"),
    [
        ([{"nsTime": "2023-05-22T07:47:05.5Z", "gwTime": "2023-05-22T07:47:05.1Z"}], "05.500000"),
        ([{"gwTime": "2023-05-22T07:47:05.1Z"}], "05.100000"),
        ([{"rssi": -35}, {"nsTime": "2023-05-22T07:47:06Z"}], "06.000000"),
        ([{"time": "2023-05-22T07:47:05.404859+00:00"}], "05.404859"),
    ],
)
def test_chirpstack_v4_falls_back_to_rx_info_times(rx_info: list[Doc], expected: str) -> None:
    doc = envelope(CS_TB)
    del doc["time"]
    doc["rxInfo"] = rx_info
    assert parse(doc).received_at == utc(f"2023-05-22T07:47:{expected}")


def test_tts_v3_message_id_from_uplink_message_correlation_ids() -> None:
    doc = envelope(TTS_TTN)
    doc["uplink_message"]["correlation_ids"] = doc.pop("correlation_ids")[::-1]
    assert parse(doc).message_id == "as:up:01H0S7ZJQ9MQPMVY49FT3SE07M"


def test_tts_v3_message_id_fallback() -> None:
    doc = envelope(TTS_TTN)
    doc["correlation_ids"] = [cid for cid in doc["correlation_ids"] if not cid.startswith("as:")]
    message_id = parse(doc).message_id
    assert message_id == "1000000000000001:10335:2023-05-19T05:33:35.641841+00:00"


def test_chirpstack_v4_message_id_fallback() -> None:
    doc = envelope(CS_DOCS)
    del doc["deduplicationId"]
    assert parse(doc).message_id == "0101010101010101:-:2022-07-18T09:34:15.775023+00:00"


def test_message_id_is_stable_across_retries() -> None:
    doc = envelope(TTS_TTN)
    del doc["correlation_ids"]
    retry = copy.deepcopy(doc)
    retry["uplink_message"]["rx_metadata"].reverse()
    assert parse(doc).message_id == parse(retry).message_id


def test_dev_eui_is_lower_cased_and_optional_names_may_be_absent() -> None:
    doc = envelope(CS_TB)
    doc["deviceInfo"]["devEui"] = "70B3D57ED0001A2B"
    del doc["deviceInfo"]["deviceName"]
    uplink = parse(doc)
    assert (uplink.dev_eui, uplink.device_id) == ("70b3d57ed0001a2b", None)


def test_empty_payload_is_empty_bytes() -> None:
    doc = envelope(CS_TB)
    doc["data"] = ""
    assert parse(doc).payload == b""


# --- nothing but EnvelopeError, whatever comes in -------------------------------------------

hex_euis = st.text("0123456789abcdefABCDEF", min_size=15, max_size=17)
times = st.sampled_from(
    ["2020-02-12T15:15:19.123456789Z", "2020-02-12T15:15:19", "9999-12-31T23:59:59-01:00"]
)
b64 = st.binary(max_size=12).map(lambda raw: base64.b64encode(raw).decode())
loose = json_values | times | b64 | hex_euis | st.integers(0, 300).map(str)

tts_like = st.fixed_dictionaries(
    {},
    optional={
        "end_device_ids": st.fixed_dictionaries({}, optional={"dev_eui": loose, "device_id": loose})
        | json_values,
        "correlation_ids": st.lists(loose | st.just("as:up:01E0"), max_size=3) | json_values,
        "received_at": loose,
        "uplink_message": st.fixed_dictionaries(
            {},
            optional={
                "f_port": loose,
                "frm_payload": loose,
                "f_cnt": loose,
                "received_at": loose,
                "correlation_ids": json_values,
            },
        )
        | json_values,
        "join_accept": json_values,
    },
)
chirpstack_like = st.fixed_dictionaries(
    {},
    optional={
        "deviceInfo": st.fixed_dictionaries({}, optional={"devEui": loose, "deviceName": loose})
        | json_values,
        "deduplicationId": loose,
        "time": loose,
        "fPort": loose,
        "data": loose,
        "fCnt": loose,
        "rxInfo": st.lists(
            st.fixed_dictionaries({}, optional={"nsTime": loose, "gwTime": loose}) | json_values,
            max_size=3,
        )
        | json_values,
        "margin": loose,
    },
)


def parses_or_rejects(body: bytes, fmt: str = "auto") -> None:
    try:
        uplink = parse_uplink(body, fmt)
    except EnvelopeError as exc:
        rejection = exc
    else:
        assert 1 <= uplink.f_port <= 255
        assert len(uplink.dev_eui) == 16
        assert uplink.dev_eui == uplink.dev_eui.lower()
        assert uplink.received_at.utcoffset() is not None
        return
    assert rejection.reason


@given(st.binary(max_size=200))
def test_arbitrary_bytes_only_raise_envelope_error(body: bytes) -> None:
    parses_or_rejects(body)


@given(st.dictionaries(st.text(max_size=12), json_values, max_size=6))
def test_arbitrary_json_objects_only_raise_envelope_error(doc: Doc) -> None:
    parses_or_rejects(orjson.dumps(doc))


@given(tts_like | chirpstack_like, st.sampled_from(["auto", "tts_v3", "chirpstack_v4"]))
def test_envelope_like_objects_only_raise_envelope_error(doc: Doc, fmt: str) -> None:
    parses_or_rejects(orjson.dumps(doc), fmt)


@given(st.binary(max_size=64), st.integers(1, 255), st.sampled_from([TTS_TTN, TTS_TTI, CS_TB]))
def test_any_payload_and_port_round_trip(payload: bytes, f_port: int, name: str) -> None:
    row = {
        "integration": next(key for key, value in TEMPLATES.items() if value == name),
        "envelope_format": "chirpstack_v4" if name == CS_TB else "tts_v3",
        "bytes_b64": base64.b64encode(payload).decode(),
    }
    _, doc = wrap(row, f_port)
    uplink = parse(doc)
    assert (uplink.payload, uplink.f_port) == (payload, f_port)


def test_batch_message_id_is_stable_and_distinct() -> None:
    from stadsnav.connectors.envelopes import batch_message_id, parse_uplinks

    [template] = orjson.loads((ENVELOPES / "diwise_netmore_elsys_elt2hp.json").read_bytes())
    first = dict(template)
    second = dict(template) | {"devEui": "a81758fffe05c3a2"}
    one = parse_uplinks(orjson.dumps([first]))
    two = parse_uplinks(orjson.dumps([first, second]))
    assert batch_message_id(one) == one[0].message_id
    assert batch_message_id(two) == batch_message_id(parse_uplinks(orjson.dumps([first, second])))
    assert batch_message_id(two).startswith("batch:2:")
    assert batch_message_id(two) != batch_message_id(list(reversed(two)))


# --- ChirpStack device status events ---------------------------------------------------------

CS3_STATUS = "diwise_servanet_chirpstack_v3_status_event_watermeter.json"
CS4_STATUS = "chirpstack_v4_status_docs_example.json"


def test_chirpstack_v4_status_docs_example() -> None:
    body = (ENVELOPES / CS4_STATUS).read_bytes()
    expected = DeviceStatus(
        network="chirpstack_v4",
        message_id="bf2a9746-1c8b-49be-a92e-f0b89c8534e4",
        dev_eui="0101010101010101",
        device_id="Test device",
        received_at=utc("2022-07-18T09:35:06.927172"),
        battery_level=0.883,  # 88.3 %
        margin=10,
    )
    assert parse_status(body) == expected
    assert parse_status(body, "chirpstack_v4") == expected


def test_chirpstack_v3_status_event_has_no_time_and_is_named_by_its_content() -> None:
    body = (ENVELOPES / CS3_STATUS).read_bytes()
    status = parse_status(body, "chirpstack_v3")
    assert status == parse_status(body)
    assert (status.network, status.dev_eui, status.device_id) == (
        "chirpstack_v3",
        "8c83fc05007455a5",
        "07624101",
    )
    assert (status.battery_level, status.margin, status.received_at) == (0.9567, 29, None)
    assert (status.battery_unavailable, status.external_power) == (False, False)
    assert status.message_id.startswith("sha256:")
    changed = orjson.loads(body) | {"batteryLevel": 95.66}
    assert parse_status(orjson.dumps(changed)).message_id != status.message_id


@pytest.mark.parametrize(
    ("changes", "level", "unavailable", "external"),
    [
        ({"batteryLevelUnavailable": True, "batteryLevel": 0}, None, True, False),
        ({"externalPowerSource": True, "batteryLevel": 0}, None, False, True),
        ({"batteryLevel": 100}, 1.0, False, False),
        ({"batteryLevel": 0}, 0.0, False, False),
    ],
)
def test_chirpstack_status_battery_states(
    changes: dict[str, object], level: float | None, unavailable: bool, external: bool
) -> None:
    document = orjson.loads((ENVELOPES / CS4_STATUS).read_bytes()) | changes
    status = parse_status(orjson.dumps(document))
    assert (status.battery_level, status.battery_unavailable, status.external_power) == (
        level,
        unavailable,
        external,
    )


@pytest.mark.parametrize(
    ("name", "changes", "fmt", "reason"),
    [
        (CS_DOCS, {}, "auto", "not a status event: ChirpStack 'up' event"),
        (
            "diwise_servanet_chirpstack_v3_error_event.json",
            {},
            "auto",
            "not a status event: ChirpStack v3 'error' event",
        ),
        (TTS_TTN, {}, "auto", "status events are read from chirpstack_v4 or chirpstack_v3 only"),
        (CS4_STATUS, {}, "tts_v3", "status events are read from chirpstack_v4 or chirpstack_v3"),
        (CS4_STATUS, {}, "chirpstack_v3", "devEUI is missing"),
        (CS4_STATUS, {"batteryLevel": 183}, "auto", "batteryLevel must be a percentage 0..100"),
        (CS4_STATUS, {"batteryLevel": "88"}, "auto", "batteryLevel must be a percentage"),
        (CS4_STATUS, {"margin": 10.5}, "auto", "margin must be an integer"),
        (CS4_STATUS, {"externalPowerSource": "no"}, "auto", "externalPowerSource must be true"),
    ],
)
def test_what_is_not_a_status_event(
    name: str, changes: dict[str, object], fmt: str, reason: str
) -> None:
    document = orjson.loads((ENVELOPES / name).read_bytes()) | changes
    with pytest.raises(EnvelopeError) as caught:
        parse_status(orjson.dumps(document), fmt)
    assert caught.value.reason.startswith(reason)


def test_a_status_event_that_is_not_an_object() -> None:
    with pytest.raises(EnvelopeError, match=r"^status event is not a JSON object but an array$"):
        parse_status(b"[]")


@pytest.mark.parametrize(
    "unusable",
    ["as:up:01H\x00X", "as:up:" + "x" * 200, "as:up:line\nbreak", ""],
    ids=["nul", "too-long", "control-character", "empty"],
)
def test_an_id_no_store_can_index_falls_back_to_device_counter_and_time(unusable: str) -> None:
    doc = orjson.loads((ENVELOPES / TTS_TTN).read_bytes())
    doc["correlation_ids"] = [unusable]
    doc["uplink_message"].pop("correlation_ids", None)
    uplink = parse_uplink(orjson.dumps(doc), "tts_v3")
    assert uplink.message_id.startswith(f"{doc['end_device_ids']['dev_eui'].lower()}:")
    assert usable_id(uplink.message_id)

    chirpstack = orjson.loads((ENVELOPES / CS_DOCS).read_bytes())
    chirpstack["deduplicationId"] = unusable
    assert usable_id(parse_uplink(orjson.dumps(chirpstack), "chirpstack_v4").message_id)
