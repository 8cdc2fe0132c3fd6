"""Shared fixtures: sandboxes started as real processes and reached over real HTTP."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hubspot_deals.hubspot import LATEST, RetryPolicy
from hubspot_deals.interpreter import tune_for_service
from hubspot_deals.sandbox.process import SandboxProcess

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
#: Fast retries for tests: the policy is configuration, not patched in.
FAST_RETRY = RetryPolicy(
    attempts=12, wait_initial=0.01, wait_max=0.2, wait_jitter=0.01, timeout=120
)

#: Sandboxes outside tests/sandbox serve HubSpot's latest edition only, as the client's default is
#: to call it: a call to any other path would be a 404 and fail its test.
LATEST_ONLY = ("--editions", LATEST)
#: A portal whose rate limits never bind: for tests about data, not limits.
NO_LIMITS = ("--rate-limit", "100000", "--search-rate", "1000")

__all__ = ["FAST_RETRY", "LATEST_ONLY", "NO_LIMITS", "SHARED", "SandboxProcess"]


#: Seconds each test file took in the last measured run, by pass (``.ci/durations.py`` writes it).
DURATIONS = json.loads((Path(__file__).parent / "durations.json").read_text())
#: What a file missing from the table is taken to take: a new file with slow tests goes early.
UNKNOWN_SLOW_S = 120.0


def pytest_configure() -> None:
    """Test processes hold whole portals' deals to compare: the service's gc settings spare them
    full collections over every module as well."""
    tune_for_service()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest files first (the order within a file kept): pytest-xdist's ``--dist loadfile``
    hands whole files out in this order, so no long file is left for the end while the other test
    processes sit idle."""
    mode = os.environ.get("HUBSPOT_DEALS_TEST_MODE", "embedded")
    seconds = DURATIONS.get(mode, {})
    slow = {item.path for item in items if item.get_closest_marker("slow")}

    def weight(item: pytest.Item) -> float:
        known = seconds.get(str(item.path.relative_to(ROOT)))
        if known is not None:
            return float(known)
        return UNKNOWN_SLOW_S if item.path in slow else 0.0

    items.sort(key=lambda item: -weight(item))


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxProcess]:
    """A shared portal of 1,500 deals with generous limits; no test may change its faults."""
    running = SandboxProcess.start(
        "--deals", "1500", "--rate-limit", "100000", "--search-rate", "1000"
    )
    yield running
    running.stop()


@pytest.fixture
def sandbox_editions() -> tuple[str, ...]:
    """The flags ``make_sandbox`` adds unless a test names editions: the latest only here;
    tests/sandbox, which reaches every edition, gives none."""
    return LATEST_ONLY


@pytest.fixture
def make_sandbox(sandbox_editions: tuple[str, ...]) -> Iterator[Callable[..., SandboxProcess]]:
    """Start a sandbox with its own flags for one test (``sandbox_editions`` unless the flags
    name editions); stopped afterwards."""
    started: list[SandboxProcess] = []

    def make(*args: str) -> SandboxProcess:
        running = SandboxProcess.start(*args, *([] if "--editions" in args else sandbox_editions))
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
        "--deals",
        "500",
        "--rate-limit",
        "100000",
        "--search-rate",
        "1000",
        "--churn",
        "40",
        *LATEST_ONLY,
    )
    yield running
    running.stop()
