"""The client's throughput as a share of what HubSpot's burst limit allows.

A sandbox at 150 requests per 10 s with 250 ms of latency (a real portal's round trip); the client
is driven by many concurrent tasks through a budget of several windows' worth of requests. A rolling
window lets a full window's worth through at once, so the sustained rate is measured as how often
each of the limit's slots is reused: limit / mean reuse period, against limit / window. A
sequential cursor walk, as peers do it, runs on a fresh portal of the same kind for comparison.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from hubspot_deals.hubspot import ClientConfig, HubSpotClient
from hubspot_deals.sandbox.process import SandboxProcess

LIMIT = 150
WINDOW_S = 10.0
LATENCY_MS = 250


async def _drive(portal: SandboxProcess, tasks: int, budget: int) -> list[float]:
    """Completion times of ``budget`` list calls made by ``tasks`` concurrent workers."""
    done: list[float] = []
    config = ClientConfig(base_url=portal.url, max_connections=tasks)
    async with HubSpotClient(portal.token, config) as client:
        left = budget

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await anext(client.iter_deal_pages(limit=100))
                done.append(time.monotonic())

        await asyncio.gather(*(worker() for _ in range(tasks)))
    return sorted(done)


async def _sequential(portal: SandboxProcess, pages: int) -> float:
    async with HubSpotClient(portal.token, ClientConfig(base_url=portal.url)) as client:
        started = time.monotonic()
        count = 0
        async for _ in client.iter_deal_pages(limit=100):
            count += 1
            if count == pages:
                break
    return pages / (time.monotonic() - started)


def run(windows: int = 5, tasks: int = 50) -> None:
    flags = ("--deals", "20000", "--rate-limit", str(LIMIT), "--latency-ms", str(LATENCY_MS))
    portal = SandboxProcess.start(*flags)
    try:
        started = time.monotonic()
        times = asyncio.run(_drive(portal, tasks, LIMIT * windows))
        elapsed = time.monotonic() - started
        stats = portal.stats()
    finally:
        portal.stop()
    # slot i's k-th reuse completes at times[i + k * LIMIT]: the mean reuse period is the cycle
    cycle = statistics.mean(
        (times[i + LIMIT * (windows - 1)] - times[i]) / (windows - 1) for i in range(LIMIT)
    )
    sustained = LIMIT / cycle
    allowed = LIMIT / WINDOW_S
    fresh = SandboxProcess.start(*flags)
    try:
        sequential = asyncio.run(_sequential(fresh, 40))
    finally:
        fresh.stop()
    print(f"client throughput at {LIMIT}/10 s, {LATENCY_MS} ms latency, {tasks} concurrent tasks")
    print(f"  requests completed           {len(times)} in {elapsed:.1f} s")
    print(f"  429 answers from HubSpot     {stats['rate_limited_total']}")
    print(f"  window slot reuse period     {cycle:.2f} s (the window is {WINDOW_S:.0f} s)")
    print(f"  sustained rate               {sustained:.2f} req/s (the limit allows {allowed:.2f})")
    print(f"  share of the limit           {100 * sustained / allowed:.1f} %")
    print(f"  deals per second (100/page)  {100 * sustained:.0f}")
    print(
        f"  sequential cursor walk       {sequential:.2f} req/s = {100 * sequential:.0f} deals/s "
        "(a one-page-at-a-time loop, for comparison)"
    )


if __name__ == "__main__":
    run()
