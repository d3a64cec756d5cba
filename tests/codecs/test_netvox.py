"""Netvox codec against ThingsBoard's real uplinks and the TTN device repository's examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stadsnav.codecs.base import DecodeResult
from stadsnav.codecs.netvox import (
    CODECS,
    NETVOX_DEVICES,
    R311A,
    R718N3,
    NetvoxCodec,
    decode_netvox,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEVICES = REPO_ROOT.parent / "shared" / "data" / "devices"

# ThingsBoard's converter names and values → this codec's (the TTN codecs' names).
THINGSBOARD_NAMES = {
    "battery_voltage": "Volt",
    "contact_switch": "OnOff",
    "ball_status": "status",
    "temperature": "Temp",
    "humidity": "Humi",
    "cmd": "Cmd",
    "minTime": "MinTime",
    "maxTime": "MaxTime",
    "batteryChange": "BatteryChange",
    "tempChange": "TempChange",
    "humiChange": "HumiChange",
    "on_state_duration": "OnStateDuration",
    "off_state_duration": "OffStateDuration",
    # ThingsBoard (and the TTN example for report type 0x04) misspell the phase-2 high alarm.
    "HighCurren2Alarm": "HighCurrent2Alarm",
}
THINGSBOARD_VALUES: dict[str, dict[Any, Any]] = {
    "OnOff": {"on": 1, "off": 0},
    "status": {"on": 1, "off": 0},
    "Cmd": {
        "readConfigReportRsp": "ReadConfigReportRsp",
        "getOnOffStateDurationRsp": "GetOnOffStateDurationRsp",
    },
}
# Radio and network-server metadata ThingsBoard mixes into the telemetry; not in the payload.
ENVELOPE_KEYS = {
    "f_cnt",
    "session_key_id",
    "frm_payload",
    "eui",
    "rssi",
    "channel_rssi",
    "snr",
    "frequency_offset",
    "channel_index",
    "message_id",
    "consumed_airtime",
}
ENVELOPE_PREFIXES = ("forwarder_", "home_network_")


def _netvox_rows(name: str) -> list[dict[str, Any]]:
    with (DEVICES / name).open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    return [row for row in rows if row["vendor"].lower() == "netvox"]


def _codec(model: str) -> NetvoxCodec:
    return next(codec for codec in CODECS if codec.id == f"netvox/{model.lower()}")


def _expected(telemetry: dict[str, Any]) -> dict[str, Any]:
    expected = {}
    for key, value in telemetry.items():
        if key in ENVELOPE_KEYS or key.startswith(ENVELOPE_PREFIXES):
            continue
        name = THINGSBOARD_NAMES.get(key, key)
        expected[name] = THINGSBOARD_VALUES.get(name, {}).get(value, value)
    return expected


THINGSBOARD_ROWS = _netvox_rows("thingsboard_vectors.jsonl")


def test_vector_files_hold_netvox_rows() -> None:
    assert len(THINGSBOARD_ROWS) == 37
    assert {row["model"] for row in THINGSBOARD_ROWS} == {"R311A", "R718A", "R718DA", "R718N3"}
    assert _netvox_rows("diwise_vectors.jsonl") == []


@pytest.mark.parametrize("row", THINGSBOARD_ROWS, ids=[row["id"] for row in THINGSBOARD_ROWS])
def test_thingsboard_vectors(row: dict[str, Any]) -> None:
    result = _codec(row["model"]).decode_uplink(bytes.fromhex(row["bytes_hex"]), row["fport"])
    assert result.errors == []
    assert result.data["Device"] == row["model"]
    expected = _expected(row["expected_telemetry"][0])
    # ThingsBoard leaves LowVolt out when the battery is fine; the codec always says.
    if "Volt" in result.data:
        assert result.data["LowVolt"] is expected.pop("LowVolt", False)
    for key, value in expected.items():
        assert result.data[key] == pytest.approx(value), key


def test_r718n3_all_report_types_in_one_uplink() -> None:
    # thingsboard/data-converters VENDORS/Netvox/R718N3/guide.md, "All" example: the last
    # current frame (type 0x03) wins, scaled by its packed multipliers 10, 5 and 100.
    payload = bytes.fromhex(
        "014a000a02202007060000014a019f03e800c81b5801014a029f030a0000000000"
        "014a032405dd05d41b5836014a049f39000000000000"
    )
    result = decode_netvox(R718N3, payload, 6)
    assert result.warnings == []
    assert result.data == {
        "Device": "R718N3",
        "SWver": 1.0,
        "HWver": 2,
        "Datecode": "20200706",
        "Volt": 3.1,
        "LowVolt": True,
        "Current1": 15010,
        "Current2": 7460,
        "Current3": 700000,
        "Multiplier1": 10,
        "Multiplier2": 5,
        "Multiplier3": 100,
        "LowCurrent1Alarm": 1,
        "HighCurrent1Alarm": 0,
        "LowCurrent2Alarm": 0,
        "HighCurrent2Alarm": 1,
        "LowCurrent3Alarm": 1,
        "HighCurrent3Alarm": 1,
    }


def test_r718n3_report_1_alone_warns_that_phases_2_and_3_are_unscaled() -> None:
    # TTN vendor/netvox/r718n3-codec.yaml, "Status report - 1".
    result = _codec("r718n3").decode_uplink(bytes.fromhex("014a012403e800c81b5801"), 6)
    assert result.data == {
        "Device": "R718N3",
        "Volt": 3.6,
        "LowVolt": False,
        "Current1": 1000,
        "Current2": 200,
        "Current3": 7000,
        "Multiplier1": 1,
    }
    assert result.warnings == [
        "Current2, Current3 not scaled: their multipliers come in report type 0x02"
    ]


def test_r718n3_report_1_and_2_scale_every_phase() -> None:
    payload = bytes.fromhex("014a019f03e800c81b5801014a029f030a0000000000")
    result = decode_netvox(R718N3, payload, 6)
    assert result.warnings == []
    assert [result.data[f"Current{phase}"] for phase in (1, 2, 3)] == [1000, 600, 70000]


def test_r718n3_report_type_responses() -> None:
    codec = _codec("r718n3")
    assert codec.decode_uplink(bytes.fromhex("844a010000000000000000"), 7).data == {
        "Cmd": "GetReportTypeRsp",
        "Device": "R718N3",
        "ReportTypeSet": 1,
    }
    # TTN vendor/netvox/r718n3-codec.yaml, "Read configure report response".
    assert codec.decode_uplink(bytes.fromhex("824a038407080064000000"), 7).data == {
        "Cmd": "ReadConfigReportRsp",
        "Device": "R718N3",
        "MinTime": 900,
        "MaxTime": 1800,
        "CurrentChange": 100,
    }


def test_r311a_ttn_examples() -> None:
    # TTN vendor/netvox/r311a-codec.yaml: start-up report, status, low-battery status.
    codec = _codec("r311a")
    assert codec.decode_uplink(bytes.fromhex("010200640b202004240000"), 6).data == {
        "Device": "R311A",
        "SWver": 10.0,
        "HWver": 11,
        "Datecode": "20200424",
    }
    assert codec.decode_uplink(bytes.fromhex("0102011e01000000000000"), 6).data == {
        "Device": "R311A",
        "Volt": 3.0,
        "LowVolt": False,
        "OnOff": 1,
    }
    low = codec.decode_uplink(bytes.fromhex("0102019701000000000000"), 6).data
    assert (low["Volt"], low["LowVolt"]) == (2.3, True)


def test_r311a_config_responses() -> None:
    codec = _codec("r311a")
    assert codec.decode_uplink(bytes.fromhex("8102000000000000000000"), 7).data == {
        "Cmd": "ConfigReportRsp",
        "Device": "R311A",
        "Status": "Success",
    }
    assert codec.decode_uplink(bytes.fromhex("8302010000000000000000"), 7).data == {
        "Cmd": "SetOnOffStateDurationRsp",
        "Device": "R311A",
        "Status": "Failure",
    }


def test_r311w_ttn_examples() -> None:
    # TTN vendor/netvox/r311w-codec.yaml: status report and read-config response.
    codec = _codec("r311w")
    assert codec.decode_uplink(bytes.fromhex("0106011e00010000000000"), 6).data == {
        "Device": "R311W",
        "Volt": 3.0,
        "LowVolt": False,
        "WaterLeak_1": "NoLeak",
        "WaterLeak_2": "Leak",
    }
    assert codec.decode_uplink(bytes.fromhex("8206038407080100000000"), 7).data == {
        "Cmd": "ReadConfigReportRsp",
        "Device": "R311W",
        "MinTime": 900,
        "MaxTime": 1800,
        "BatteryChange": 0.1,
    }


def test_r809a_ttn_examples() -> None:
    # TTN vendor/netvox/r809a-codec.yaml: both status reports and the read-config response.
    codec = _codec("r809a")
    assert codec.decode_uplink(bytes.fromhex("010e010100000200010000"), 6).data == {
        "Device": "R809A",
        "OnOff": "ON",
        "Energy": 512,
        "OverCurrentAlarm": "Alarm",
        "DashCurrentAlarm": "No alarm",
        "PowerOffAlarm": "No alarm",
    }
    assert codec.decode_uplink(bytes.fromhex("010e0200dc03e800dc0000"), 6).data == {
        "Device": "R809A",
        "Vol": 220,
        "Current": 1000,
        "Power": 220,
    }
    assert codec.decode_uplink(bytes.fromhex("820e038407080064000100"), 7).data == {
        "Cmd": "ReadConfigReportRsp",
        "Device": "R809A",
        "MinTime": 900,
        "MaxTime": 1800,
        "CurrentChange": 100,
        "PowerChange": 1,
    }


def test_r718a_negative_temperature() -> None:
    data = _codec("r718a").decode_uplink(bytes.fromhex("010b0124fc18157c000000"), 6).data
    assert (data["Temp"], data["Humi"]) == (-10.0, 55.0)


def test_wrong_device_type() -> None:
    # An R311W frame decoded as R311A.
    result = _codec("r311a").decode_uplink(bytes.fromhex("0106011e00010000000000"), 6)
    assert result.data == {}
    assert result.errors == ["device type 0x06 at byte 1 is not R311A (0x02)"]


def test_unknown_report_type() -> None:
    result = decode_netvox(R311A, bytes.fromhex("0102051e01000000000000"), 6)
    assert result.errors == ["unknown report type 0x05 at byte 2 for R311A"]


def test_unsupported_version() -> None:
    result = decode_netvox(R311A, bytes.fromhex("0202011e01000000000000"), 6)
    assert result.errors == ["report version 0x02 at byte 0, expected 0x01"]


def test_truncated_report() -> None:
    result = decode_netvox(R311A, bytes.fromhex("0102011e01"), 6)
    assert result.data == {}
    assert result.errors == ["truncated report at byte 0: needs 11 bytes, only 5 remain"]


def test_truncated_second_frame_rejects_everything() -> None:
    result = decode_netvox(R311A, bytes.fromhex("0102011e01000000000000" + "010201"), 6)
    assert result.data == {}
    assert result.errors == ["truncated report at byte 11: needs 11 bytes, only 3 remain"]


def test_empty_report() -> None:
    assert decode_netvox(R311A, b"", 6).errors == ["empty payload"]


def test_bad_command_responses() -> None:
    assert decode_netvox(R311A, bytes.fromhex("820200"), 7).errors == [
        "command response is 3 bytes, expected 11"
    ]
    assert decode_netvox(R311A, bytes.fromhex("9002000000000000000000"), 7).errors == [
        "unknown command id 0x90 at byte 0 for R311A"
    ]
    assert decode_netvox(R311A, bytes.fromhex("82ff003c003c0100000000"), 7).errors == [
        "device type 0xff at byte 1 is not R311A (0x02)"
    ]


def test_other_fports_are_rejected() -> None:
    result = decode_netvox(R311A, bytes.fromhex("0102011c01000000000000"), 2)
    assert result.data == {}
    assert result.errors == [
        "fPort 2 is neither the report port (6) nor the command-response port (7)"
    ]


def test_codecs_cover_netvox_models() -> None:
    assert sorted(codec.id for codec in CODECS) == [
        "netvox/r311a",
        "netvox/r311w",
        "netvox/r718a",
        "netvox/r718da",
        "netvox/r718n3",
        "netvox/r809a",
    ]
    assert len({device.device_type for device in NETVOX_DEVICES.values()}) == len(NETVOX_DEVICES)


@given(st.sampled_from(CODECS), st.binary(max_size=60), st.integers(0, 255))
def test_arbitrary_bytes_never_raise(codec: NetvoxCodec, payload: bytes, f_port: int) -> None:
    result = codec.decode_uplink(payload, f_port)
    assert isinstance(result, DecodeResult)
    if result.errors:
        assert result.data == {}


@given(st.sampled_from(CODECS), st.integers(0, 4), st.binary(min_size=8, max_size=8))
def test_any_report_body_decodes(codec: NetvoxCodec, report_type: int, body: bytes) -> None:
    # Random data behind a valid header reaches every report reader of every device.
    payload = bytes([1, codec.device.device_type, report_type]) + body
    result = codec.decode_uplink(payload, 6)
    assert result.ok == (report_type in codec.device.reports)


@given(st.sampled_from(CODECS), st.integers(0x81, 0x84), st.binary(min_size=9, max_size=9))
def test_any_command_response_decodes(codec: NetvoxCodec, cmd_id: int, body: bytes) -> None:
    payload = bytes([cmd_id, codec.device.device_type]) + body
    result = codec.decode_uplink(payload, 7)
    assert result.ok == (cmd_id in codec.device.commands)
