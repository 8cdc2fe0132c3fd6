"""Schedules end to end: the API's shapes and refusals, and the promise that each due time starts
one run, none doubled or lost, whatever the number of processes claiming them (in the distributed
pass: a second API replica beside the service and its two workers, all of them claiming due
times). Time is a parameter: intervals of a second (SCHEDULE_MIN_INTERVAL_SECONDS lowered), the
scheduler looking every 0.1 s."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import ServiceProcess
from tests.conftest import LATEST_ONLY, NO_LIMITS
from tests.e2e.conftest import DISTRIBUTED
from tests.e2e.test_changes_feed import Consumer

FAST_CLOCK = {"SCHEDULE_MIN_INTERVAL_SECONDS": "1", "SCHEDULER_POLL_SECONDS": "0.1"}


def connection(svc: ServiceProcess, portal: SandboxProcess) -> str:
    reply = svc.post(
        "/api/v1/connections",
        {"name": "scheduled portal", "auth": {"hubspot_access_token": portal.token}},
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["connectionId"])


def schedule(svc: ServiceProcess, scan_id: str, connection_id: str, **timing: Any) -> Any:
    body = {"scanId": scan_id, "config": {"connectionId": connection_id}} | timing
    return svc.post("/api/v1/schedules", body)


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def wait_for(probe: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


class TestApi:
    def test_shapes_changes_and_refusals(
        self,
        make_sandbox: Callable[..., SandboxProcess],
        make_service: Callable[..., ServiceProcess],
    ) -> None:
        portal = make_sandbox("--deals", "50", *NO_LIMITS)
        svc = make_service(portal, **FAST_CLOCK)
        conn = connection(svc, portal)
        reply = schedule(svc, "by-cron", conn, cron="0 6 * * 1-5", timezone="Europe/Paris")
        assert reply.status_code == 201, reply.text
        body = reply.json()
        assert body["scheduleId"].startswith("sch_") and body["scanId"] == "by-cron"
        assert body["cron"] == "0 6 * * 1-5" and body["every"] is None
        assert body["timezone"] == "Europe/Paris" and body["paused"] is False
        due = moment(body["nextRunAt"]).astimezone(ZoneInfo("Europe/Paris"))
        assert (due.hour, due.minute) == (6, 0) and due.weekday() < 5
        assert body["lastRun"] is None and body["runsStarted"] == 0
        assert body["config"]["connectionId"] == conn and body["config"]["mode"] == "incremental"
        sid = body["scheduleId"]
        assert svc.get(f"/api/v1/schedules/{sid}").json() == body
        assert [s["scheduleId"] for s in svc.get("/api/v1/schedules").json()["schedules"]] == [sid]
        # one schedule per scan id
        again = schedule(svc, "by-cron", conn, every="1h")
        assert again.status_code == 409 and again.json()["error_code"] == "SCHEDULE_EXISTS"
        # new timing: the next due time follows it
        changed = svc.request("PATCH", f"/api/v1/schedules/{sid}", json={"every": "2h"}).json()
        assert changed["every"] == "2h" and changed["cron"] is None
        paused = svc.post(f"/api/v1/schedules/{sid}/pause").json()
        assert paused["paused"] and paused["nextRunAt"] is None and paused["pauseReason"]
        resumed = svc.post(f"/api/v1/schedules/{sid}/resume").json()
        assert not resumed["paused"] and resumed["pauseReason"] is None
        gone = svc.request("DELETE", f"/api/v1/schedules/{sid}")
        assert gone.status_code == 200 and gone.json()["scheduleId"] == sid
        missing = svc.get(f"/api/v1/schedules/{sid}")
        assert missing.status_code == 404 and missing.json()["error_code"] == "SCHEDULE_NOT_FOUND"
        # refusals, each under its field
        for timing, field in (
            ({"every": "1h", "cron": "* * * * *"}, "body"),
            ({}, "body"),
            ({"every": "5x"}, "every"),
            ({"every": "0m"}, "every"),
            ({"cron": "61 * * * *"}, "cron"),
            ({"cron": "0 6 * * *", "timezone": "Mars/Olympus"}, "timezone"),
        ):
            refused = schedule(svc, "refused", conn, **timing)
            assert refused.status_code == 400, (timing, refused.text)
            assert field in refused.json()["errors"], (timing, refused.json())
        with_token = svc.post(
            "/api/v1/schedules",
            {"scanId": "x", "every": "1h", "config": {"auth": {"hubspot_access_token": "t"}}},
        )
        assert with_token.status_code == 400 and "config.auth" in with_token.json()["errors"]
        unknown = schedule(svc, "x", "conn_0000000000000000", every="1h")
        assert unknown.status_code == 404 and unknown.json()["error_code"] == "CONNECTION_NOT_FOUND"


def ticks(svc: ServiceProcess, schedule_id: str) -> list[tuple[datetime, str, str | None]]:
    fields = "due_at || '|' || outcome || '|' || coalesce(job_id, '')"
    mine = f"select * from schedule_ticks where schedule_id = '{schedule_id}' order by due_at"  # noqa: S608 (our own id)
    joined = (
        f"string_agg({fields}, ';' order by due_at)"
        if DISTRIBUTED
        else f"group_concat({fields}, ';')"
    )
    rows = svc.scalar(f"select {joined} from ({mine}) as ticks")  # noqa: S608 (our own id)
    out = []
    for row in ("" if rows in (None, "None") else rows).split(";"):
        if row:
            due, outcome, job = row.split("|")
            out.append((datetime.fromisoformat(due), outcome, job or None))
    return out


def test_each_due_time_starts_one_run(
    make_sandbox: Callable[..., SandboxProcess],
    make_service: Callable[..., ServiceProcess],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Every second for at least eight due times, with every process claiming them: one run a due
    time, each due time on the grid (none lost), no run doubled; a due time that finds the previous
    run going is skipped and counted. Distributed: a worker is killed and a replica restarted on
    the way, and nothing changes."""
    portal = make_sandbox("--deals", "40", *NO_LIMITS, *LATEST_ONLY)
    svc = make_service(portal, **FAST_CLOCK)
    others = []
    if DISTRIBUTED:  # a second API replica claiming due times too (the workers do as well)
        others.append(ServiceProcess(tmp_path_factory.mktemp("replica"), dict(svc.env)).start())
    try:
        conn = connection(svc, portal)
        body = schedule(svc, "every-second", conn, every="1s").json()
        sid = body["scheduleId"]
        if DISTRIBUTED:  # a worker killed (mid-run, most likely) and a replica restarted
            wait_for(lambda: len(ticks(svc, sid)) >= 3)
            svc.kill_worker(svc.worker_processes[0])
            svc.start_worker()
            others[0].stop()
            try:
                others[0].start()
            except RuntimeError:
                print(others[0].logs()[-3000:])
                raise
        wait_for(lambda: len(ticks(svc, sid)) >= 9)
        svc.post(f"/api/v1/schedules/{sid}/pause")
        wait_for(lambda: svc.status("every-second")["status"] not in ("pending", "running"))
    finally:
        for other in others:
            other.stop()
    seen = ticks(svc, sid)
    gaps = {b[0] - a[0] for a, b in pairwise(seen)}
    assert gaps == {timedelta(seconds=1)}, gaps  # on the grid: none lost, none twice
    started = [job for _, outcome, job in seen if outcome == "started"]
    skipped = [due for due, outcome, _ in seen if outcome == "skipped"]
    runs = svc.get("/api/v1/scan/list", params={"page_size": 100}).json()["scans"]
    mine = [r["id"] for r in runs if r["scanId"] == "every-second"]
    assert sorted(mine) == sorted(started) and len(set(started)) == len(started)
    shown = svc.get(f"/api/v1/schedules/{sid}").json()
    assert shown["runsStarted"] == len(started) and shown["ticksSkipped"] == len(skipped)
    assert shown["lastRun"]["jobId"] == started[-1]
    assert all(r["status"] == "completed" for r in runs if r["id"] in mine[1:])
    modes = {r["mode"] for r in runs if r["scanId"] == "every-second"}
    assert "incremental" in modes  # the first read everything; the later ones what changed


