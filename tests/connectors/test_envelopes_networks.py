"""Envelopes of ChirpStack v3, Netmore, Servanet, LORIOT, ThingPark and Milesight gateways."""

from __future__ import annotations

import base64
import contextlib
import copy
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stadsnav.connectors.envelopes import (
    FORMATS,
    EnvelopeError,
    detect_format,
    parse_uplink,
    parse_uplinks,
)
from stadsnav.model.uplink import Uplink
from support import json_values

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA = REPO_ROOT.parent / "shared" / "data"
ENVELOPES = DATA / "envelopes"

Doc = dict[str, Any]

CS3_TB = "tb_chirpstack_v3_decentlab_dl-ds18.json"
CS3_SERVANET = "diwise_servanet_chirpstack_v3_milesight_em400tld_uplink.json"
NETMORE_MULTI = "diwise_netmore_multi_gateway_uplink.json"
NETMORE_ELSYS = "diwise_netmore_elsys_elt2hp.json"
NETMORE_QALCOSONIC = "diwise_netmore_qalcosonic_w1t.json"
SERVANET_FLAT = "diwise_servanet_flat_sensative_checkin.json"
LORIOT = "tb_loriot_netvox_r311a.json"
THINGPARK = "tb_thingpark_decentlab_dl-ds18.json"
MILESIGHT = "tb_milesight_gateway_http_em300-th.json"
TTS_TTN = "tb_tts_v3_ttn_community_elsys_ers2.json"
CS4_TB = "tb_chirpstack_v4_nwave_heartbeat.json"


def envelope(name: str) -> Any:
    """One stored envelope, decoded, as a fresh copy the test may change."""
    return orjson.loads((ENVELOPES / name).read_bytes())


