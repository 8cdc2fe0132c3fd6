"""Encryption keys rotate (MultiFernet) under running scans, in both modes: the scans complete,
then the old key goes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography.fernet import Fernet

from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import ServiceProcess
from tests.distributed.test_distributed import exactly_once, live_ids, wait_for
from tests.reliability.test_crashes import SLOW_PORTAL


@pytest.mark.slow
def test_encryption_keys_rotate_under_running_scans(
    mode: str,
    make_sandbox: Callable[..., SandboxProcess],
    make_service: Callable[..., ServiceProcess],
) -> None:
    """Old key K1, new key K2. Restarted with K2 alone too soon, a running scan waits (it is not
    failed); with "K2,K1" it resumes, decrypting with K1, and a new one is encrypted with K2;
    `db rotate-tokens`; restarted with K2 alone: both complete, every deal once."""
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    # three times the crash suites' portal: both scans must outlast two restarts and the rotation
    # (with 3,000 deals, the resumed scan finished before the rotation in two CI runs)
    slow_portal = make_sandbox(*SLOW_PORTAL[2:], "--deals", "9000")
    svc = make_service(
        slow_portal,
        distributed=mode == "distributed",
        TOKEN_ENCRYPTION_KEY=old,
        SCAN_LEASE_SECONDS="3",
        HUBSPOT_BURST_LIMIT="60",
        HUBSPOT_SEARCH_RATE="2",
    )
    svc.start_scan("rotate-1", slow_portal.token, batchSize=50)
    svc.wait("rotate-1", until=lambda s: s["progress"]["processed_items"] > 0)

    def restart(keys: str) -> None:
        svc.stop(kill=True)  # mid-scan: the scans must resume under the new keys
        svc.env["TOKEN_ENCRYPTION_KEY"] = keys
        svc.start()

    restart(new)  # the old key forgotten too soon: the scan waits for it, it is not failed
    assert wait_for(lambda: "scan.token_undecryptable" in svc.logs(), timeout=30)
    assert svc.status("rotate-1")["status"] in ("pending", "running")
    restart(f"{new},{old}")
    svc.start_scan("rotate-2", slow_portal.token, batchSize=50)
    rotated = svc.cli("db", "rotate-tokens")
    assert "re-encrypted" in rotated
    for scan_id in ("rotate-1", "rotate-2"):
        assert svc.status(scan_id)["status"] in ("pending", "running"), "rotate under live scans"
    restart(new)
    for scan_id in ("rotate-1", "rotate-2"):
        assert svc.wait(scan_id, timeout=240)["status"] == "completed"
        exactly_once(svc, scan_id, live_ids(slow_portal))
    print(f"\nkey rotation ({mode}): {rotated}; both scans completed after the old key was dropped")
