"""Load: locust's users (bench/load_users.py) read status, the list and results at a steady 20
requests a second for 3 minutes while two scans re-run, in both modes. Figures: requests, errors,
latency percentiles, and the memory of the API process (and workers) at the start, a third in and
the end. tests/reliability/test_load.py runs the same scenario for 20 seconds as a smoke test."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from bench.service_scan import POSTGRES, REDIS
from hubspot_deals.sandbox.process import SandboxProcess, rss_mb
from hubspot_deals.service_process import DistributedBacking, ServiceProcess

USERS = 20  # one request a second each: 20 requests a second, steady
SECONDS = 180
PORTAL_FLAGS = ("--deals", "5000", "--rate-limit", "100", "--latency-ms", "20")
SERVICE_ENV = {
    "API_RATE_LIMIT_PER_MINUTE": "100000",  # the load is one client address
    "HUBSPOT_BURST_LIMIT": "100",
}
DONE, RUNNING = "load-done", ("load-running-1", "load-running-2")
USERS_FILE = Path(__file__).with_name("load_users.py")


@dataclass
class LoadFigures:
    seconds: int
    requests: int
    failures: int
    percentiles: dict[str, float]  # p50, p95, p99, max (ms)
    per_endpoint: dict[str, str]
    scan_runs: int
    memory: list[float] = field(default_factory=list)  # MB: start, a third in, end, peak
    workers: tuple[list[float], list[float]] = ([], [])  # MB at the start and the end
    failure_report: str = ""
    locust_stderr: str = ""
    locust_returncode: int = 0

    def summary(self, mode: str) -> str:
        start, warm, end, peak = self.memory
        p = self.percentiles
        workers = (
            f"; workers {[round(m) for m in self.workers[0]]} -> "
            f"{[round(m) for m in self.workers[1]]} MB"
            if self.workers[0]
            else ""
        )
        return (
            f"load ({mode}): {self.requests} requests in {self.seconds} s "
            f"({self.requests / self.seconds:.1f}/s), {self.failures} errors "
            f"({self.failures / max(self.requests, 1):.2%}); p50 {p['50%']:.0f} ms, "
            f"p95 {p['95%']:.0f} ms, p99 {p['99%']:.0f} ms, max {p['max']:.0f} ms; "
            f"{self.scan_runs} scan runs during it; API process {start:.0f} -> {warm:.0f} "
            f"(a third in) -> {end:.0f} MB (peak {peak:.0f}){workers}\n  {self.per_endpoint}"
        )


def _keep_scanning(svc: ServiceProcess, token: str, stop: threading.Event, runs: list[int]) -> None:
    """Re-run the scans as they finish, so scans run during the whole load."""
    while not stop.is_set():
        for scan_id in RUNNING:
            if svc.status(scan_id)["status"] in ("not_found", "completed", "failed", "cancelled"):
                reply = svc.start_scan(scan_id, token, includeAssociations=True)
                assert reply.status_code == 202, reply.text
                runs.append(1)
        stop.wait(0.5)


def _sample_memory(
    svc: ServiceProcess, every: float, stop: threading.Event, out: list[float]
) -> None:
    while not stop.wait(every):
        out.append(svc.rss_mb())


def _locust(url: str, seconds: int, csv_prefix: Path) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "locust", "-f", str(USERS_FILE), "--headless",
        "--users", str(USERS), "--spawn-rate", str(USERS), "--run-time", f"{seconds}s",
        "--host", url, "--csv", str(csv_prefix), "--only-summary", "--loglevel", "WARNING",
    ]  # fmt: skip
    return subprocess.run(  # noqa: S603 - our own interpreter and fixed arguments
        command,
        capture_output=True,
        text=True,
        env=dict(os.environ) | {"LOAD_SCANS": ",".join((DONE, *RUNNING))},
        timeout=seconds + 120,
        check=False,
    )


def measure(svc: ServiceProcess, token: str, seconds: int, workdir: Path) -> LoadFigures:
    """One completed scan to page through, then the load for ``seconds`` with scans re-running."""
    svc.start_scan(DONE, token, includeAssociations=True)
    assert svc.wait(DONE, timeout=180)["status"] == "completed"
    stop = threading.Event()
    runs: list[int] = []
    samples: list[float] = []
    threads = [
        threading.Thread(target=_keep_scanning, args=(svc, token, stop, runs)),
        threading.Thread(target=_sample_memory, args=(svc, min(2.0, seconds / 20), stop, samples)),
    ]
    for thread in threads:
        thread.start()
    memory_start = svc.rss_mb()
    workers_start = [rss_mb(w.pid) for w in svc.worker_processes]
    try:
        locust = _locust(svc.url, seconds, workdir / "load")
        memory_end = svc.rss_mb()
        workers_end = [rss_mb(w.pid) for w in svc.worker_processes]
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    with (workdir / "load_stats.csv").open() as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    total = rows["Aggregated"]
    failures_file = workdir / "load_failures.csv"
    return LoadFigures(
        seconds=seconds,
        requests=int(total["Request Count"]),
        failures=int(total["Failure Count"]),
        percentiles={
            "50%": float(total["50%"]),
            "95%": float(total["95%"]),
            "99%": float(total["99%"]),
            "max": float(total["Max Response Time"]),
        },
        per_endpoint={
            name: f"p50 {r['50%']} p99 {r['99%']} ms"
            for name, r in rows.items()
            if name != "Aggregated"
        },
        scan_runs=len(runs),
        memory=[memory_start, samples[len(samples) // 3], memory_end, max(samples)],
        workers=(workers_start, workers_end),
        failure_report=failures_file.read_text() if failures_file.exists() else "",
        locust_stderr=locust.stderr[-3000:],
        locust_returncode=locust.returncode,
    )


def _one_mode(distributed: bool, seconds: int) -> None:
    portal = SandboxProcess.start(*PORTAL_FLAGS)
    backing = DistributedBacking(POSTGRES, REDIS) if distributed else None
    try:
        with tempfile.TemporaryDirectory() as data:
            env = SERVICE_ENV | {"HUBSPOT_BASE_URL": portal.url}
            if backing is not None:
                svc = ServiceProcess(Path(data), backing.env | env, workers=2).start()
            else:
                svc = ServiceProcess(Path(data), env).start()
            try:
                figures = measure(svc, portal.token, seconds, Path(data))
            finally:
                svc.stop()
        print("  " + figures.summary("distributed" if distributed else "embedded"), flush=True)
    finally:
        if backing is not None:
            backing.drop()
        portal.stop()


def run(seconds: int = SECONDS) -> None:
    print(
        f"load: {USERS} users at one request a second for {seconds} s (status, list, results by "
        "page and cursor) while two scans of a 5,000-deal portal re-run"
    )
    for distributed in (False, True):
        _one_mode(distributed, seconds)


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else SECONDS)