def parse(doc: Any, fmt: str = "auto") -> Uplink:
    return parse_uplink(orjson.dumps(doc), fmt)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- every stored envelope of these servers, as it is ------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            CS3_TB,
            Uplink(
                network="chirpstack_v3",
                message_id="0202020202020202:10:2019-11-08T13:59:25.048445+00:00",
                dev_eui="0202020202020202",  # "AgICAgICAgI=": the protobuf-JSON marshaler's base64
                device_id="garden-sensor",
                f_port=5,
                payload=bytes.fromhex("02023d0003815e0c15"),
                received_at=utc("2019-11-08T13:59:25.048445"),
                f_cnt=10,
                rssi=-48,
                snr=9,
                gateway_id="0303030303030303",  # "AwMDAwMDAwM=", base64 like the DevEUI
            ),
        ),
        (
            CS3_SERVANET,
            Uplink(
                network="chirpstack_v3",
                message_id="24e124329e090021:45797:2025-04-10T11:44:01.912259+00:00",
                dev_eui="24e124329e090021",
                device_id="TLD-01",
                f_port=85,
                payload=base64.b64decode("AXVXA2c4AASCXAgFAAA="),
                received_at=utc("2025-04-10T11:44:01.912259"),
                f_cnt=45797,
                rssi=-104,
                snr=1.2,
                gateway_id="fcc23dfffe0a752b",
            ),
        ),
        (
            NETMORE_MULTI,
            Uplink(
                network="netmore",
                message_id="363536305d398e11:4427:2025-04-10T15:22:58.961000+00:00",
                dev_eui="363536305d398e11",
                device_id=None,
                f_port=2,
                payload=bytes.fromhex("809836"),
                received_at=utc("2025-04-10T15:22:58.961"),
                f_cnt=4427,
                # The strongest of three gateways: Netmore's own pick (1789) heard it at -115.
                rssi=-113.0,
                snr=-17.0,
                gateway_id="187",
            ),
        ),
        (
            NETMORE_ELSYS,
            Uplink(
                network="netmore",
                message_id="a81758fffe09ec03:-:2023-10-30T13:57:37.868543+00:00",
                dev_eui="a81758fffe09ec03",
                device_id="elt_2_hp",
                f_port=5,
                payload=bytes.fromhex("01004b0254070e3a0d0014000f5bea1a00"),
                received_at=utc("2023-10-30T13:57:37.868543"),
                f_cnt=None,
                rssi=None,
                snr=None,
                gateway_id=None,
            ),
        ),
        (
            "diwise_netmore_senlabt_with_location.json",
            Uplink(
                network="netmore",
                message_id="70b3d580a010f260:-:2022-04-12T05:08:50.301732+00:00",
                dev_eui="70b3d580a010f260",
                device_id=None,
                f_port=3,
                payload=bytes.fromhex("01fe90619c10006a"),
                received_at=utc("2022-04-12T05:08:50.301732"),
                f_cnt=None,
                rssi=-113.0,
                snr=-11.8,
                gateway_id="184",
            ),
        ),
        (
            SERVANET_FLAT,
            Uplink(
                network="servanet",
                message_id="3489573498573459:-:2022-11-04T06:42:44.274490+00:00",
                dev_eui="3489573498573459",
                device_id="Livboj",
                f_port=2,
                payload=base64.b64decode("//9uAxL8UAAAAAA="),
                received_at=utc("2022-11-04T06:42:44.274490"),
                f_cnt=None,
                rssi=-111,
                snr=-8,
                gateway_id="fcc23dfffe2ee936",
            ),
        ),
        (
            LORIOT,
            Uplink(
                network="loriot",
                message_id="1000000000000001:2:2023-05-19T06:46:41.936000+00:00",
                dev_eui="1000000000000001",
                device_id=None,
                f_port=6,
                payload=bytes.fromhex("0102011c01000000000000"),
                received_at=utc("2023-05-19T06:46:41.936"),  # ts 1684478801936
                f_cnt=2,
                rssi=-21,
                snr=10,
                gateway_id=None,
            ),
        ),
        (
            THINGPARK,
            Uplink(
                network="thingpark",
                message_id="70b3d57ba000156b:26:2024-11-28T21:08:22.138000+00:00",
                dev_eui="70b3d57ba000156b",
                device_id=None,
                f_port=1,
                payload=bytes.fromhex("02023d0003815e0c15"),
                received_at=utc("2024-11-28T21:08:22.138"),
                f_cnt=26,
                rssi=-114.0,
                snr=4.75,
                gateway_id="100019D4",
            ),
        ),
        (
            MILESIGHT,
            Uplink(
                network="milesight_gateway",
                message_id="24e1641092176759:0:2020-03-27T12:39:05.547336+00:00",
                dev_eui="24e1641092176759",
                device_id="24e1641092176759",
                f_port=85,
                payload=bytes.fromhex("01755c03673401046865"),
                # Written "2020-0327T12:39:05.547336Z"; ThingsBoard reads it as 1585312745547 too.
                received_at=utc("2020-03-27T12:39:05.547336"),
                f_cnt=0,
                rssi=-57,
                snr=10,
                gateway_id="24e124fffef021be",
            ),
        ),
    ],
)
def test_stored_envelopes_parse(name: str, expected: Uplink) -> None:
    body = (ENVELOPES / name).read_bytes()
    assert parse_uplink(body) == expected
    assert parse_uplink(body, expected.network) == expected
    assert parse_uplinks(body) == [expected]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (
            "diwise_servanet_chirpstack_v3_status_event_watermeter.json",
            "ChirpStack v3 'status' event",
        ),
        ("diwise_servanet_chirpstack_v3_error_event.json", "ChirpStack v3 'error' event"),
    ],
)
def test_chirpstack_v3_other_events_are_not_uplinks(name: str, reason: str) -> None:
    body = (ENVELOPES / name).read_bytes()
    for fmt in ("auto", "chirpstack_v3"):
        with pytest.raises(EnvelopeError, match=rf"^not an uplink: {reason}$"):
            parse_uplink(body, fmt)


