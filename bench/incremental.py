"""What an incremental scan costs next to a full one, in HubSpot requests and time.

A 100,000-deal portal at 250 ms, 150 requests per 10 s and search 5 per second is scanned in full
(9 properties, 3 association types). Then 1% of its deals change through the sandbox's side door
(created, updated and archived, plus a few hard deletes) and an incremental scan brings the set up
to date. The sandbox counts every request it answers; the figures are its counts.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench.service_scan import ASSOCIATIONS, LATENCY_MS, LIMIT, PROPERTIES, SEARCH_RATE
from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import ServiceProcess

DEALS = 100_000
SCAN_ID = "bench-incremental"


def _requests(stats: dict[str, Any]) -> dict[str, int]:
    return {endpoint: sum(by_status.values()) for endpoint, by_status in stats["requests"].items()}


def _scan(service: ServiceProcess, token: str, **config: Any) -> tuple[float, dict[str, Any]]:
    started = time.monotonic()
    reply = service.start_scan(
        SCAN_ID,
        token,
        properties=PROPERTIES,
        includeAssociations=True,
        associationTypes=ASSOCIATIONS,
        **config,
    )
    reply.raise_for_status()
    while True:
        status = service.status(SCAN_ID)
        if status["status"] in ("completed", "failed", "cancelled"):
            return time.monotonic() - started, status
        time.sleep(0.2)


def _measured(
    portal: SandboxProcess, service: ServiceProcess, **config: Any
) -> tuple[float, dict[str, Any], dict[str, int]]:
    portal.reset_stats()
    seconds, status = _scan(service, portal.token, **config)
    return seconds, status, _requests(portal.stats())


def run(deals: int = DEALS) -> None:
    flags = (
        "--deals",
        str(deals),
        "--rate-limit",
        str(LIMIT),
        "--search-rate",
        str(SEARCH_RATE),
        "--latency-ms",
        str(LATENCY_MS),
    )
    portal = SandboxProcess.start(*flags, ready_within=60)
    try:
        with tempfile.TemporaryDirectory() as data:
            service = ServiceProcess(Path(data), {"HUBSPOT_BASE_URL": portal.url}).start()
            try:
                full_s, full, full_requests = _measured(portal, service)
                share = deals // 100  # 1% of the portal: 30% created, 50% updated, 20% archived
                portal.churn(
                    create=share * 3 // 10, update=share // 2, archive=share // 5, delete=10
                )
                inc_s, inc, inc_requests = _measured(portal, service, mode="incremental")
                idle_s, idle, idle_requests = _measured(portal, service, mode="incremental")
            finally:
                service.stop()
    finally:
        portal.stop()
    full_n, inc_n = sum(full_requests.values()), sum(inc_requests.values())
    print(
        f"incremental scans: {deals:,} deals, {LATENCY_MS} ms latency, {LIMIT}/10 s, search "
        f"{SEARCH_RATE}/s, 9 properties, 3 association types"
    )
    print(
        f"  full scan                     {full_s:7.1f} s  {full_n:6,} requests  "
        f"({full['results']['deals_held']:,} deals held)"
    )
    print(
        f"  incremental after 1% churn    {inc_s:7.1f} s  {inc_n:6,} requests  "
        f"changes {inc['results']['changes']}"
    )
    print(
        f"  incremental with no changes   {idle_s:7.1f} s  {sum(idle_requests.values()):6,} requests  "
        f"changes {idle['results']['changes']}"
    )
    print(
        f"  incremental / full requests   {100 * inc_n / full_n:.1f}%  (time {100 * inc_s / full_s:.1f}%)"
    )
    for name, counts in (("full", full_requests), ("incremental", inc_requests)):
        detail = ", ".join(f"{e.split(' ', 1)[1]} {n}" for e, n in sorted(counts.items()))
        print(f"  {name} requests by endpoint: {detail}")
