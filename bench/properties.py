"""What each property costs a scan: 9, 500 and every property (over 1,000) of a wide portal.

A 10,000-deal portal with 1,000 custom properties of every type answers in 250 ms and allows 150
requests per 10 s, search 5 per second, as HubSpot does. Each scan (on a fresh portal, so each
starts with a full budget) reads three association types and the properties named: the nine
defaults, 500 of the portal's properties, then ``"all"``. Printed: the time, the requests by
endpoint (past HubSpot's URI limit the list chains read deals by id with batch/read), the service's
CPU time and the sandbox's (from /proc: on a 2-core machine, wide deals make both CPU-bound before
HubSpot's rate limit binds), the stored size, and the cost of each property over the nine.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.service_scan import LIMIT, SEARCH_RATE, PeakMemory, realistic
from hubspot_deals.engine import DEFAULT_ASSOCIATIONS, DEFAULT_PROPERTIES
from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import ServiceProcess

DEALS, CUSTOM = 10_000, 1_000
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def one_scan(properties: list[str] | str, label: str) -> dict[str, Any]:
    portal = SandboxProcess.start(
        *realistic(DEALS), "--custom-properties", str(CUSTOM), "--editions", "2026-09"
    )
    try:
        with tempfile.TemporaryDirectory() as data:
            env = {"HUBSPOT_BASE_URL": portal.url, "LOG_LEVEL": "WARNING"}
            service = ServiceProcess(Path(data), env).start()
            try:
                assert service.process is not None
                cpu_before = cpu_seconds(service.process.pid)
                sandbox_before = cpu_seconds(portal.process.pid)
                started = time.monotonic()
                with PeakMemory(service) as memory:
                    reply = service.start_scan(
                        f"bench-{label}",
                        portal.token,
                        properties=properties,
                        includeAssociations=True,
                        associationTypes=list(DEFAULT_ASSOCIATIONS),
                    )
                    reply.raise_for_status()
                    status = service.wait(f"bench-{label}", timeout=3600)
                seconds = time.monotonic() - started
                cpu = cpu_seconds(service.process.pid) - cpu_before
                sandbox_cpu = cpu_seconds(portal.process.pid) - sandbox_before
                stats = portal.stats()
                count = len(service.get(f"/api/v1/scan/schema/bench-{label}").json()["properties"])
            finally:
                service.stop()
    finally:
        portal.stop()
    return {
        "label": label,
        "properties": len(properties) if isinstance(properties, list) else count,
        "status": status,
        "seconds": seconds,
        "cpu": cpu,
        "sandbox_cpu": sandbox_cpu,
        "peak": memory.peak,
        "stats": stats,
    }


def wide_names() -> list[str]:
    """The wide portal's property names (its definitions; no scan needed)."""
    portal = SandboxProcess.start("--deals", "1", "--custom-properties", str(CUSTOM))
    try:
        reply = portal.get("/crm/properties/2026-09/deals")
        reply.raise_for_status()
        return sorted(p["name"] for p in reply.json()["results"])
    finally:
        portal.stop()


def run() -> None:
    names = wide_names()
    five_hundred = list(dict.fromkeys([*DEFAULT_PROPERTIES, *names]))[:500]
    runs = [
        one_scan(list(DEFAULT_PROPERTIES), "nine"),
        one_scan(five_hundred, "five-hundred"),
        one_scan("all", "all"),
    ]
    print(
        f"scans of {DEALS:,} deals with {CUSTOM:,} custom properties on the portal, 250 ms latency, "
        f"{LIMIT}/10 s, search {SEARCH_RATE}/s, 3 association types"
    )
    base = runs[0]
    for r in runs:
        status, stats = r["status"], r["stats"]
        extracted = status["results"]["deals_extracted"]
        requests = {route: sum(codes.values()) for route, codes in stats["requests"].items()}
        refused = sum(
            n for codes in stats["requests"].values() for code, n in codes.items() if code == "414"
        )
        print(f"  {r['properties']:>5} properties: {status['status']}, {extracted:,} deals")
        print(f"      wall time                {r['seconds']:.2f} s")
        print(
            f"      service CPU              {r['cpu']:.2f} s ({1e6 * r['cpu'] / extracted:.0f} µs a deal)"
        )
        print(
            f"      sandbox CPU              {r['sandbox_cpu']:.2f} s (HubSpot's side, same machine)"
        )
        print(f"      stored size              {status['results']['data_size_mb']:.1f} MB")
        print(f"      peak memory              {r['peak']:.0f} MB")
        print(f"      414 answers, 429 answers {refused}, {stats['rate_limited_total']}")
        for route, n in sorted(requests.items()):
            print(f"      requests {route:<50} {n}")
        if r is not base:
            extra = r["properties"] - base["properties"]
            print(
                f"      over the nine: {r['seconds'] / base['seconds']:.2f}x the time, "
                f"{1000 * (r['seconds'] - base['seconds']) / extra:.1f} ms and "
                f"{1000 * (r['cpu'] - base['cpu']) / extra:.1f} ms of CPU a property"
            )


if __name__ == "__main__":
    run()
