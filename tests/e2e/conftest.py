"""The service as real processes, talking to sandbox processes over real HTTP, in either mode.

``HUBSPOT_DEALS_TEST_MODE=distributed`` runs every service of these tests on PostgreSQL and Redis
(127.0.0.1) with two ``hubspot-deals worker`` processes; the default is the embedded mode (SQLite,
jobs in the service). Each service gets a database and a Redis namespace of its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import DistributedBacking, ServiceProcess
from tests.conftest import LATEST_ONLY

__all__ = ["DISTRIBUTED", "ServiceProcess"]

DISTRIBUTED = os.environ.get("HUBSPOT_DEALS_TEST_MODE", "embedded") == "distributed"
POSTGRES = os.environ.get("HUBSPOT_DEALS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
REDIS = os.environ.get("HUBSPOT_DEALS_TEST_REDIS", "redis://127.0.0.1:6379/0")
WORKERS = 2

#: The background loops every process runs (schedules due, webhook deliveries) look every few
#: seconds in tests that use neither: a second's polling in hundreds of idle services is CPU the
#: suite spends for nothing. Tests of either set their own.
QUIET_LOOPS = {"SCHEDULER_POLL_SECONDS": "3", "WEBHOOK_POLL_SECONDS": "3"}

FAST_RETRIES = {
    "HUBSPOT_RETRY_WAIT_INITIAL": "0.01",
    "HUBSPOT_RETRY_WAIT_MAX": "0.2",
    "HUBSPOT_RETRY_WAIT_JITTER": "0.01",
    "HUBSPOT_RETRY_ATTEMPTS": "12",
}


@pytest.fixture(scope="session")
def portal() -> Iterator[SandboxProcess]:
    """A 1,500-deal portal with room to spare: most scans here are about data, not limits."""
    running = SandboxProcess.start(
        "--deals", "1500", "--rate-limit", "100000", "--search-rate", "1000", *LATEST_ONLY
    )
    yield running
    running.stop()


def service_env(portal: SandboxProcess, **extra: str) -> dict[str, str]:
    return (
        {
            "HUBSPOT_BASE_URL": portal.url,
            "HUBSPOT_SEARCH_RATE": "1000",
            "HUBSPOT_BURST_LIMIT": "1000",
        }
        | FAST_RETRIES
        | QUIET_LOOPS
        | extra
    )


def new_backing() -> DistributedBacking:
    return DistributedBacking(POSTGRES, REDIS)


def new_service(
    data_dir: Path, env: dict[str, str], backings: list[DistributedBacking], *, distributed: bool
) -> ServiceProcess:
    if not distributed:
        return ServiceProcess(data_dir, env)
    backing = new_backing()
    backings.append(backing)
    return ServiceProcess(data_dir, backing.env | env, workers=WORKERS)


@pytest.fixture(scope="session")
def service(
    portal: SandboxProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    backings: list[DistributedBacking] = []
    running = new_service(
        tmp_path_factory.mktemp("service"),
        service_env(portal),
        backings,
        distributed=DISTRIBUTED,
    ).start()
    yield running
    running.stop()
    for backing in backings:
        backing.drop()


@pytest.fixture
def make_service(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., ServiceProcess]]:
    """Services of one test, in the suite's mode unless ``distributed=`` says otherwise."""
    started: list[ServiceProcess] = []
    backings: list[DistributedBacking] = []

    def make(
        portal: SandboxProcess, *, distributed: bool = DISTRIBUTED, **extra: str
    ) -> ServiceProcess:
        running = new_service(
            tmp_path_factory.mktemp("service"),
            service_env(portal, **extra),
            backings,
            distributed=distributed,
        ).start()
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()
    for backing in backings:
        backing.drop()
