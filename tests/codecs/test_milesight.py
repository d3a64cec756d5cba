"""Milesight channel codecs against real uplinks (ThingsBoard, diwise) and Milesight's examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stadsnav.codecs.base import DecodeResult
from stadsnav.codecs.base import FunctionCodec as MilesightCodec
from stadsnav.codecs.milesight import CODECS

REPO_ROOT = Path(__file__).resolve().parents[2]
DEVICES = REPO_ROOT.parent / "shared" / "data" / "devices"
CODEC_BY_ID = {codec.id: codec for codec in CODECS}

# Vector-file model names → TTN ids; WS101 and AM103 rows are not covered by this module.
MODEL_IDS = {
    "AM307": "am307",
    "EM300-DI": "em300-di",
    "EM300-MCS": "em300-mcs",
    "EM300-SLD-ZLD": "em300-sld",
    "EM300-TH": "em300-th",
    "EM300 (TH + magnet/door)": "em300-mcs",
    "EM400-TLD": "em400-tld",
    "EM400-UDL": "em400-udl",
    "EM500-PT100": "em500-pt100",
    "EM500-SWL": "em500-swl",
    "EM500-UDL": "em500-udl",
    "WS301": "ws301",
}
# ThingsBoard's names and values → the TTN decoders' (per model where they differ).
TB_NAMES = {"water_level": "level", "leakage_status": "water_leak"}
TB_MCS: dict[str, tuple[str, dict[str, Any]]] = {
    "magnet_status": ("magnet", {"open": 1, "close": 0})
}
TB_WS301: dict[str, tuple[str, dict[str, Any]]] = {
    "magnet_status": ("door", {"open": "open", "close": "close"}),
    "tamper_status": ("install", {"uninstalled": "no", "installed": "yes"}),
}
TB_SPECIAL = {"em300-mcs": TB_MCS, "ws301": TB_WS301}
# Where ThingsBoard's result disagrees with Milesight's table, the bytes win: the EM300-DI row's
# 04 68 65 is 0x65 / 2 = 50.5 %RH (ThingsBoard: 50); the EM300-SLD history `20ce 9e744663 1001 5d
# 01` has humidity 0x5d / 2 = 46.5 (ThingsBoard: 79.0; Milesight's EM300-TH README decodes the
# same record to 46.5).
BYTES_OVER_FIXTURE = {("em300-di", "humidity", 50): 50.5, ("em300-sld", "humidity", 79.0): 46.5}
# AM307 rows 0234/0238 append a 20-byte history record (the AM308 layout, with pm2_5/pm10) after
# `20 ce`; the AM307 record is 16 bytes (SensorDecoders AM_Series/AM300 README), so the last four
# bytes `00 19 00 32` are an unknown channel and the payload is rejected. ThingsBoard also reads
# the history temperature `00 e1` unsigned (5760.0) where the spec's int16 gives -793.6.
AM308_TAIL = "0e015520ce6535ca0c00e1006e016401c2000a279700190032"


def _milesight_rows(name: str) -> list[dict[str, Any]]:
    with (DEVICES / name).open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    return [
        row for row in rows if row["vendor"].lower() == "milesight" and row["model"] in MODEL_IDS
    ]


def _codec(row: dict[str, Any]) -> MilesightCodec:
    return CODEC_BY_ID[f"milesight-iot/{MODEL_IDS[row['model']]}"]


def _approx(value: Any) -> Any:
    return pytest.approx(value) if isinstance(value, float) else value


def _tb_values(model: str, telemetry: dict[str, Any]) -> dict[str, Any]:
    special = TB_SPECIAL.get(model, {})
    values: dict[str, Any] = {}
    for key, value in telemetry.items():
        if key in special:
            name, mapping = special[key]
            values[name] = mapping[value]
        elif key == "gpio_type":
            continue
        else:
            values[TB_NAMES.get(key, key)] = BYTES_OVER_FIXTURE.get((model, key, value), value)
    return values


def _assert_values(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    for key, value in expected.items():
        assert actual[key] == _approx(value), key


DIWISE_ROWS = _milesight_rows("diwise_vectors.jsonl")
THINGSBOARD_ROWS = _milesight_rows("thingsboard_vectors.jsonl")


def test_vector_files_hold_milesight_rows() -> None:
    assert len(DIWISE_ROWS) == 7
    assert len(THINGSBOARD_ROWS) == 66


@pytest.mark.parametrize("row", THINGSBOARD_ROWS, ids=[row["id"] for row in THINGSBOARD_ROWS])
def test_thingsboard_vectors(row: dict[str, Any]) -> None:
    codec = _codec(row)
    result = codec.decode_uplink(bytes.fromhex(row["bytes_hex"]), int(row["fport"]))
    if row["bytes_hex"].endswith(AM308_TAIL):
        assert result.data == {}
        assert result.errors == ["unknown channel 0x00 type 0x19 at byte 65"]
        return
    assert result.errors == []
    model = codec.id.split("/")[1]
    # Telemetry after the first is history, or gateway metadata (rssi/snr) from the envelope.
    current, *rest = row["expected_telemetry"]
    history = [entry for entry in rest if "rssi" not in entry]
    _assert_values(result.data, _tb_values(model, current))
    assert len(result.data.get("history", [])) == len(history)
    for point, expected in zip(result.data.get("history", []), history, strict=True):
        _assert_values(point, _tb_values(model, expected))
        if expected.get("gpio_type") == "pulse":
            assert "pulse" in point


def _diwise_values(row: dict[str, Any]) -> dict[str, Any]:
    expected = dict(row["expected"])
    values: dict[str, Any] = {}
    for key, value in expected.items():
        if key == "distance_mm":
            # The EM500-UDL TTN decoder reports metres; the EM400 family reports millimetres.
            if row["model"] == "EM500-UDL":
                values["distance"] = value / 1000
            else:
                values["distance"] = value
        elif key == "digital_input":
            values["magnet"] = int(value)
        elif not key.startswith("diwise_"):
            values[key] = value
    return values


@pytest.mark.parametrize("row", DIWISE_ROWS, ids=[row["id"] for row in DIWISE_ROWS])
def test_diwise_vectors(row: dict[str, Any]) -> None:
    result = _codec(row).decode_uplink(bytes.fromhex(row["bytes_hex"]), int(row["fport"]))
    assert not row["expect_error"]
    assert result.errors == []
    _assert_values(result.data, _diwise_values(row))


def _decode(model: str, hex_payload: str, f_port: int = 85) -> DecodeResult:
    return CODEC_BY_ID[f"milesight-iot/{model}"].decode_uplink(bytes.fromhex(hex_payload), f_port)


def test_em300_th_history_example() -> None:
    # SensorDecoders EM_Series/EM300_Series/EM300-TH/README.md, "Example".
    assert _decode("em300-th", "20ce9e74466310015d00").data == {
        "history": [{"timestamp": 1665561758, "temperature": 27.2, "humidity": 46.5}]
    }


def test_em300_sld_history_carries_leak_state() -> None:
    assert _decode("em300-zld", "20ce9e74466310015d01").data == {
        "history": [
            {"timestamp": 1665561758, "temperature": 27.2, "humidity": 46.5, "water_leak": "leak"}
        ]
    }


def test_em300_di_gpio_and_pulse_channels() -> None:
    data = _decode("em300-di", "050001" + "05c8e8030000" + "20ce9e744663f6ff500101" + "00000000")
    assert data.data == {
        "gpio": 1,
        "pulse": 1000,
        "history": [{"timestamp": 1665561758, "temperature": -1.0, "humidity": 40.0, "gpio": 1}],
    }


def test_em400_tld_examples() -> None:
    # SensorDecoders EM_Series/EM400_Series/EM400-TLD/README.md, "Example (LoRaWAN)".
    assert _decode("em400-tld", "01755c0367010104824408050001").data == {
        "battery": 92,
        "temperature": 25.7,
        "distance": 2116,
        "position": "tilt",
    }


def test_em500_udl_readme_example_in_metres() -> None:
    # SensorDecoders EM500-UDL README: 017564 03821E00 → 30 mm; the TTN decoder gives metres.
    assert _decode("em500-udl", "01756403821e00").data == {"battery": 100, "distance": 0.03}


def test_em500_history_frames() -> None:
    assert _decode("em500-pt100", "20ce9e744663c4ff").data == {
        "history": [{"timestamp": 1665561758, "temperature": -6.0}]
    }
    assert _decode("em500-swl", "20ce9e7446630a01").data == {
        "history": [{"timestamp": 1665561758, "level": 266}]
    }
    assert _decode("em500-udl", "20ce9e7446638813").data == {
        "history": [{"timestamp": 1665561758, "distance": 5.0}]
    }


def test_am307_readme_example() -> None:
    # SensorDecoders AM_Series/AM300/README.md, "Example".
    payload = "0367ee0004687c05000106cb02077da803087d2500097366270a7d04000b7d20000c7d3000"
    assert _decode("am307", payload).data == {
        "temperature": 23.8,
        "humidity": 62.0,
        "pir": "trigger",
        "light_level": 2,
        "co2": 936,
        "tvoc": 37,
        "pressure": 1008.6,
        "hcho": 0.04,
        "pm2_5": 32,
        "pm10": 48,
    }


def test_am307_sixteen_byte_history() -> None:
    payload = "20ce" + "6535ca0c" + "e100" + "6e00" + "00" + "03" + "c201" + "0a00" + "9727"
    assert _decode("am307", payload).data == {
        "history": [
            {
                "timestamp": 214578533,
                "temperature": 22.5,
                "humidity": 55.0,
                "pir": "idle",
                "light_level": 3,
                "co2": 450,
                "tvoc": 10,
                "pressure": 1013.5,
            }
        ]
    }


def test_ws301_example() -> None:
    # SensorDecoders WS_Series/WS301/README.md: 01 75 64 03 00 01 04 00 01.
    assert _decode("ws301", "017564030001040001").data == {
        "battery": 100,
        "door": "open",
        "install": "no",
    }


def test_ws52x_ttn_examples() -> None:
    # TTN vendor/milesight-iot/ws52x-codec.yaml examples 1-3, then the other channels.
    assert _decode("ws52x", "0374ed08").data == {"voltage": 228.5}
    assert _decode("ws52x", "068356040000").data == {"energy": 1110}
    assert _decode("ws52x", "087001").data == {"button": "open"}
    assert _decode("ws52x", "04800a000000" + "05815f" + "07c99600" + "087000").data == {
        "active_power": 10,
        "power": 95,
        "current": 150,
        "button": "close",
    }


def test_device_information_frames() -> None:
    payload = "ff0101" + "ff090110" + "ff0a0114" + "ff0b01" + "ff0f00" + "ff166136c13564720022"
    assert _decode("em300-th", payload).data == {
        "ipso_version": "v0.1",
        "hardware_version": "v1.1",
        "firmware_version": "v1.20",
        "device_status": "on",
        "lorawan_class": "Class A",
        "sn": "6136c13564720022",
    }


def test_negative_temperature_is_signed() -> None:
    assert _decode("em300-th", "03679cff").data == {"temperature": -10.0}


def test_truncated_channel_rejects_everything() -> None:
    result = _decode("em300-th", "01755c0367f3")
    assert result.data == {}
    assert result.errors == [
        "truncated channel at byte 3: 03 67 (temperature) needs 2 data bytes, only 1 remain"
    ]


def test_lone_channel_id_is_truncated() -> None:
    assert _decode("ws301", "01756403").errors == [
        "truncated channel at byte 3: need channel id and type, 1 byte left"
    ]


def test_channel_of_another_model_is_unknown() -> None:
    result = _decode("em300-th", "01755c050001")
    assert result.data == {}
    assert result.errors == ["unknown channel 0x05 type 0x00 at byte 3"]


def test_empty_payload_and_mac_port() -> None:
    assert _decode("em300-th", "").errors == ["empty payload"]
    result = _decode("em300-th", "01755c", f_port=0)
    assert result.data == {}
    assert result.errors == ["fPort 0 carries MAC commands, not a Milesight payload"]


def test_codecs_list_every_model_id() -> None:
    assert sorted(CODEC_BY_ID) == [
        "milesight-iot/am307",
        "milesight-iot/em300-di",
        "milesight-iot/em300-mcs",
        "milesight-iot/em300-sld",
        "milesight-iot/em300-th",
        "milesight-iot/em300-zld",
        "milesight-iot/em400-tld",
        "milesight-iot/em400-udl",
        "milesight-iot/em500-pt100",
        "milesight-iot/em500-swl",
        "milesight-iot/em500-udl",
        "milesight-iot/ws301",
        "milesight-iot/ws52x",
    ]


@given(st.sampled_from(CODECS), st.binary(max_size=120), st.integers(0, 255))
def test_arbitrary_bytes_never_raise(codec: MilesightCodec, payload: bytes, f_port: int) -> None:
    result = codec.decode_uplink(payload, f_port)
    assert isinstance(result, DecodeResult)
    if result.errors:
        assert result.data == {}
