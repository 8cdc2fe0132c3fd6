"""Incremental scans end to end, on portals that churn: after each run the stored set equals the
sandbox's ground truth field by field (associations and stage history included), and the change
counts equal what an independent comparison of the two runs' results finds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import DistributedBacking
from tests.conftest import LATEST_ONLY
from tests.e2e.conftest import DISTRIBUTED, ServiceProcess, new_service, service_env
from tests.e2e.test_extraction import (
    DEFAULT_PROPERTIES,
    KINDS,
    Expectation,
    assert_rows_match,
    comparable,
    utc,
)

SandboxFactory = Callable[..., SandboxProcess]
ServiceFactory = Callable[..., ServiceProcess]
GENEROUS = ("--rate-limit", "100000", "--search-rate", "1000")


def stage_spans(
    history: list[dict[str, Any]], pipeline: str, stages: dict[tuple[str, str], str]
) -> list[dict[str, Any]]:
    """The sandbox's raw dealstage history (newest first) as the stays a row must list."""
    by_stage = {s: label for (_, s), label in stages.items()}
    spans: list[dict[str, Any]] = []
    for entry in sorted(history, key=lambda e: e["timestamp"]):
        if spans and spans[-1]["stage"] == entry["value"]:
            continue
        if spans:
            spans[-1]["left_at"] = utc(entry["timestamp"])
        spans.append(
            {
                "stage": entry["value"],
                "stage_label": stages.get((pipeline, entry["value"]), by_stage.get(entry["value"])),
                "entered_at": utc(entry["timestamp"]),
                "left_at": None,
            }
        )
    return spans


def run(service: ServiceProcess, scan_id: str, token: str, **config: Any) -> dict[str, Any]:
    reply = service.start_scan(scan_id, token, **config)
    assert reply.status_code == 202, reply.text
    status = service.wait(scan_id, timeout=600)
    assert status["status"] == "completed", status
    return status


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["deal_id"]: {k: v for k, v in r.items() if k != "id"} for r in rows}


def expected_changes(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]], truth: dict[str, Any]
) -> dict[str, int]:
    """The change counts, from the two runs' results alone (and the truth for why rows left)."""
    added = updated = archived = removed = 0
    for deal_id, row in after.items():
        old = before.get(deal_id)
        if old is None:
            archived += row["is_archived"]
            added += not row["is_archived"]
        elif row["is_archived"] and not old["is_archived"]:
            archived += 1
        elif row != old:
            updated += 1
    for deal_id, old in before.items():
        if deal_id not in after:
            left_archived = (
                deal_id in truth and truth[deal_id]["archived"] and not old["is_archived"]
            )
            archived += left_archived
            removed += not left_archived
    return {
        "added": added,
        "updated": updated,
        "archived": archived,
        "removed": removed,
        "merged": 0,  # this churn merges nothing (test_all_properties.py holds merges)
    }


