"""Time in HubSpot's wire formats: ISO-8601 UTC with milliseconds and ``Z``, or epoch milliseconds."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


def now_ms() -> int:
    return time.time_ns() // 1_000_000


_EPOCH = datetime(1970, 1, 1)  # naive UTC, so isoformat adds no offset to strip


def iso_ms(ms: int) -> str:
    """Epoch milliseconds as HubSpot writes datetimes: ``2025-08-22T07:33:08.716Z``."""
    return (_EPOCH + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds") + "Z"


def iso_date(ms: int) -> str:
    """A ``date`` property's value: the calendar day, midnight UTC."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def parse_ms(value: str) -> int | None:
    """A filter value as epoch ms: HubSpot's documented epoch-ms strings, or ISO dates/datetimes."""
    value = value.strip()
    if value.lstrip("-").isdigit():
        return int(value)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)
