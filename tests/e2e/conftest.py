"""The service as a real process on SQLite, talking to a sandbox process over real HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import ServiceProcess

__all__ = ["ServiceProcess"]

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
        "--deals", "1500", "--rate-limit", "100000", "--search-rate", "1000"
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
        | extra
    )


@pytest.fixture(scope="session")
def service(
    portal: SandboxProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    running = ServiceProcess(tmp_path_factory.mktemp("service"), service_env(portal)).start()
    yield running
    running.stop()


@pytest.fixture
def make_service(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., ServiceProcess]]:
    started: list[ServiceProcess] = []

    def make(portal: SandboxProcess, **extra: str) -> ServiceProcess:
        running = ServiceProcess(
            tmp_path_factory.mktemp("service"), service_env(portal, **extra)
        ).start()
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()
