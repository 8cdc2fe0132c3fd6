"""The client's throughput as a share of what HubSpot's burst limit allows.

A sandbox at 150 requests per 10 s with 250 ms of latency (a real portal's round trip); the client
is driven by many concurrent tasks for several windows. The first window is a free burst a rolling
limit always allows, so the sustained rate is measured after it, against limit / window.
A sequential cursor walk, as peers do it, runs on the same portal for comparison.
"""

from __future__ import annotations

import asyncio
import time

from hubspot_deals.config import Settings
from hubspot_deals.hubspot import HubSpotClient
from hubspot_deals.sandbox.process import SandboxProcess

LIMIT = 150
WINDOW_S = 10.0
LATENCY_MS = 250


async def _drive(portal: SandboxProcess, tasks: int, seconds: float) -> list[float]:
    """Completion times of list calls made by ``tasks`` workers for ``seconds``."""
    done: list[float] = []
    settings = Settings(hubspot_max_connections=tasks)
    async with HubSpotClient(portal.token, base_url=portal.url, settings=settings) as client:
        stop = time.monotonic() + seconds

        async def worker() -> None:
            while time.monotonic() < stop:
                await anext(client.iter_deal_pages(limit=100))
                done.append(time.monotonic())

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(tasks)))
    return [t - started for t in done]


async def _sequential(portal: SandboxProcess, pages: int) -> float:
    async with HubSpotClient(portal.token, base_url=portal.url) as client:
        started = time.monotonic()
        count = 0
        async for _ in client.iter_deal_pages(limit=100):
            count += 1
            if count == pages:
                break
    return pages / (time.monotonic() - started)


def run(seconds: float = 45.0, tasks: int = 24) -> None:
    portal = SandboxProcess.start(
        "--deals", "20000", "--rate-limit", str(LIMIT), "--latency-ms", str(LATENCY_MS)
    )
    try:
        times = asyncio.run(_drive(portal, tasks, seconds))
        stats = portal.stats()
        after_first_window = [t for t in times if t > WINDOW_S]
        span = max(times) - WINDOW_S
        sustained = len(after_first_window) / span
        allowed = LIMIT / WINDOW_S
        portal.reset_stats()
        sequential = asyncio.run(_sequential(portal, 40))
    finally:
        portal.stop()
    print(
        f"client throughput at {LIMIT}/10 s, {LATENCY_MS} ms latency, {tasks} concurrent tasks, {seconds:.0f} s"
    )
    print(f"  requests completed           {len(times)}")
    print(f"  429 answers from HubSpot     {stats['rate_limited_total']}")
    print(f"  sustained rate after 1st 10 s {sustained:.2f} req/s  (limit allows {allowed:.2f})")
    print(f"  share of the limit           {100 * sustained / allowed:.1f} %")
    print(f"  deals per second (100/page)  {100 * sustained:.0f}")
    print(
        f"  sequential cursor walk       {sequential:.2f} req/s = {100 * sequential:.0f} deals/s "
        "(how a one-page-at-a-time loop fares)"
    )


if __name__ == "__main__":
    run()
