"""A normal run says nothing alarming: scans, results, exports finished and exports the client
drops halfway leave no error-level line and no deprecation warning in the service's log."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

from hubspot_deals.sandbox.process import SandboxProcess
from tests.e2e.conftest import ServiceProcess


def test_a_normal_run_logs_no_errors(
    make_sandbox: Callable[..., SandboxProcess],
    make_service: Callable[..., ServiceProcess],
) -> None:
    portal = make_sandbox("--deals", "3000")
    svc = make_service(portal)
    for scan_id, config in (("quiet-a", {"includeAssociations": True}), ("quiet-b", {})):
        assert svc.start_scan(scan_id, portal.token, **config).status_code == 202
    for scan_id in ("quiet-a", "quiet-b"):
        assert svc.wait(scan_id)["status"] == "completed"
    assert len(svc.all_deals("quiet-a")) > 0
    for fmt in ("csv", "ndjson", "parquet"):
        assert svc.get(f"/api/v1/scan/results/quiet-a/export?format={fmt}").status_code == 200
        url = f"{svc.url}/api/v1/scan/results/quiet-b/export?format={fmt}"
        with httpx.stream("GET", url, headers=svc._headers(), timeout=30) as dropped:
            next(dropped.iter_raw())  # the first chunk, then the client goes away
    svc.get("/api/v1/stats")
    svc.stop()  # a clean shutdown is part of a normal run
    lines = svc.logs().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    errors = [r for r in records if r.get("level") in ("error", "critical")]
    assert not errors, errors
    plain = [line for line in lines if not line.startswith("{")]
    alarming = [
        line
        for line in plain
        if "Warning" in line or "Traceback" in line or "Task was destroyed" in line
    ]
    assert not alarming, alarming
