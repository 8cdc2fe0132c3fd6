"""SQL for the property definitions each run used (``run_schemas``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.store.models import RunSchema, ScanJob


class SchemaRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of(self, job_id: str) -> list[dict[str, Any]] | None:
        """The definitions the run stored, None before it stored them (or for runs from before
        schemas were kept)."""
        found: list[dict[str, Any]] | None = await self.session.scalar(
            select(RunSchema.properties).where(RunSchema.job_id == job_id)
        )
        return found

    async def keep(self, job_id: str, properties: list[dict[str, Any]]) -> None:
        self.session.add(RunSchema(job_id=job_id, properties=properties))

    async def served_before(self, job: ScanJob) -> list[dict[str, Any]] | None:
        """The definitions of the run the scan id's results served when ``job`` started (its
        current completed run), None when there is none or it kept none."""
        query = select(RunSchema.properties).join(ScanJob, ScanJob.id == RunSchema.job_id)
        query = query.where(
            ScanJob.scan_id == job.scan_id,
            ScanJob.is_current,
            ScanJob.id != job.id,
            ScanJob.organization_id.is_(None)
            if job.organization_id is None
            else ScanJob.organization_id == job.organization_id,
        )
        found: list[dict[str, Any]] | None = await self.session.scalar(query.limit(1))
        return found