def test_chirpstack_v3_join_event_is_not_an_uplink() -> None:
    up = envelope(CS3_TB)
    keys = ("applicationID", "applicationName", "deviceName", "devEUI", "rxInfo", "txInfo", "dr")
    join = {key: up[key] for key in keys} | {"devAddr": "06682ea2"}
    with pytest.raises(EnvelopeError, match=r"^not an uplink: ChirpStack v3 'join' event$"):
        parse(join)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        # The stored copies were anonymised: what is left of the DevEUI is not one.
        (
            "diwise_servanet_chirpstack_v3_elsys_beach_water_temperature.json",
            r"^devEUI must be 16 hex digits or 8 bytes in base64, got 'xxxxxxxxxxxxxx'$",
        ),
        (
            "diwise_servanet_chirpstack_v3_em400tld_two_gateways.json",
            r"^devEUI must be 16 hex digits or 8 bytes in base64, got '24reteyrty8855'$",
        ),
        ("diwise_servanet_flat_airquality.json", r"^devEui must be 16 hex digits, got 'xxxx"),
        (NETMORE_QALCOSONIC, r"^\[0\]\.devEui must be 16 hex digits, got '116c52b4274f'$"),
        ("diwise_netmore_qalcosonic_alarm.json", r"^\[0\]\.devEui must be 16 hex digits"),
        # Neither the (empty) rxInfo nor anything else says when it was received.
        (
            "diwise_servanet_chirpstack_v3_sensative_lifebuoy_presence.json",
            r"^publishedAt is missing, and no rxInfo\[\] entry has time$",
        ),
        (
            "diwise_internal_event_talkpool_oy1210.json",
            r"^unknown envelope shape: a diwise internal event",
        ),
    ],
)
def test_stored_envelopes_that_cannot_be_uplinks(name: str, reason: str) -> None:
    with pytest.raises(EnvelopeError, match=reason):
        parse_uplink((ENVELOPES / name).read_bytes())


@pytest.mark.parametrize(
    ("name", "eui", "data"),
    [
        (
            "diwise_servanet_chirpstack_v3_elsys_beach_water_temperature.json",
            "a81758fffe0457ee",
            "Bw2KDADB",
        ),
        (
            "diwise_servanet_chirpstack_v3_em400tld_two_gateways.json",
            "24e124713d028855",
            "AXVkA2diAASCMgMFAAA=",
        ),
        (
            "diwise_servanet_flat_airquality.json",
            "a81758fffe0457ef",
            "FgARAL0KAAMAAB0n",
        ),
    ],
)
def test_anonymised_envelopes_parse_with_a_real_eui(name: str, eui: str, data: str) -> None:
    doc = envelope(name)
    doc["devEUI" if "devEUI" in doc else "devEui"] = eui.upper()
    uplink = parse(doc)
    assert (uplink.dev_eui, uplink.payload) == (eui, base64.b64decode(data))


def test_chirpstack_v3_time_is_the_earliest_gateway_time() -> None:
    doc = envelope("diwise_servanet_chirpstack_v3_em400tld_two_gateways.json")
    doc["devEUI"] = "24e124713d028855"
    doc["rxInfo"][0]["time"] = "2024-03-19T12:15:41.5Z"
    later = parse(doc)
    assert later.received_at == utc("2024-03-19T12:15:41.500000")
    doc["rxInfo"].reverse()
    assert parse(doc).message_id == later.message_id


def test_chirpstack_v3_published_at_wins_over_gateway_times() -> None:
    doc = envelope(CS3_SERVANET)
    doc["publishedAt"] = "2025-04-10T11:44:02.001Z"
    assert parse(doc).received_at == utc("2025-04-10T11:44:02.001")


def test_chirpstack_v3_hex_and_base64_dev_eui_agree() -> None:
    doc = envelope(CS3_TB)
    doc["devEUI"] = "0202020202020202"
    assert parse(doc) == parse(envelope(CS3_TB))


def test_netmore_batch_of_several_uplinks() -> None:
    first = envelope(NETMORE_MULTI)[0]
    second = first | {"fCntUp": 4428, "payload": "809837", "timestamp": "2025-04-10T15:32:58Z"}
    body = orjson.dumps([first, second])
    uplinks = parse_uplinks(body)
    assert [(u.f_cnt, u.payload.hex()) for u in uplinks] == [(4427, "809836"), (4428, "809837")]
    assert parse_uplinks(body, "netmore") == uplinks
    with pytest.raises(EnvelopeError, match=r"^a Netmore batch of 2 uplinks: use parse_uplinks$"):
        parse_uplink(body)


def test_netmore_capitalised_payload_key() -> None:
    doc = envelope(NETMORE_QALCOSONIC)
    doc[0]["devEui"] = "0000116c52b4274f"
    uplink = parse(doc)
    assert (uplink.f_port, uplink.f_cnt) == (100, 1490)
    assert uplink.payload.hex().startswith("55cb585f7cf29d04")


