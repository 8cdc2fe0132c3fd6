"""Promises that hold when requests, scans and workers act at the same time, in both modes."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from hubspot_deals.sandbox.process import SandboxProcess
from tests.e2e.conftest import ServiceProcess

#: Races repeated many times: stress tests, so `make test` runs them and `make test-fast` does not.
pytestmark = pytest.mark.slow
STARTERS = 16
ROUNDS = 20


async def _start_together(svc: ServiceProcess, scan_id: str, token: str) -> list[httpx.Response]:
    body = {
        "config": {
            "scanId": scan_id,
            "type": ["hubspot_deals"],
            "auth": {"hubspot_access_token": token},
            "batchSize": 10,
        }
    }
    async with httpx.AsyncClient(base_url=svc.url, timeout=60) as client:
        return await asyncio.gather(
            *(client.post("/api/v1/scan/start", json=body) for _ in range(STARTERS))
        )


def test_concurrent_starts_of_one_scan_id_run_once(
    make_sandbox: Callable[..., SandboxProcess],
    make_service: Callable[..., ServiceProcess],
) -> None:
    """Sixteen starts at once: one 202 and fifteen 409s, round after round (the database's
    unique active slot decides, not a read before the write). HubSpot answers slowly here, so
    the run that won cannot finish (and free its slot) before the last start is answered."""
    slow = make_sandbox("--deals", "300", "--rate-limit", "100000", "--latency-ms", "200")
    service = make_service(slow)
    for round_ in range(ROUNDS):
        replies = asyncio.run(_start_together(service, "racing-starts", slow.token))
        codes = Counter(reply.status_code for reply in replies)
        assert codes == {202: 1, 409: STARTERS - 1}, (round_, [r.text for r in replies])
        assert all(
            reply.json()["error_code"] == "SCAN_IN_PROGRESS"
            for reply in replies
            if reply.status_code == 409
        )
        job_id = next(r.json()["jobId"] for r in replies if r.status_code == 202)
        cancelled = service.post("/api/v1/scan/cancel/racing-starts")
        if cancelled.status_code != 200:  # it may have finished already
            assert cancelled.json()["error_code"] == "INVALID_CANCELLATION", cancelled.text
        final = service.wait("racing-starts")
        assert final["id"] == job_id
    runs = service.get("/api/v1/scan/list?page_size=100").json()["scans"]
    assert sum(1 for scan in runs if scan["scanId"] == "racing-starts") == ROUNDS


def _finish_all(svc: ServiceProcess, token: str, scan_ids: list[str]) -> float:
    """Start the scans at once and wait for all; the wall time, the scans completed."""
    started = time.monotonic()
    for scan_id in scan_ids:
        assert svc.start_scan(scan_id, token, includeAssociations=True).status_code == 202
    for scan_id in scan_ids:
        assert svc.wait(scan_id)["status"] == "completed"
    return time.monotonic() - started


def test_scans_on_one_token_share_its_budget(
    make_sandbox: Callable[..., SandboxProcess],
    make_service: Callable[..., ServiceProcess],
) -> None:
    """Three scans on one token pace together: HubSpot answers none of them 429, and together
    they take no longer than one after another would."""
    tight = make_sandbox(
        "--deals", "400", "--rate-limit", "100", "--rate-window-ms", "1000",
        "--search-rate", "5", "--latency-ms", "20",
    )  # fmt: skip
    svc = make_service(tight, HUBSPOT_BURST_LIMIT="100", HUBSPOT_SEARCH_RATE="5")
    alone = _finish_all(svc, tight.token, ["paced-alone"])
    tight.reset_stats()
    together = _finish_all(svc, tight.token, ["paced-1", "paced-2", "paced-3"])
    stats = tight.stats()
    assert stats["rate_limited_total"] == 0, stats["rate_limited"]
    assert together <= 3 * alone, (together, alone)
    counts = {
        svc.status(s)["progress"]["processed_items"]
        for s in ("paced-alone", "paced-1", "paced-2", "paced-3")
    }
    assert len(counts) == 1 and counts.pop() > 350  # the same deals, every one (some archived)


def test_a_permanent_database_error_fails_the_scan(
    make_sandbox: Callable[..., SandboxProcess],
    make_service: Callable[..., ServiceProcess],
) -> None:
    """A table gone mid-scan is no outage to wait out: the scan fails with INTERNAL_ERROR, the
    log names the cause, and the traceback is written once."""
    slow = make_sandbox("--deals", "600", "--rate-limit", "100000", "--latency-ms", "30")
    svc = make_service(slow)
    assert svc.start_scan("broken-store", slow.token, batchSize=10).status_code == 202
    svc.wait("broken-store", until=lambda s: s["progress"]["processed_items"] > 0)
    svc.execute("ALTER TABLE deals RENAME TO deals_gone")
    final = svc.wait("broken-store")
    assert final["status"] == "failed" and final["error_code"] == "INTERNAL_ERROR", final
    entries = [json.loads(line) for line in svc.logs().splitlines() if line.startswith("{")]
    with_traceback = [e for e in entries if "exception" in e]
    assert [e["event"] for e in with_traceback] == ["scan.crashed"], with_traceback
    cause = with_traceback[0]["exception"]
    assert "no such table: deals" in cause or 'relation "deals" does not exist' in cause
    assert "[SQL parameters hidden due to hide_parameters=True]" in cause  # values stay out
