"""The service's own limits: requests a minute per client, results bytes a minute per organization.

Both are fixed windows of the ``limits`` library over the runtime's storage: memory in the
embedded mode, Redis in the distributed one, so every replica counts the same windows. A storage
that cannot be reached admits the request: the service's limits are not worth refusing service.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import structlog
from fastapi import Request
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.strategies import FixedWindowRateLimiter

from hubspot_deals.api.errors import ApiError
from hubspot_deals.store.outages import report

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Window:
    allowed: bool
    remaining: int
    reset_time: float

    @property
    def retry_after(self) -> int:
        return max(int(self.reset_time - time.time()) + 1, 1)


class Quota:
    def __init__(self, request: Request, item: RateLimitItem) -> None:
        self.limiter = FixedWindowRateLimiter(request.app.state.runtime.limits_storage)
        self.item = item

    async def spend(self, key: str, cost: int = 1) -> Window:
        """Spend ``cost`` (0: only look) if the window has room for all of it."""
        try:
            if cost > 1:  # only what fits whole is spent
                stats = await self.limiter.get_window_stats(self.item, key)
                if stats.remaining < cost:
                    return Window(False, stats.remaining, stats.reset_time)
            allowed = await self.limiter.hit(self.item, key, cost=cost) if cost else True
            stats = await self.limiter.get_window_stats(self.item, key)
        except (
            Exception
        ) as exc:  # Redis is out of reach: the limit opens rather than the API closing
            report(log, "quota.unavailable", exc)
            return Window(True, self.item.amount, time.time() + self.item.get_expiry())
        return Window(allowed, stats.remaining, stats.reset_time)


def _window_seconds(request: Request) -> int:
    return int(request.app.state.runtime.settings.quota_window_seconds)


def window_text(request: Request) -> str:
    """The window as error details name it: "1 minute" unless QUOTA_WINDOW_SECONDS changed it."""
    seconds = _window_seconds(request)
    return "1 minute" if seconds == 60 else f"{seconds} seconds"


def _per_window(request: Request, amount: int, namespace: str) -> Quota:
    item = RateLimitItemPerSecond(amount, _window_seconds(request), namespace=namespace)
    return Quota(request, item)


def requests_quota(request: Request, per_minute: int) -> Quota:
    return _per_window(request, per_minute, "requests")


def _downloads(request: Request) -> tuple[Quota, float]:
    mb = request.app.state.runtime.settings.results_mb_per_minute_per_org
    return _per_window(request, int(mb * 1_000_000), "downloads"), mb


def _download_refused(request: Request, window: Window, mb: float) -> ApiError:
    return ApiError(
        429,
        "RATE_LIMIT_EXCEEDED",
        "Results download limit exceeded for this organization",
        {"limit_mb": mb, "window": window_text(request), "retry_after_seconds": window.retry_after},
        headers={"Retry-After": str(window.retry_after)},
    )


async def charge_download(request: Request, org: str | None, size: int) -> None:
    """Count a results page against its organization's bytes a minute, or refuse it (429)."""
    quota, mb = _downloads(request)
    window = await quota.spend(f"org:{org or ''}", size)
    if not window.allowed:
        raise _download_refused(request, window, mb)


@dataclass(frozen=True)
class DownloadMeter:
    """An export's bytes, charged as they stream: what the window has left is spent at once, the
    rest waits for the next window (a download is slowed to the limit, never cut off halfway)."""

    quota: Quota
    key: str

    async def pace(self, data: bytes) -> AsyncIterator[bytes]:
        """``data`` in slices as the window pays for them: what it has left at once, the rest
        when the next window opens."""
        sent = 0
        while sent < len(data):
            window = await self.quota.spend(self.key, 0)
            take = min(len(data) - sent, window.remaining)
            if take > 0 and (await self.quota.spend(self.key, take)).allowed:
                yield data[sent : sent + take]
                sent += take
            elif take <= 0:  # spent (maybe by another download racing us to the rest): wait
                await asyncio.sleep(window.retry_after)


async def open_download(request: Request, org: str | None) -> DownloadMeter:
    """Start an export: refused (429) while the organization's window is spent, else metered."""
    quota, mb = _downloads(request)
    key = f"org:{org or ''}"
    window = await quota.spend(key, 0)
    if window.remaining <= 0:
        raise _download_refused(request, window, mb)
    return DownloadMeter(quota, key)
