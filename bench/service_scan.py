"""A full scan through the service's own API against a realistic sandbox, next to the official SDK's loop.

The scan calls HubSpot's 2026-09 edition (the default) on a portal serving only that edition; the
same scan on the legacy paths (``HUBSPOT_API_VERSION=legacy``) follows, for the comparison.

The sandbox answers in 250 ms and allows 150 requests per 10 s, search 5 per second. The scan asks
for the nine default properties and three association types. The same portal (a fresh sandbox with
the same seed, so the SDK starts with a full budget too) is then read by hubspot-api-client's
``crm.deals.get_all`` with the same properties and associations.
"""

from __future__ import annotations

import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from hubspot_deals.engine import DEFAULT_ASSOCIATIONS, DEFAULT_PROPERTIES
from hubspot_deals.sandbox.process import SandboxProcess, rss_mb
from hubspot_deals.service_process import DistributedBacking, ServiceProcess

PROPERTIES = list(DEFAULT_PROPERTIES)  # the spec's nine defaults
ASSOCIATIONS = list(DEFAULT_ASSOCIATIONS)
LIMIT, WINDOW_S, SEARCH_RATE, LATENCY_MS = 150, 10.0, 5, 250
POSTGRES, REDIS = "postgresql://postgres@127.0.0.1:5432", "redis://127.0.0.1:6379/0"


class PeakMemory:
    """Samples the resident memory of the process that runs the scans every 50 ms; keeps the peak."""

    def __init__(self, service: ServiceProcess) -> None:
        self.service, self.peak = service, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            workers = self.service.worker_processes
            current = max((rss_mb(w.pid) for w in workers), default=self.service.rss_mb())
            self.peak = max(self.peak, current)
            time.sleep(0.05)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def measured_scan(
    flags: tuple[str, ...], env: dict[str, str], workers: int, scan_id: str
) -> tuple[float, dict[str, Any], dict[str, Any], PeakMemory]:
    """One scan on a fresh portal: its time, final status, the portal's counters, peak memory of
    the process that ran it (the worker, when there is one)."""
    portal = SandboxProcess.start(*flags)
    try:
        with tempfile.TemporaryDirectory() as data:
            settings = env | {"HUBSPOT_BASE_URL": portal.url, "LOG_LEVEL": "WARNING"}
            service = ServiceProcess(Path(data), settings, workers=workers).start()
            try:
                with PeakMemory(service) as memory:
                    seconds, status = scan(service, portal.token, scan_id)
                return seconds, status, portal.stats(), memory
            finally:
                service.stop()
    finally:
        portal.stop()


def scan(
    service: ServiceProcess, token: str, scan_id: str, timeout: float = 3600, **config: Any
) -> tuple[float, dict[str, Any]]:
    """Seconds from the start request to the completed status, and that status. The benchmarks'
    scan: 9 properties and 3 association types, plus ``config``."""
    started = time.monotonic()
    reply = service.start_scan(
        scan_id,
        token,
        properties=PROPERTIES,
        includeAssociations=True,
        associationTypes=ASSOCIATIONS,
        **config,
    )
    reply.raise_for_status()
    while time.monotonic() - started < timeout:
        status = service.status(scan_id)
        if status["status"] in ("completed", "failed", "cancelled"):
            return time.monotonic() - started, status
        time.sleep(0.1)  # polling must not load the service it measures
    raise TimeoutError(scan_id)


def sdk_loop(portal: SandboxProcess) -> tuple[float, int]:
    from hubspot import HubSpot

    client = HubSpot(access_token=portal.token, host=portal.url)
    started = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        deals = client.crm.deals.get_all(properties=PROPERTIES, associations=ASSOCIATIONS)
    return time.monotonic() - started, len(deals)


def realistic(deals: int) -> tuple[str, ...]:
    """Sandbox flags for a portal answering as HubSpot does: 250 ms, 150 per 10 s, search 5/s."""
    return (
        "--deals",
        str(deals),
        "--rate-limit",
        str(LIMIT),
        "--search-rate",
        str(SEARCH_RATE),
        "--latency-ms",
        str(LATENCY_MS),
    )


def run(deals: int = 10_000) -> None:
    flags = realistic(deals)
    # the client's default edition (2026-09) against a portal serving it alone, then the legacy
    # paths the same way: the two figures of one run, side by side
    seconds, status, stats, memory = measured_scan(
        (*flags, "--editions", "2026-09"), {}, 0, "bench-realistic"
    )
    legacy_seconds, legacy_status, _, _ = measured_scan(
        (*flags, "--editions", "legacy"), {"HUBSPOT_API_VERSION": "legacy"}, 0, "bench-legacy"
    )
    # the same scan in the distributed mode: PostgreSQL, Redis, one API process and one worker
    backing = DistributedBacking(POSTGRES, REDIS)
    try:
        pg_seconds, pg_status, pg_stats, worker_memory = measured_scan(
            flags, backing.env, 1, "bench-distributed"
        )
    finally:
        backing.drop()
    fresh = SandboxProcess.start(*flags)
    try:
        sdk_seconds, sdk_deals = sdk_loop(fresh)
    finally:
        fresh.stop()
    extracted = status["results"]["deals_extracted"]
    list_bound = extracted / (100 * LIMIT / WINDOW_S)
    both_bound = extracted / (100 * LIMIT / WINDOW_S + 200 * SEARCH_RATE)
    print(
        f"full scan of {deals:,} deals, {LATENCY_MS} ms latency, {LIMIT}/10 s, search {SEARCH_RATE}/s, "
        "9 properties, 3 association types"
    )
    print(
        f"  scan status                  {status['status']} ({extracted:,} deals, "
        f"{status['results']['with_associations']:,} with associations)"
    )
    print(f"  wall time, start -> completed {seconds:.2f} s")
    print(f"  deals per second             {extracted / seconds:,.0f}")
    print(f"  429 answers from HubSpot     {stats['rate_limited_total']}")
    for route, codes in stats["requests"].items():
        print(f"  requests {route:<55} {sum(codes.values())}")
    print(f"  peak memory of the service   {memory.peak:.0f} MB")
    print(
        f"  legacy paths (/crm/v3, v4)   {legacy_status['status']}, "
        f"{legacy_status['results']['deals_extracted']:,} deals in {legacy_seconds:.2f} s: the "
        f"2026-09 edition took {100 * (seconds / legacy_seconds - 1):+.1f} %"
    )
    print(
        f"  list-endpoint bound          {list_bound:.2f} s -> scan takes {seconds / list_bound:.2f}x"
    )
    print(
        f"  list + search bound          {both_bound:.2f} s -> scan takes {seconds / both_bound:.2f}x"
    )
    print(
        f"  distributed mode (PostgreSQL, Redis, 1 worker): {pg_status['status']}, "
        f"{pg_status['results']['deals_extracted']:,} deals in {pg_seconds:.2f} s "
        f"({pg_seconds / list_bound:.2f}x the list bound), "
        f"{pg_stats['rate_limited_total']} 429s, worker peak {worker_memory.peak:.0f} MB"
    )
    print(f"  official SDK get_all loop    {sdk_seconds:.2f} s for {sdk_deals:,} deals")
    print(f"  speed-up over the SDK loop   {sdk_seconds / seconds:.1f}x")


if __name__ == "__main__":
    run()
