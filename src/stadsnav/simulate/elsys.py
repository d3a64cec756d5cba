"""Elsys ELT-2 payloads with an external temperature probe, as beach sensors send them."""

from __future__ import annotations

import math
from datetime import datetime


def elsys_payload(internal_c: float, vdd_mv: int, external_c: float) -> bytes:
    """TLV frame: internal temperature (0x01), supply voltage (0x07), external probe (0x0C)."""
    return (
        b"\x01"
        + round(internal_c * 10).to_bytes(2, "big", signed=True)
        + b"\x07"
        + vdd_mv.to_bytes(2, "big")
        + b"\x0c"
        + round(external_c * 10).to_bytes(2, "big", signed=True)
    )


def water_temperature(moment: datetime, offset: float = 0.0) -> float:
    """A plausible Gulf of Bothnia surface temperature: ~17 °C in August, ~0.5 °C in winter."""
    day = moment.timetuple().tm_yday + moment.hour / 24
    seasonal = 8.75 + 8.25 * math.cos(2 * math.pi * (day - 217) / 365)
    daily = 0.4 * math.cos(2 * math.pi * (moment.hour - 16) / 24)
    return max(0.2, round(seasonal + daily + offset, 1))
