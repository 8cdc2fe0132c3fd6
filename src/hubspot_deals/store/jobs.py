"""SQL for scan jobs. Callers own the transaction: nothing here commits.

``org`` arguments scope a query to one organization; ``ANY_ORG`` leaves it unscoped (the service runs open,
so a scan id is unique across the service).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.store.models import ScanJob

ACTIVE: Final = ("pending", "running")
FINISHED: Final = ("completed", "failed", "cancelled")


class _AnyOrg:
    def __repr__(self) -> str:
        return "ANY_ORG"


ANY_ORG: Final = _AnyOrg()
OrgScope = str | None | _AnyOrg


def _scoped(query: Select[Any], org: OrgScope) -> Select[Any]:
    if isinstance(org, _AnyOrg):
        return query
    return query.where(
        ScanJob.organization_id.is_(None) if org is None else ScanJob.organization_id == org
    )


@dataclass(frozen=True)
class JobPage:
    jobs: Sequence[ScanJob]
    total: int


class JobRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, job: ScanJob) -> None:
        self.session.add(job)

    async def get(self, job_id: str) -> ScanJob | None:
        return await self.session.get(ScanJob, job_id)

    async def newest(self, scan_id: str, org: OrgScope = ANY_ORG) -> ScanJob | None:
        query = _scoped(select(ScanJob).where(ScanJob.scan_id == scan_id), org)
        return (
            await self.session.scalars(query.order_by(ScanJob.created_at.desc()).limit(1))
        ).first()

    async def active(self, scan_id: str, org: OrgScope = ANY_ORG) -> ScanJob | None:
        query = _scoped(
            select(ScanJob).where(ScanJob.scan_id == scan_id, ScanJob.status.in_(ACTIVE)), org
        )
        return (await self.session.scalars(query.limit(1))).first()

    async def serving(self, scan_id: str, org: OrgScope = ANY_ORG) -> ScanJob | None:
        """The job whose deals the results endpoint serves: the current completed run, else the newest."""
        query = _scoped(select(ScanJob).where(ScanJob.scan_id == scan_id, ScanJob.is_current), org)
        current = (await self.session.scalars(query.limit(1))).first()
        return current or await self.newest(scan_id, org)

    async def count_active(self, org: OrgScope) -> int:
        query = _scoped(
            select(func.count()).select_from(ScanJob).where(ScanJob.status.in_(ACTIVE)), org
        )
        return int(await self.session.scalar(query) or 0)

    async def unfinished(self) -> Sequence[str]:
        """Jobs a stopped process left pending or running, oldest first."""
        query = select(ScanJob.id).where(ScanJob.status.in_(ACTIVE)).order_by(ScanJob.created_at)
        return (await self.session.scalars(query)).all()

    async def page(
        self,
        *,
        org: OrgScope,
        status: str | None,
        sort_by: str,
        descending: bool,
        offset: int,
        limit: int,
    ) -> JobPage:
        query = _scoped(select(ScanJob), org)
        if status:
            query = query.where(ScanJob.status == status)
        total = int(
            await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        )
        column = ScanJob.completed_at if sort_by == "completed_at" else ScanJob.created_at
        order = column.desc() if descending else column.asc()
        tiebreak = ScanJob.id.desc() if descending else ScanJob.id.asc()
        if sort_by == "completed_at":  # unfinished scans last either way
            query = query.order_by(column.is_(None), order, tiebreak)
        else:
            query = query.order_by(order, tiebreak)
        jobs = (await self.session.scalars(query.offset(offset).limit(limit))).all()
        return JobPage(jobs, total)

    async def since(self, moment: datetime, org: OrgScope) -> Sequence[ScanJob]:
        """Jobs created since ``moment`` (stats aggregate them)."""
        query = _scoped(select(ScanJob).where(ScanJob.created_at >= moment), org)
        return (await self.session.scalars(query)).all()

    async def update_if_running(self, job_id: str, **values: Any) -> bool:
        """Apply ``values`` only while the job still runs; False means it was cancelled meanwhile."""
        result = await self.session.execute(
            update(ScanJob)
            .where(ScanJob.id == job_id, ScanJob.status == "running")
            .values(**values)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def cancel(self, job_id: str, moment: datetime) -> bool:
        """Cancel the job if it is still pending or running, erasing its token; False otherwise."""
        result = await self.session.execute(
            update(ScanJob)
            .where(ScanJob.id == job_id, ScanJob.status.in_(ACTIVE))
            .values(
                status="cancelled",
                cancel_requested=True,
                completed_at=moment,
                updated_at=moment,
                token_encrypted=None,
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def make_current(self, job: ScanJob) -> list[str]:
        """Mark ``job`` the served run of its scan id; returns the runs it supersedes."""
        query = _scoped(
            select(ScanJob.id).where(
                ScanJob.scan_id == job.scan_id, ScanJob.id != job.id, ScanJob.is_current
            ),
            job.organization_id,
        )
        superseded = list((await self.session.scalars(query)).all())
        if superseded:
            await self.session.execute(
                update(ScanJob).where(ScanJob.id.in_(superseded)).values(is_current=False)
            )
        job.is_current = True
        return superseded