class Portal:
    """A churning sandbox portal with a service scanning it."""

    def __init__(self, sandbox: SandboxProcess, service: ServiceProcess) -> None:
        self.sandbox, self.service = sandbox, service

    def scan(self, scan_id: str, **config: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        status = run(self.service, scan_id, self.sandbox.token, **config)
        return status, self.service.all_deals(scan_id)

    def check(
        self, rows: list[dict[str, Any]], requested: list[str], archived: bool, history: bool
    ) -> Expectation:
        expect = Expectation(self.sandbox)
        ids = {i for i, d in expect.truth.items() if archived or not d["archived"]}
        stripped = [{k: v for k, v in r.items() if k != "stage_history"} for r in rows]
        assert_rows_match(stripped, expect, ids, requested, KINDS)
        if history:
            for row in rows:
                truth = expect.truth[row["deal_id"]]
                spans = stage_spans(
                    truth["stageHistory"], truth["properties"]["pipeline"], expect.stages
                )
                assert row["stage_history"] == spans, row["deal_id"]
        return expect


@pytest.fixture(scope="module")
def churning(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    """One churning portal and service for the file's tests, each on a scan id of its own: the
    tests run one after another, and each compares its runs with the truth as it then is."""
    sandbox = SandboxProcess.start("--deals", "3000", *GENEROUS, *LATEST_ONLY)
    backings: list[DistributedBacking] = []
    service = new_service(
        tmp_path_factory.mktemp("service"), service_env(sandbox), backings, distributed=DISTRIBUTED
    ).start()
    yield Portal(sandbox, service)
    service.stop()
    sandbox.stop()
    for backing in backings:
        backing.drop()


CONFIG = {"includeAssociations": True, "associationTypes": list(KINDS)}


class TestIncremental:
    def test_first_incremental_run_reads_everything_and_says_why(self, churning: Portal) -> None:
        status, rows = churning.scan("inc-first", mode="incremental", **CONFIG)
        sync = status["sync"]
        assert sync["requested_mode"] == "incremental" and sync["mode"] == "full"
        assert "No earlier completed run" in sync["reason"]
        assert sync["base_job_id"] is None and sync["high_water_mark"] is not None
        assert "changes" not in status["results"]
        churning.check(rows, DEFAULT_PROPERTIES, archived=False, history=False)

    def test_a_run_without_changes_succeeds_at_nothing(self, churning: Portal) -> None:
        """Nothing changed since the base run: it reads no deal, holds them all, and its
        success rate is 100%, not the 0% of a run that has done nothing yet."""
        _, rows = churning.scan("inc-quiet", **CONFIG)
        status, after = churning.scan("inc-quiet", mode="incremental", **CONFIG)
        assert status["sync"]["mode"] == "incremental"
        assert status["progress"]["processed_items"] == 0
        assert status["progress"]["success_rate"] == "100%"
        assert status["results"]["deals_held"] == len(after) == len(rows)

    @pytest.mark.slow
    @pytest.mark.parametrize("archived", [False, True], ids=["live", "with-archived"])
    def test_each_run_equals_the_truth_after_churn(self, churning: Portal, archived: bool) -> None:
        """Creates, updates, archives and hard deletes between runs: three incremental runs, each
        equal to the truth, with stage history, and change counts equal to the results' diff."""
        config = CONFIG | {"includeStageHistory": True, "filters": {"includeArchived": archived}}
        status, rows = churning.scan("inc-churn", **config)
        churning.check(rows, DEFAULT_PROPERTIES, archived, history=True)
        for round_ in range(3):
            changed = churning.sandbox.churn(create=25, update=40, archive=12, delete=6)["changed"]
            assert len(changed["delete"]) == 6
            status, after = churning.scan("inc-churn", mode="incremental", **config)
            sync = status["sync"]
            assert sync["mode"] == "incremental", (round_, sync)
            assert sync["base_job_id"] and sync["modified_since"] < sync["high_water_mark"]
            expect = churning.check(after, DEFAULT_PROPERTIES, archived, history=True)
            counts = expected_changes(by_id(rows), by_id(after), expect.truth)
            assert status["results"]["changes"] == counts, round_
            assert counts["added"] >= 1 and counts["updated"] >= 1 and counts["archived"] >= 1
            deleted_held = {i for i in changed["delete"] if i in by_id(rows)}
            assert counts["removed"] == len(deleted_held)  # hard deletes found and counted
            assert status["results"]["deals_held"] == len(after)
            # fewer deals read than the set holds: only what changed (and the overlap)
            assert status["results"]["deals_extracted"] < len(after) / 5
            rows = after

    def test_changes_while_a_run_reads(self, churning: Portal) -> None:
        """Deals change during incremental runs; the next run after the churn stops is exact."""
        churning.scan("inc-live", **CONFIG)
        stop = threading.Event()

        def churn() -> None:
            while not stop.is_set():
                churning.sandbox.churn(create=2, update=4, archive=1, delete=1)
                time.sleep(0.02)

        worker = threading.Thread(target=churn)
        worker.start()
        try:
            for _ in range(2):
                churning.scan("inc-live", mode="incremental", **CONFIG)
        finally:
            stop.set()
            worker.join()
        status, rows = churning.scan("inc-live", mode="incremental", **CONFIG)
        assert status["sync"]["mode"] == "incremental"
        churning.check(rows, DEFAULT_PROPERTIES, archived=False, history=False)

    def test_association_changes_need_refresh(self, churning: Portal) -> None:
        """A relinked contact does not modify the deal: refreshAssociations finds it."""
        churning.scan("inc-links", **CONFIG)
        relinked = churning.sandbox.churn(relink=15)["changed"]["relink"]
        status, rows = churning.scan(
            "inc-links", mode="incremental", refreshAssociations=True, **CONFIG
        )
        assert status["results"]["changes"] == {
            "added": 0,
            "updated": len(set(relinked)),
            "archived": 0,
            "removed": 0,
            "merged": 0,
        }
        churning.check(rows, DEFAULT_PROPERTIES, archived=False, history=False)

    def test_a_changed_config_runs_full(self, churning: Portal) -> None:
        churning.scan("inc-shape", **CONFIG)
        status, _ = churning.scan(
            "inc-shape", mode="incremental", properties=["dealname", "amount"], **CONFIG
        )
        assert status["sync"]["mode"] == "full" and "differ" in status["sync"]["reason"]

    def test_filtered_scan_drops_deals_that_leave_its_filter(self, churning: Portal) -> None:
        """Deals whose stage changed out of a filtered scan's stage leave its set (removed)."""
        expect = Expectation(churning.sandbox)
        stage = max(
            {d["properties"]["dealstage"] for d in expect.truth.values()},
            key=lambda s: sum(d["properties"]["dealstage"] == s for d in expect.truth.values()),
        )
        config = CONFIG | {"filters": {"dealstage": stage}}
        churning.scan("inc-filter", **config)
        churning.sandbox.churn(update=300)
        status, rows = churning.scan("inc-filter", mode="incremental", **config)
        expect = Expectation(churning.sandbox)
        ids = {
            i
            for i, d in expect.truth.items()
            if not d["archived"] and d["properties"]["dealstage"] == stage
        }
        assert_rows_match(rows, expect, ids, DEFAULT_PROPERTIES, KINDS)
        assert status["results"]["changes"]["removed"] > 0


#: More deals modified at one millisecond than one search pages through (10,000)
SAME_MS = 12_000


@pytest.mark.slow
def test_more_deals_than_a_search_holds_sharing_one_timestamp(
    make_sandbox: SandboxFactory, make_service: ServiceFactory
) -> None:
    """12,000 deals modified at the same millisecond (past search's 10,000 a query): read once
    each, no loop, nothing lost."""
    sandbox = make_sandbox("--deals", "15000", *GENEROUS)
    service = make_service(sandbox)
    run(service, "inc-same-ms", sandbox.token)
    at = int(time.time() * 1000)
    updated = set(sandbox.churn(update=SAME_MS, at=at)["changed"]["update"])
    assert len(updated) == SAME_MS
    sandbox.reset_stats()
    status = run(service, "inc-same-ms", sandbox.token, mode="incremental")
    assert status["results"]["changes"]["updated"] == SAME_MS
    searches = sum(
        sandbox.stats()["requests"]["POST /crm/objects/2026-09/{object_type}/search"].values()
    )
    assert searches < 2 * SAME_MS / 200 + 20  # each changed deal read about once
    rows = service.all_deals("inc-same-ms")
    expect = Expectation(sandbox)
    live = {i for i, d in expect.truth.items() if not d["archived"]}
    assert {r["deal_id"] for r in rows} == live
    for row in rows:
        if row["deal_id"] in updated:
            assert comparable(row) == expect.row(row["deal_id"], DEFAULT_PROPERTIES, None)


@pytest.mark.slow
@pytest.mark.mode_independent  # it builds an embedded service in either pass
def test_incremental_runs_resume_after_kills(
    make_sandbox: SandboxFactory, make_service: ServiceFactory
) -> None:
    """The embedded service SIGKILLed in the middle of incremental runs (whatever phase they are
    in): each run resumes from its checkpoint and ends equal to the truth, its counts exact."""
    portal = make_sandbox(
        "--deals", "3000", "--rate-limit", "60", "--search-rate", "2", "--latency-ms", "20"
    )
    service = make_service(
        portal,
        distributed=False,
        SCAN_LEASE_SECONDS="3",
        HUBSPOT_BURST_LIMIT="60",
        HUBSPOT_SEARCH_RATE="2",
    )
    churning = Portal(portal, service)
    _, rows = churning.scan("inc-kill", **CONFIG)
    for delay in (0.3, 1.0, 2.0):
        portal.churn(create=60, update=250, archive=30, delete=10)
        assert service.start_scan("inc-kill", portal.token, mode="incremental", **CONFIG)
        service.wait("inc-kill", until=lambda s: s["status"] != "pending")
        time.sleep(delay)
        service.stop(kill=True)
        service.start()
        status = service.wait("inc-kill", timeout=300)
        assert status["status"] == "completed" and status["sync"]["mode"] == "incremental"
        after = service.all_deals("inc-kill")
        expect = churning.check(after, DEFAULT_PROPERTIES, archived=False, history=False)
        assert status["results"]["changes"] == expected_changes(
            by_id(rows), by_id(after), expect.truth
        )
        rows = after
    assert service.logs().count('"resumed": true') >= 2
