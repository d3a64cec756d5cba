"""Times given by clients (RFC 3339 with a time zone, returned in UTC) and shown to people."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter

_DURATION = TypeAdapter(timedelta)


def parse_time(text: str) -> datetime:
    """An aware UTC datetime from RFC 3339 text; a time without zone is an error."""
    try:
        value = datetime.fromisoformat(text.strip().replace(" ", "+"))
    except ValueError:
        raise ValueError(f"{text!r} is not an RFC 3339 time like 2026-06-01T12:00:00Z") from None
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone: add Z or an offset like +02:00")
    return value.astimezone(UTC)


def local_time(moment: datetime, timezone: str) -> str:
    """A time for people to read, in the workspace's time zone, with the zone named."""
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M:%S %Z")


def iso_duration(value: timedelta) -> str:
    """A duration as ISO 8601 (PT5M, P1D), as the workspace's settings write it."""
    text: str = _DURATION.dump_python(value, mode="json")
    return text
