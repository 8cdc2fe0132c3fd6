"""Scans of 10,000, 100,000 and 1,000,000 deals with no latency and a generous limit: how fast the
service itself goes and whether its memory stays flat; then the results API on the largest scan.

The load figure uses ``wrk`` (Debian package ``wrk``) when it is installed, else a Python loop of
concurrent httpx clients, and says which.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from bench.service_scan import PeakMemory, scan
from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import ServiceProcess

SIZES = (10_000, 100_000, 1_000_000)
FAST = ("--rate-limit", "1000000", "--search-rate", "100000")
SERVICE_ENV = {
    "HUBSPOT_BURST_LIMIT": "1000000",
    "HUBSPOT_SEARCH_RATE": "100000",
    "LOG_LEVEL": "WARNING",
    # the service's own request and download quotas are not what is measured
    "API_RATE_LIMIT_PER_MINUTE": "100000000",
    "RESULTS_MB_PER_MINUTE_PER_ORG": "1000000",
}


def _timed(
    client: httpx.Client, url: str, params: dict[str, object]
) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    reply = client.get(url, params=params)
    reply.raise_for_status()
    return (time.perf_counter() - started) * 1000, reply.json()


def results_api(service: ServiceProcess, scan_id: str) -> list[str]:
    url = f"{service.url}/api/v1/scan/results/{scan_id}"
    lines = []
    with httpx.Client(timeout=60) as client:
        _timed(client, url, {"page": 1, "page_size": 100})  # warm the caches once
        first, _ = _timed(client, url, {"page": 1, "page_size": 100})
        by_page, _ = _timed(client, url, {"page": 1000, "page_size": 100})
        _, before = _timed(client, url, {"page": 999, "page_size": 100})
        cursor = before["pagination"]["next_cursor"]  # type: ignore[index]
        by_cursor, body = _timed(client, url, {"page_size": 100, "cursor": cursor})
        assert body["pagination"]["current_page"] == 1000  # type: ignore[index]
    lines.append(f"  first page (100 deals)       {first:.1f} ms")
    lines.append(f"  page 1,000 by page=          {by_page:.1f} ms")
    lines.append(
        f"  page 1,000 by cursor=        {by_cursor:.1f} ms ({by_cursor / first:.2f}x the first page)"
    )
    lines.append(_load(f"{url}?page=1&page_size=100"))
    return lines


def _load(url: str, seconds: int = 10, connections: int = 16) -> str:
    if shutil.which("wrk"):
        out = subprocess.run(  # noqa: S603 - fixed arguments and our own local URL
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
        p99 = re.search(r"99%\s+([\d.]+\w+)", out)
        return (
            f"  load, page of 100 (wrk, {connections} connections, {seconds} s): "
            f"{float(rate.group(1)) if rate else 0:.0f} requests/s, p99 {p99.group(1) if p99 else '?'}"
        )
    return _python_load(url, seconds, connections)


def _python_load(url: str, seconds: int, connections: int) -> str:
    async def run() -> int:
        done = 0
        stop = time.monotonic() + seconds
        async with httpx.AsyncClient(timeout=60) as client:

            async def one() -> None:
                nonlocal done
                while time.monotonic() < stop:
                    (await client.get(url)).raise_for_status()
                    done += 1

            await asyncio.gather(*(one() for _ in range(connections)))
        return done

    count = asyncio.run(run())
    return (
        f"  load, page of 100 (httpx loop: wrk not installed, {connections} connections, {seconds} s): "
        f"{count / seconds:.0f} requests/s"
    )


def run(sizes: tuple[int, ...] = SIZES) -> None:
    print("scale: no latency, generous limits, 9 properties, 3 association types")
    for deals in sizes:
        portal = SandboxProcess.start("--deals", str(deals), *FAST, ready_within=60)
        with tempfile.TemporaryDirectory() as data:
            service = ServiceProcess(
                Path(data), SERVICE_ENV | {"HUBSPOT_BASE_URL": portal.url}
            ).start()
            try:
                with PeakMemory(service) as memory:
                    seconds, status = scan(service, portal.token, f"scale-{deals}")
                extracted = status["results"]["deals_extracted"]
                print(
                    f"  {deals:>9,} deals: {status['status']}, {extracted:,} extracted in {seconds:.1f} s, "
                    f"{extracted / seconds:,.0f} deals/s, peak memory {memory.peak:.0f} MB"
                )
                if deals == max(sizes):
                    print(f"results API on the {deals:,}-deal scan")
                    for line in results_api(service, f"scale-{deals}"):
                        print(line)
            finally:
                service.stop()
                portal.stop()


if __name__ == "__main__":
    run()
