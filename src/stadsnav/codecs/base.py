"""The codec interface: ``decodeUplink({bytes, fPort, recvTime}) -> {data, warnings, errors}``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(slots=True)
class DecodeResult:
    """What a codec makes of one uplink; ``errors`` non-empty means the payload was rejected."""

    data: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the payload decoded without errors."""
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        """The TS013 result object."""
        return {"data": self.data, "warnings": self.warnings, "errors": self.errors}


class Codec(Protocol):
    """A device payload decoder, identified as ``vendor/model`` (TTN device repository ids)."""

    id: str

    def decode_uplink(
        self, payload: bytes, f_port: int, recv_time: datetime | None = None
    ) -> DecodeResult:
        """Decode one uplink payload; never raises on bad bytes, reports them in ``errors``."""
        ...
