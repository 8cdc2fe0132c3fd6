"""What a deal and a results page cost the service, each figure beside the baseline's in the same
run: the service as it stood before issue 22 (``BASELINE``, taken from git into a temporary
directory and put first on the child's ``PYTHONPATH``) runs the same scans against the same
sandbox, one after the other, on the same machine.

- CPU per deal: a 100,000-deal scan (9 properties, 3 association types, no latency, generous
  limits); the CPU time (user + system, from /proc) of the process that runs the scan, over deals:
  the API process in the embedded mode, the worker in the distributed mode (PostgreSQL, Redis).
- Results: the embedded service's CPU per page of 100 read by cursor; pages a second for one
  sequential client and for 16 concurrent clients, with their p99. Both codes' services stay up
  after their scans and are read in turns, three times each: each figure is its median.
- The realistic scan: 100,000 deals at 250 ms round trips, 150 requests per 10 s and search at 5 a
  second, then at the API-limit increase's 250 per 10 s: time against the list-plus-search bound,
  429 answers, the service's peak memory.

``python -m bench cost`` runs it (``make bench`` runs every benchmark); ``BENCH_BASELINE=<ref>``
compares with another commit, ``BENCH_BASELINE=none`` skips the baseline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.exports import percentile
from bench.service_scale import FAST, SERVICE_ENV
from bench.service_scan import POSTGRES, REDIS, PeakMemory, realistic, scan
from hubspot_deals.interpreter import tune_for_service
from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import DistributedBacking, ServiceProcess

#: The last commit before issue 22's work: what "baseline" means below.
BASELINE = "baca9b9"
DEALS = 100_000
PAGE = 100
CLIENTS = 16
LOAD_SECONDS = 10.0
#: Times each code's results are read, in turns with the other's
ROUNDS = 3
SEARCH_PER_S = 5 * 200  # search: 5 requests a second of 200 deals
REPO = Path(__file__).resolve().parent.parent
#: The service's own request and download quotas, out of the way of what is measured
QUOTAS = {
    name: SERVICE_ENV[name]
    for name in ("API_RATE_LIMIT_PER_MINUTE", "RESULTS_MB_PER_MINUTE_PER_ORG")
}


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def code_at(ref: str) -> Iterator[dict[str, str]]:
    """The environment that makes a child run the package as it was at ``ref``."""
    archive = subprocess.run(  # noqa: S603 - fixed arguments
        ["git", "-C", str(REPO), "archive", ref, "src"],  # noqa: S607
        capture_output=True,
        check=True,
    ).stdout
    with tempfile.TemporaryDirectory() as root:
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(root, filter="data")
        yield {"PYTHONPATH": str(Path(root) / "src")}


@dataclass
class Code:
    """Which service code a figure is of: its name and the environment that selects it."""

    name: str
    env: dict[str, str]


@contextmanager
def scanned(
    portal: SandboxProcess, code: Code, *, distributed: bool
) -> Iterator[tuple[dict[str, float], ServiceProcess]]:
    """The 100,000-deal scan's CPU per deal, time and peak memory, and the service that ran it
    (still running, for its results to be read)."""
    backing = DistributedBacking(POSTGRES, REDIS) if distributed else None
    try:
        with tempfile.TemporaryDirectory() as data:
            env = SERVICE_ENV | code.env | {"HUBSPOT_BASE_URL": portal.url}
            service = ServiceProcess(
                Path(data), env | (backing.env if backing else {}), workers=1 if backing else 0
            ).start()
            try:
                runner = service.worker_processes[0] if backing else service.process
                assert runner is not None
                before = cpu_seconds(runner.pid)
                with PeakMemory(service) as memory:
                    seconds, status = scan(service, portal.token, "cost")
                cpu = cpu_seconds(runner.pid) - before
                deals = status["results"]["deals_extracted"]
                per_deal = cpu / deals * 1e6
                yield {"us_per_deal": per_deal, "seconds": seconds, "peak_mb": memory.peak}, service
            finally:
                service.stop()
    finally:
        if backing:
            backing.drop()


def scan_costs(portal: SandboxProcess, codes: list[Code]) -> list[dict[str, float]]:
    """Each code's embedded scan, then its results read in turns (``ROUNDS`` of each code's,
    one after the other: the machine's speed drifts over minutes, and both codes meet the same
    drift), each figure the median of its rounds."""
    with contextlib.ExitStack() as running:
        scans = [running.enter_context(scanned(portal, c, distributed=False)) for c in codes]
        rounds: list[list[dict[str, float]]] = [[] for _ in codes]
        for _ in range(ROUNDS):
            for kept, (_, service) in zip(rounds, scans, strict=True):
                kept.append(results_cost(service, "cost"))
    return [
        figures | {key: statistics.median(r[key] for r in kept) for key in kept[0]}
        for (figures, _), kept in zip(scans, rounds, strict=True)
    ]


def distributed_cost(portal: SandboxProcess, code: Code) -> dict[str, float]:
    with scanned(portal, code, distributed=True) as (figures, _):
        return figures


def results_cost(service: ServiceProcess, scan_id: str) -> dict[str, float]:
    """CPU per page and pages a second by cursor, one client then sixteen."""
    assert service.process is not None
    url = f"{service.url}/api/v1/scan/results/{scan_id}"
    pid = service.process.pid
    with httpx.Client(timeout=60) as client:
        client.get(url, params={"page_size": PAGE}).raise_for_status()  # warm
        pages, query = 0, {"page_size": PAGE}
        before, started = cpu_seconds(pid), time.perf_counter()
        while True:
            reply = client.get(url, params=query)
            reply.raise_for_status()
            pages += 1
            cursor = orjson.loads(reply.content)["pagination"]["next_cursor"]
            if cursor is None:
                break
            query = {"page_size": PAGE, "cursor": cursor}
        took, cpu = time.perf_counter() - started, cpu_seconds(pid) - before
    rate, p99 = asyncio.run(_concurrent(url, pages))
    return {
        "page_cpu_ms": cpu / pages * 1000,
        "pages_per_s": pages / took,
        "concurrent_pages_per_s": rate,
        "concurrent_p99_ms": p99 * 1000,
    }


async def _concurrent(url: str, pages: int) -> tuple[float, float]:
    """Sixteen clients walking the results by cursor from sixteen places for ten seconds."""
    latencies: list[float] = []
    stop = time.monotonic() + LOAD_SECONDS
    limits = httpx.Limits(max_connections=CLIENTS)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def walk(start: int) -> None:
            query: dict[str, Any] = {"page_size": PAGE, "page": start}
            while time.monotonic() < stop:
                began = time.perf_counter()
                reply = await client.get(url, params=query)
                reply.raise_for_status()
                latencies.append(time.perf_counter() - began)
                cursor = orjson.loads(reply.content)["pagination"]["next_cursor"]
                query = {"page_size": PAGE, "cursor": cursor} if cursor else {"page_size": PAGE}

        began = time.monotonic()
        await asyncio.gather(*(walk(1 + i * pages // CLIENTS) for i in range(CLIENTS)))
        took = time.monotonic() - began
    return len(latencies) / took, percentile(sorted(latencies), 0.99)


def realistic_scan(code: Code, limit: int) -> dict[str, float]:
    """100,000 deals at 250 ms, ``limit`` requests per 10 s, search 5 a second: time against the
    list-plus-search bound, 429 answers and peak memory."""
    flags = list(realistic(DEALS))
    flags[flags.index("--rate-limit") + 1] = str(limit)
    portal = SandboxProcess.start(*flags, ready_within=60)
    try:
        with tempfile.TemporaryDirectory() as data:
            settings = QUOTAS | code.env | {"HUBSPOT_BASE_URL": portal.url, "LOG_LEVEL": "WARNING"}
            # the service's own defaults otherwise (search at 5 a second, as the portal allows)
            settings["HUBSPOT_BURST_LIMIT"] = str(limit)
            service = ServiceProcess(Path(data), settings).start()
            try:
                with PeakMemory(service) as memory:
                    seconds, status = scan(service, portal.token, "cost-realistic")
            finally:
                service.stop()
        deals = status["results"]["deals_extracted"]
        bound = deals / (PAGE * limit / 10 + SEARCH_PER_S)
        return {
            "seconds": seconds,
            "of_bound": seconds / bound,
            "rate_limited": portal.stats()["rate_limited_total"],
            "peak_mb": memory.peak,
        }
    finally:
        portal.stop()


def _line(name: str, unit: str, now: float, before: float | None, target: str) -> str:
    base = f"{before:10.2f}" if before is not None else f"{'-':>10}"
    ratio = f"{now / before:6.2f}x" if before else ""
    return f"  {name:<44} {now:10.2f} {base} {ratio:>7}  {unit:<8} {target}"


def run() -> None:
    # the clients' own process tuned as the service's is: a full collection of theirs (some
    # 90 ms, several a run) would otherwise count as the service's latency in the p99
    tune_for_service()
    ref = os.environ.get("BENCH_BASELINE", BASELINE)
    with code_at(ref) if ref != "none" else contextlib.nullcontext(None) as baseline_env:
        codes = [Code("now", {})]
        if baseline_env is not None:
            codes.append(Code(f"baseline {ref}", baseline_env))
        report(codes)


def report(codes: list[Code]) -> None:
    print(
        f"cost: {DEALS:,} deals, 9 properties, 3 association types; "
        f"'now' beside '{codes[-1].name}' (same machine, same run)"
    )
    portal = SandboxProcess.start("--deals", str(DEALS), *FAST, ready_within=60)
    try:
        embedded = scan_costs(portal, codes)
        distributed = [distributed_cost(portal, c) for c in codes]
    finally:
        portal.stop()
    at_150 = [realistic_scan(c, 150) for c in codes]
    at_250 = [realistic_scan(c, 250) for c in codes]

    def pair(rows: list[dict[str, float]], key: str) -> tuple[float, float | None]:
        return rows[0][key], rows[1][key] if len(rows) > 1 else None

    print(f"  {'figure':<44} {'now':>10} {'baseline':>10} {'ratio':>7}  {'unit':<8} target")
    lines = [
        ("scan CPU per deal, embedded (SQLite)", "us", embedded, "us_per_deal", "<= 80"),
        ("scan CPU per deal, distributed (worker)", "us", distributed, "us_per_deal", "<= 100"),
        ("scan time, embedded, no latency", "s", embedded, "seconds", ""),
        ("results: CPU per page of 100 by cursor", "ms", embedded, "page_cpu_ms", "<= 2"),
        ("results: pages a second, one client", "pages/s", embedded, "pages_per_s", ">= 300"),
        (
            "results: pages a second, 16 clients",
            "pages/s",
            embedded,
            "concurrent_pages_per_s",
            ">= 250",
        ),
        ("results: p99 with 16 clients", "ms", embedded, "concurrent_p99_ms", "< 150"),
        ("250 ms, 150/10 s: time", "s", at_150, "seconds", ""),
        ("250 ms, 150/10 s: of the list+search bound", "x", at_150, "of_bound", "<= 1.11"),
        ("250 ms, 150/10 s: 429 answers", "", at_150, "rate_limited", "0"),
        ("250 ms, 150/10 s: peak memory", "MB", at_150, "peak_mb", "< 300"),
        ("250 ms, 250/10 s: time", "s", at_250, "seconds", ""),
        ("250 ms, 250/10 s: of the list+search bound", "x", at_250, "of_bound", ""),
        ("250 ms, 250/10 s: 429 answers", "", at_250, "rate_limited", "0"),
    ]
    for name, unit, rows, key, target in lines:
        print(_line(name, unit, *pair(rows, key), target))
    faster = [at_150[i]["seconds"] / at_250[i]["seconds"] for i in range(len(codes))]
    print(
        _line(
            "speed-up of 250/10 s over 150/10 s",
            "x",
            faster[0],
            faster[1] if len(faster) > 1 else None,
            ">= 1.5",
        )
    )


if __name__ == "__main__":
    run()
