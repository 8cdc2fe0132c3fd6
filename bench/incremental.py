"""What an incremental scan costs next to a full one, in HubSpot requests and time.

A 100,000-deal portal at 250 ms, 150 requests per 10 s and search 5 per second is scanned in full
(9 properties, 3 association types). Then 1% of its deals change through the sandbox's side door
(created, updated and archived) and an incremental scan brings the set up to date. Then 10 deals
are deleted for good (they leave no trace but a lower count) and another incremental scan finds
them; a last one runs with nothing changed. The sandbox counts every request it answers; the
figures are its counts.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.service_scan import LATENCY_MS, LIMIT, SEARCH_RATE, realistic, scan
from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import ServiceProcess

DEALS = 100_000
SCAN_ID = "bench-incremental"


def _requests(stats: dict[str, Any]) -> dict[str, int]:
    return {endpoint: sum(by_status.values()) for endpoint, by_status in stats["requests"].items()}


def _measured(
    portal: SandboxProcess, service: ServiceProcess, **config: Any
) -> tuple[float, dict[str, Any], dict[str, int]]:
    portal.reset_stats()
    seconds, status = scan(service, portal.token, SCAN_ID, **config)
    return seconds, status, _requests(portal.stats())


def run(deals: int = DEALS) -> None:
    flags = realistic(deals)
    portal = SandboxProcess.start(*flags, ready_within=60)
    try:
        with tempfile.TemporaryDirectory() as data:
            service = ServiceProcess(Path(data), {"HUBSPOT_BASE_URL": portal.url}).start()
            try:
                full_s, full, full_requests = _measured(portal, service)
                share = deals // 100  # 1% of the portal: 30% created, 50% updated, 20% archived
                portal.churn(create=share * 3 // 10, update=share // 2, archive=share // 5)
                runs = [_measured(portal, service, mode="incremental")]
                portal.churn(delete=10)
                runs.append(_measured(portal, service, mode="incremental"))
                runs.append(_measured(portal, service, mode="incremental"))
            finally:
                service.stop()
    finally:
        portal.stop()
    full_n = sum(full_requests.values())
    print(
        f"incremental scans: {deals:,} deals, {LATENCY_MS} ms latency, {LIMIT}/10 s, search "
        f"{SEARCH_RATE}/s, 9 properties, 3 association types"
    )
    print(
        f"  full scan                       {full_s:6.1f} s  {full_n:6,} requests  "
        f"({full['results']['deals_held']:,} deals held)"
    )
    names = ("after 1% created/updated/archived", "after 10 hard deletes", "with nothing changed")
    for name, (seconds, status, requests) in zip(names, runs, strict=True):
        count = sum(requests.values())
        print(
            f"  incremental {name:34} {seconds:6.1f} s  {count:6,} requests  "
            f"= {100 * count / full_n:4.1f}% of full  changes {status['results']['changes']}"
        )
    for name, counts in (("full", full_requests), ("incremental after 1%", runs[0][2])):
        detail = ", ".join(f"{e.split(' ', 1)[1]} {n}" for e, n in sorted(counts.items()))
        print(f"  {name} requests by endpoint: {detail}")