def test_a_due_time_during_a_long_run_is_skipped(
    make_sandbox: Callable[..., SandboxProcess],
    make_service: Callable[..., ServiceProcess],
) -> None:
    """Runs of about three seconds every second: the due times between are skipped and
    counted, never queued, and no two runs of the scan id overlap."""
    portal = make_sandbox("--deals", "300", "--latency-ms", "700", *NO_LIMITS, *LATEST_ONLY)
    svc = make_service(portal, **FAST_CLOCK, HUBSPOT_BURST_LIMIT="1000")
    body = schedule(svc, "slow-runs", connection(svc, portal), every="1s").json()
    sid = body["scheduleId"]
    wait_for(lambda: sum(1 for t in ticks(svc, sid) if t[1] == "started") >= 2)
    svc.post(f"/api/v1/schedules/{sid}/pause")
    shown = svc.get(f"/api/v1/schedules/{sid}").json()
    seen = ticks(svc, sid)
    assert shown["ticksSkipped"] == sum(1 for t in seen if t[1] == "skipped") >= 2
    runs = svc.get("/api/v1/scan/list", params={"page_size": 100}).json()["scans"]
    spans = sorted(
        (moment(r["started_at"]), moment(r["completed_at"]))
        for r in runs
        if r["scanId"] == "slow-runs" and r["completed_at"]
    )
    assert all(a[1] <= b[0] for a, b in pairwise(spans))  # one at a time