def test_netmore_single_object_with_explicit_format() -> None:
    entry = envelope(NETMORE_MULTI)[0]
    assert parse(entry, "netmore") == parse([entry])
    assert parse(entry) == parse([entry])


def test_loriot_gw_message_is_an_uplink_too() -> None:
    doc = envelope(LORIOT) | {"cmd": "gw", "gws": [{"rssi": -21, "snr": 10, "gweui": "1020"}]}
    assert parse(doc).payload == bytes.fromhex("0102011c01000000000000")


def test_milesight_gateway_with_a_well_formed_time() -> None:
    doc = envelope(MILESIGHT)
    doc["time"] = "2020-03-27T14:39:05.547336+02:00"
    assert parse(doc).received_at == utc("2020-03-27T12:39:05.547336")


# --- the other messages of these servers, and broken fields ----------------------------------

Mutation = Callable[[Any], None]


def setting(path: str, value: Any) -> Mutation:
    """Set (or with ``...`` delete) one field, by dotted path; a number picks an array entry."""

    def mutate(doc: Any) -> None:
        *parents, key = path.split(".")
        for parent in parents:
            doc = doc[int(parent)] if parent.isdigit() else doc[parent]
        if value is ...:
            del doc[key]
        else:
            doc[key] = value

    return mutate


def replacing(new: Any) -> Mutation:
    def mutate(doc: Any) -> None:
        doc.clear()
        doc.update(new) if isinstance(doc, dict) else doc.extend(new)

    return mutate


