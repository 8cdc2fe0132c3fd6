"""SQL for schedules and the due times they claimed (``schedule_ticks``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.store.jobs import ACTIVE, OrgScope, scoped
from hubspot_deals.store.models import ScanJob
from hubspot_deals.store.sync_tables import Schedule, ScheduleTick


class ScheduleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, schedule: Schedule) -> None:
        self.session.add(schedule)

    async def get(self, schedule_id: str, org: OrgScope) -> Schedule | None:
        query = select(Schedule).where(Schedule.id == schedule_id)
        return (
            await self.session.scalars(scoped(query, org, Schedule.organization_id))
        ).one_or_none()

    async def listed(self, org: OrgScope) -> Sequence[Schedule]:
        query = scoped(select(Schedule), org, Schedule.organization_id)
        return (await self.session.scalars(query.order_by(Schedule.created_at.desc()))).all()

    async def delete(self, schedule_id: str) -> None:
        await self.session.execute(delete(Schedule).where(Schedule.id == schedule_id))

    async def due(self, now: datetime, limit: int) -> Sequence[str]:
        """Ids of the schedules whose due time has come, most overdue first."""
        query = (
            select(Schedule.id)
            .where(Schedule.paused.is_(False), Schedule.next_run_at <= now)
            .order_by(Schedule.next_run_at)
            .limit(limit)
        )
        return (await self.session.scalars(query)).all()

    async def locked(self, schedule_id: str) -> Schedule | None:
        """The schedule, its row locked for this transaction (PostgreSQL: another replica's
        claim of it waits; SQLite serialises writers anyway)."""
        query = select(Schedule).where(Schedule.id == schedule_id).with_for_update()
        return (await self.session.scalars(query)).one_or_none()

    async def advance(self, schedule_id: str, due_at: datetime, **values: Any) -> bool:
        """Move a schedule past ``due_at`` (with ``values``) only if it is still at it: of two
        processes that claimed one due time, one moves it."""
        moved = await self.session.execute(
            update(Schedule)
            .where(Schedule.id == schedule_id, Schedule.next_run_at == due_at)
            .values(**values)
        )
        return bool(getattr(moved, "rowcount", 0))

    def tick(self, tick: ScheduleTick) -> None:
        """The due time's record: its primary key (schedule, due time) refuses a second."""
        self.session.add(tick)

    async def finished(
        self, schedule_id: str, limit: int, since: datetime | None = None
    ) -> Sequence[str]:
        """The statuses of the schedule's last ``limit`` finished runs (due since ``since``),
        newest first."""
        query = (
            select(ScanJob.status)
            .join(ScheduleTick, ScheduleTick.job_id == ScanJob.id)
            .where(ScheduleTick.schedule_id == schedule_id, ScanJob.status.not_in(ACTIVE))
            .order_by(ScheduleTick.due_at.desc())
            .limit(limit)
        )
        if since is not None:
            query = query.where(ScheduleTick.due_at >= since)
        return (await self.session.scalars(query)).all()

    async def ticks(self, schedule_id: str, limit: int = 1000) -> Sequence[ScheduleTick]:
        query = (
            select(ScheduleTick)
            .where(ScheduleTick.schedule_id == schedule_id)
            .order_by(ScheduleTick.due_at.desc())
            .limit(limit)
        )
        return (await self.session.scalars(query)).all()
