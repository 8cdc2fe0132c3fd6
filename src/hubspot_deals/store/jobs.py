"""SQL for scan jobs. Callers own the transaction: nothing here commits. ``org`` arguments scope a
query to one organization; ``ANY_ORG`` leaves it unscoped (the service runs open: a scan id is then
unique across the service)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar

from sqlalchemy import Select, and_, func, or_, select, text, tuple_, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.store.database import equals
from hubspot_deals.store.job_reads import (
    WITHOUT_CHECKPOINT,
    runs_query,
    scope_shape,
    serving_query,
)
from hubspot_deals.store.models import DatabaseNow, DealRow, JobStatus, ScanJob
from hubspot_deals.store.sqlite_connection import quick_reads

ACTIVE: Final = (JobStatus.PENDING, JobStatus.RUNNING)
FINISHED: Final = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class _AnyOrg:
    def __repr__(self) -> str:
        return "ANY_ORG"


ANY_ORG: Final = _AnyOrg()
OrgScope = str | None | _AnyOrg


#: any SELECT, whatever its columns
AnySelect = TypeVar("AnySelect", bound=Select[*tuple[Any, ...]])


def scoped(query: AnySelect, org: OrgScope, column: Any = ScanJob.organization_id) -> AnySelect:
    """``query`` within the organization ``org`` (of ``column``: a job's, or another table's)."""
    if isinstance(org, _AnyOrg):
        return query
    return query.where(column.is_(None) if org is None else equals(column, org))


@dataclass(frozen=True)
class Lease:
    """A worker's hold on a running job: every write of the scan is fenced by it."""

    worker: str
    version: int

    def holds(self, job: ScanJob) -> bool:
        return (
            job.status == JobStatus.RUNNING
            and job.worker_id == self.worker
            and job.lease_version == self.version
        )


@dataclass(frozen=True)
class JobPage:
    jobs: Sequence[ScanJob]
    total: int


def _rows_held(job_id: str) -> Any:
    """The run's stored rows, counted by the statement that ends it: what a cancelled or failed
    run serves (with ``partial=true``) is what its ``deals_held`` says."""
    return (
        select(func.count()).select_from(DealRow).where(DealRow.job_id == job_id).scalar_subquery()
    )


class JobRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, job: ScanJob) -> None:
        self.session.add(job)

    async def get(self, job_id: str, *, checkpoint: bool = True) -> ScanJob | None:
        """``checkpoint=False`` leaves out the checkpoint (tens of kilobytes of JSON for a large
        scan) for whoever only writes a new one: reading it would raise."""
        if checkpoint:
            return await self.session.get(ScanJob, job_id)
        return await self.session.get(ScanJob, job_id, options=[WITHOUT_CHECKPOINT])

    async def newest(
        self, scan_id: str, org: OrgScope = ANY_ORG, *, checkpoint: bool = True
    ) -> ScanJob | None:
        runs = await self.runs(scan_id, org, limit=1, checkpoint=checkpoint)
        return runs[0] if runs else None

    async def runs(
        self, scan_id: str, org: OrgScope, limit: int, *, checkpoint: bool = True
    ) -> Sequence[ScanJob]:
        """The scan id's runs, newest first; ``checkpoint=False`` as ``get``'s."""
        shape, values = scope_shape(org)
        values |= {"scan_id": scan_id, "limit": limit}
        with quick_reads():
            return (await self.session.scalars(runs_query(shape, checkpoint), values)).all()

    async def run(self, scan_id: str, job_id: str, org: OrgScope) -> ScanJob | None:
        """One run of the scan id (none of another scan id, or of another organization)."""
        query = scoped(select(ScanJob).where(ScanJob.scan_id == scan_id, ScanJob.id == job_id), org)
        return (await self.session.scalars(query.limit(1))).first()

    async def active_in_slot(self, slot: str) -> ScanJob | None:
        """The pending or running run holding ``slot`` (models.run_slot), if any."""
        query = select(ScanJob).where(ScanJob.run_slot == slot, ScanJob.status.in_(ACTIVE))
        return (await self.session.scalars(query.limit(1))).first()

    async def active(self, scan_id: str, org: OrgScope = ANY_ORG) -> ScanJob | None:
        query = scoped(
            select(ScanJob).where(ScanJob.scan_id == scan_id, ScanJob.status.in_(ACTIVE)), org
        )
        return (await self.session.scalars(query.limit(1))).first()

    async def serving(
        self, scan_id: str, org: OrgScope = ANY_ORG, *, brief: bool = False
    ) -> ScanJob | None:
        """The job whose deals the results endpoint serves: the current completed run, else the
        newest; without its checkpoint, and with ``brief`` only the columns a results page reads
        (``job_reads.BRIEF``; the newest run, a rarer case, whole but for its checkpoint)."""
        shape, values = scope_shape(org)
        query = serving_query(shape, brief)
        with quick_reads():
            current = (await self.session.scalars(query, {"scan_id": scan_id} | values)).first()
        return current or await self.newest(scan_id, org, checkpoint=False)

    async def unfinished(self) -> Sequence[str]:
        """Jobs a stopped process left pending or running, oldest first."""
        query = select(ScanJob.id).where(ScanJob.status.in_(ACTIVE)).order_by(ScanJob.created_at)
        return (await self.session.scalars(query)).all()

    async def database_time(self) -> datetime:
        """Now, by the database's clock: the one clock every lease is judged by."""
        moment: datetime | None = await self.session.scalar(select(DatabaseNow()))
        assert moment is not None
        return moment

    async def orphaned(self, lease_seconds: float) -> Sequence[str]:
        """Jobs no live worker holds: running with a heartbeat older than a lease, or pending for
        longer than that (their message was lost, or their organization's slot has freed since),
        by the database's clock."""
        stale_before = await self.database_time() - timedelta(seconds=lease_seconds)
        query = (
            select(ScanJob.id)
            .where(
                or_(
                    and_(
                        ScanJob.status == JobStatus.RUNNING,
                        or_(ScanJob.heartbeat_at.is_(None), ScanJob.heartbeat_at < stale_before),
                    ),
                    and_(ScanJob.status == JobStatus.PENDING, ScanJob.updated_at < stale_before),
                )
            )
            .order_by(ScanJob.created_at)
        )
        return (await self.session.scalars(query)).all()

    async def waiting(self, org: str | None, limit: int) -> Sequence[str]:
        """The organization's oldest pending jobs: the next to start when slots free."""
        query = scoped(select(ScanJob.id).where(ScanJob.status == JobStatus.PENDING), org)
        return (await self.session.scalars(query.order_by(ScanJob.created_at).limit(limit))).all()

    async def queue_position(self, job: ScanJob) -> tuple[int, int]:
        """(running scans of the job's organization, pending ones created before it)."""
        running = await self.count((JobStatus.RUNNING,), job.organization_id)
        ahead = scoped(
            select(func.count())
            .select_from(ScanJob)
            .where(
                ScanJob.status == JobStatus.PENDING,
                tuple_(ScanJob.created_at, ScanJob.id) < tuple_(job.created_at, job.id),
            ),
            job.organization_id,
        )
        return running, int(await self.session.scalar(ahead) or 0)

    async def count(self, statuses: Sequence[str], org: OrgScope) -> int:
        """Jobs in any of ``statuses``."""
        query = scoped(
            select(func.count()).select_from(ScanJob).where(ScanJob.status.in_(statuses)), org
        )
        return int(await self.session.scalar(query) or 0)

    async def totals(self) -> dict[str, tuple[int, int]]:
        """status -> (jobs, deals they processed), over every job of every organization: one
        aggregate row per status, however many jobs are stored (metrics read it each scrape)."""
        query = select(
            ScanJob.status, func.count(), func.coalesce(func.sum(ScanJob.processed_items), 0)
        ).group_by(ScanJob.status)
        rows = await self.session.execute(query)
        return {status: (int(jobs), int(deals)) for status, jobs, deals in rows.tuples()}

    async def claim(
        self,
        job_id: str,
        *,
        worker: str,
        lease_seconds: float,
        max_running: int,
    ) -> tuple[ScanJob, Lease] | None:
        """Take the job for ``worker``, or None: a pending job once its organization has a free
        slot and no older pending job waits, a running job once its heartbeat went stale.

        The update is guarded by the lease version read here, so of two workers racing for one
        job (a message delivered twice, two sweepers) exactly one wins. Commit right after: on
        PostgreSQL the organization's lock is held until then.
        """
        job = await self.session.get(ScanJob, job_id, populate_existing=True)
        if job is None or job.status not in ACTIVE:
            return None
        moment = await self.database_time()
        stale_before = moment - timedelta(seconds=lease_seconds)
        heartbeat = job.heartbeat_at
        if job.status == JobStatus.RUNNING and heartbeat is not None and heartbeat >= stale_before:
            return None
        if job.status == JobStatus.PENDING:
            await self._lock_organization(job.organization_id)
            running, ahead = await self.queue_position(job)
            if running + ahead >= max_running:
                return None
        result = await self.session.execute(
            update(ScanJob)
            .where(
                ScanJob.id == job_id,
                ScanJob.status == job.status,
                ScanJob.lease_version == job.lease_version,
            )
            .values(
                status=JobStatus.RUNNING,
                worker_id=worker,
                lease_version=job.lease_version + 1,
                heartbeat_at=moment,
                updated_at=moment,
                started_at=func.coalesce(ScanJob.started_at, moment),
                interruptions=ScanJob.interruptions + (1 if job.status == JobStatus.RUNNING else 0),
            )
            .execution_options(synchronize_session=False)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        await self.session.refresh(job)
        return job, Lease(worker, job.lease_version)

    async def _lock_organization(self, org: str | None) -> None:
        """Serialise claims of one organization's pending jobs across processes (PostgreSQL);
        the embedded mode has one process, which serialises its claims itself."""
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:org, 1))"),
                {"org": org or ""},
            )

    async def renew(self, job_id: str, lease: Lease) -> bool:
        """The heartbeat, by the database's clock; False once the job was cancelled or another
        worker took it over."""
        return await self.update_if_running(job_id, lease, heartbeat_at=DatabaseNow())

    async def forget_workers(self) -> None:
        """Make every running job claimable at once: the embedded service, being the only
        worker, knows on start that whoever held them is gone."""
        await self.session.execute(
            update(ScanJob).where(ScanJob.status == JobStatus.RUNNING).values(heartbeat_at=None)
        )

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
        query = scoped(select(ScanJob), org)
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

    async def update_if_running(self, job_id: str, lease: Lease, **values: Any) -> bool:
        """Apply ``values`` only while the job runs under ``lease``; False means it was cancelled
        or taken over by another worker meanwhile."""
        result = await self.session.execute(
            update(ScanJob)
            .where(
                ScanJob.id == job_id,
                ScanJob.status == JobStatus.RUNNING,
                ScanJob.worker_id == lease.worker,
                ScanJob.lease_version == lease.version,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def rotate_tokens(self, rotate: Callable[[bytes], bytes]) -> int:
        """Re-encrypt every stored token with ``rotate``; a token erased meanwhile (its scan
        ended) stays erased."""
        stored = await self.session.execute(
            select(ScanJob.id, ScanJob.token_encrypted).where(ScanJob.token_encrypted.is_not(None))
        )
        rotated = 0
        for job_id, blob in stored.tuples():
            if blob is None:  # excluded by the query; said for the type checker
                continue
            result = await self.session.execute(
                update(ScanJob)
                .where(ScanJob.id == job_id, ScanJob.token_encrypted == blob)
                .values(token_encrypted=rotate(blob))
            )
            rotated += result.rowcount  # type: ignore[attr-defined]
        return rotated

    async def cancel(self, job_id: str, moment: datetime) -> bool:
        """Cancel the job if it is still pending or running, erasing its token; False otherwise."""
        ending = {
            "status": JobStatus.CANCELLED,
            "completed_at": moment,
            "updated_at": moment,
            "token_encrypted": None,
        }

        async def cancel(**values: Any) -> bool:
            result = await self.session.execute(
                update(ScanJob)
                .where(ScanJob.id == job_id, ScanJob.status.in_(ACTIVE))
                .values(**ending, **values)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

        return await self._counting_held(job_id, cancel)

    async def fail_if_running(self, job_id: str, lease: Lease, **values: Any) -> bool:
        """``update_if_running`` for a run that ends early, its ``deals_held`` counted."""

        async def fail(**held: Any) -> bool:
            return await self.update_if_running(job_id, lease, **values, **held)

        return await self._counting_held(job_id, fail)

    async def _counting_held(self, job_id: str, end: Callable[..., Awaitable[bool]]) -> bool:
        """``end`` the run with its stored rows counted in the same statement, or without them
        when the count itself fails: the deals table may be what broke the run."""
        try:
            return await end(deals_held=_rows_held(job_id))
        except DBAPIError:
            await self.session.rollback()
            return await end()

    async def make_current(self, job: ScanJob) -> list[str]:
        """Mark ``job`` the served run of its scan id; returns the runs it supersedes whose rows
        nothing reads any more (a first run's stay: its changes feed events read them)."""
        query = scoped(
            select(ScanJob.id, ScanJob.feed_reads_rows).where(
                ScanJob.scan_id == job.scan_id, ScanJob.id != job.id, ScanJob.is_current
            ),
            job.organization_id,
        )
        superseded = (await self.session.execute(query)).all()
        if superseded:
            await self.session.execute(
                update(ScanJob)
                .where(ScanJob.id.in_([run for run, _ in superseded]))
                .values(is_current=False)
            )
        job.is_current = True
        return [run for run, kept_for_feed in superseded if not kept_for_feed]
