"""Scan lifecycle decisions: start, cancel, find. Each raises a ScanError the API translates.

Functions take a session and leave the commit to the caller, except ``start_scan``, which must
commit before it dispatches (a job is never sent before its row exists).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.engine import ScanSpec
from hubspot_deals.jobs.caches import ResultCaches
from hubspot_deals.store.credentials import CredentialRepository
from hubspot_deals.store.crypto import TokenCipher
from hubspot_deals.store.deal_entries import Entry
from hubspot_deals.store.deals import DealFilter, DealRepository, Facets, StoredDeal, stored_deals
from hubspot_deals.store.jobs import ACTIVE, ANY_ORG, FINISHED, JobPage, JobRepository, OrgScope
from hubspot_deals.store.models import JobStatus, ScanJob, run_slot
from hubspot_deals.store.outages import report
from hubspot_deals.store.schemas import SchemaRepository

log = structlog.get_logger(__name__)


class ScanError(Exception):
    """A request the scan's state refuses; ``code`` is the spec's error code."""

    code = "INTERNAL_ERROR"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ScanInProgress(ScanError):
    code = "SCAN_IN_PROGRESS"


class ScanNotFound(ScanError):
    code = "SCAN_NOT_FOUND"


class ScanNotReady(ScanError):
    code = "SCAN_NOT_READY"


class InvalidCancellation(ScanError):
    code = "INVALID_CANCELLATION"


class ConnectionNotFound(ScanError):
    code = "CONNECTION_NOT_FOUND"


class ConnectionInUse(ScanError):
    code = "CONNECTION_IN_USE"


class HubSpotUnreachable(ScanError):
    code = "HUBSPOT_API_ERROR"


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Started:
    job: ScanJob
    estimated_duration: str


async def start_scan(
    session: AsyncSession,
    cipher: TokenCipher,
    dispatch: Callable[[str], Awaitable[None]],
    *,
    config: dict[str, Any],
    spec: ScanSpec,
    token: str | None,
    org: str | None,
    scope: OrgScope,
    credential_id: str | None = None,
) -> Started:
    """Store the job and send it to the workers; it runs with ``token`` (kept encrypted until
    the run ends) or the stored credential ``credential_id``. Past the organization's running-scan limit it
    waits as ``pending``, in order; a lost message only delays it (the sweepers find it).

    "One active run per scan id" is the database's: the run's slot is unique among pending and
    running runs, so of concurrent starts exactly one commits. The read before it only finds
    the details of the 409 (and an active run of another organization while the service runs
    open, which the slot of a keyed run does not cover)."""
    jobs = JobRepository(session)
    scan_id = spec.scan_id
    for _ in range(3):  # the run that held the slot may end between the conflict and the read
        running = await jobs.active(scan_id, scope)
        if running is not None:
            raise _in_progress(running)
        previous = await jobs.newest(scan_id, scope)
        if (
            credential_id is not None
            and await CredentialRepository(session).locked(credential_id) is None
        ):  # deleted since the start looked it up; the lock holds off a deletion now
            await session.rollback()
            raise ConnectionNotFound("Connection not found", connectionId=credential_id)
        sealed = cipher.encrypt(token) if token is not None else None
        job = _new_job(config, spec, sealed, org, scope, credential_id)
        jobs.add(job)
        try:
            await session.commit()
        except IntegrityError:
            await session.rollback()
            continue
        try:
            await dispatch(job.id)
        except Exception as exc:  # the broker is down: the job is stored, a sweeper will start it
            report(log, "dispatch.failed", exc, job_id=job.id)
        return Started(job, _estimate(previous))
    raise ScanInProgress("Extraction already in progress", scanId=scan_id)


async def refuse_if_in_progress(session: AsyncSession, scan_id: str, scope: OrgScope) -> None:
    """The 409 early, before a start spends a HubSpot call on its token; ``start_scan`` still
    holds the promise (the database's slot), this only spares the call."""
    running = await JobRepository(session).active(scan_id, scope)
    if running is not None:
        raise _in_progress(running)


def _in_progress(running: ScanJob) -> ScanInProgress:
    return ScanInProgress(
        "Extraction already in progress",
        scanId=running.scan_id,
        currentStatus=running.status,
        startedAt=iso(running.started_at or running.created_at),
    )


def _new_job(
    config: dict[str, Any],
    spec: ScanSpec,
    token: bytes | None,
    org: str | None,
    scope: OrgScope,
    credential_id: str | None,
) -> ScanJob:
    slot = run_slot(spec.scan_id, scope if isinstance(scope, str) else None)
    return new_job(config, spec, org=org, slot=slot, token=token, credential_id=credential_id)


def new_job(
    config: dict[str, Any],
    spec: ScanSpec,
    *,
    org: str | None,
    slot: str,
    token: bytes | None = None,
    credential_id: str | None = None,
) -> ScanJob:
    """A pending run, not yet stored: its ``slot`` is the scan id's among active runs."""
    moment = now()
    return ScanJob(
        id=f"job_{secrets.token_hex(8)}",
        scan_id=spec.scan_id,
        organization_id=org,
        status=JobStatus.PENDING,
        config=config,
        token_encrypted=token,
        credential_id=credential_id,
        created_at=moment,
        updated_at=moment,
        processed_items=0,
        failed_items=0,
        current_batch=0,
        with_associations=0,
        archived_deals=0,
        data_bytes=0,
        is_current=False,
        spec=spec.to_stored(),
        run_slot=slot,
    )


def _estimate(previous: ScanJob | None) -> str:
    """From the previous run of the same scan when there is one; HubSpot is asked nothing here."""
    if (
        previous is None
        or previous.status != JobStatus.COMPLETED
        or not previous.started_at
        or not previous.completed_at
    ):
        return "unknown until the deals are counted (see /scan/status)"
    minutes = max((previous.completed_at - previous.started_at).total_seconds() / 60, 0)
    if minutes < 1:
        return "under a minute"
    low, high = max(int(minutes * 0.8), 1), int(minutes * 1.5) + 1
    return f"{low}-{high} minutes"


async def cancel_scan(session: AsyncSession, scan_id: str, scope: OrgScope = ANY_ORG) -> ScanJob:
    jobs = JobRepository(session)
    job = await jobs.newest(scan_id, scope)
    if job is None:
        raise ScanNotFound("Scan not found", scanId=scan_id)
    # guarded: a page (or the completion) the scan committed since the read above must win or lose
    # as a whole, and the answer must report what is really stored
    if job.status not in FINISHED and await jobs.cancel(job.id, now()):
        await session.refresh(job)
        return job
    await session.refresh(job)
    raise InvalidCancellation(
        f"Cannot cancel {job.status} extraction", scanId=scan_id, currentStatus=job.status
    )


async def count_results(
    session: AsyncSession, caches: ResultCaches, job: ScanJob, where: DealFilter
) -> int:
    key = (job.id, where)
    total = caches.counts.get(key)
    if total is None:
        total = await DealRepository(session).count(job.id, where)
        if job.status in FINISHED:
            caches.counts.put(key, total)
    return total


async def result_facets(session: AsyncSession, caches: ResultCaches, job: ScanJob) -> Facets:
    """The pipelines, stages and owners a run's rows have (the dashboard's filter choices)."""
    facets = caches.facets.get(job.id)
    if facets is None:
        facets = await DealRepository(session).facets(job.id)
        if job.status in FINISHED:
            caches.facets.put(job.id, facets)
    return facets


async def result_rows(
    session: AsyncSession,
    caches: ResultCaches,
    job: ScanJob,
    where: DealFilter,
    *,
    limit: int,
    offset: int = 0,
    after_key: int | None = None,
) -> tuple[int, list[StoredDeal]]:
    """How many of a run's rows ``where`` admits, and one page of them (their JSON decoded): by
    ``offset``, or past ``after_key`` (keyset) when given."""
    total = await count_results(session, caches, job, where)
    rows = await DealRepository(session).raw_page(
        job.id, where, limit=limit, offset=offset, after_key=after_key
    )
    return total, stored_deals(rows)


async def result_entries(
    session: AsyncSession,
    caches: ResultCaches,
    job: ScanJob,
    where: DealFilter,
    entry: Entry,
    *,
    limit: int,
    offset: int = 0,
    after_key: int | None = None,
) -> tuple[int, Sequence[Row[int, bytes]]]:
    """``result_rows`` with each row as (deal key, ``entry`` as JSON the database wrote)."""
    total = await count_results(session, caches, job, where)
    rows = await DealRepository(session).entry_page(
        job.id, where, entry, limit=limit, offset=offset, after_key=after_key
    )
    return total, rows


async def results_job(
    session: AsyncSession,
    scan_id: str,
    scope: OrgScope = ANY_ORG,
    *,
    partial: bool = False,
    brief: bool = False,
) -> ScanJob:
    """The job whose rows are served: the current completed run, else the newest run, whose rows
    are served only when the caller asks for ``partial`` ones (the spec's 404 otherwise).
    ``brief``: only what a results page reads of it (``JobRepository.serving``)."""
    job = await JobRepository(session).serving(scan_id, scope, brief=brief)
    if job is None:
        raise ScanNotFound("Scan not found", scanId=scan_id)
    if job.status == JobStatus.COMPLETED or partial:
        return job
    if job.status in (JobStatus.PENDING, JobStatus.RUNNING):
        progress = f"{(100 * job.processed_items / job.total_items) if job.total_items else 0:.0f}%"
        raise ScanNotReady(
            "Scan not completed yet", scanId=scan_id, currentStatus=job.status, progress=progress
        )
    raise ScanNotReady(
        f"Scan {job.status}: its results are incomplete (ask with partial=true for the deals "
        "it stored)",
        scanId=scan_id,
        currentStatus=job.status,
    )


async def run_schema(session: AsyncSession, job: ScanJob) -> list[dict[str, Any]]:
    """The property definitions the run used; empty before it has started (and for runs from
    before definitions were kept)."""
    return await SchemaRepository(session).of(job.id) or []


@dataclass(frozen=True)
class Queue:
    """Why a pending scan waits: its organization's running scans and those queued before it."""

    running: int
    ahead: int
    limit: int


async def queue_of(session: AsyncSession, job: ScanJob, limit: int) -> Queue | None:
    if job.status != JobStatus.PENDING:
        return None
    running, ahead = await JobRepository(session).queue_position(job)
    return Queue(running, ahead, limit)


async def newest_run(session: AsyncSession, scan_id: str, scope: OrgScope) -> ScanJob | None:
    """The scan id's newest run, whatever its status (what status pages show), without its
    checkpoint: a large scan's is some 75 KB of JSON, which every status poll decoded."""
    return await JobRepository(session).newest(scan_id, scope, checkpoint=False)


async def run_of(session: AsyncSession, scan_id: str, job_id: str, scope: OrgScope) -> ScanJob:
    """One run of a scan id, by its job id (the dashboard's run history opens any)."""
    job = await JobRepository(session).run(scan_id, job_id, scope)
    if job is None:
        raise ScanNotFound("Scan run not found", scanId=scan_id, jobId=job_id)
    return job


async def run_history(
    session: AsyncSession, scan_id: str, scope: OrgScope, limit: int
) -> Sequence[ScanJob]:
    return await JobRepository(session).runs(scan_id, scope, limit, checkpoint=False)


async def list_runs(
    session: AsyncSession,
    scope: OrgScope,
    *,
    status: str | None,
    sort_by: str,
    descending: bool,
    offset: int,
    limit: int,
) -> JobPage:
    return await JobRepository(session).page(
        org=scope,
        status=status,
        sort_by=sort_by,
        descending=descending,
        offset=offset,
        limit=limit,
    )


async def any_active(session: AsyncSession, scope: OrgScope) -> bool:
    """Whether any run of ``scope`` is pending or running (the dashboard polls while so)."""
    return await JobRepository(session).count(ACTIVE, scope) > 0


def result_batches(
    session: AsyncSession, job: ScanJob, where: DealFilter, size: int
) -> AsyncIterator[Sequence[Row[Any]]]:
    """A run's rows in deal id order, ``size`` at a time (an export's flat memory), undecoded:
    ``stored_deals`` makes records of them off the event loop."""
    return DealRepository(session).raw_batches(job.id, where, size=size)
