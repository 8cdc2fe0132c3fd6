"""Pacing: send no request HubSpot would have to refuse.

HubSpot counts a request when it arrives, which is some moment between our send and our receipt of
the answer. A window slot taken at send is therefore freed one window after the *receipt*, the
latest moment the request can have arrived: however the round trip splits, the count HubSpot sees in
any window never exceeds the limit. The cost is one round trip per window, about 2.5% of the
10-second burst window at 250 ms.

The limit is learned from ``X-HubSpot-RateLimit-Max`` and ``-Interval-Milliseconds``; a
``-Remaining`` lower than our own count means someone else uses the same app, and the gap is held as
borrowed slots for a window. Search replies carry no headers, so search keeps its configured rate.

``RateLimiter`` is the interface; ``LocalRateLimiter`` keeps its windows in process;
``RedisRateLimiter`` (distributed mode) shares them between processes with the same five calls.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from dataclasses import dataclass, field
from typing import Protocol

BURST = "burst"
SEARCH = "search"


@dataclass(frozen=True)
class Permit:
    bucket: str
    sent_at: float
    slot: str = ""  # the slot's name where the windows are shared (Redis)


class RateLimiter(Protocol):
    def limit(self, bucket: str) -> tuple[int, float]:
        """The bucket's current limit: (requests, window seconds)."""

    async def acquire(self, bucket: str) -> Permit:
        """Wait until one more request may be sent on ``bucket``, and take its slot."""

    async def release(self, permit: Permit) -> None:
        """The answer has arrived (or the attempt ended): start the slot's window now."""

    async def learn(self, bucket: str, limit: int, window_s: float, remaining: int | None) -> None:
        """HubSpot stated the bucket's limit and, maybe, how much of it is left."""

    async def pause(self, bucket: str, seconds: float) -> None:
        """HubSpot refused a request (429): send nothing on this bucket for a while."""


@dataclass
class _Window:
    limit: int
    seconds: float
    active: int = 0  # sent, not yet answered
    expiries: list[float] = field(default_factory=list)  # heap: when answered slots free up
    paused_until: float = 0.0

    def in_use(self, now: float) -> int:
        while self.expiries and self.expiries[0] <= now:
            heapq.heappop(self.expiries)
        return self.active + len(self.expiries)


class LocalRateLimiter:
    """Windows kept in this process, shared by every task that uses the same client. Every change
    is made without an await between its check and its write (one event loop), so no lock: a
    waiter is a bare future, woken by a change or by its own timer. (An ``asyncio.Condition``
    waited on with a timeout loses its lock when a cancellation meets the timeout, CPython 3.11.)
    """

    def __init__(self, *, burst_limit: int, search_rate: int, burst_window_s: float = 10.0) -> None:
        self._windows = {
            BURST: _Window(burst_limit, burst_window_s),
            SEARCH: _Window(search_rate, 1.0),
        }
        #: in the order they came: woken in it, the longest waiting takes a freed slot first
        self._waiters: dict[asyncio.Future[None], None] = {}

    def limit(self, bucket: str) -> tuple[int, float]:
        window = self._windows[bucket]
        return window.limit, window.seconds

    async def acquire(self, bucket: str) -> Permit:
        window = self._windows[bucket]
        while True:
            now = time.monotonic()
            if now >= window.paused_until and window.in_use(now) < window.limit:
                window.active += 1
                return Permit(bucket, now)
            wake = [window.paused_until] if now < window.paused_until else []
            if window.expiries:
                wake.append(window.expiries[0])
            await self._next_change(max(min(wake) - now, 0.001) if wake else None)

    async def _next_change(self, seconds: float | None) -> None:
        """Until a window changes, or ``seconds`` have passed (a slot's expiry, a pause's end)."""
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        timer = loop.call_later(seconds, _wake, waiter) if seconds is not None else None
        self._waiters[waiter] = None
        try:
            await waiter
        finally:
            self._waiters.pop(waiter, None)
            if timer is not None:
                timer.cancel()

    def _changed(self) -> None:
        for waiter in self._waiters:
            _wake(waiter)
        self._waiters.clear()

    async def release(self, permit: Permit) -> None:
        window = self._windows[permit.bucket]
        window.active -= 1
        heapq.heappush(window.expiries, time.monotonic() + window.seconds)
        self._changed()

    async def learn(self, bucket: str, limit: int, window_s: float, remaining: int | None) -> None:
        window = self._windows[bucket]
        window.limit, window.seconds = max(limit, 1), max(window_s, 0.001)
        if remaining is not None:
            now = time.monotonic()
            foreign = (limit - remaining) - window.in_use(now)
            for _ in range(max(foreign, 0)):
                heapq.heappush(window.expiries, now + window.seconds)
        self._changed()

    async def pause(self, bucket: str, seconds: float) -> None:
        window = self._windows[bucket]
        window.paused_until = max(window.paused_until, time.monotonic() + seconds)
        self._changed()


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
