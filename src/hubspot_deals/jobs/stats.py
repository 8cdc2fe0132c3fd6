"""The /stats, /health and /metrics figures, computed from stored jobs."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.metrics import StoredFigures
from hubspot_deals.store.jobs import ACTIVE, ANY_ORG, JobRepository, OrgScope

PERIODS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
_CAUSES = {
    "auth": "authentication_failures",
    "rate_limit": "rate_limit_errors",
    "network": "network_timeouts",
}


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "0%"


async def compute(session: AsyncSession, period: str, org: OrgScope) -> dict[str, Any]:
    now = datetime.now(UTC)
    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    durations: list[float] = []
    deals = deals_completed = 0
    data_bytes = 0
    intervals: list[tuple[datetime, datetime]] = []
    for job in await JobRepository(session).since(now - PERIODS[period], org):
        statuses[job.status] += 1
        deals += job.processed_items
        data_bytes += job.data_bytes
        if job.status == "failed":
            errors[_CAUSES.get(job.error_cause or "", "other_errors")] += 1
        if job.started_at:
            intervals.append((job.started_at, job.completed_at if job.completed_at else now))
        if job.status == "completed" and job.started_at and job.completed_at:
            durations.append((job.completed_at - job.started_at).total_seconds())
            deals_completed += job.processed_items
    total = sum(statuses.values())
    finished = statuses["completed"] + statuses["failed"]
    return {
        "period": period,
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "summary": {
            "total_scans": total,
            "successful_scans": statuses["completed"],
            "failed_scans": statuses["failed"],
            "success_rate": _percent(statuses["completed"], finished),
            "total_deals_extracted": deals,
            "average_scan_duration_seconds": round(sum(durations) / len(durations))
            if durations
            else 0,
            "total_data_extracted_mb": round(data_bytes / 1_000_000, 1),
        },
        "status_breakdown": {
            s: statuses[s] for s in ("completed", "failed", "running", "pending", "cancelled")
        },
        "performance_metrics": {
            "fastest_scan_seconds": round(min(durations)) if durations else 0,
            "slowest_scan_seconds": round(max(durations)) if durations else 0,
            "average_deals_per_second": round(deals_completed / sum(durations), 1)
            if sum(durations)
            else 0.0,
            "peak_concurrent_scans": _peak(intervals),
        },
        "error_analysis": {name: errors[name] for name in (*_CAUSES.values(), "other_errors")},
    }


def _peak(intervals: list[tuple[datetime, datetime]]) -> int:
    events = sorted(
        [(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals],
        key=lambda e: (e[0], e[1]),
    )
    peak = current = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak


async def today(session: AsyncSession) -> dict[str, int]:
    """active_scans, completed_scans_today, total_deals_extracted_today for /health."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    jobs = JobRepository(session)
    completed = deals = 0
    for job in await jobs.since(midnight, ANY_ORG):
        if job.status == "completed":
            completed += 1
            deals += job.processed_items
    return {
        "active_scans": await jobs.count(ACTIVE, ANY_ORG),
        "completed_scans_today": completed,
        "total_deals_extracted_today": deals,
    }


async def stored_figures(session: AsyncSession) -> StoredFigures:
    """The figures /metrics reads from the database: every job, every organization, all time
    (with a period covering them all, /stats says the same)."""
    totals = await JobRepository(session).totals()
    return StoredFigures(
        scans={status: jobs for status, (jobs, _) in totals.items()},
        deals_extracted=sum(deals for _, deals in totals.values()),
    )
