"""Shared fixtures: sandboxes started as real processes and reached over real HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hubspot_deals.hubspot import RetryPolicy
from hubspot_deals.sandbox.process import SandboxProcess

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
#: Fast retries for tests: the policy is configuration, not patched in.
FAST_RETRY = RetryPolicy(
    attempts=12, wait_initial=0.01, wait_max=0.2, wait_jitter=0.01, timeout=120
)

__all__ = ["FAST_RETRY", "SHARED", "SandboxProcess"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with slow tests first (the order within a file kept): pytest-xdist's ``--dist
    loadfile`` hands files out in this order, so the longest are not left for the end."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxProcess]:
    """A shared portal of 1,500 deals with generous limits; no test may change its faults."""
    running = SandboxProcess.start(
        "--deals", "1500", "--rate-limit", "100000", "--search-rate", "1000"
    )
    yield running
    running.stop()


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., SandboxProcess]]:
    """Start a sandbox with its own flags for one test; stopped afterwards."""
    started: list[SandboxProcess] = []

    def make(*args: str) -> SandboxProcess:
        running = SandboxProcess.start(*args)
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()


@pytest.fixture(scope="module")
def churning_portal() -> Iterator[SandboxProcess]:
    """A 500-deal portal whose deals are created, updated and archived all the time
    (``--churn 40``): an incremental scan of it always has changes to show."""
    running = SandboxProcess.start(
        "--deals", "500", "--rate-limit", "100000", "--search-rate", "1000", "--churn", "40"
    )
    yield running
    running.stop()
