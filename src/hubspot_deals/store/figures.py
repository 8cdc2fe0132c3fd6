"""Aggregates over scan jobs, asked of the database: /stats, /health and the dashboard's polls
read a handful of rows however many runs are stored (never the runs themselves, whose configs
and checkpoints weigh kilobytes each)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.store.jobs import ACTIVE, AnySelect, OrgScope, scoped
from hubspot_deals.store.models import JobStatus, ScanJob, UTCDateTime


@dataclass(frozen=True)
class StatusFigures:
    jobs: int = 0
    deals: int = 0
    data_bytes: int = 0


@dataclass(frozen=True)
class PeriodFigures:
    """What the runs created in a period add up to."""

    by_status: dict[str, StatusFigures] = field(default_factory=dict)
    #: failed runs by ``error_cause`` (None: a cause of no family)
    failures: dict[str | None, int] = field(default_factory=dict)
    #: completed runs with both times: how many, their seconds (sum, min, max), their deals
    timed_runs: int = 0
    timed_seconds: float = 0.0
    fastest_seconds: float = 0.0
    slowest_seconds: float = 0.0
    timed_deals: int = 0
    #: the most runs that were running at one moment
    peak_concurrent: int = 0


def _seconds(session: AsyncSession) -> ColumnElement[Any]:
    """A completed run's duration in seconds, in the dialect's own date arithmetic."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", ScanJob.completed_at - ScanJob.started_at)
    return (func.julianday(ScanJob.completed_at) - func.julianday(ScanJob.started_at)) * 86400.0


async def period_figures(
    session: AsyncSession, since: datetime, org: OrgScope, now: datetime
) -> PeriodFigures:
    """Four aggregate statements over the runs created since ``since``."""

    def in_period(query: AnySelect) -> AnySelect:
        return _in_period(query, since, org)

    by_status = {
        status: StatusFigures(int(jobs), int(deals or 0), int(data or 0))
        for status, jobs, deals, data in (
            await session.execute(
                in_period(
                    select(
                        ScanJob.status,
                        func.count(),
                        func.sum(ScanJob.processed_items),
                        func.sum(ScanJob.data_bytes),
                    )
                ).group_by(ScanJob.status)
            )
        ).tuples()
    }
    failures = {
        cause: int(count)
        for cause, count in (
            await session.execute(
                in_period(
                    select(ScanJob.error_cause, func.count()).where(
                        ScanJob.status == JobStatus.FAILED
                    )
                ).group_by(ScanJob.error_cause)
            )
        ).tuples()
    }
    seconds = _seconds(session)
    timed = (
        await session.execute(
            in_period(
                select(
                    func.count(),
                    func.sum(seconds),
                    func.min(seconds),
                    func.max(seconds),
                    func.sum(ScanJob.processed_items),
                ).where(
                    ScanJob.status == JobStatus.COMPLETED,
                    ScanJob.started_at.is_not(None),
                    ScanJob.completed_at.is_not(None),
                )
            )
        )
    ).one()
    return PeriodFigures(
        by_status,
        failures,
        timed_runs=int(timed[0]),
        timed_seconds=float(timed[1] or 0),
        fastest_seconds=float(timed[2] or 0),
        slowest_seconds=float(timed[3] or 0),
        timed_deals=int(timed[4] or 0),
        peak_concurrent=await _peak_concurrent(session, since, org, now),
    )


def _in_period(query: AnySelect, since: datetime, org: OrgScope) -> AnySelect:
    return scoped(query.where(ScanJob.created_at >= since), org)


async def _peak_concurrent(
    session: AsyncSession, since: datetime, org: OrgScope, now: datetime
) -> int:
    """The running count's maximum over every start (+1) and end (-1) in time order, an end
    before a start at the same moment; a run still going ends ``now``."""
    started = ScanJob.started_at.is_not(None)
    events = union_all(
        _in_period(
            select(ScanJob.started_at.label("at"), literal(1).label("step")).where(started),
            since,
            org,
        ),
        _in_period(
            select(
                func.coalesce(ScanJob.completed_at, literal(now, UTCDateTime())).label("at"),
                literal(-1).label("step"),
            ).where(started),
            since,
            org,
        ),
    ).subquery()
    running = (
        select(
            func.sum(events.c.step)
            .over(order_by=(events.c.at, events.c.step), rows=(None, 0))
            .label("running")
        )
    ).subquery()
    return int(await session.scalar(select(func.max(running.c.running))) or 0)


async def today_figures(session: AsyncSession, midnight: datetime) -> tuple[int, int, int]:
    """Active runs (any age), and runs created since ``midnight`` that completed with their
    deals: /health's three figures, over every organization."""
    active = await session.scalar(
        select(func.count()).select_from(ScanJob).where(ScanJob.status.in_(ACTIVE))
    )
    completed, deals = (
        await session.execute(
            select(func.count(), func.sum(ScanJob.processed_items)).where(
                ScanJob.created_at >= midnight, ScanJob.status == JobStatus.COMPLETED
            )
        )
    ).one()
    return int(active or 0), int(completed), int(deals or 0)
