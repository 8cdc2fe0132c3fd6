"""The changes feed end to end, in both modes: a consumer that applies ``GET /scan/changes`` after
every run holds exactly the results of the latest completed run, field by field, through full and
incremental runs over a churning portal (creates, updates, archives, deletes, merges), a full
re-run, a run still going, a cancelled run and a failed one (whose events never show); and one
that reads the whole feed at the end holds them too."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from hubspot_deals.sandbox.process import SandboxProcess
from tests.conftest import NO_LIMITS
from tests.e2e.conftest import ServiceProcess

SandboxFactory = Callable[..., SandboxProcess]
ServiceFactory = Callable[..., ServiceProcess]
KINDS = ("added", "updated", "archived", "removed", "merged")
#: A stall fault holds every answer this long: a run slow enough to be caught mid-way.
STALL = 0.4


class Consumer:
    """What a client of the feed keeps: the deals by id, and the cursor."""

    def __init__(self, service: ServiceProcess, scan_id: str) -> None:
        self.service, self.scan_id = service, scan_id
        self.deals: dict[str, dict[str, Any]] = {}
        self.cursor: str | None = None
        self.last_seq = 0
        self.runs: set[str] = set()  # the runs whose events it applied

    def page(self, limit: int = 97) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit} | ({"cursor": self.cursor} if self.cursor else {})
        reply = self.service.get(f"/api/v1/scan/changes/{self.scan_id}", params=params)
        assert reply.status_code == 200, reply.text
        return dict(reply.json())

    def catch_up(self) -> list[dict[str, Any]]:
        """Every new event, applied in order; the events."""
        events: list[dict[str, Any]] = []
        while True:
            body = self.page()
            assert body["scanId"] == self.scan_id
            for event in body["changes"]:
                assert event["seq"] > self.last_seq and event["kind"] in KINDS, event
                self.last_seq = event["seq"]
                self.runs.add(event["runId"])
                deal = event["deal"]
                if deal is None:
                    assert event["kind"] in ("archived", "removed", "merged"), event
                    assert self.deals.pop(event["deal_id"], None) is not None, event
                else:
                    assert deal["deal_id"] == event["deal_id"] and "id" not in deal, event
                    self.deals[event["deal_id"]] = deal
            events += body["changes"]
            assert body["next_cursor"]
            self.cursor = body["next_cursor"]
            if not body["has_more"]:
                return events

    def holds_the_results(self) -> None:
        rows = self.service.all_deals(self.scan_id)
        expected = {r["deal_id"]: {k: v for k, v in r.items() if k != "id"} for r in rows}
        assert self.deals.keys() == expected.keys()
        for deal_id, row in expected.items():
            assert self.deals[deal_id] == row, deal_id


class Portal:
    def __init__(self, sandbox: SandboxProcess, service: ServiceProcess) -> None:
        self.sandbox, self.service = sandbox, service

    def start(self, scan_id: str, **config: Any) -> None:
        reply = self.service.start_scan(scan_id, self.sandbox.token, **config)
        assert reply.status_code == 202, reply.text

    def scan(self, scan_id: str, **config: Any) -> dict[str, Any]:
        self.start(scan_id, **config)
        status = self.service.wait(scan_id, timeout=300)
        assert status["status"] == "completed", status
        return status

    def caught_mid_run(self, scan_id: str, **config: Any) -> dict[str, Any]:
        """An incremental run slowed by stalls, once it has stored changes (and their events)."""
        self.sandbox.set_faults(1.0, ["stall"])
        self.start(scan_id, mode="incremental", **config)
        status = self.service.wait(
            scan_id,
            timeout=120,
            until=lambda s: (
                s["status"] != "pending"
                and (s["progress"]["processed_items"] > 0 or s["status"] != "running")
            ),
        )
        assert status["status"] == "running", status
        return status


@pytest.fixture
def churning(make_sandbox: SandboxFactory, make_service: ServiceFactory) -> Portal:
    sandbox = make_sandbox("--deals", "300", "--stall-seconds", str(STALL), *NO_LIMITS)
    return Portal(sandbox, make_service(sandbox))


def counts(events: list[dict[str, Any]]) -> dict[str, int]:
    found = Counter(e["kind"] for e in events)
    return {kind: found[kind] for kind in KINDS}


LIVE = {"includeAssociations": True, "associationTypes": ["contacts", "companies"]}
WITH_ARCHIVED = LIVE | {"includeStageHistory": True, "filters": {"includeArchived": True}}
CONFIGS = {"feed-live": LIVE, "feed-archived": WITH_ARCHIVED}


def test_applying_the_feed_rebuilds_the_results(churning: Portal) -> None:
    """After every run, the events applied in order equal the results; each run's events are its
    change counts; runs that did not complete add nothing."""
    consumers = {scan_id: Consumer(churning.service, scan_id) for scan_id in CONFIGS}
    for scan_id, config in CONFIGS.items():  # the first run: every deal added
        status = churning.scan(scan_id, **config)
        consumer = consumers[scan_id]
        events = consumer.catch_up()
        assert {e["runId"] for e in events} == {status["id"]}
        archived = status["results"]["archived_deals"]
        assert counts(events) == counts([]) | {
            "added": len(events) - archived,
            "archived": archived,
        }
        assert len(events) == status["results"]["deals_held"]
        consumer.holds_the_results()
        quiet = consumer.page()  # nothing new: the same cursor back
        assert quiet["changes"] == [] and quiet["next_cursor"] == consumer.cursor

    def churn() -> None:
        churning.sandbox.churn(create=8, update=12, archive=4, delete=3, merge=2)

    for round_ in range(2):  # incremental runs: the events are the change counts
        churn()
        for scan_id, config in CONFIGS.items():
            status = churning.scan(scan_id, mode="incremental", **config)
            assert status["sync"]["mode"] == "incremental", status["sync"]
            events = consumers[scan_id].catch_up()
            assert {e["runId"] for e in events} == {status["id"]}
            assert counts(events) == status["results"]["changes"], (round_, scan_id)
            assert all(counts(events).values()), (round_, scan_id, counts(events))
            consumers[scan_id].holds_the_results()

    churn()
    for scan_id, config in CONFIGS.items():  # a full re-run compares itself with the served run
        status = churning.scan(scan_id, **config)
        assert status["sync"]["mode"] == "full"
        events = consumers[scan_id].catch_up()
        assert {e["runId"] for e in events} == {status["id"]}
        found = counts(events)
        assert found["added"] >= 8 and found["updated"] >= 12 and found["merged"] == 2, found
        if scan_id == "feed-archived":
            assert found["archived"] >= 4 and found["removed"] >= 3, found
        else:  # a deal gone from a full run may have been archived or deleted: removed
            assert found["archived"] == 0 and found["removed"] >= 7, found
        consumers[scan_id].holds_the_results()

    # a run under way: its stored changes are not served yet, and are once it completes
    churn()
    running = churning.caught_mid_run("feed-live", **LIVE)
    live = consumers["feed-live"]
    before = live.cursor
    assert live.catch_up() == [] and live.cursor == before
    churning.sandbox.set_faults(0)
    status = churning.service.wait("feed-live", timeout=120)
    assert status["status"] == "completed" and status["id"] == running["id"]
    events = live.catch_up()
    assert {e["runId"] for e in events} == {status["id"]}
    assert counts(events) == status["results"]["changes"]
    live.holds_the_results()

    # a cancelled run and a failed one, each after storing changes: never served
    unfinished = []
    churn()
    unfinished.append(churning.caught_mid_run("feed-live", **LIVE)["id"])
    assert churning.service.post("/api/v1/scan/cancel/feed-live").status_code == 200
    assert churning.service.wait("feed-live")["status"] == "cancelled"
    churn()
    unfinished.append(churning.caught_mid_run("feed-live", **LIVE)["id"])
    churning.sandbox.set_faults(1.0, ["500"])
    assert churning.service.wait("feed-live", timeout=120)["status"] == "failed"
    churning.sandbox.set_faults(0)
    assert live.catch_up() == []
    status = churning.scan("feed-live", mode="incremental", **LIVE)
    events = live.catch_up()
    assert {e["runId"] for e in events} == {status["id"]}
    assert counts(events) == status["results"]["changes"]
    assert counts(events)["added"] > 8  # both churns the unfinished runs saw, seen again
    assert not set(unfinished) & live.runs
    live.holds_the_results()

    # read from the first event long after the first runs were superseded: the same results
    for scan_id in CONFIGS:
        replay = Consumer(churning.service, scan_id)
        replay.catch_up()
        replay.holds_the_results()

    # a cursor is this scan id's: another's, or a made-up one, is refused
    for cursor in (consumers["feed-archived"].cursor, "bm90LWEtY3Vyc29y", "%%%"):
        reply = churning.service.get("/api/v1/scan/changes/feed-live", params={"cursor": cursor})
        assert reply.status_code == 400, reply.text
        assert reply.json()["errors"] == {"cursor": "Not a cursor of this scan's changes feed"}


@pytest.mark.mode_independent  # the API's answers to bad input; stored the same in both modes
def test_refusals(service: ServiceProcess) -> None:
    """An unknown scan id is 404 SCAN_NOT_FOUND; the limit is 1 to 1,000 (400, keyed limit)."""
    reply = service.get("/api/v1/scan/changes/never-started")
    assert reply.status_code == 404 and reply.json()["error_code"] == "SCAN_NOT_FOUND"
    for limit in (0, 1001):
        reply = service.get("/api/v1/scan/changes/never-started", params={"limit": limit})
        assert reply.status_code == 400 and "limit" in reply.json()["errors"], reply.text
