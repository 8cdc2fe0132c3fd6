"""``hubspot-deals scan changes``, run as a user runs it: ``--follow`` prints each run's events as
NDJSON while runs add them and keeps its cursor in ``--cursor-file``; stopped by its pid, it says
the cursor to resume from; resumed, it prints only what is new; the events applied in order are
the results."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import ServiceProcess
from tests.cli.conftest import Cli, keyed
from tests.cli.test_scan_commands import assert_error_line
from tests.conftest import NO_LIMITS
from tests.e2e.conftest import service_env

SCAN = "cli-feed"


@pytest.fixture
def feed(make_sandbox: Any, tmp_path: Path) -> Iterator[tuple[SandboxProcess, ServiceProcess, Cli]]:
    """A small portal of its own (the test changes its deals), a keyed service in front of it."""
    sandbox = make_sandbox("--deals", "200", *NO_LIMITS)
    (tmp_path / "service").mkdir()
    service = keyed(ServiceProcess(tmp_path / "service", service_env(sandbox)).start())
    yield sandbox, service, Cli(service.url, service.api_key, tmp_path)
    service.stop()


def scan(sandbox: SandboxProcess, service: ServiceProcess, **config: Any) -> dict[str, Any]:
    assert service.start_scan(SCAN, sandbox.token, **config).status_code == 202
    status = service.wait(SCAN, timeout=120)
    assert status["status"] == "completed", status
    return status


class Lines:
    """A child's standard output read line by line on a thread, so a read can time out."""

    def __init__(self, child: subprocess.Popen[str]) -> None:
        assert child.stdout is not None
        self.stdout = child.stdout
        self.queue: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.stdout:
            self.queue.put(line)

    def take(self, count: int, timeout: float = 60) -> list[dict[str, Any]]:
        return [json.loads(self.queue.get(timeout=timeout)) for _ in range(count)]


def apply(deals: dict[str, dict[str, Any]], events: list[dict[str, Any]]) -> None:
    for event in events:
        if event["deal"] is None:
            del deals[event["deal_id"]]
        else:
            deals[event["deal_id"]] = event["deal"]


def results(service: ServiceProcess) -> dict[str, dict[str, Any]]:
    return {
        r["deal_id"]: {k: v for k, v in r.items() if k != "id"} for r in service.all_deals(SCAN)
    }


def test_follow_then_resume(
    feed: tuple[SandboxProcess, ServiceProcess, Cli], tmp_path: Path
) -> None:
    """--follow prints each run's events as it completes and keeps the cursor; stopped, it says
    where to resume; resumed, it prints only the new events."""
    sandbox, service, cli = feed
    first = scan(sandbox, service)
    kept = tmp_path / "cursor"
    with cli.popen(
        "scan", "changes", SCAN, "--follow", "--interval", "0.2", "--cursor-file", str(kept)
    ) as follower:
        try:
            lines = Lines(follower)
            deals: dict[str, dict[str, Any]] = {}
            events = lines.take(first["results"]["deals_held"])
            assert {e["kind"] for e in events} == {"added"}
            assert {e["runId"] for e in events} == {first["id"]}
            apply(deals, events)
            sandbox.churn(create=6, update=8, delete=3, merge=2)
            second = scan(sandbox, service, mode="incremental")
            events = lines.take(sum(second["results"]["changes"].values()))  # as they come
            assert {e["runId"] for e in events} == {second["id"]}
            apply(deals, events)
            assert deals == results(service)
            os.kill(follower.pid, signal.SIGTERM)  # stopped by its pid, as a supervisor does
            follower.wait(timeout=30)
        finally:
            if follower.poll() is None:
                follower.kill()
                follower.wait()
        lines.reader.join(timeout=10)  # at the end of the output: the pipe can be closed
        assert follower.stderr is not None
        stderr = follower.stderr.read()
    assert follower.returncode == 0, stderr
    said = [line for line in stderr.splitlines() if line.strip()]
    assert (
        said[-2]
        == f"{first['results']['deals_held'] + len(events):,} changes; resume with --cursor"
    )
    cursor = said[-1]
    assert kept.read_text().strip() == cursor

    quiet = cli("scan", "changes", SCAN, "--cursor-file", str(kept))  # nothing new since
    assert quiet.returncode == 0 and quiet.stdout == "", quiet.stderr
    sandbox.churn(create=3, update=4, delete=1)
    third = scan(sandbox, service, mode="incremental")
    resumed = cli("scan", "changes", SCAN, "--cursor-file", str(kept), "--limit", "2")
    assert resumed.returncode == 0, resumed.stderr
    events = [json.loads(line) for line in resumed.stdout.splitlines()]
    assert len(events) == sum(third["results"]["changes"].values())
    assert {e["runId"] for e in events} == {third["id"]}
    apply(deals, events)
    assert deals == results(service)
    assert kept.read_text().strip() == resumed.stderr.splitlines()[-1]

    again = cli("scan", "changes", SCAN, "--cursor", cursor)  # --cursor: from there, no file
    assert [json.loads(line) for line in again.stdout.splitlines()] == events

    # failures: one line and the exit code (5 an unknown scan, 2 a cursor of nothing)
    assert_error_line(cli("scan", "changes", "never-ran"), 5, "SCAN_NOT_FOUND")
    assert_error_line(cli("scan", "changes", SCAN, "--cursor", "made-up"), 2, "cursor")
