"""Exports of a 100,000-deal scan (9 properties, 3 association types) in each format: how fast
they stream, how much the service grows while it streams them (embedded mode: the API process
serves the download), and how fast the same service answers status requests meanwhile."""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench.service_scale import FAST, SERVICE_ENV
from bench.service_scan import PeakMemory, scan
from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import ServiceProcess

DEALS = 100_000
FORMATS = ("csv", "ndjson", "parquet")


def _download(service: ServiceProcess, scan_id: str, fmt: str) -> tuple[float, int, int]:
    """Seconds, bytes and deals (X-Total-Count) of one export, read to the end and dropped."""
    started = time.perf_counter()
    size = 0
    url = f"{service.url}/api/v1/scan/results/{scan_id}/export"
    with httpx.stream("GET", url, params={"format": fmt}, timeout=600) as reply:
        reply.raise_for_status()
        for chunk in reply.iter_bytes():
            size += len(chunk)
    return time.perf_counter() - started, size, int(reply.headers["x-total-count"])


def status_latencies(service: ServiceProcess, scan_id: str) -> list[float]:
    """Status requests, one after another, while the scan's Parquet export streams to another
    client: their latencies in seconds, sorted (encoding runs off the event loop, so they stay
    short)."""
    streaming = threading.Thread(target=_download, args=(service, scan_id, "parquet"), daemon=True)
    latencies: list[float] = []
    with httpx.Client(base_url=service.url, timeout=30) as client:
        client.get(f"/api/v1/scan/status/{scan_id}").raise_for_status()  # connected, warm
        streaming.start()
        while streaming.is_alive():
            started = time.perf_counter()
            client.get(f"/api/v1/scan/status/{scan_id}").raise_for_status()
            latencies.append(time.perf_counter() - started)
    streaming.join()
    return sorted(latencies)


def percentile(values: list[float], share: float) -> float:
    return values[min(int(len(values) * share), len(values) - 1)]


def run(deals: int = DEALS) -> None:
    print(f"exports: a {deals:,}-deal scan, 9 properties, 3 association types, no download limit")
    portal = SandboxProcess.start("--deals", str(deals), *FAST, ready_within=60)
    with tempfile.TemporaryDirectory() as data:
        service = ServiceProcess(
            Path(data),
            SERVICE_ENV
            | {"HUBSPOT_BASE_URL": portal.url, "RESULTS_MB_PER_MINUTE_PER_ORG": "1000000"},
        ).start()
        try:
            seconds, status = scan(service, portal.token, "export-bench")
            print(f"  scan: {status['results']['deals_extracted']:,} deals in {seconds:.1f} s")
            for fmt in FORMATS:
                before = service.rss_mb()
                with PeakMemory(service) as memory:
                    took, size, count = _download(service, "export-bench", fmt)
                print(
                    f"  {fmt:<8} {count:,} deals, {size / 1e6:6.1f} MB in {took:5.1f} s: "
                    f"{count / took:,.0f} deals/s, {size / 1e6 / took:5.1f} MB/s; service "
                    f"{before:.0f} MB before, peak {memory.peak:.0f} MB (+{memory.peak - before:.0f})"
                )
            latencies = status_latencies(service, "export-bench")
            print(
                f"  status requests while the Parquet file streams: {len(latencies)}, "
                f"p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
                f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms, "
                f"max {latencies[-1] * 1000:.0f} ms"
            )
        finally:
            service.stop()
            portal.stop()


if __name__ == "__main__":
    run()
