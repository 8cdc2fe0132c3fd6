"""Load: locust drives the status, list and results endpoints at a steady rate while scans run and
re-run, in both modes (the scenario is bench/load.py's).

In the suite it is a smoke test of 20 seconds a mode: it fails on any error, a rate not held or
memory that keeps growing. The figures in docs/reliability.md come from the benchmark's long run,
``make bench`` (``python -m bench load``); ``LOAD_SECONDS=180`` runs this test that long too."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from bench import load

from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import ServiceProcess

SECONDS = int(os.environ.get("LOAD_SECONDS", "20"))


@pytest.mark.slow
@pytest.mark.timeout(SECONDS + 300)
def test_steady_load_while_scans_run(
    mode: str,
    make_sandbox: Callable[..., SandboxProcess],
    make_service: Callable[..., ServiceProcess],
    tmp_path: Path,
) -> None:
    portal = make_sandbox(*load.PORTAL_FLAGS)
    svc = make_service(portal, distributed=mode == "distributed", **load.SERVICE_ENV)
    figures = load.measure(svc, portal.token, SECONDS, tmp_path)
    print("\n" + figures.summary(mode))
    assert figures.locust_returncode in (0, 1), figures.locust_stderr  # 1: locust saw failures
    assert figures.failures == 0, figures.failure_report
    # the users' first second is spawning; a short run beside the suite's other test processes on
    # two cores keeps over half (a CI run saw 71%, its p50 at 1 s): below that, requests stall
    floor = 0.9 if SECONDS >= 120 else 0.5
    assert figures.requests >= load.USERS * SECONDS * floor, "the rate was not held"
    # latency is the benchmark's figure (docs/reliability.md); beside the suite's other test
    # processes on two cores the tail says little, so only a stall fails here
    assert figures.percentiles["99%"] < 10_000
    # flat: once warm (the embedded process also runs the scans), no growth to speak of
    _, warm, end, _ = figures.memory
    assert end - warm < 40, "the API process kept growing under load"
    assert figures.scan_runs >= 2
