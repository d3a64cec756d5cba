"""Elsys TLV codec against real uplinks (diwise, ThingsBoard, TTN examples) and the spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stadsnav.codecs.base import DecodeResult
from stadsnav.codecs.elsys import CODECS, ElsysCodec, decode_elsys

REPO_ROOT = Path(__file__).resolve().parents[2]
DEVICES = REPO_ROOT.parent / "shared" / "data" / "devices"

# diwise and ThingsBoard name some values differently from Elsys' generic decoder.
DIWISE_NAMES = {"vdd_mV": "vdd", "digital_input": "digital"}
DIWISE_IGNORED = {"expected_senml", "lwm2m"}
THINGSBOARD_NAMES = {"pir": "motion"}
# diwise-0002 expects the envelope's stale vdd 3450; its bytes say 07 0e34, which is 3636 mV.
BYTES_OVER_FIXTURE = {("diwise-0002", "vdd"): 3636}


def _elsys_rows(name: str) -> list[dict[str, Any]]:
    with (DEVICES / name).open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    return [row for row in rows if row["vendor"].lower() == "elsys"]


def _fport(row: dict[str, Any]) -> int:
    return 5 if row["fport"] is None else int(row["fport"])


def _approx(value: Any) -> Any:
    # diwise states digital inputs as booleans; Elsys reports the input byte, 0 or 1.
    return pytest.approx(value) if isinstance(value, float) else value


def _decode(hex_payload: str) -> DecodeResult:
    return ElsysCodec("elsys/ers").decode_uplink(bytes.fromhex(hex_payload), 5)


def _diwise_expected(expected: dict[str, Any]) -> dict[str, Any]:
    return {
        DIWISE_NAMES.get(key, key): value
        for key, value in expected.items()
        if not key.startswith("diwise_") and key not in DIWISE_IGNORED
    }


DIWISE_ROWS = _elsys_rows("diwise_vectors.jsonl")
THINGSBOARD_ROWS = _elsys_rows("thingsboard_vectors.jsonl")


def test_vector_files_hold_elsys_rows() -> None:
    assert len(DIWISE_ROWS) == 12
    assert len(THINGSBOARD_ROWS) == 20


@pytest.mark.parametrize("row", DIWISE_ROWS, ids=[row["id"] for row in DIWISE_ROWS])
def test_diwise_vectors(row: dict[str, Any]) -> None:
    result = ElsysCodec("elsys/elt-2").decode_uplink(bytes.fromhex(row["bytes_hex"]), _fport(row))
    if row["expect_error"]:
        assert result.errors
        assert result.data == {}
        return
    assert result.errors == []
    for key, value in _diwise_expected(row["expected"] or {}).items():
        expected = BYTES_OVER_FIXTURE.get((row["id"], key), value)
        assert result.data[key] == _approx(expected), key


@pytest.mark.parametrize("row", THINGSBOARD_ROWS, ids=[row["id"] for row in THINGSBOARD_ROWS])
def test_thingsboard_vectors(row: dict[str, Any]) -> None:
    result = ElsysCodec("elsys/ers").decode_uplink(bytes.fromhex(row["bytes_hex"]), _fport(row))
    assert result.errors == []
    telemetry = row["expected_telemetry"][0]
    for key, value in telemetry.items():
        assert result.data[THINGSBOARD_NAMES.get(key, key)] == _approx(value), key


def test_sundsvall_beach_water_temperature() -> None:
    result = ElsysCodec("elsys/elt-lite").decode_uplink(bytes.fromhex("070d8a0c00c1"), 5)
    assert result.as_dict() == {
        "data": {"externalTemperature": 19.3, "vdd": 3466},
        "warnings": [],
        "errors": [],
    }


def test_full_ers_co2_uplink() -> None:
    assert _decode("0100ee02160400b205020601c4070e34").data == {
        "temperature": 23.8,
        "humidity": 22,
        "light": 178,
        "motion": 2,
        "co2": 452,
        "vdd": 3636,
    }


def test_ttn_example_ems_desk() -> None:
    assert _decode("0100e2022903012705" + "1102").data == {
        "temperature": 22.6,
        "humidity": 41,
        "x": 1,
        "y": 39,
        "z": 5,
        "occupancy": 2,
    }


def test_ttn_example_ems_door() -> None:
    assert _decode("030127050a11010b000a0011").data == {
        "x": 1,
        "y": 39,
        "z": 5,
        "pulse1": 4353,
        "pulseAbs": 655377,
    }


def test_elt2_with_pressure_and_pulses() -> None:
    assert _decode("01002a0237070e450a03570c002d14000f7d5e").data == {
        "temperature": 4.2,
        "humidity": 55,
        "vdd": 3653,
        "pulse1": 855,
        "externalTemperature": 4.5,
        "pressure": 1015.134,
    }


def test_negative_temperatures() -> None:
    data = _decode("01ff380cfe0c19f8301080007fff").data
    assert data["temperature"] == -20.0
    assert data["externalTemperature"] == -50.0
    assert data["externalTemperature2"] == -200.0
    assert data["irInternalTemperature"] == -3276.8
    assert data["irExternalTemperature"] == 3276.7


def test_negative_acceleration() -> None:
    assert _decode("03c1ff3f").data == {"x": -63, "y": -1, "z": 63}


def test_repeated_external_temperature2_becomes_a_list() -> None:
    assert _decode("1900c81900d21900dc").data == {"externalTemperature2": [20.0, 21.0, 22.0]}


def test_gps_is_signed_little_endian_ten_thousandths() -> None:
    assert _decode("092485090da402").data == {"lat": 62.3908, "long": 17.3069}
    assert _decode("0900d5fa000000").data == {"lat": -33.8688, "long": 0.0}


def test_wide_counters_are_unsigned_and_load_cell_is_signed() -> None:
    data = _decode("0bffffffff17000000021bffffff9c").data
    assert data == {"pulseAbs": 4294967295, "pulseAbs2": 2, "analogUv": -100}


def test_remaining_simple_types() -> None:
    data = _decode("0801f40e04d20f03120116000718012c1a011c00fa3d0000002a").data
    assert data == {
        "analog1": 500,
        "distance": 1234,
        "accMotion": 3,
        "waterleak": 1,
        "pulse2": 7,
        "analog2": 300,
        "digital2": 1,
        "tvoc": 250,
        "debug": 42,
    }


def test_grideye_frame() -> None:
    result = _decode("13" + "14" + "05" * 63 + "0a")
    assert result.errors == []
    assert result.data["grideye"][:2] == [20.5, 20.5]
    assert result.data["grideye"][63] == 21.0
    assert len(result.data["grideye"]) == 64


def test_sound_frame() -> None:
    assert _decode("153f3a").data == {"soundPeak": 63, "soundAvg": 58}


def test_truncated_first_frame() -> None:
    result = _decode("0100")
    assert result.data == {}
    assert result.errors == [
        "truncated frame at byte 0: type 0x01 (temperature) needs 2 data bytes, only 1 remain"
    ]


def test_truncated_frame_after_good_ones_rejects_everything() -> None:
    result = _decode("0100e8020c14000f72")
    assert not result.ok
    assert result.data == {}
    assert result.errors == [
        "truncated frame at byte 5: type 0x14 (pressure) needs 4 data bytes, only 3 remain"
    ]


def test_truncated_grideye() -> None:
    result = _decode("1314" + "05" * 10)
    assert result.data == {}
    assert "type 0x13 (grideye) needs 65 data bytes, only 11 remain" in result.errors[0]


def test_unknown_type_byte() -> None:
    result = _decode("0100e8ff00")
    assert result.data == {}
    assert result.errors == ["unknown type byte 0xff at byte 3"]


def test_empty_payload() -> None:
    result = _decode("")
    assert result.errors == ["empty payload"]
    assert result.data == {}


def test_settings_frame_is_reported_not_decoded() -> None:
    result = _decode("3e0208050e01")
    assert result.ok
    assert result.data == {}
    assert result.warnings == ["settings frame at byte 0 (2 bytes) not decoded"]


def test_truncated_settings_frame() -> None:
    assert _decode("3e0508").errors == [
        "truncated frame at byte 0: type 0x3e (settings) needs 5 data bytes, only 1 remain"
    ]
    assert _decode("3e").errors == [
        "truncated frame at byte 0: type 0x3e (settings) has no length byte"
    ]


def test_bytearray_payload_is_accepted() -> None:
    result = ElsysCodec("elsys/ers").decode_uplink(bytearray.fromhex("070d8a"), 5)
    assert result.data == {"vdd": 3466}


def test_codecs_cover_elsys_models() -> None:
    ids = {codec.id for codec in CODECS}
    assert {"elsys/ers", "elsys/ers-co2", "elsys/elt-2", "elsys/ems-door"} <= ids
    assert all(codec_id.startswith("elsys/") for codec_id in ids)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(payload: bytes) -> None:
    result = decode_elsys(payload)
    assert isinstance(result, DecodeResult)
    if result.errors:
        assert result.data == {}


@given(st.integers(min_value=-32768, max_value=32767), st.integers(0, 65535))
def test_temperature_and_vdd_round_trip(tenths: int, vdd: int) -> None:
    payload = b"\x01" + tenths.to_bytes(2, "big", signed=True) + b"\x07" + vdd.to_bytes(2, "big")
    assert decode_elsys(payload).data == {"temperature": tenths / 10, "vdd": vdd}