@pytest.mark.slow  # about 20 s: `make test` runs it, the edit loop (test-fast) does not
@pytest.mark.mode_independent  # the scheduler's arithmetic; the distributed pass holds the claims
def test_after_downtime_a_schedule_runs_once(
    make_sandbox: Callable[..., SandboxProcess],
    make_service: Callable[..., ServiceProcess],
) -> None:
    """Down for five due times: back, it runs once, then takes the next time on the grid."""
    portal = make_sandbox("--deals", "40", *NO_LIMITS, *LATEST_ONLY)
    svc = make_service(portal, **FAST_CLOCK)
    body = schedule(svc, "down-a-while", connection(svc, portal), every="1s").json()
    sid = body["scheduleId"]
    wait_for(lambda: len(ticks(svc, sid)) >= 2)
    svc.stop()
    before = ticks(svc, sid)
    time.sleep(5)  # the downtime itself: what is measured is what it leaves behind
    svc.start()
    wait_for(lambda: len(ticks(svc, sid)) >= len(before) + 2)
    svc.post(f"/api/v1/schedules/{sid}/pause")
    after = ticks(svc, sid)[len(before) :]
    assert after[0][0] - before[-1][0] == timedelta(seconds=1)  # the first due time missed...
    # ... once: it starts a run, or finds the run the stop interrupted resumed (and is skipped)
    assert after[0][1] in ("started", "skipped")
    assert after[1][0] - after[0][0] >= timedelta(seconds=4)  # the others missed do not
    assert {b[0] - a[0] for a, b in pairwise(after[1:])} <= {timedelta(seconds=1)}  # the grid


@pytest.mark.mode_independent  # the scheduler's decisions; the claims are held in both modes above
def test_failures_back_off_and_a_refused_connection_pauses(
    make_sandbox: Callable[..., SandboxProcess],
    make_service: Callable[..., ServiceProcess],
) -> None:
    """Runs that fail push the next ones back (two intervals, then four); a grant HubSpot
    refuses pauses the schedule with the reason."""
    portal = make_sandbox("--deals", "40", "--token-lifetime", "1", *NO_LIMITS, *LATEST_ONLY)
    svc = make_service(portal, **FAST_CLOCK, HUBSPOT_RETRY_ATTEMPTS="2")
    grant = portal.http.post(f"{portal.url}/_sandbox/oauth/grant", json={}).json()
    reply = svc.post("/api/v1/connections", {"name": "oauth portal", "auth": grant})
    assert reply.status_code == 201, reply.text
    conn = reply.json()["connectionId"]
    portal.set_faults(1.0, ["500"])  # every call fails: so does every run
    sid = schedule(svc, "failing", conn, every="1s").json()["scheduleId"]
    wait_for(lambda: sum(1 for t in ticks(svc, sid) if t[1] == "started") >= 3)
    assert svc.get(f"/api/v1/schedules/{sid}").json()["consecutiveFailures"] >= 2
    started = [t[0] for t in ticks(svc, sid) if t[1] == "started"]
    gaps = [b - a for a, b in pairwise(started)]
    assert gaps[0] >= timedelta(seconds=2) and gaps[1] >= timedelta(seconds=4), gaps
    portal.set_faults(0.0)
    # the grant revoked: the next refresh is refused, the run fails, the schedule pauses
    portal.http.post(
        f"{portal.url}/_sandbox/oauth/revoke", json={"refresh_token": grant["refresh_token"]}
    ).raise_for_status()
    svc.post(f"/api/v1/schedules/{sid}/pause")
    svc.post(f"/api/v1/schedules/{sid}/resume")
    wait_for(lambda: svc.get(f"/api/v1/schedules/{sid}").json()["paused"])
    shown = svc.get(f"/api/v1/schedules/{sid}").json()
    assert "refused" in shown["pauseReason"] and "reconnect" in shown["pauseReason"]
    assert shown["nextRunAt"] is None


def test_a_feed_consumer_holds_each_runs_results(
    make_sandbox: Callable[..., SandboxProcess],
    make_service: Callable[..., ServiceProcess],
) -> None:
    """A schedule over a churning portal (creates, updates, archives, deletes, merges between its
    runs): a consumer of the changes feed, applying it after every run, holds exactly the results
    of the latest run, field by field."""
    portal = make_sandbox("--deals", "150", *NO_LIMITS, *LATEST_ONLY)
    svc = make_service(portal, **FAST_CLOCK)
    sid = schedule(svc, "fed", connection(svc, portal), every="1h").json()["scheduleId"]
    consumer = Consumer(svc, "fed")
    for round_ in range(4):
        wait_for(lambda n=round_: svc.get(f"/api/v1/schedules/{sid}").json()["runsStarted"] > n)
        wait_for(lambda: svc.status("fed")["status"] == "completed")
        svc.post(f"/api/v1/schedules/{sid}/pause")
        consumer.catch_up()
        consumer.holds_the_results()
        portal.churn(create=5, update=8, archive=3, delete=2, merge=2)
        svc.post(f"/api/v1/schedules/{sid}/resume")  # an interval's next run: at once
    runs = svc.get("/api/v1/scan/list", params={"page_size": 20}).json()["scans"]
    assert {r["mode"] for r in runs if r["scanId"] == "fed"} == {"full", "incremental"}
    assert len(consumer.runs) >= 4
