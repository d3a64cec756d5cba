"""Nwave parking sensor (NPS) and car counter (NCC) codecs, one frame layout per fPort.

Field names follow Nwave's decoders in the TTN device repository (``occupied``,
``previous_state_duration``, ``battery_voltage`` ...). Battery voltage is Nwave's published
formula Vbat = 2500 + 4·X mV, reported in volts; temperature is X/2 + 10 °C (X signed).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from stadsnav.codecs.base import DecodeResult, FunctionCodec

Decoder = Callable[[bytes], dict[str, Any]]

RESET_CAUSES_405: dict[int, str] = {
    0: "rejoining_lorawan_network",
    1: "watchdog",
    2: "power_on",
    3: "user_request",
    6: "brownout",
    7: "other",
}
RESET_CAUSES_310: dict[int, str] = {
    1: "watchdog",
    2: "power_on",
    3: "user_request",
    4: "brownout",
    5: "other",
}


def _int8(value: int) -> int:
    return value - 256 if value > 127 else value


def _battery_volts(raw: int) -> float:
    return (2500 + 4 * raw) / 1000


def _previous_state(compressed: int) -> dict[str, Any]:
    """Nwave's compressed duration: minutes below 90, then 5-minute and hourly steps."""
    if compressed < 90:
        duration, error = compressed, 0
    elif compressed < 120:
        duration, error = 90 + (compressed - 90) * 5, 4
    elif compressed < 127:
        duration, error = 240 + (compressed - 120) * 60, 59
    else:
        return {
            "previous_state_duration": 660,
            "previous_state_duration_error": None,
            "previous_state_duration_overflow": True,
        }
    return {
        "previous_state_duration": duration,
        "previous_state_duration_error": error,
        "previous_state_duration_overflow": False,
    }


def _battery_health(millivolts: int, temperature: float) -> str:
    # Nwave lowers both thresholds by 100 mV below -5 °C, where lithium cells sag.
    critical, low = (2900, 3000) if temperature >= -5 else (2800, 2900)
    if millivolts >= low:
        return "normal"
    return "low" if millivolts >= critical else "critical"


def _firmware(payload: bytes) -> str:
    return f"{payload[0]}.{payload[1]}.{payload[2]}"


def _reset_cause(raw: int, causes: dict[int, str]) -> str | None:
    return causes.get(raw)


def _nps405_status(payload: bytes) -> dict[str, Any]:
    return {
        "type": "parking_status",
        "occupied": bool(payload[0] & 0x01),
        **_previous_state(payload[0] >> 1),
    }


def _nps405_heartbeat(payload: bytes) -> dict[str, Any]:
    temperature = _int8(payload[2]) / 2 + 10
    millivolts = 2500 + 4 * payload[1]
    return {
        "type": "heartbeat",
        "occupied": bool(payload[0] & 0x01),
        "hw_health_status": payload[0] & 0x7F,
        "temperature": temperature,
        "battery_voltage": millivolts / 1000,
        "battery_health": _battery_health(millivolts, temperature),
    }


def _nps405_startup(payload: bytes) -> dict[str, Any]:
    return {
        "type": "startup",
        "firmware_version": _firmware(payload),
        "reset_cause": _reset_cause(payload[3], RESET_CAUSES_405),
        "occupied": bool(payload[4] & 0x01),
    }


def _nps405_registration(payload: bytes) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "user_registration"}
    if payload[0] & 0x01:
        data["occupied"] = True
        data.update(_previous_state(payload[0] >> 1))
    else:
        data.update(
            occupied=None,
            previous_state_duration=None,
            previous_state_duration_error=None,
            previous_state_duration_overflow=None,
        )
    # Layout as in Nwave's documented example: tag battery in 0.1 V, then a 4-byte tag id.
    data["tag_battery_voltage"] = payload[1] / 10
    data["tag_id"] = f"{int.from_bytes(payload[2:6], 'big'):08X}"
    return data


def _debug(payload: bytes) -> dict[str, Any]:
    return {"type": "debug", "bytes": list(payload)}


def _nps310_status(payload: bytes) -> dict[str, Any]:
    return {"type": "parking_status", "occupied": bool(payload[0] & 0x01)}


def _nps310_heartbeat(payload: bytes) -> dict[str, Any]:
    return {"type": "heartbeat", "occupied": bool(payload[0] & 0x01)}


def _nps310_startup(payload: bytes) -> dict[str, Any]:
    return {
        "type": "startup",
        "firmware_version": _firmware(payload),
        "reset_cause": _reset_cause(payload[3], RESET_CAUSES_310),
        "occupied": bool(payload[4] & 0x01),
    }


def _ncc_counter(payload: bytes) -> dict[str, Any]:
    return {"type": "counter_update", "counter_value": int.from_bytes(payload[0:2], "big")}


def _ncc_heartbeat(payload: bytes) -> dict[str, Any]:
    return {
        "type": "heartbeat",
        "hw_health_status": payload[0] & 0x7F,
        "battery_voltage": _battery_volts(payload[1]),
        "battery_voltage_mean_24h": _battery_volts(payload[2]),
    }


def _ncc_startup(payload: bytes) -> dict[str, Any]:
    return {
        "type": "startup",
        "firmware_version": _firmware(payload),
        "reset_cause": _reset_cause(payload[3], RESET_CAUSES_405),
    }


Layout = dict[int, tuple[str, int, Decoder]]
"""fPort → (frame name, minimum length, decoder)."""

NPS405: Layout = {
    1: ("parking status", 1, _nps405_status),
    2: ("heartbeat", 3, _nps405_heartbeat),
    3: ("startup", 5, _nps405_startup),
    6: ("debug", 0, _debug),
    10: ("user registration", 6, _nps405_registration),
}
NPS310: Layout = {
    1: ("parking status", 1, _nps310_status),
    2: ("heartbeat", 1, _nps310_heartbeat),
    3: ("startup", 5, _nps310_startup),
    6: ("debug", 0, _debug),
}
NCC405: Layout = {
    1: ("counter update", 2, _ncc_counter),
    2: ("heartbeat", 3, _ncc_heartbeat),
    3: ("startup", 4, _ncc_startup),
    6: ("debug", 0, _debug),
}


def decode_nwave(layout: Layout, payload: bytes, f_port: int) -> DecodeResult:
    """Decode one Nwave uplink with the frame layout of a device family."""
    frame = layout.get(f_port)
    if frame is None:
        return DecodeResult.rejected(f"unsupported fPort {f_port}")
    name, size, decode = frame
    if len(payload) < size:
        return DecodeResult(
            errors=[
                f"truncated {name} frame on fPort {f_port}: {size} bytes needed, got {len(payload)}"
            ]
        )
    return DecodeResult(data=decode(payload))


CODECS: tuple[FunctionCodec, ...] = (
    FunctionCodec("nwave/nps405sm", partial(decode_nwave, NPS405)),
    FunctionCodec("nwave/nps405fm", partial(decode_nwave, NPS405)),
    FunctionCodec("nwave/nps310sm", partial(decode_nwave, NPS310)),
    FunctionCodec("nwave/ncc405sm", partial(decode_nwave, NCC405)),
    FunctionCodec("nwave/ncc405fm", partial(decode_nwave, NCC405)),
)
"""One codec instance per Nwave model id."""