@pytest.mark.parametrize(
    ("name", "mutate", "reason"),
    [
        (CS3_TB, setting("fPort", ...), r"^fPort is missing$"),
        (CS3_TB, setting("fPort", "0"), r"^fPort is 0: a MAC-command frame"),
        (CS3_TB, setting("data", ...), r"^data is missing$"),
        (CS3_TB, setting("data", "AgI9AAOBXgw"), r"^data is not valid base64"),
        (CS3_TB, setting("devEUI", ...), r"^devEUI is missing$"),
        (CS3_TB, setting("devEUI", 42), r"^devEUI must be a string, not a number$"),
        (CS3_TB, setting("devEUI", "AgICAgICAg=="), r"^devEUI must be 16 hex digits or 8 bytes"),
        (CS3_TB, setting("rxInfo.0.time", "2019-11-08T13:59:25"), r"^rxInfo\[0\]\.time: receive"),
        (CS3_TB, setting("fCnt", -1), r"^fCnt must be a non-negative integer, got -1$"),
        (CS3_SERVANET, setting("publishedAt", 1), r"^publishedAt must be a string, not a number$"),
        (CS3_SERVANET, setting("deviceName", []), r"^deviceName must be a string, not an array$"),
        (NETMORE_MULTI, setting("0.fPort", ...), r"^\[0\]\.fPort is missing$"),
        (NETMORE_MULTI, setting("0.fPort", "256"), r"^\[0\]\.fPort is 256, outside 1\.\.255$"),
        (NETMORE_MULTI, setting("0.fPort", "two"), r"^\[0\]\.fPort must be a non-negative"),
        (NETMORE_MULTI, setting("0.payload", ...), r"^\[0\]\.payload is missing$"),
        (NETMORE_MULTI, setting("0.payload", None), r"^\[0\]\.payload is missing$"),
        (
            NETMORE_MULTI,
            setting("0.payload", "80983"),
            r"^\[0\]\.payload is not valid hex: '80983'",
        ),
        (NETMORE_MULTI, setting("0.payload", "80 98 36"), r"^\[0\]\.payload is not valid hex"),
        (NETMORE_MULTI, setting("0.timestamp", ...), r"^\[0\]\.timestamp is missing$"),
        (NETMORE_MULTI, setting("0.fCntUp", "x"), r"^\[0\]\.fCntUp must be a non-negative"),
        (NETMORE_MULTI, setting("0.messageType", "status"), r"^not an uplink: Netmore 'status'"),
        (
            NETMORE_MULTI,
            replacing([{"devEui": "363536305d398e11", "payload": "80"}]),
            r"^\[0\]\.timestamp is miss",
        ),
        (SERVANET_FLAT, setting("fPort", ...), r"^fPort is missing$"),
        (SERVANET_FLAT, setting("data", "//9uAxL8UAAAAAA"), r"^data is not valid base64"),
        (SERVANET_FLAT, setting("timestamp", ...), r"^timestamp is missing$"),
        (LORIOT, setting("cmd", "tx"), r"^not an uplink: LORIOT 'tx' message$"),
        (LORIOT, setting("cmd", "txd"), r"^not an uplink: LORIOT 'txd' message$"),
        (LORIOT, setting("cmd", None), r"^cmd must be 'rx' or 'gw', got null$"),
        (LORIOT, setting("port", ...), r"^port is missing$"),
        (LORIOT, setting("port", "6"), None),
        (LORIOT, setting("data", ...), r"^data is missing$"),
        (LORIOT, setting("data", "0102011c0100000000000"), r"^data is not valid hex"),
        (LORIOT, setting("ts", "1684478801936"), r"^ts must be milliseconds since 1970, got '16"),
        (LORIOT, setting("ts", -1), r"^ts must be milliseconds since 1970, got -1$"),
        (LORIOT, setting("ts", 10**17), r"^ts must be milliseconds since 1970"),
        (LORIOT, setting("EUI", "10-00-00-00-00-00-00-01"), r"^EUI must be 16 hex digits"),
        (THINGPARK, setting("DevEUI_uplink.FPort", ...), r"^DevEUI_uplink\.FPort is missing$"),
        (THINGPARK, setting("DevEUI_uplink.FPort", "1"), None),
        (THINGPARK, setting("DevEUI_uplink.payload_hex", ...), r"payload_hex is missing$"),
        (THINGPARK, setting("DevEUI_uplink.payload_hex", "zz"), r"payload_hex is not valid hex"),
        (THINGPARK, setting("DevEUI_uplink.Time", "2024-11-28T21:08:22.138"), r"no time zone"),
        (THINGPARK, setting("DevEUI_uplink", []), r"^DevEUI_uplink must be an object, not an"),
        (
            THINGPARK,
            replacing({"DevEUI_location": {"DevEUI": "70B3D57BA000156B"}}),
            r"^not an uplink: ThingPark 'DevEUI_location' report$",
        ),
        (MILESIGHT, setting("time", "2020-03-27"), r"^time is not an RFC 3339 time"),
        (MILESIGHT, setting("time", "2020-1327T12:39:05Z"), r"^time is not a valid time"),
        (MILESIGHT, setting("time", ...), r"^publishedAt is missing, and no rxInfo\[\]"),
        (MILESIGHT, setting("fPort", 0), r"^fPort is 0: a MAC-command frame"),
        (MILESIGHT, setting("data", 1), r"^data must be a string, not a number$"),
    ],
)
def test_rejections_say_what_and_where(name: str, mutate: Mutation, reason: str | None) -> None:
    doc = envelope(name)
    mutate(doc)
    if reason is None:  # a variation that must still parse
        assert parse(doc).f_port in (1, 6)
        return
    with pytest.raises(EnvelopeError, match=reason):
        parse(doc)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[1]", r"^envelope is not a JSON object but an array$"),
        (b"[]", r"^envelope is not a JSON object but an array$"),
        (b'{"devEui": "363536305d398e11"}', r"^unknown envelope shape: devEui but neither data"),
        (b'{"a": 1}', r"^unknown envelope shape: not The Things Stack .*top-level keys: a$"),
    ],
)
def test_rejections_of_the_body(body: bytes, reason: str) -> None:
    with pytest.raises(EnvelopeError, match=reason):
        parse_uplink(body)


@pytest.mark.parametrize(
    ("body", "fmt", "reason"),
    [
        (b"[]", "netmore", r"^Netmore batch is an empty array$"),
        (b"[1]", "netmore", r"^\[0\] must be an object, not a number$"),
        (b'"x"', "netmore", r"^Netmore envelope must be an array, not a string$"),
        (b"[{}]", "loriot", r"^envelope is not a JSON object but an array$"),
        (b"{}", "loriot", r"^cmd must be 'rx' or 'gw', got null$"),
        (b"{}", "thingpark", r"^DevEUI_uplink is missing$"),
        (b"{}", "servanet", r"^devEui is missing$"),
        (b"{}", "chirpstack_v3", r"^not an uplink: ChirpStack v3 'unknown' event$"),
        (b"{}", "milesight_gateway", r"^not an uplink: Milesight gateway 'unknown' event$"),
        (b"{}", "ttn_v2", r"unknown envelope format 'ttn_v2': use one of tts_v3, .*, auto$"),
    ],
)
def test_rejections_with_an_explicit_format(body: bytes, fmt: str, reason: str) -> None:
    with pytest.raises(EnvelopeError, match=reason):
        parse_uplinks(body, fmt)


