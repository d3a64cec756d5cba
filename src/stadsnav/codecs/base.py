"""The codec interface: ``decodeUplink({bytes, fPort, recvTime}) -> {data, warnings, errors}``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(slots=True)
class DecodeResult:
    """What a codec makes of one uplink; ``errors`` non-empty means the payload was rejected."""

    data: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @classmethod
    def rejected(cls, reason: str) -> DecodeResult:
        """A result rejecting the whole payload for ``reason``, with no data."""
        return cls(errors=[reason])

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


@dataclass(frozen=True, slots=True)
class FunctionCodec:
    """A codec under ``id`` whose decoding is the function ``decode(payload, f_port)``."""

    id: str
    decode: Callable[[bytes, int], DecodeResult]

    def decode_uplink(
        self,
        payload: bytes | bytearray | memoryview,
        f_port: int,
        recv_time: datetime | None = None,
    ) -> DecodeResult:
        """Decode one uplink with ``decode``; the receive time is not used."""
        if not isinstance(payload, bytes):
            payload = bytes(payload)
        return self.decode(payload, f_port)
