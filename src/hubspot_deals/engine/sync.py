"""Which way a run reads HubSpot: every deal (full), or what changed since an earlier completed run
of its scan id (incremental), decided once when the run first starts and kept with the job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from hubspot_deals.engine.context import ScanContext
from hubspot_deals.engine.schema import RunSchema
from hubspot_deals.engine.spec import spec_of
from hubspot_deals.store.jobs import JobRepository, Lease
from hubspot_deals.store.models import JobStatus, ScanJob

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SyncPlan:
    mode: str  # "full" or "incremental"
    base_job_id: str | None = None
    since: datetime | None = None


async def plan_sync(
    ctx: ScanContext, job: ScanJob, lease: Lease, started: datetime, schema: RunSchema
) -> SyncPlan:
    """How this run reads HubSpot, decided once when it first starts and kept with the job (a
    resumed run goes on as it began). ``started`` becomes the run's high-water mark."""
    if job.sync_mode is not None:
        return SyncPlan(job.sync_mode, job.base_job_id, job.modified_since)
    mode, reason, base = "full", None, None
    if spec_of(job).incremental:
        async with ctx.sessions() as session:
            base = await JobRepository(session).serving(job.scan_id, job.organization_id)
        if base is None or base.status != JobStatus.COMPLETED or base.id == job.id:
            reason = "No earlier completed run of this scan to start from: it reads every deal."
            base = None
        elif base.high_water_mark is None:
            reason = (
                "The last completed run has no high-water mark (it ran before incremental "
                "scans existed): this run reads every deal."
            )
            base = None
        elif base.spec is None or not spec_of(job).same_shape(spec_of(base)):
            reason = (
                "The properties, associations, filters or stage history asked for differ from "
                "the last completed run's: this run reads every deal."
            )
            base = None
        elif schema.names_changed:
            reason = (
                "The portal's properties changed since the last completed run (some the scan reads "
                "were added or removed): this run reads every deal, so every row holds exactly "
                "the current properties."
            )
            base = None
        else:
            mode = "incremental"
    since = (
        base.high_water_mark - timedelta(seconds=ctx.overlap_seconds)
        if base is not None and base.high_water_mark is not None
        else None
    )
    async with ctx.sessions() as session:
        await JobRepository(session).update_if_running(
            job.id,
            lease,
            sync_mode=mode,
            sync_reason=reason,
            base_job_id=base.id if base else None,
            modified_since=since,
            high_water_mark=started,
            updated_at=ctx.clock(),
        )
        await session.commit()
    log.info("scan.sync_planned", mode=mode, base_job_id=base.id if base else None, reason=reason)
    return SyncPlan(mode, base.id if base else None, since)
