"""/stats and /health figures are the database's aggregates: with 10,000 stored runs on SQLite and
PostgreSQL they equal what the runs themselves add up to, read by a few aggregate statements that
never touch a run's config or checkpoint."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from hubspot_deals.jobs import stats
from hubspot_deals.store.database import session_factory
from hubspot_deals.store.jobs import ANY_ORG, OrgScope
from hubspot_deals.store.models import ScanJob

RUNS = 10_000
STATUSES = ("completed", "completed", "completed", "failed", "cancelled", "running", "pending")
CAUSES = ("auth", "rate_limit", "network", "hubspot", "internal", None)
AGGREGATES = ("count(", "sum(", "max(", "min(")


def stored_runs(now: datetime) -> list[dict[str, Any]]:
    """Runs over 40 days, of two organizations and none, with kilobytes of config each."""
    pick = random.Random(7)
    runs = []
    for n in range(RUNS):
        status = pick.choice(STATUSES)
        created = now - timedelta(seconds=pick.uniform(0, 40 * 86400))
        started = None if status == "pending" else created + timedelta(seconds=pick.uniform(0, 30))
        ended = (
            started + timedelta(seconds=pick.uniform(1, 900))
            if started is not None and status not in ("running", "pending")
            else None
        )
        runs.append(
            {
                "id": f"job_{n:08d}",
                "scan_id": f"scan-{n % 300}",
                "organization_id": pick.choice(("org_a", "org_b", None)),
                "status": status,
                "config": {"scanId": f"scan-{n % 300}", "notes": "x" * 2000},
                "checkpoint": {"after": n, "pad": "y" * 1000},
                "created_at": created,
                "updated_at": ended or created,
                "started_at": started,
                "completed_at": ended,
                "error_cause": pick.choice(CAUSES) if status == "failed" else None,
                "processed_items": pick.randrange(0, 20_000),
                "data_bytes": pick.randrange(0, 5_000_000),
            }
        )
    return runs


def expected(runs: list[dict[str, Any]], since: datetime, org: OrgScope, now: datetime) -> Any:
    """The figures the way they were computed before: every run read and added up in Python."""
    chosen = [
        r
        for r in runs
        if r["created_at"] >= since and (org is ANY_ORG or r["organization_id"] == org)
    ]
    statuses = Counter(r["status"] for r in chosen)
    durations = [
        (r["completed_at"] - r["started_at"]).total_seconds()
        for r in chosen
        if r["status"] == "completed"
    ]
    timed_deals = sum(r["processed_items"] for r in chosen if r["status"] == "completed")
    events = sorted(
        [(r["started_at"], 1) for r in chosen if r["started_at"]]
        + [(r["completed_at"] or now, -1) for r in chosen if r["started_at"]]
    )
    peak = running = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    causes = Counter(r["error_cause"] for r in chosen if r["status"] == "failed")
    return {
        "total": statuses["completed"] + statuses["failed"],  # the spec's: runs with an outcome
        "statuses": statuses,
        "deals": sum(r["processed_items"] for r in chosen),
        "mb": round(sum(r["data_bytes"] for r in chosen) / 1e6, 1),
        "average": round(sum(durations) / len(durations)),
        "fastest": round(min(durations)),
        "slowest": round(max(durations)),
        "rate": round(timed_deals / sum(durations), 1),
        "peak": peak,
        "other": causes["hubspot"] + causes["internal"] + causes[None],
        "auth": causes["auth"],
    }


async def test_stats_and_health_are_aggregates(engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    runs = stored_runs(now)
    sessions = session_factory(engine)
    async with sessions() as db:
        await db.execute(insert(ScanJob), runs)
        await db.commit()

    statements: list[str] = []
    event.listen(
        engine.sync_engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, *_: statements.append(statement.lower()),
    )
    async with sessions() as db:
        for period, days in (("24h", 1), ("7d", 7), ("30d", 30)):
            for org in (ANY_ORG, "org_a"):
                got = await stats.compute(db, period, org)
                want = expected(runs, now - timedelta(days=days), org, datetime.now(UTC))
                summary, perf = got["summary"], got["performance_metrics"]
                assert summary["total_scans"] == want["total"]
                assert summary["cancelled_scans"] == want["statuses"]["cancelled"]
                assert got["status_breakdown"] == {s: want["statuses"][s] for s in set(STATUSES)}
                assert summary["total_deals_extracted"] == want["deals"]
                assert summary["total_data_extracted_mb"] == want["mb"]
                assert summary["average_scan_duration_seconds"] == want["average"]
                assert perf["fastest_scan_seconds"] == want["fastest"]
                assert perf["slowest_scan_seconds"] == want["slowest"]
                assert perf["average_deals_per_second"] == pytest.approx(want["rate"], abs=0.11)
                assert perf["peak_concurrent_scans"] == want["peak"]
                assert got["error_analysis"]["other_errors"] == want["other"]
                assert got["error_analysis"]["authentication_failures"] == want["auth"]
        health = await stats.today(db)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    assert health == {
        "active_scans": sum(r["status"] in ("pending", "running") for r in runs),
        "completed_scans_today": sum(
            r["status"] == "completed" and r["created_at"] >= midnight for r in runs
        ),
        "total_deals_extracted_today": sum(
            r["processed_items"]
            for r in runs
            if r["status"] == "completed" and r["created_at"] >= midnight
        ),
    }
    assert 0 < len(statements) <= 6 * 4 + 2, len(statements)
    for statement in statements:
        assert any(word in statement for word in AGGREGATES), statement
        assert "scan_jobs.config" not in statement and "checkpoint" not in statement, statement
