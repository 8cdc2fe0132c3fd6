"""One pacing governor per HubSpot token in this process, shared by every scan that uses it.

HubSpot counts requests per app and token, not per scan: three scans on one token that paced
themselves apart would send three times the budget (and be answered 429). The registry hands every
scan of a token the same limiter while any scan holds it, and keeps it a while after the last one
ends, so that a scan started right after another still sees the requests of its last window.
In the distributed mode the limiter it makes is Redis's (shared across processes as well).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from hubspot_deals.hubspot import RateLimiter

#: How long an unused governor is kept: longer than any window HubSpot paces by (10 s).
KEEP_UNUSED_S = 60.0


@dataclass
class _Held:
    limiter: RateLimiter
    users: int = 0
    released_at: float = 0.0


class TokenPacing:
    """Governors by token (keyed by the token's SHA-256: the registry keeps no token)."""

    def __init__(self, make: Callable[[str], RateLimiter]) -> None:
        self._make = make
        self._held: dict[str, _Held] = {}

    def __len__(self) -> int:
        return len(self._held)

    @contextmanager
    def hold(self, token: str) -> Iterator[RateLimiter]:
        """The token's governor for as long as the block runs (a scan's client)."""
        self._forget_unused()
        key = hashlib.sha256(token.encode()).hexdigest()
        held = self._held.get(key)
        if held is None:
            held = self._held[key] = _Held(self._make(token))
        held.users += 1
        try:
            yield held.limiter
        finally:
            held.users -= 1
            held.released_at = time.monotonic()

    def _forget_unused(self) -> None:
        cutoff = time.monotonic() - KEEP_UNUSED_S
        for key in [k for k, h in self._held.items() if h.users == 0 and h.released_at < cutoff]:
            del self._held[key]
