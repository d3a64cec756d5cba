"""Uplink payloads of the water-temperature sensors the demo's beaches use, by codec."""

from __future__ import annotations

from stadsnav.simulate.elsys import elsys_payload

DECENTLAB_ZERO = 32768  # Decentlab sends signed values as uint16 words with 32768 as zero


def decentlab_ds18(device_id: int, celsius: float, battery_mv: int) -> bytes:
    """DL-DS18 frame: version 2, device id, flags (temperature + battery), two words."""
    words = (DECENTLAB_ZERO + round(celsius * 16), battery_mv)
    return (
        b"\x02"
        + device_id.to_bytes(2, "big")
        + b"\x00\x03"
        + b"".join(word.to_bytes(2, "big") for word in words)
    )


def milesight_em500_pt100(celsius: float, battery_percent: int) -> bytes:
    """EM500-PT100 channels: battery (01 75) and temperature (03 67, int16 LE, 0.1 °C)."""
    return (
        b"\x01\x75"
        + bytes([battery_percent])
        + b"\x03\x67"
        + round(celsius * 10).to_bytes(2, "little", signed=True)
    )


def water_payload(codec_id: str, dev_eui: str, water: float, battery_mv: int) -> tuple[int, bytes]:
    """(fPort, payload) a sensor with this codec sends for a water temperature reading."""
    if codec_id.startswith("elsys/"):
        return 5, elsys_payload(water + 1.5, battery_mv, water)
    if codec_id == "decentlab/dl-ds18":
        return 1, decentlab_ds18(int(dev_eui[-4:], 16), water, battery_mv)
    if codec_id == "milesight-iot/em500-pt100":
        percent = max(0, min(100, round((battery_mv - 3000) / 6)))
        return 85, milesight_em500_pt100(water, percent)
    raise ValueError(f"the simulator has no payloads for codec {codec_id}")