def test_formats() -> None:
    assert FORMATS == (
        "tts_v3",
        "chirpstack_v4",
        "chirpstack_v3",
        "netmore",
        "servanet",
        "loriot",
        "thingpark",
        "milesight_gateway",
        "auto",
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (CS3_TB, "chirpstack_v3"),
        (CS3_SERVANET, "chirpstack_v3"),
        ("diwise_servanet_chirpstack_v3_status_event_watermeter.json", "chirpstack_v3"),
        (NETMORE_MULTI, "netmore"),
        (SERVANET_FLAT, "servanet"),
        (LORIOT, "loriot"),
        (THINGPARK, "thingpark"),
        (MILESIGHT, "milesight_gateway"),
        ("diwise_internal_event_talkpool_oy1210.json", None),
    ],
)
def test_detect_format(name: str, expected: str | None) -> None:
    assert detect_format(envelope(name)) == expected


# --- every vector's bytes and port, through every envelope ------------------------------------

Wrap = Callable[[Doc, int | str, bytes], Any]


def _tts(doc: Doc, port: int | str, raw: bytes) -> Doc:
    doc["uplink_message"] |= {"f_port": port, "frm_payload": base64.b64encode(raw).decode()}
    return doc


def _base64_fields(port_key: str, data_key: str) -> Wrap:
    def wrap(doc: Doc, port: int | str, raw: bytes) -> Doc:
        return doc | {port_key: port, data_key: base64.b64encode(raw).decode()}

    return wrap


def _netmore(doc: Any, port: int | str, raw: bytes) -> Any:
    doc[0] |= {"fPort": port, "payload": raw.hex()}
    return doc


def _loriot(doc: Doc, port: int | str, raw: bytes) -> Doc:
    return doc | {"port": port, "data": raw.hex()}


def _thingpark(doc: Doc, port: int | str, raw: bytes) -> Doc:
    doc["DevEUI_uplink"] |= {"FPort": port, "payload_hex": raw.hex().upper()}
    return doc


WRAPS: dict[str, tuple[str, Wrap]] = {
    "tts_v3": (TTS_TTN, _tts),
    "tts_v3 (industries)": ("tb_tts_v3_tti_nwave_parking_status_packetbroker.json", _tts),
    "chirpstack_v4": (CS4_TB, _base64_fields("fPort", "data")),
    "chirpstack_v3": (CS3_TB, _base64_fields("fPort", "data")),
    "chirpstack_v3 (servanet)": (CS3_SERVANET, _base64_fields("fPort", "data")),
    "netmore": (NETMORE_MULTI, _netmore),
    "servanet": (SERVANET_FLAT, _base64_fields("fPort", "data")),
    "loriot": (LORIOT, _loriot),
    "thingpark": (THINGPARK, _thingpark),
    "milesight_gateway": (MILESIGHT, _base64_fields("fPort", "data")),
}
# ThingsBoard's name for the Milesight gateway's HTTP integration.
WRAPS["milesight_gateway_http"] = WRAPS["milesight_gateway"]


def wrap(variant: str, port: int | str, raw: bytes) -> Any:
    name, wrapper = WRAPS[variant]
    return wrapper(envelope(name), port, raw)


def rows(name: str) -> list[Doc]:
    lines = (DATA / "devices" / name).read_bytes().splitlines()
    return [orjson.loads(line) for line in lines]


def row_port(row: Doc) -> int:
    """The port in the row's envelope; diwise writes some as "5" or "1 (decoded with fPort 2)"."""
    return int(str(row["fport"]).split()[0])


def unique_frames(rows: list[Doc]) -> list[tuple[int, str]]:
    return sorted({(row_port(row), row["bytes_hex"]) for row in rows if row["fport"] is not None})


