"""Every row of both shared vector files has a codec, and errors come exactly where expected.

Value-by-value checks live in each vendor's own test; this is the global guard that no vector
row is left without a codec id.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stadsnav.codecs.base import Codec
from stadsnav.codecs.registry import get_codec

REPO_ROOT = Path(__file__).resolve().parents[2]
DEVICES = REPO_ROOT.parent / "shared" / "data" / "devices"
VECTOR_FILES = ("diwise_vectors.jsonl", "thingsboard_vectors.jsonl")

CODEC_IDS: dict[tuple[str, str], str] = {
    # diwise
    ("axioma", "Qalcosonic W1 (bad frame version)"): "axioma/qalcosonic-w1",
    ("axioma", "Qalcosonic W1 (frame version 1)"): "axioma/qalcosonic-w1",
    ("axioma", "Qalcosonic W1 (w1e)"): "axioma/qalcosonic-w1",
    ("axioma", "Qalcosonic W1 (w1h)"): "axioma/qalcosonic-w1",
    ("axioma", "Qalcosonic W1 (w1t) real 2025 series"): "axioma/qalcosonic-w1",
    ("axioma", "Qalcosonic W1 (w1t, 24h w/ temperature)"): "axioma/qalcosonic-w1",
    ("axioma", "Qalcosonic W1 alarm packet"): "axioma/qalcosonic-w1",
    ("axsensor", "AX sensor (level)"): "axsensor/ax-sensor",
    ("elsys", "ELT (external temp probe) - Sundsvall beach water temperature"): "elsys/elt-lite",
    ("elsys", "ELT-2 digital input"): "elsys/elt-2",
    ("elsys", "ELT-2-HP (pump well)"): "elsys/elt-2",
    ("elsys", "ELT-2-HP SHT3x"): "elsys/elt-2",
    ("elsys", "ELT-2-HP two temperatures"): "elsys/elt-2",
    ("elsys", "ERS CO2"): "elsys/ers-co2",
    ("elsys", "pressure TLV truncated"): "elsys/ems",
    ("elsys", "sound TLV"): "elsys/ers-sound",
    ("elsys", "sound TLV truncated"): "elsys/ers-sound",
    ("enviot", "Enviot (snow depth / climate)"): "enviot/snow-depth-sensor",
    ("milesight", "AM103"): "milesight-iot/am103",
    ("milesight", "EM300 (TH + magnet/door)"): "milesight-iot/em300-mcs",
    ("milesight", "EM400-TLD"): "milesight-iot/em400-tld",
    ("milesight", "EM400-UDL"): "milesight-iot/em400-udl",
    ("milesight", "EM500-UDL"): "milesight-iot/em500-udl",
    ("niab", "NIAB FLS (fill level)"): "niab/fls",
    ("sensative", "Strips (check-in variants)"): "sensative/strips",
    ("sensative", "Strips (check-in)"): "sensative/strips",
    ("sensative", "Strips (presence / lifebuoy)"): "sensative/strips",
    ("sensative", "Strips MS-H"): "sensative/strips",
    ("sensefarm", "Sensefarm CUBE02 (soil)"): "sensefarm/cube02",
    ("sensing-labs", "SenLab T (TEM-LAB-14NS) temperature probe"): "sensing-labs/senlab-t",
    ("sensing-labs", "SenLab T temperature probe"): "sensing-labs/senlab-t",
    ("talkpool", "OY1210 (CO2/T/RH)"): "talkpool/oy1210",
    ("unknown (custom)", "AirQuality node"): "custom/airquality-node",
    ("vega", "VEGAPULS Air 41 (radar level)"): "vega/vegapuls-air-41",
    ("x2climate", "X2 Climate"): "x2climate/x2-climate",
    # ThingsBoard
    ("Bosch", "Parking_Lot_Sensor"): "bosch/tps110",
    ("Decentlab", "DL-CTD10"): "decentlab/dl-ctd10",
    ("Decentlab", "DL-DS18"): "decentlab/dl-ds18",
    ("Decentlab", "DL-PR36CTD"): "decentlab/dl-pr36ctd",
    ("Decentlab", "DL-SMTP"): "decentlab/dl-smtp",
    ("Decentlab", "DL-TP"): "decentlab/dl-tp",
    ("Elsys", "ERS2"): "elsys/ers",
    ("Elsys", "ERS2_CO2"): "elsys/ers-co2",
    ("Elsys", "ERS2_Lite"): "elsys/ers-lite",
    ("Elsys", "ERS2_Sound"): "elsys/ers-sound",
    ("Milesight", "AM307"): "milesight-iot/am307",
    ("Milesight", "EM300-DI"): "milesight-iot/em300-di",
    ("Milesight", "EM300-MCS"): "milesight-iot/em300-mcs",
    ("Milesight", "EM300-SLD-ZLD"): "milesight-iot/em300-sld",
    ("Milesight", "EM300-TH"): "milesight-iot/em300-th",
    ("Milesight", "EM400-TLD"): "milesight-iot/em400-tld",
    ("Milesight", "EM400-UDL"): "milesight-iot/em400-udl",
    ("Milesight", "EM500-PT100"): "milesight-iot/em500-pt100",
    ("Milesight", "EM500-SWL"): "milesight-iot/em500-swl",
    ("Milesight", "WS101"): "milesight-iot/ws101",
    ("Milesight", "WS301"): "milesight-iot/ws301",
    ("Netvox", "R311A"): "netvox/r311a",
    ("Netvox", "R718A"): "netvox/r718a",
    ("Netvox", "R718DA"): "netvox/r718da",
    ("Netvox", "R718N3"): "netvox/r718n3",
    ("Nwave", "G4_NCC_SM"): "nwave/ncc405sm",
    ("Nwave", "G4_NPS_FM"): "nwave/nps405fm",
    ("Nwave", "G4_NPS_SM"): "nwave/nps405sm",
}
"""Vector (vendor, model) → our codec id."""

# ThingsBoard's AM307 rows ending in a 20-byte history record are AM308 frames (the AM307 record
# is 16 bytes, see test_milesight.py); they are read with the AM308 table.
AM308_TAIL = "0e015520ce6535ca0c00e1006e016401c2000a279700190032"
# The Strips check-in rows carry the Servanet wrapper's fPort 2 but are port-1 reports (see
# test_sensative.py).
PORT_OVERRIDES = {"sensative": 1}
# Rows delivered without an envelope carry no fPort; each vendor's data port is used.
DEFAULT_PORTS = {"elsys": 5, "axioma": 100, "niab": 1}


def _codec(codec_id: str) -> Codec:
    return get_codec(codec_id)


def _codec_id(row: dict[str, Any]) -> str:
    if row["model"] == "AM307" and row["bytes_hex"].endswith(AM308_TAIL):
        return "milesight-iot/am308"
    return CODEC_IDS[row["vendor"], row["model"]]


def _port(row: dict[str, Any]) -> int:
    if row["vendor"] in PORT_OVERRIDES:
        return PORT_OVERRIDES[row["vendor"]]
    port = row["fport"]
    if port is None:
        return DEFAULT_PORTS[row["vendor"]]
    if isinstance(port, int):
        return port
    # "1 (decoded with fPort 2)": Netmore said 1, the fixture decodes as port 2.
    head, _, rest = port.partition(" (decoded with fPort ")
    return int(rest.rstrip(")")) if rest else int(head)


def _rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name in VECTOR_FILES:
        with (DEVICES / name).open(encoding="utf-8") as lines:
            rows += [json.loads(line) for line in lines if line.strip()]
    return rows


ROWS = _rows()


def test_every_row_has_a_codec_id() -> None:
    assert {(row["vendor"], row["model"]) for row in ROWS} <= CODEC_IDS.keys()


def test_every_mapped_id_resolves() -> None:
    for codec_id in {*CODEC_IDS.values(), "milesight-iot/am308"}:
        assert _codec(codec_id).id == codec_id


def test_row_counts() -> None:
    assert len(ROWS) == 88 + 248


@pytest.mark.parametrize("row", ROWS, ids=[row["id"] for row in ROWS])
def test_row_errors_exactly_when_expected(row: dict[str, Any]) -> None:
    codec = _codec(_codec_id(row))
    result = codec.decode_uplink(bytes.fromhex(row["bytes_hex"]), _port(row))
    if row.get("expect_error", False):
        assert result.errors
        assert result.data == {}
    else:
        assert result.errors == []
