"""HubSpot's rate limits as the sandbox enforces them.

- a rolling 10-second window per token (an app's burst limit),
- a rolling one-second window per account for search, which is outside the burst window,
- a daily counter per account for everything, reset at midnight UTC here.

A request is counted when it arrives and only if it is let through: a 429 costs nothing.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field


@dataclass
class RollingWindow:
    limit: int
    seconds: float
    _hits: dict[str, deque[float]] = field(default_factory=dict)

    def _live(self, key: str, now: float) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.seconds:
            hits.popleft()
        return hits

    def take(self, key: str, now: float | None = None) -> bool:
        """Count one request if the window has room; False means 429."""
        now = time.monotonic() if now is None else now
        hits = self._live(key, now)
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        return True

    def remaining(self, key: str, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        return max(self.limit - len(self._live(key, now)), 0)


@dataclass
class DailyCounter:
    limit: int
    _day: int = -1
    _used: int = 0

    def _roll(self) -> None:
        day = int(time.time() // 86_400)
        if day != self._day:
            self._day, self._used = day, 0

    def take(self) -> bool:
        self._roll()
        if self._used >= self.limit:
            return False
        self._used += 1
        return True

    def remaining(self) -> int:
        self._roll()
        return max(self.limit - self._used, 0)