THINGSBOARD = rows("thingsboard_vectors.jsonl")
DIWISE = rows("diwise_vectors.jsonl")
VARIANTS = sorted(set(WRAPS) - {"milesight_gateway_http"})


def test_vectors_are_what_they_were() -> None:
    assert len(THINGSBOARD) == 248
    assert len({(row["model"], row["fport"], row["bytes_hex"]) for row in THINGSBOARD}) == 72
    assert len(unique_frames(THINGSBOARD)) == 64
    assert {row["envelope_format"] for row in THINGSBOARD} <= set(WRAPS)
    assert len(DIWISE) == 88
    assert sum(row["fport"] is None for row in DIWISE) == 10  # bare bytes, no envelope


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("frame", unique_frames(THINGSBOARD + DIWISE), ids=str)
def test_every_frame_comes_out_of_every_envelope(variant: str, frame: tuple[int, str]) -> None:
    port, hex_bytes = frame
    raw = bytes.fromhex(hex_bytes)
    for written in (port, str(port)):
        uplink = parse(wrap(variant, written, raw))
        assert (uplink.f_port, uplink.payload) == (port, raw)


def thingsboard_ts(row: Doc) -> int | None:
    """The telemetry time ThingsBoard's converter took from the envelope, if it gives one."""
    results = row["expected_result_full"]
    result = results[0] if isinstance(results, list) else results
    telemetry = result.get("telemetry")
    ts = telemetry[0].get("ts") if isinstance(telemetry, list) and telemetry else None
    return ts if isinstance(ts, int) else None


@pytest.mark.parametrize("row", THINGSBOARD, ids=lambda row: row["id"])
def test_thingsboard_rows_in_their_own_envelope(row: Doc) -> None:
    raw = bytes.fromhex(row["bytes_hex"])
    industries = row["integration"] == "ThingsStackIndustries"
    doc = wrap("tts_v3 (industries)" if industries else row["envelope_format"], row["fport"], raw)
    uplink = parse(doc)
    assert (uplink.f_port, uplink.payload) == (row["fport"], raw)
    assert uplink.network == row["envelope_format"].removesuffix("_http")
    result = row["expected_result_full"]
    result = result[0] if isinstance(result, list) else result
    attributes = result.get("attributes", {})
    eui = attributes.get("eui") or attributes.get("lora_dev_eui") or result["deviceName"][-16:]
    # Where ThingsBoard's result came from this very envelope, its time is our receive time.
    if eui.lower() == uplink.dev_eui and thingsboard_ts(row) is not None:
        assert thingsboard_ts(row) == int(uplink.received_at.timestamp() * 1000)


DIWISE_VARIANTS = {
    "netmore": "netmore",
    "netmore (array, hex payload, fPort as string)": "netmore",
    "netmore (with lat/lon 57.806266,12.07727)": "netmore",
    "servanet": "servanet",
    "servanet (chirpstack v4-like flat)": "servanet",
    "chirpstack_v3": "chirpstack_v3 (servanet)",
    "chirpstack_v3 (minimal)": "chirpstack_v3",
    "chirpstack_v3 (servanet)": "chirpstack_v3 (servanet)",
    "chirpstack_v3-like (servanet)": "chirpstack_v3 (servanet)",
    "servanet (chirpstack v3)": "chirpstack_v3 (servanet)",
}


@pytest.mark.parametrize(
    "row",
    [row for row in DIWISE if row["envelope_format"] in DIWISE_VARIANTS],
    ids=lambda row: row["id"],
)
def test_diwise_rows_in_their_envelope_ignore_the_servers_object(row: Doc) -> None:
    raw = bytes.fromhex(row["bytes_hex"])
    doc = wrap(DIWISE_VARIANTS[row["envelope_format"]], str(row_port(row)), raw)
    # What the network server decoded (sometimes stale) rides along and must change nothing.
    target = doc[0] if isinstance(doc, list) else doc
    target["object"] = row["network_server_object"]
    uplink = parse(doc)
    assert (uplink.f_port, uplink.payload) == (row_port(row), raw)


def test_diwise_internal_event_row_is_not_a_network_server_envelope() -> None:
    (row,) = [row for row in DIWISE if row["envelope_format"].startswith("diwise internal")]
    doc = envelope("diwise_internal_event_talkpool_oy1210.json")
    assert base64.b64decode(doc["payload"]["data"]).hex() == row["bytes_hex"]
    with pytest.raises(EnvelopeError, match="diwise internal event"):
        parse(doc)


