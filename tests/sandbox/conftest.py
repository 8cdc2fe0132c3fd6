"""The sandbox's own tests reach every edition it serves (legacy paths included)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from hubspot_deals.sandbox.process import SandboxProcess


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., SandboxProcess]]:
    """Start a sandbox with its own flags (every edition unless they say otherwise)."""
    started: list[SandboxProcess] = []

    def make(*args: str) -> SandboxProcess:
        running = SandboxProcess.start(*args)
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()
