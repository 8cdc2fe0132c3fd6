"""The /stats, /health and /metrics figures: the database's aggregates, shaped as the spec shows."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.metrics import StoredFigures
from hubspot_deals.store.figures import period_figures, today_figures
from hubspot_deals.store.jobs import JobRepository, OrgScope
from hubspot_deals.store.models import JobStatus

#: the spec's order of the status breakdown
BREAKDOWN_ORDER = (
    JobStatus.COMPLETED,
    JobStatus.FAILED,
    JobStatus.RUNNING,
    JobStatus.PENDING,
    JobStatus.CANCELLED,
)
PERIODS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
_CAUSES = {
    "auth": "authentication_failures",
    "rate_limit": "rate_limit_errors",
    "network": "network_timeouts",
}


def percent(part: int, whole: int) -> str:
    """``99.88%``: two decimals at most, trailing zeros left out; how every success rate is
    written (status, list and stats)."""
    if not whole:
        return "0%"
    return f"{100 * part / whole:.2f}".rstrip("0").rstrip(".") + "%"


async def compute(session: AsyncSession, period: str, org: OrgScope) -> dict[str, Any]:
    now = datetime.now(UTC)
    figures = await period_figures(session, now - PERIODS[period], org, now)
    statuses = {status: f.jobs for status, f in figures.by_status.items()}
    completed, failed = statuses.get(JobStatus.COMPLETED, 0), statuses.get(JobStatus.FAILED, 0)
    errors: Counter[str] = Counter()
    for cause, count in figures.failures.items():
        errors[_CAUSES.get(cause or "", "other_errors")] += count
    timed = figures.timed_runs
    return {
        "period": period,
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "summary": {
            "total_scans": completed + failed,
            "successful_scans": completed,
            "failed_scans": failed,
            "cancelled_scans": statuses.get(JobStatus.CANCELLED, 0),
            "success_rate": percent(completed, completed + failed),
            "total_deals_extracted": sum(f.deals for f in figures.by_status.values()),
            "average_scan_duration_seconds": round(figures.timed_seconds / timed) if timed else 0,
            "total_data_extracted_mb": round(
                sum(f.data_bytes for f in figures.by_status.values()) / 1_000_000, 1
            ),
        },
        "status_breakdown": {s.value: statuses.get(s, 0) for s in BREAKDOWN_ORDER},
        "performance_metrics": {
            "fastest_scan_seconds": round(figures.fastest_seconds),
            "slowest_scan_seconds": round(figures.slowest_seconds),
            "average_deals_per_second": round(figures.timed_deals / figures.timed_seconds, 1)
            if figures.timed_seconds
            else 0.0,
            "peak_concurrent_scans": figures.peak_concurrent,
        },
        "error_analysis": {name: errors[name] for name in (*_CAUSES.values(), "other_errors")},
    }


async def database_ping(session: AsyncSession) -> None:
    """One round trip (/health's database check)."""
    await session.execute(text("SELECT 1"))


async def today(session: AsyncSession) -> dict[str, int]:
    """active_scans, completed_scans_today, total_deals_extracted_today for /health."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    active, completed, deals = await today_figures(session, midnight)
    return {
        "active_scans": active,
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
