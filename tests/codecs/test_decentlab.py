"""Decentlab protocol-v2 codec against ThingsBoard's real uplinks and Decentlab's TTN examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stadsnav.codecs.base import DecodeResult
from stadsnav.codecs.decentlab import (
    CODECS,
    CTD10,
    DECENTLAB_DEVICES,
    DS18,
    PR36CTD,
    TP,
    DecentlabCodec,
    decode_decentlab,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEVICES = REPO_ROOT.parent / "shared" / "data" / "devices"

# ThingsBoard adds the network server's radio metadata to the decoded telemetry.
ENVELOPE_PREFIX = "lora_"


def _decentlab_rows(name: str) -> list[dict[str, Any]]:
    with (DEVICES / name).open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    return [row for row in rows if row["vendor"].lower() == "decentlab"]


def _codec(model: str) -> DecentlabCodec:
    return next(codec for codec in CODECS if codec.id == f"decentlab/{model.lower()}")


def _device_name(row: dict[str, Any]) -> str:
    full = row["expected_result_full"]
    return str((full[0] if isinstance(full, list) else full)["deviceName"])


THINGSBOARD_ROWS = _decentlab_rows("thingsboard_vectors.jsonl")


def test_vector_files_hold_decentlab_rows() -> None:
    assert len(THINGSBOARD_ROWS) == 75
    assert {row["model"] for row in THINGSBOARD_ROWS} == {
        "DL-CTD10",
        "DL-DS18",
        "DL-PR36CTD",
        "DL-SMTP",
        "DL-TP",
    }
    assert _decentlab_rows("diwise_vectors.jsonl") == []


@pytest.mark.parametrize("row", THINGSBOARD_ROWS, ids=[row["id"] for row in THINGSBOARD_ROWS])
def test_thingsboard_vectors(row: dict[str, Any]) -> None:
    result = _codec(row["model"]).decode_uplink(bytes.fromhex(row["bytes_hex"]), row["fport"])
    assert result.errors == []
    # ThingsBoard names the device after the id in the frame.
    assert result.data["device_id"] == int(_device_name(row))
    assert result.data["protocol_version"] == 2
    telemetry = row["expected_telemetry"][0]
    decoded = {
        key: value for key, value in telemetry.items() if not key.startswith(ENVELOPE_PREFIX)
    }
    assert decoded
    for key, value in decoded.items():
        assert result.data[key] == pytest.approx(value), key
    assert set(result.data) == set(decoded) | {"device_id", "protocol_version"}


def test_ds18_ttn_example() -> None:
    # TTN device repository, vendor/decentlab/dl-ds18-codec.yaml, "Example 1".
    result = _codec("dl-ds18").decode_uplink(bytes.fromhex("02023d0003815e0c15"), 1)
    assert result.as_dict() == {
        "data": {
            "protocol_version": 2,
            "device_id": 573,
            "temperature": 21.875,
            "battery_voltage": 3.093,
        },
        "warnings": [],
        "errors": [],
    }


def test_ctd10_ttn_example() -> None:
    # TTN device repository, vendor/decentlab/dl-ctd10-codec.yaml, "Example 1".
    assert decode_decentlab(CTD10, bytes.fromhex("0207d9000390888081006400000c60")).data == {
        "protocol_version": 2,
        "device_id": 2009,
        "water_depth": 4232,
        "temperature": 12.9,
        "electrical_conductivity": 100,
        "freezing_flag": 0,
        "battery_voltage": 3.168,
    }


def test_integer_quantities_stay_integers() -> None:
    data = decode_decentlab(CTD10, bytes.fromhex("0207d9000390888081006400000c60")).data
    assert isinstance(data["water_depth"], int)
    assert isinstance(data["electrical_conductivity"], int)


def test_pr36ctd_uses_the_8192_pressure_scale() -> None:
    data = decode_decentlab(PR36CTD, bytes.fromhex("020a17000180007fff81008000")).data
    assert data["pressure"] == 0.0
    assert data["temperature_electronics"] == -1 / 256
    assert data["temperature_pt1000"] == 1.0
    assert data["electrical_conductivity"] == 0.0


def test_below_zero_temperature() -> None:
    # 0x7fd0 is 48 sixteenths under the 32768 zero: -3 °C.
    assert decode_decentlab(DS18, bytes.fromhex("02023d00017fd0")).data["temperature"] == -3.0


def test_battery_only_frame_skips_the_sensor_group() -> None:
    data = decode_decentlab(TP, bytes.fromhex("023e3e00020afc")).data
    assert data == {"protocol_version": 2, "device_id": 15934, "battery_voltage": 2.812}


def test_header_only_frame_has_no_values() -> None:
    result = decode_decentlab(DS18, bytes.fromhex("02023d0000"))
    assert result.ok
    assert result.data == {"protocol_version": 2, "device_id": 573}


def test_wrong_protocol_version() -> None:
    result = decode_decentlab(DS18, bytes.fromhex("01023d00020c15"))
    assert result.data == {}
    assert result.errors == ["protocol version 1 at byte 0, expected 2"]


def test_truncated_header() -> None:
    assert decode_decentlab(DS18, bytes.fromhex("02023d")).errors == [
        "truncated header: DL-DS18 frames start with 5 bytes (version, device id, flags), got 3"
    ]
    assert decode_decentlab(DS18, b"").errors[0].endswith("got 0")


def test_truncated_sensor_group() -> None:
    result = decode_decentlab(CTD10, bytes.fromhex("0207d90003908880810064"))
    assert result.data == {}
    assert result.errors == ["truncated sensor group 0 at byte 5: needs 8 bytes, only 6 remain"]


def test_truncated_battery_group() -> None:
    result = decode_decentlab(DS18, bytes.fromhex("02023d0003815e0c"))
    assert result.errors == ["truncated sensor group 1 at byte 7: needs 2 bytes, only 1 remain"]


def test_flags_for_groups_the_device_lacks() -> None:
    result = decode_decentlab(DS18, bytes.fromhex("02023d0007815e0c150000"))
    assert result.data == {}
    assert result.errors == ["flags 0x0007 announce sensor groups DL-DS18 does not have (it has 2)"]


def test_trailing_bytes_are_rejected() -> None:
    result = decode_decentlab(DS18, bytes.fromhex("02023d00020c15ff"))
    assert result.data == {}
    assert result.errors == ["1 unexpected bytes after the last sensor group, at byte 7"]


def test_codecs_cover_decentlab_models() -> None:
    assert sorted(codec.id for codec in CODECS) == [
        "decentlab/dl-ctd10",
        "decentlab/dl-ds18",
        "decentlab/dl-pr36ctd",
        "decentlab/dl-smtp",
        "decentlab/dl-tp",
    ]
    assert {codec.device.model for codec in CODECS} == {
        device.model for device in DECENTLAB_DEVICES.values()
    }


@given(st.sampled_from(CODECS), st.binary(max_size=80), st.integers(0, 255))
def test_arbitrary_bytes_never_raise(codec: DecentlabCodec, payload: bytes, f_port: int) -> None:
    result = codec.decode_uplink(payload, f_port)
    assert isinstance(result, DecodeResult)
    if result.errors:
        assert result.data == {}


@given(st.integers(0, 65535), st.integers(0, 65535), st.integers(0, 65535))
def test_ds18_round_trip(device_id: int, raw_temperature: int, millivolts: int) -> None:
    payload = (
        b"\x02"
        + device_id.to_bytes(2, "big")
        + b"\x00\x03"
        + raw_temperature.to_bytes(2, "big")
        + millivolts.to_bytes(2, "big")
    )
    assert decode_decentlab(DS18, payload).data == {
        "protocol_version": 2,
        "device_id": device_id,
        "temperature": (raw_temperature - 32768) / 16,
        "battery_voltage": millivolts / 1000,
    }
