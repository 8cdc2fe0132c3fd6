"""``hubspot-deals schedule ...`` against a running service of its own, whose clock is fast
(intervals of a second allowed, due times looked for every 0.1 s), in front of a small portal:
create (a cron, an interval, a config file), list, show, update, pause, resume, delete; ``--json``
as the API's body; refusals and their exit codes; and an interval schedule's first run, which
starts at once and completes."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import ServiceProcess
from tests.cli.conftest import Cli, keyed
from tests.cli.test_scan_commands import assert_error_line, json_out
from tests.conftest import LATEST_ONLY, NO_LIMITS
from tests.e2e.conftest import service_env

FAST_CLOCK = {"SCHEDULE_MIN_INTERVAL_SECONDS": "1", "SCHEDULER_POLL_SECONDS": "0.1"}
WEEKDAYS = "0 6 * * 1-5"


@pytest.fixture(scope="module")
def portal() -> Iterator[SandboxProcess]:
    running = SandboxProcess.start("--deals", "40", *NO_LIMITS, *LATEST_ONLY)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def clocked(
    portal: SandboxProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    env = service_env(portal, **FAST_CLOCK)
    running = ServiceProcess(tmp_path_factory.mktemp("schedule-service"), env).start()
    yield keyed(running)
    running.stop()


@pytest.fixture(scope="module")
def sched(clocked: ServiceProcess, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    return Cli(clocked.url, clocked.api_key, tmp_path_factory.mktemp("schedule-cwd"))


@pytest.fixture(scope="module")
def conn(sched: Cli, portal: SandboxProcess) -> str:
    made = sched("connection", "create", "scheduled", "--json", HUBSPOT_ACCESS_TOKEN=portal.token)
    return str(json_out(made)["connectionId"])


def row_of(listing: str, schedule_id: str) -> str:
    return next(line for line in listing.splitlines() if schedule_id in line)


def test_a_cron_schedule_from_create_to_delete(
    sched: Cli, clocked: ServiceProcess, conn: str
) -> None:
    made = json_out(
        sched("schedule", "create", "cli-cron", "--connection", conn, "--cron", WEEKDAYS,
              "--timezone", "Europe/Paris", "-p", "dealname,amount", "--include-associations",
              "--json")
    )  # fmt: skip
    sid = made["scheduleId"]
    assert made["cron"] == WEEKDAYS and made["timezone"] == "Europe/Paris" and not made["every"]
    config = made["config"]
    assert config["connectionId"] == conn and config["properties"] == ["dealname", "amount"]
    assert config["includeAssociations"] is True and config["mode"] == "incremental"
    assert made["lastRun"] is None and made["nextRunAt"]  # 6:00 on a weekday: not in this test
    # --json is the API's body, for one schedule and for the list
    api = clocked.get(f"/api/v1/schedules/{sid}").json()
    assert made == api == json_out(sched("schedule", "show", sid, "--json"))
    listed = json_out(sched("schedule", "list", "--json"))
    assert listed == clocked.get("/api/v1/schedules").json() and listed["schedules"] == [made]
    shown = sched("schedule", "show", sid)
    assert shown.returncode == 0, shown.stderr
    for fragment in (sid, "cli-cron", f"{WEEKDAYS} Europe/Paris", conn, "dealname, amount"):
        assert fragment in shown.stdout
    row = row_of(sched("schedule", "list").stdout, sid)
    assert "cli-cron" in row and f"{WEEKDAYS} Europe/Paris" in row
    assert made["nextRunAt"][:16].replace("T", " ") in row and row.split()[-1] == "no"
    # config flags go over the schedule's own config; the timing stays
    changed = json_out(sched("schedule", "update", sid, "-p", "dealname", "--full", "--json"))
    assert changed["config"]["properties"] == ["dealname"] and changed["config"]["mode"] == "full"
    assert changed["config"]["includeAssociations"] is True and changed["cron"] == WEEKDAYS
    # a time zone alone: the same cron in it
    moved = json_out(sched("schedule", "update", sid, "--timezone", "America/New_York", "--json"))
    assert moved["cron"] == WEEKDAYS and moved["timezone"] == "America/New_York"
    assert moved["config"] == changed["config"]
    paused = sched("schedule", "pause", sid)
    assert paused.returncode == 0 and "Paused by request." in paused.stdout
    assert "paused" in row_of(sched("schedule", "list").stdout, sid)
    resumed = json_out(sched("schedule", "resume", sid, "--json"))
    assert not resumed["paused"] and resumed["nextRunAt"]
    deleted = sched("schedule", "delete", sid)
    assert deleted.returncode == 0 and f"deleted schedule {sid}" in deleted.stderr
    assert_error_line(sched("schedule", "show", sid), 5, "SCHEDULE_NOT_FOUND")


def test_an_interval_schedule_runs_at_once(sched: Cli, clocked: ServiceProcess, conn: str) -> None:
    made = sched("schedule", "create", "cli-every", "--connection", conn, "--every", "1h")
    assert made.returncode == 0, made.stderr
    assert "every 1h" in made.stdout and "first run now" in made.stderr
    sid = next(word for word in made.stdout.split() if word.startswith("sch_"))
    deadline = time.monotonic() + 60
    while (last := clocked.get(f"/api/v1/schedules/{sid}").json()["lastRun"]) is None or last[
        "status"
    ] not in ("completed", "failed"):
        assert time.monotonic() < deadline, last
        time.sleep(0.1)
    assert last["status"] == "completed"
    row = row_of(sched("schedule", "list").stdout, sid)
    assert "cli-every" in row and "every 1h" in row and "completed" in row
    status = json_out(sched("scan", "status", "cli-every", "--json"))
    assert status["status"] == "completed" and status["id"] == last["jobId"]
    shown = sched("schedule", "show", sid)
    assert f"completed (job {last['jobId']}" in shown.stdout
    assert sched("schedule", "delete", sid).returncode == 0


def test_a_config_file(sched: Cli, conn: str, tmp_path: Path) -> None:
    """The scan id and the connection from the file, a flag over it."""
    config = {"config": {"scanId": "cli-file", "connectionId": conn, "properties": "all"}}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    made = json_out(
        sched("schedule", "create", "--config", str(path), "--cron", "15 3 * * *", "--full",
              "--json")
    )  # fmt: skip
    assert made["scanId"] == "cli-file" and made["timezone"] == "UTC"
    assert made["config"]["connectionId"] == conn and made["config"]["mode"] == "full"
    assert re.search(r"properties +all *\n", sched("schedule", "show", made["scheduleId"]).stdout)
    assert sched("schedule", "delete", made["scheduleId"]).returncode == 0


def test_what_goes_wrong(sched: Cli, clocked: ServiceProcess, conn: str) -> None:
    # the API's own sentence, under its field
    body: dict[str, Any] = {"scanId": "cli-bad", "every": "15x", "config": {"connectionId": conn}}
    sentence = clocked.post("/api/v1/schedules", body).json()["errors"]["every"]
    bad = sched("schedule", "create", "cli-bad", "--connection", conn, "--every", "15x")
    assert_error_line(bad, 2, "VALIDATION_ERROR", f"every: {sentence}")
    zone = sched("schedule", "create", "cli-bad", "--connection", conn, "--cron", WEEKDAYS,
                 "--timezone", "Mars/Olympus")  # fmt: skip
    assert_error_line(zone, 2, "timezone: ")
    both = sched("schedule", "create", "x", "--connection", conn, "--every", "1h", "--cron", "* *")
    assert_error_line(both, 2, "give --every INTERVAL or --cron EXPRESSION")
    assert_error_line(sched("schedule", "create", "x", "--every", "1h"), 2, "no connection")
    unknown = sched("schedule", "create", "x", "--connection", "conn_0123456789abcdef", "--every",
                    "1h")  # fmt: skip
    assert_error_line(unknown, 5, "CONNECTION_NOT_FOUND")
    first = sched("schedule", "create", "cli-twice", "--connection", conn, "--cron", WEEKDAYS)
    assert first.returncode == 0, first.stderr
    again = sched("schedule", "create", "cli-twice", "--connection", conn, "--every", "1h")
    assert_error_line(again, 8, "SCHEDULE_EXISTS")
    assert_error_line(sched("schedule", "update", "sch_0"), 2, "nothing to change")
    missing = "sch_0123456789abcdef"
    for command in ("show", "pause", "delete"):
        assert_error_line(sched("schedule", command, missing), 5, "SCHEDULE_NOT_FOUND")
    assert_error_line(
        sched("schedule", "update", missing, "--every", "1h"), 5, "SCHEDULE_NOT_FOUND"
    )
