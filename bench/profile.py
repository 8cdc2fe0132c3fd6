"""Where a scan's CPU goes: a 100,000-deal scan (9 properties, 3 association types, no latency,
generous limits) on an embedded service sampled by py-spy, then the results read by cursor, also
sampled. Prints the functions that take the most samples, by their own time (the leaf of the
stack) and with what they call (ours only): the top of the profile, for docs/benchmarks.md.

``python -m bench profile`` (py-spy attaches to the service's process: it needs ptrace rights,
which root has); ``BENCH_PROFILE_REF=<commit>`` profiles the service as it was at that commit,
``BENCH_PROFILE_GIL=1`` samples only the thread holding the GIL (Python's own work, without
SQLite's, which runs in its thread without the GIL); ``BENCH_PROFILE_OUT=<dir>`` keeps the raw
stacks there (``scan.txt``, ``results.txt``: py-spy's collapsed format, for a flame graph).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from bench.cost import code_at
from bench.service_scale import FAST, SERVICE_ENV
from bench.service_scan import scan
from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import ServiceProcess

DEALS = 100_000
TOP = 15
OURS = "hubspot_deals/"


class Sampled:
    """py-spy recording a process (collapsed stacks) until the block ends."""

    def __init__(self, pid: int, out: Path) -> None:
        self.pid, self.out = pid, out
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Sampled:
        self.process = subprocess.Popen(  # noqa: S603 - fixed arguments
            [
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "--pid",
                str(self.pid),
                "--format",
                "raw",
                "--rate",
                "200",
                "--nonblocking",
                *(["--gil"] if os.environ.get("BENCH_PROFILE_GIL") else []),
                "--output",
                str(self.out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1)  # attached before the work starts
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        self.process.wait(60)


def _frame(text: str) -> str:
    """``function (path/to/module.py:line)`` as ``module.py:function``."""
    name, _, where = text.partition(" (")
    return f"{where.split(':')[0].rsplit('/', 1)[-1]}:{name}"


def summary(stacks: Path, title: str) -> list[str]:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in stacks.read_text().splitlines():
        path, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = path.split(";")
        own[_frame(frames[-1])] += samples
        for frame in {_frame(f) for f in frames if OURS in f}:
            inclusive[frame] += samples
    lines = [f"{title}: {total} samples"]
    lines.append("  own time (leaf frames):")
    lines += [f"    {100 * n / total:5.1f} %  {name}" for name, n in own.most_common(TOP)]
    lines.append("  with what they call (our functions):")
    lines += [f"    {100 * n / total:5.1f} %  {name}" for name, n in inclusive.most_common(TOP)]
    return lines


def _next_cursor(reply: httpx.Response) -> str | None:
    reply.raise_for_status()
    cursor: str | None = reply.json()["pagination"]["next_cursor"]
    return cursor


def run(deals: int = DEALS) -> None:
    ref = os.environ.get("BENCH_PROFILE_REF")
    print(
        f"profile: a {deals:,}-deal scan and its results by cursor, sampled by py-spy "
        f"(the service at {ref or 'the working tree'})"
    )
    portal = SandboxProcess.start("--deals", str(deals), *FAST, ready_within=60)
    code = code_at(ref) if ref else contextlib.nullcontext({})
    with tempfile.TemporaryDirectory() as data, code as env:
        settings = SERVICE_ENV | env | {"HUBSPOT_BASE_URL": portal.url}
        service = ServiceProcess(Path(data), settings)
        service.start()
        try:
            assert service.process is not None
            with Sampled(service.process.pid, Path(data) / "scan.txt"):
                seconds, status = scan(service, portal.token, "profile")
            print(f"  scan: {status['results']['deals_extracted']:,} deals in {seconds:.1f} s")
            with Sampled(service.process.pid, Path(data) / "results.txt"), httpx.Client() as http:
                url = f"{service.url}/api/v1/scan/results/profile"
                query: dict[str, object] = {"page_size": 100}
                while cursor := _next_cursor(http.get(url, params=query)):
                    query = {"page_size": 100, "cursor": cursor}
            for name, title in (("scan", "the scan"), ("results", "the results by cursor")):
                print("\n".join(summary(Path(data) / f"{name}.txt", title)))
                if keep := os.environ.get("BENCH_PROFILE_OUT"):
                    shutil.copy(Path(data) / f"{name}.txt", Path(keep) / f"{name}.txt")
        finally:
            service.stop()
            portal.stop()


if __name__ == "__main__":
    run()
