"""Shared fixtures: sandboxes started as real processes and reached over real HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hubspot_deals.hubspot import RetryPolicy
from hubspot_deals.sandbox import DEMO_TOKEN

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
#: Fast retries for tests: the policy is configuration, not patched in.
FAST_RETRY = RetryPolicy(attempts=12, wait_initial=0.01, wait_max=0.2, wait_jitter=0.01, timeout=120)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SandboxProcess:
    url: str
    process: subprocess.Popen[bytes]
    token: str = DEMO_TOKEN

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/_sandbox/stats").json())

    def reset_stats(self) -> None:
        httpx.post(f"{self.url}/_sandbox/stats/reset").raise_for_status()

    def set_faults(self, rate: float, kinds: list[str] | None = None) -> None:
        body: dict[str, Any] = {"rate": rate} | ({"kinds": kinds} if kinds else {})
        httpx.post(f"{self.url}/_sandbox/faults", json=body).raise_for_status()

    def truth(self) -> list[dict[str, Any]]:
        with httpx.stream("GET", f"{self.url}/_sandbox/deals", timeout=120) as response:
            return [json.loads(line) for line in response.iter_lines() if line]

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.get(f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def post(self, path: str, body: Any, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.post(f"{self.url}{path}", json=body, headers=headers, timeout=30, **kwargs)

    def rss_mb(self) -> float:
        import psutil

        return float(psutil.Process(self.process.pid).memory_info().rss) / 2**20


def start_sandbox(*args: str, ready_within: float = 15.0) -> SandboxProcess:
    """``hubspot-deals sandbox`` in its own process; returns once it answers over HTTP."""
    port = free_port()
    command = [sys.executable, "-m", "hubspot_deals", "sandbox", "--port", str(port), *args]
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sandbox exited with {process.returncode}")
        try:
            httpx.get(f"{url}/_sandbox/stats", timeout=1).raise_for_status()
            return SandboxProcess(url, process)
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"sandbox did not answer within {ready_within} s")


def stop_sandbox(sandbox: SandboxProcess) -> None:
    sandbox.process.terminate()
    try:
        sandbox.process.wait(10)
    except subprocess.TimeoutExpired:
        sandbox.process.kill()
        sandbox.process.wait()
    if sandbox.process.stdout:
        sandbox.process.stdout.close()


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxProcess]:
    """A shared portal of 1,500 deals with a generous limit; tests must not change its faults."""
    running = start_sandbox("--deals", "1500", "--rate-limit", "100000", "--search-rate", "1000")
    yield running
    stop_sandbox(running)


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., SandboxProcess]]:
    """Start a sandbox with its own flags for one test."""
    started: list[SandboxProcess] = []

    def make(*args: str) -> SandboxProcess:
        running = start_sandbox(*args)
        started.append(running)
        return running

    yield make
    for running in started:
        stop_sandbox(running)
