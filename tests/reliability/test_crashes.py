"""Crashes: workers SIGKILLed at random moments (while a page is fetched, right as pages are written,
while a cancellation lands) and the embedded service killed and started again (the restarts of Redis
and PostgreSQL under running scans are test_restarts.py's). No accepted scan is lost, no deal is lost or doubled, and every
scan ends in a true final state: completed with every deal once, or cancelled as asked."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import ServiceProcess
from tests.distributed.test_distributed import exactly_once, live_ids, wait_for

DONE = ("completed", "failed", "cancelled")
#: Long enough scans to be crashed many times: 3,000 deals at 60 calls per 10 s.
SLOW_PORTAL = ("--deals", "3000", "--rate-limit", "60", "--search-rate", "2", "--latency-ms", "20")
SLOW_CLIENT = {"HUBSPOT_BURST_LIMIT": "60", "HUBSPOT_SEARCH_RATE": "2"}


def owner_pid(svc: ServiceProcess, scan_id: str) -> int | None:
    """The process id of the worker holding the scan's running lease, if one does."""
    query = "select coalesce(max(worker_id), '') from scan_jobs where status = 'running'"
    owner = svc.scalar(f"{query} and scan_id = '{scan_id}'")
    return int(owner.split(":")[1]) if owner else None


def assert_true_final_states(
    svc: ServiceProcess, portal: SandboxProcess, scans: list[str], cancelled: dict[str, int]
) -> Counter[str]:
    """Completed with every live deal once, or cancelled with exactly what was stored before the
    cancellation (nothing after it); none failed, none left running."""
    expected = live_ids(portal)
    ends: Counter[str] = Counter()
    for scan_id in scans:
        status = svc.wait(scan_id, timeout=300)
        ends[status["status"]] += 1
        if scan_id in cancelled:
            assert status["status"] == "cancelled", status
            rows = svc.all_deals(scan_id, partial="true")
            assert len(rows) == len({r["deal_id"] for r in rows}), "a deal was stored twice"
            assert len(rows) == cancelled[scan_id], "deals were stored after the cancellation"
        else:
            assert status["status"] == "completed", status
            assert status["results"]["deals_extracted"] == len(expected)
            exactly_once(svc, scan_id, expected)
    logs = svc.logs()
    assert "scan.crashed" not in logs, "an outage or a kill was taken for an internal error"
    assert "request.crashed" not in logs, "an API call answered 500"
    time.sleep(2 * float(svc.env.get("SCAN_LEASE_SECONDS", "3")))  # a lease or two later...
    for scan_id in scans:  # ...no final state was undone by a resumed worker
        assert svc.status(scan_id)["status"] == (
            "cancelled" if scan_id in cancelled else "completed"
        )
    return ends


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_twenty_worker_kills_at_random_moments(
    make_sandbox: Callable[..., SandboxProcess], make_service: Callable[..., ServiceProcess]
) -> None:
    rng = random.Random(20261124)
    portal = make_sandbox(*SLOW_PORTAL)
    svc = make_service(portal, distributed=True, **SLOW_CLIENT)
    scans: list[str] = []
    cancelled: dict[str, int] = {}
    kills: Counter[str] = Counter()
    moments = ("page", "write", "page", "write", "cancel")
    started = time.monotonic()
    while sum(kills.values()) < 20:
        assert time.monotonic() - started < 900, f"only {kills} kills in 15 minutes"
        active = [s for s in scans if svc.status(s)["status"] not in DONE]
        if len(active) < 2:
            scans.append(f"crash-{len(scans) + 1}")
            svc.start_scan(scans[-1], portal.token, batchSize=50, includeAssociations=True)
            continue
        owners = {s: pid for s in active if (pid := owner_pid(svc, s))}
        if not owners:
            time.sleep(0.1)
            continue
        scan_id, pid = rng.choice(sorted(owners.items()))
        victim = next((w for w in svc.worker_processes if w.pid == pid), None)
        if victim is None:
            continue
        moment = moments[sum(kills.values()) % len(moments)]
        if moment == "page":  # somewhere in the middle of fetching
            time.sleep(rng.uniform(0.1, 1.5))
        elif moment == "write":  # just as a batch of pages is stored
            seen = svc.status(scan_id)["progress"]["processed_items"]
            wait_for(
                lambda s=scan_id, n=seen: svc.status(s)["progress"]["processed_items"] != n, 10
            )
        else:  # while the cancellation reaches the worker
            reply = svc.post(f"/api/v1/scan/cancel/{scan_id}")
            if reply.status_code == 200:
                cancelled[scan_id] = reply.json()["itemsProcessed"]
        svc.kill_worker(victim)
        svc.start_worker()
        kills[moment] += 1
    ends = assert_true_final_states(svc, portal, scans, cancelled)
    takeovers = int(svc.scalar("select sum(lease_version) - count(*) from scan_jobs"))
    print(
        f"\nworker kills: {sum(kills.values())} {dict(kills)}; scans {dict(ends)}, "
        f"{takeovers} takeovers, in {time.monotonic() - started:.0f} s; 0 deals lost or doubled"
    )
    assert takeovers >= 10


@pytest.mark.slow
def test_embedded_service_killed_and_restarted(
    make_sandbox: Callable[..., SandboxProcess], make_service: Callable[..., ServiceProcess]
) -> None:
    """SIGKILL the embedded service (its own worker) five times while three scans run, one of them
    cancelled just before a kill: every scan resumes from its checkpoint after each start."""
    rng = random.Random(5)
    portal = make_sandbox(*SLOW_PORTAL)
    svc = make_service(portal, distributed=False, SCAN_LEASE_SECONDS="3", **SLOW_CLIENT)
    scans = ["embedded-1", "embedded-2", "embedded-3"]
    for scan_id in scans:
        svc.start_scan(scan_id, portal.token, includeAssociations=True, batchSize=50)
    cancelled: dict[str, int] = {}
    for kill in range(5):
        svc.wait(scans[0], until=lambda s: s["status"] == "running" or s["status"] in DONE)
        time.sleep(rng.uniform(0.5, 2.0))
        if kill == 2:
            reply = svc.post("/api/v1/scan/cancel/embedded-3")
            if reply.status_code == 200:
                cancelled["embedded-3"] = reply.json()["itemsProcessed"]
        svc.stop(kill=True)
        svc.start()
    states: dict[str, Any] = dict(assert_true_final_states(svc, portal, scans, cancelled))
    resumed = svc.logs().count('"resumed": true')
    print(f"\nembedded kills: 5; scans {states}; {resumed} resumptions from checkpoints")
    assert resumed >= 3
