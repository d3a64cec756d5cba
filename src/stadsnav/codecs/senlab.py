"""Sensing Labs SenLab T temperature probe codec (data frame 0x01 on fPort 3).

Frame: id 0x01, battery level (0-254, 255 when it cannot be measured), four bytes of internal
counters, then the probe temperature as signed 16-bit big-endian in 1/16 °C. Sensing Labs
reports a probe fault as 0xFD14 (-46.75 °C); that frame is rejected, not decoded as a reading.
"""

from __future__ import annotations

from stadsnav.codecs.base import DecodeResult, FunctionCodec

DATA_PORT = 3
DATA_FRAME = 0x01
FRAME_LENGTH = 8
SENSOR_ERROR = 0xFD14
BATTERY_UNKNOWN = 0xFF


def decode_senlab_t(payload: bytes, f_port: int) -> DecodeResult:
    """Decode one SenLab T uplink; a probe-fault reading is an error."""
    if f_port != DATA_PORT:
        return DecodeResult.rejected(f"unsupported fPort {f_port}")
    if len(payload) != FRAME_LENGTH:
        return DecodeResult.rejected(f"data frame must be {FRAME_LENGTH} bytes, got {len(payload)}")
    if payload[0] != DATA_FRAME:
        return DecodeResult.rejected(f"unknown frame id 0x{payload[0]:02x} at byte 0")
    raw = int.from_bytes(payload[6:8], "big")
    if raw == SENSOR_ERROR:
        return DecodeResult.rejected("sensor reading error: probe reported 0xfd14 at byte 6")
    temperature = int.from_bytes(payload[6:8], "big", signed=True) / 16
    battery = payload[1]
    data: dict[str, float | int | None] = {
        "temperature": temperature,
        "battery": None if battery == BATTERY_UNKNOWN else round(battery * 100 / 254),
    }
    return DecodeResult(data=data)


CODECS: tuple[FunctionCodec, ...] = (FunctionCodec("sensing-labs/senlab-t", decode_senlab_t),)
"""SenLab T; Sensing Labs is not in the TTN device repository, so the id is our own."""