# --- nothing but EnvelopeError, whatever comes in -------------------------------------------

euis = st.text("0123456789abcdefABCDEF", min_size=15, max_size=17) | st.sampled_from(
    ["AgICAgICAgI=", "AgICAgICAg==", "xxxxxxxxxxxxxx"]
)
times = st.sampled_from(
    ["2020-02-12T15:15:19.123456789Z", "2020-02-12T15:15:19", "2020-0327T12:39:05Z", "2020-1399"]
)
b64 = st.binary(max_size=12).map(lambda raw: base64.b64encode(raw).decode())
hexes = st.binary(max_size=12).map(bytes.hex) | st.text("0123456789abcdefg ", max_size=9)
millis = st.integers(-(2**63), 2**64 - 1) | st.just(1684478801936)
loose = json_values | times | b64 | hexes | euis | st.integers(0, 300).map(str) | millis


def shaped(required: Doc, optional: dict[str, Any]) -> st.SearchStrategy[Doc]:
    return st.fixed_dictionaries(required, optional=optional)


v3_like = shaped(
    {"devEUI": loose},
    {
        "applicationID": loose,
        "deviceName": loose,
        "fPort": loose,
        "data": loose,
        "fCnt": loose,
        "time": loose,
        "publishedAt": loose,
        "rxInfo": st.lists(shaped({}, {"time": loose}) | json_values, max_size=3) | json_values,
        "margin": loose,
        "error": loose,
        "payload": loose,
    },
)
netmore_entry = shaped(
    {"devEui": loose},
    {
        "fPort": loose,
        "payload": loose,
        "Payload": loose,
        "fCntUp": loose,
        "timestamp": loose,
        "messageType": loose,
        "data": loose,
    },
)
netmore_like = st.lists(netmore_entry | json_values, max_size=3)
loriot_like = shaped(
    {"cmd": st.sampled_from(["rx", "gw", "tx"]) | loose},
    {"EUI": loose, "ts": loose, "fcnt": loose, "port": loose, "data": loose, "encdata": loose},
)
thingpark_like = shaped(
    {},
    {
        "DevEUI_uplink": shaped(
            {},
            {"DevEUI": loose, "Time": loose, "FPort": loose, "FCntUp": loose, "payload_hex": loose},
        )
        | json_values,
        "DevEUI_location": json_values,
    },
)


def parses_or_rejects(body: bytes, fmt: str) -> None:
    try:
        uplinks = parse_uplinks(body, fmt)
    except EnvelopeError as exc:
        rejection = exc
    else:
        assert all(_plausible(uplink) for uplink in uplinks)
        return
    assert rejection.reason


def _plausible(uplink: Uplink) -> bool:
    return (
        1 <= uplink.f_port <= 255
        and len(uplink.dev_eui) == 16
        and uplink.dev_eui == uplink.dev_eui.lower()
        and uplink.received_at.utcoffset() is not None
        and bool(uplink.message_id)
    )


@given(
    v3_like | netmore_like | netmore_entry | loriot_like | thingpark_like,
    st.sampled_from(FORMATS),
)
def test_envelope_like_documents_only_raise_envelope_error(doc: Any, fmt: str) -> None:
    parses_or_rejects(orjson.dumps(doc), fmt)
    with contextlib.suppress(EnvelopeError):
        parse_uplink(orjson.dumps(doc), fmt)


@given(json_values, st.sampled_from(FORMATS))
def test_arbitrary_json_only_raises_envelope_error(doc: Any, fmt: str) -> None:
    parses_or_rejects(orjson.dumps(doc), fmt)


@given(st.binary(max_size=64), st.integers(1, 255), st.sampled_from(VARIANTS))
def test_any_payload_and_port_round_trip(payload: bytes, port: int, variant: str) -> None:
    uplink = parse(wrap(variant, port, payload))
    assert (uplink.payload, uplink.f_port) == (payload, port)


def test_message_id_is_stable_across_retries() -> None:
    doc = envelope(CS3_SERVANET)
    retry = copy.deepcopy(doc)
    retry["rxInfo"].reverse()
    assert parse(doc).message_id == parse(retry).message_id
