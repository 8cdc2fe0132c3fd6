"""The ``hubspot-deals scan`` commands run as a user runs them: the real command in a child process,
against real services (API keys required) in front of real sandboxes.

Two services: ``service`` on a fast portal, for scans that must finish and be compared with the
ground truth; ``slow_service`` on a slow, rate-limited portal, for scans that must still be running
when a test cancels, interrupts or reads them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import ServiceProcess
from tests.conftest import LATEST_ONLY
from tests.e2e.conftest import service_env
from tests.e2e.test_extraction import Expectation

#: What the scan of ``flags_scan`` asks for (flag for flag), so its rows can be checked.
PROPS = ["dealname", "amount", "deal_currency_code", "contract_tier"]
KINDS = ("contacts", "companies")
Run = subprocess.CompletedProcess[str]

#: Variables of the user's shell that would change what the command does or prints.
SCRUBBED = (
    "HUBSPOT_DEALS_URL",
    "HUBSPOT_DEALS_API_KEY",
    "HUBSPOT_DEALS_TIMEOUT",
    "HUBSPOT_ACCESS_TOKEN",
    "HUBSPOT_CLIENT_ID",
    "HUBSPOT_CLIENT_SECRET",
    "HUBSPOT_REFRESH_TOKEN",
    "FORCE_COLOR",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
)


@dataclass
class Cli:
    """``hubspot-deals ARGS`` aimed at one service through the environment, as a user sets it up."""

    url: str
    api_key: str | None
    cwd: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self, **override: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
        env |= {"HUBSPOT_DEALS_URL": self.url, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
        if self.api_key:
            env["HUBSPOT_DEALS_API_KEY"] = self.api_key
        env |= self.extra_env
        for name, value in override.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "hubspot_deals", *args]

    def __call__(
        self,
        *args: str,
        stdin: str | None = None,
        cwd: Path | None = None,
        timeout: float = 90,
        **env: str | None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own interpreter and fixed arguments
            self.command(*args),
            input=stdin,
            capture_output=True,
            text=True,
            cwd=cwd or self.cwd,
            env=self.env(**env),
            timeout=timeout,
            check=False,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
            self.command(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.cwd,
            env=self.env(),
            # Ctrl-C as a terminal delivers it, however the suite was started (a background job,
            # or a wrapper like time(1), leaves SIGINT ignored, and a child inherits that)
            preexec_fn=_interruptible,
        )


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def keyed(service: ServiceProcess) -> ServiceProcess:
    """From the first key on, the service requires one; the helpers send it."""
    service.api_key = service.cli("keys", "create", "--org", "org_cli")
    return service


@pytest.fixture(scope="session")
def fast_portal() -> Iterator[SandboxProcess]:
    running = SandboxProcess.start(
        "--deals", "800", "--rate-limit", "100000", "--search-rate", "1000", *LATEST_ONLY
    )
    yield running
    running.stop()


@pytest.fixture(scope="session")
def slow_portal() -> Iterator[SandboxProcess]:
    """Slow enough that a scan of it runs for a minute: the tests stop theirs well before.
    (20,000 deals at 10 list pages per 10 s and a search a second: 300 deals a second at most.)"""
    running = SandboxProcess.start(
        "--deals",
        "20000",
        "--rate-limit",
        "10",
        "--search-rate",
        "1",
        "--latency-ms",
        "20",
        *LATEST_ONLY,
    )
    yield running
    running.stop()


@pytest.fixture(scope="session")
def service(
    fast_portal: SandboxProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    running = ServiceProcess(tmp_path_factory.mktemp("service"), service_env(fast_portal)).start()
    yield keyed(running)
    running.stop()


@pytest.fixture(scope="session")
def slow_service(
    slow_portal: SandboxProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """Its own limit is low (300 requests a minute per key), so a test can spend a key's."""
    env = service_env(slow_portal, API_RATE_LIMIT_PER_MINUTE="300")
    running = ServiceProcess(tmp_path_factory.mktemp("slow-service"), env).start()
    yield keyed(running)
    running.stop()


@pytest.fixture(scope="session")
def cli(service: ServiceProcess, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    return Cli(service.url, service.api_key, tmp_path_factory.mktemp("cwd"))


@pytest.fixture(scope="session")
def slow_cli(slow_service: ServiceProcess, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    return Cli(slow_service.url, slow_service.api_key, tmp_path_factory.mktemp("slow-cwd"))


@pytest.fixture(scope="session")
def expect(fast_portal: SandboxProcess) -> Expectation:
    return Expectation(fast_portal)


@pytest.fixture(scope="session")
def flags_scan(cli: Cli, fast_portal: SandboxProcess) -> Run:
    """A scan configured by flags alone, followed with --wait: archived deals, custom properties,
    two association types, odd batches."""
    return cli(
        "scan",
        "start",
        "cli-flags",
        "--token",
        fast_portal.token,
        "--properties",
        "dealname,amount",
        "-p",
        "deal_currency_code",
        "-p",
        "contract_tier",
        "--include-associations",
        "--association-types",
        ",".join(KINDS),
        "--include-archived",
        "--batch-size",
        "37",
        "--wait",
        "--interval",
        "0.2",
    )
