"""When a schedule is due: every fixed interval (``"15m"``), or at the times of a cron expression
in a time zone (croniter reads it; DST is the zone's business, not ours).

Interval due times stay on their grid (the first due time plus whole intervals), so a run that
takes a while does not push the next ones later. A schedule that finds itself behind (the service
was down) runs once and takes the next time on the grid that is still ahead: never once per missed
time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

_EVERY = re.compile(r"^([1-9][0-9]{0,6})([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: The longest interval: a year (Fivetran's longest is a day; a month-end report is a cron's).
MAX_EVERY_SECONDS = 366 * 86400
#: Failures in a row stretch the wait up to this many intervals.
MAX_BACKOFF_FACTOR = 8


class TimingError(ValueError):
    """A timing a schedule cannot have; the message says why, keyed by its field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def parse_every(text: str, minimum_seconds: int) -> int:
    """``"15m"`` -> 900: a whole number and one of s, m, h, d."""
    found = _EVERY.match(text.strip())
    if found is None:
        raise TimingError("every", 'Must be a whole number and a unit: "90s", "15m", "1h" or "1d"')
    seconds = int(found.group(1)) * _UNIT_SECONDS[found.group(2)]
    if seconds < minimum_seconds:
        raise TimingError("every", f"Must be at least {minimum_seconds} seconds")
    if seconds > MAX_EVERY_SECONDS:
        raise TimingError("every", "Must be at most a year")
    return seconds


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TimingError("timezone", f"{name!r} is not an IANA time zone name") from None


def check_cron(expression: str) -> str:
    if not croniter.is_valid(expression) or len(expression.split()) != 5:
        raise TimingError(
            "cron", "Must be a cron expression of five fields (minute hour day month weekday)"
        )
    return expression


@dataclass(frozen=True)
class Timing:
    """A schedule's timing: ``every_seconds``, or ``cron`` in ``timezone``."""

    every_seconds: int | None = None
    cron: str | None = None
    timezone: str = "UTC"

    def first(self, now: datetime) -> datetime:
        """The first due time of a schedule made now: at once for an interval (a new sync
        starts with its first run), the next cron time for a cron."""
        return now if self.cron is None else self.after(now)

    def after(self, moment: datetime) -> datetime:
        """The first due time strictly after ``moment`` by the cron (not for intervals)."""
        assert self.cron is not None
        local = moment.astimezone(zone(self.timezone))
        following: datetime = croniter(self.cron, local).get_next(datetime)
        return following.astimezone(moment.tzinfo)

    def following(self, due: datetime, now: datetime) -> datetime:
        """The due time after ``due``, taken at ``now``: the next one on the grid still ahead
        (one run however many were missed)."""
        if self.cron is not None:
            return self.after(max(due, now))
        assert self.every_seconds is not None
        step = timedelta(seconds=self.every_seconds)
        missed = max(0, int((now - due) / step))
        return due + step * (missed + 1)

    def backed_off(self, due: datetime, failures: int) -> datetime:
        """After ``failures`` failed runs in a row, the earliest the next may start: the wait
        doubles with each failure, up to eight intervals (a cron's interval is the gap between
        its next two times)."""
        if failures <= 0:
            return due
        if self.cron is not None:
            after = self.after(due)
            interval = self.after(after) - after
        else:
            assert self.every_seconds is not None
            interval = timedelta(seconds=self.every_seconds)
        return due + interval * min(1 << min(failures, 3), MAX_BACKOFF_FACTOR)
