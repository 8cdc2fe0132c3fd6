"""Restarts: Redis and PostgreSQL restarted ten times each under running scans (private servers, so
the machine's own are never touched). No accepted scan is lost, no deal is lost or doubled, and every
scan ends in a true final state (test_crashes.py's checks)."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import DistributedBacking, ServiceProcess
from tests.distributed.test_distributed import wait_for
from tests.e2e.conftest import POSTGRES, REDIS, service_env
from tests.reliability.servers import PrivatePostgres, PrivateRedis
from tests.reliability.test_crashes import (
    SLOW_CLIENT,
    SLOW_PORTAL,
    assert_true_final_states,
)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis().start()
    yield server
    server.stop()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres().start()
    yield server
    server.remove()


def deployment(
    tmp_path: Path, portal: SandboxProcess, postgres: str, redis_url: str
) -> tuple[ServiceProcess, DistributedBacking]:
    backing = DistributedBacking(postgres, redis_url)
    svc = ServiceProcess(tmp_path, service_env(portal, **SLOW_CLIENT) | backing.env, workers=2)
    return svc.start(), backing


@pytest.mark.slow
def test_ten_redis_restarts_under_running_scans(
    make_sandbox: Callable[..., SandboxProcess], private_redis: PrivateRedis, tmp_path: Path
) -> None:
    """Redis killed and started empty (no persistence: streams, consumer groups, limiter windows
    all gone) ten times; scans are also started while it is down."""
    rng = random.Random(10)
    portal = make_sandbox(*SLOW_PORTAL)
    svc, backing = deployment(tmp_path, portal, POSTGRES, private_redis.url)
    try:
        scans = ["redis-1", "redis-2"]
        for scan_id in scans:
            svc.start_scan(scan_id, portal.token, includeAssociations=True)
        started = time.monotonic()
        for restart in range(10):
            time.sleep(rng.uniform(0.5, 2.0))
            private_redis.stop()
            if restart % 3 == 0:  # accepted while Redis is down
                scans.append(f"redis-{len(scans) + 1}")
                reply = svc.start_scan(scans[-1], portal.token)
                assert reply.status_code == 202, reply.text
            time.sleep(rng.uniform(0.0, 1.0))
            private_redis.start()
        assert_true_final_states(svc, portal, scans, {})
        assert wait_for(lambda: svc.get("/health").status_code == 200)
        print(
            f"\nredis restarts: {restart + 1} in {time.monotonic() - started:.0f} s; "
            f"{len(scans)} scans completed, 0 deals lost or doubled"
        )
    finally:
        svc.stop()
        backing.drop()


@pytest.mark.slow
def test_ten_postgres_restarts_under_running_scans(
    make_sandbox: Callable[..., SandboxProcess],
    private_postgres: PrivatePostgres,
    tmp_path: Path,
) -> None:
    """PostgreSQL stopped (fast, or immediate: a crash with WAL recovery) and started ten times while
    scans run; the API answers 503 while it is down, never 500."""
    rng = random.Random(20)
    portal = make_sandbox(*SLOW_PORTAL)
    svc, backing = deployment(tmp_path, portal, private_postgres.url, REDIS)
    unavailable: Counter[int] = Counter()
    try:
        scans = ["pg-1", "pg-2"]
        for scan_id in scans:
            svc.start_scan(scan_id, portal.token, includeAssociations=True)
        started = time.monotonic()
        for restart in range(10):
            time.sleep(rng.uniform(0.5, 2.0))
            private_postgres.stop(crash=restart % 2 == 1)
            for path in ("/api/v1/scan/status/pg-1", "/api/v1/scan/list", "/health"):
                unavailable[svc.get(path).status_code] += 1
            time.sleep(rng.uniform(0.0, 1.0))
            private_postgres.start()
            if restart % 3 == 0:
                scans.append(f"pg-{len(scans) + 1}")
                reply = svc.start_scan(scans[-1], portal.token)
                assert reply.status_code == 202, reply.text
        assert_true_final_states(svc, portal, scans, {})
        assert set(unavailable) == {503}, unavailable
        print(
            f"\npostgres restarts: {restart + 1} (half of them crashes) in "
            f"{time.monotonic() - started:.0f} s; {len(scans)} scans completed, 0 deals lost or "
            f"doubled; {sum(unavailable.values())} calls while down, all 503"
        )
    finally:
        svc.stop()
        backing.drop()
