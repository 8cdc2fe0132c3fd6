"""One scan, from claim to final state. Knows nothing of HTTP serving.

Pages are fetched ahead of the writer (a bounded queue), associations of a page are read
concurrently per type, and each page lands in one transaction together with the progress and the
checkpoint to resume from, so a restart resumes right after the last stored page. The transaction
only commits while the job is still ``running``: a cancellation between two pages leaves nothing
half-written behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hubspot_deals.engine.errors import describe
from hubspot_deals.engine.plan import (
    Page,
    PartitionedPlan,
    ScanFilters,
    checkpoint_of,
    day_bounds_ms,
)
from hubspot_deals.engine.rows import (
    ROW_PROPERTIES,
    Lookups,
    association_entries,
    build_row,
    requested_of,
    row_size,
)
from hubspot_deals.hubspot import (
    BURST,
    HubSpotClient,
    HubSpotMissingScopesError,
    Owner,
)
from hubspot_deals.store.crypto import TokenCipher
from hubspot_deals.store.deals import DealRepository
from hubspot_deals.store.jobs import JobRepository, Lease
from hubspot_deals.store.models import ScanJob
from hubspot_deals.store.outages import is_outage

log = structlog.get_logger(__name__)

#: List chains walked at once: enough to spend a burst window in a few round trips, few enough to
#: keep the connection pool cheap.
LIST_WORKERS = 32
#: A v4 association batch reads up to 1,000 deals' associations of one type.
ASSOCIATION_BATCH = 1_000
#: Groups of pages whose associations are read at once, ahead of the writer.
PREPARE_AHEAD = 10
#: How long a group waits for more pages before its associations are read anyway.
GROUP_WAIT_S = 0.05


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ScanContext:
    """What a scan needs from its process: sessions, the token cipher, a HubSpot client factory
    (which wires the client's calls to the process's health and metrics), and who this worker is
    for the lease it holds on the jobs it runs."""

    sessions: async_sessionmaker[AsyncSession]
    cipher: TokenCipher
    client_factory: Callable[[str], HubSpotClient]
    worker_id: str
    lease_seconds: float
    max_running_per_org: int
    #: one claim at a time in this process (SQLite has no cross-connection lock to lean on)
    claim_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class _Stop(Exception):
    """The job left ``running`` under our lease (cancelled, or taken over) between two pages."""


@dataclass(frozen=True)
class Claimed:
    """A job this worker holds the lease of, with its token decrypted for the run."""

    job: ScanJob
    lease: Lease
    token: str = field(repr=False)


async def claim_scan(ctx: ScanContext, job_id: str) -> Claimed | None:
    """Take the job's lease; None when it is not ours to run (finished, held by a live worker, or
    waiting for a free slot of its organization)."""
    async with ctx.claim_lock, ctx.sessions() as session:
        jobs = JobRepository(session)
        moment = now()
        claimed = await jobs.claim(
            job_id,
            worker=ctx.worker_id,
            moment=moment,
            stale_before=moment - timedelta(seconds=ctx.lease_seconds),
            max_running=ctx.max_running_per_org,
        )
        await session.commit()
        if claimed is None:
            return None
        job, lease = claimed
        if job.token_encrypted is None:
            await jobs.update_if_running(
                job_id,
                lease,
                status="failed",
                completed_at=now(),
                error_code="INTERNAL_ERROR",
                error_cause="internal",
                error_message="The scan's HubSpot token is no longer stored; start the scan again.",
            )
            await session.commit()
            return None
        try:
            token = ctx.cipher.decrypt(job.token_encrypted)
        except ValueError:  # this process lacks the key: one that has it resumes the scan
            log.error(
                "scan.token_undecryptable",
                job_id=job_id,
                hint="TOKEN_ENCRYPTION_KEY must list the key that encrypted it until "
                "`hubspot-deals db rotate-tokens` has run",
            )
            return None
        return Claimed(job, lease, token)


async def run_claimed(ctx: ScanContext, claimed: Claimed) -> None:
    """Run (or resume, from its checkpoint) a claimed job to a final state."""
    job, lease = claimed.job, claimed.lease
    bound = structlog.contextvars.bound_contextvars(scan_id=job.scan_id, job_id=job.id)
    with bound:
        log.info("scan.started", resumed=job.checkpoint is not None, worker=ctx.worker_id)
        try:
            async with ctx.client_factory(claimed.token) as client:
                await _while_leased(ctx, job.id, lease, _extract(ctx, job, lease, client))
        except _Stop:
            log.info("scan.stopped", reason="cancelled or taken over")
        except Exception as exc:
            if is_outage(exc):  # not the scan's fault: resumed from its checkpoint later
                log.warning("scan.interrupted", error=type(exc).__name__)
                return
            failure = describe(exc)
            if failure.cause == "internal":
                log.exception("scan.crashed")
            else:
                log.warning("scan.failed", error_code=failure.code, cause=failure.cause)
            await _finish(
                ctx,
                job.id,
                lease,
                status="failed",
                error_code=failure.code,
                error_message=failure.message,
                error_cause=failure.cause,
            )


async def _while_leased(
    ctx: ScanContext, job_id: str, lease: Lease, work: Coroutine[Any, Any, None]
) -> None:
    """Run ``work`` while renewing the lease; stop it as soon as the lease is lost (the scan was
    cancelled, or another worker took it over after we stalled), wherever the request came from."""
    task = asyncio.create_task(work)
    interval = ctx.lease_seconds / 3
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=interval)
            if done:
                return task.result()
            async with ctx.sessions() as session:
                held = await JobRepository(session).renew(job_id, lease, now())
                await session.commit()
            if not held:
                raise _Stop
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, _Stop):
                await task


async def _load_lookups(client: HubSpotClient) -> Lookups:
    async def owners(archived: bool) -> list[Owner]:
        try:
            return [o async for o in client.iter_owners(archived=archived)]
        except HubSpotMissingScopesError:
            # the spec does not require the owners scope: rows then carry owner ids without emails
            log.warning(
                "scan.owners_unreadable", hint="grant crm.objects.owners.read for owner emails"
            )
            return []

    account, pipelines, active, archived = await asyncio.gather(
        client.get_account_details(), client.get_pipelines(), owners(False), owners(True)
    )
    return Lookups.build(account, pipelines, active + archived)


def _filters(config: dict[str, Any]) -> ScanFilters:
    filters = config.get("filters") or {}
    date = filters.get("dateFilter") or {}
    start_ms, end_ms = day_bounds_ms(date.get("startDate"), date.get("endDate"))
    return ScanFilters(
        include_archived=bool(filters.get("includeArchived")),
        pipeline_id=filters.get("pipelineId"),
        dealstage=filters.get("dealstage"),
        date_property=date.get("property") if date else None,
        start_ms=start_ms,
        end_ms=end_ms,
    )


async def _extract(ctx: ScanContext, job: ScanJob, lease: Lease, client: HubSpotClient) -> None:
    config = job.config
    requested, kinds = requested_of(config)
    batch_size = int(config.get("batchSize") or 100)
    filters = _filters(config)
    fetched = list(dict.fromkeys([*requested, *ROW_PROPERTIES, *filters.extra_properties()]))

    lookups = await _load_lookups(client)  # also teaches the limiter the portal's real limit
    burst = client.limiter.limit(BURST)[0]
    plan = PartitionedPlan(
        client, fetched, batch_size, filters, list_workers=min(burst, LIST_WORKERS)
    )
    total, partitions = await plan.prepare(job.checkpoint, burst)
    if job.checkpoint is None:
        async with ctx.sessions() as session:
            await JobRepository(session).update_if_running(
                job.id,
                lease,
                total_items=total,
                total_batches=math.ceil(total / batch_size) if total is not None else None,
                checkpoint=checkpoint_of(partitions),
                updated_at=now(),
            )
            await session.commit()

    def build(pages: list[Page], associations: dict[str, dict[str, Any]]) -> Batch:
        rows, failed = [], 0
        for deal in (d for page in pages for d in page.deals):
            try:
                found = {k: association_entries(k, associations[k].get(deal.id, [])) for k in kinds}
                rows.append(
                    build_row(
                        deal,
                        lookups=lookups,
                        requested=requested,
                        associations=found if kinds else None,
                    )
                )
            except (ValueError, KeyError, TypeError):
                failed += 1
                log.warning("scan.deal_skipped", deal_id=deal.id)
        return Batch(pages, rows, failed, batch_size)

    async def prepare(pages: list[Page]) -> Batch:
        ids = [d.id for page in pages for d in page.deals]
        return build(pages, await _associations(client, kinds, ids))

    positions = {p.id: p for p in partitions}
    async for batch in _in_order(_groups(plan.pages(partitions)), prepare):
        for page in batch.pages:  # pages of one partition arrive, and are stored, in order
            position = positions[page.partition]
            position.next, position.done = page.next, page.done
        await _store_batch(ctx, job.id, lease, batch, checkpoint_of(list(positions.values())))
    await _complete(ctx, job.id, lease)


@dataclass(frozen=True)
class Batch:
    """Pages whose rows are stored in one transaction, with the positions they reach."""

    pages: list[Page]
    rows: list[dict[str, Any]]
    failed: int
    batch_size: int  # the scan's batchSize: progress counts batches of this many deals


async def _groups(pages: AsyncIterator[Page]) -> AsyncIterator[list[Page]]:
    """Pages grouped up to a v4 association batch (1,000 ids), without waiting for a group to fill."""
    buffered: asyncio.Queue[Page | BaseException | None] = asyncio.Queue(maxsize=16)

    async def pump() -> None:
        try:
            async for page in pages:
                await buffered.put(page)
            await buffered.put(None)
        except Exception as exc:
            await buffered.put(exc)

    pumping = asyncio.create_task(pump())
    try:
        finished = False
        while not finished:
            item = await buffered.get()
            group: list[Page] = []
            while True:
                if item is None:
                    finished = True
                    break
                if isinstance(item, BaseException):
                    raise item
                group.append(item)
                if sum(len(p.deals) for p in group) >= ASSOCIATION_BATCH:
                    break
                try:  # a short wait fills the batch: fewer, fuller association requests
                    item = await asyncio.wait_for(buffered.get(), GROUP_WAIT_S)
                except TimeoutError:
                    break
            if group:
                yield group
    finally:
        pumping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pumping


async def _in_order(
    groups: AsyncIterator[list[Page]], prepare: Callable[[list[Page]], Coroutine[Any, Any, Batch]]
) -> AsyncIterator[Batch]:
    """Prepare up to PREPARE_AHEAD groups at once (association reads overlap), yield them in order."""
    ready: asyncio.Queue[asyncio.Task[Batch] | BaseException | None] = asyncio.Queue(PREPARE_AHEAD)

    async def schedule() -> None:
        try:
            async for group in groups:
                await ready.put(asyncio.create_task(prepare(group)))
            await ready.put(None)
        except Exception as exc:
            await ready.put(exc)

    scheduler = asyncio.create_task(schedule())
    pending: list[asyncio.Task[Batch]] = []
    try:
        while (item := await ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            pending.append(item)
            batch = await item
            pending.remove(item)
            yield batch
    finally:
        scheduler.cancel()
        for task in pending:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await scheduler
        while not ready.empty():
            leftover = ready.get_nowait()
            if isinstance(leftover, asyncio.Task):
                leftover.cancel()


async def _associations(
    client: HubSpotClient, kinds: list[str], ids: list[str]
) -> dict[str, dict[str, Any]]:
    if not kinds or not ids:
        return {k: {} for k in kinds}
    results = await asyncio.gather(
        *(client.read_associations(k, ids) for k in kinds), return_exceptions=True
    )
    missing = [r for r in results if isinstance(r, HubSpotMissingScopesError)]
    if missing:  # name every missing scope at once, not just the first refusal's
        scopes = list(dict.fromkeys(scope for error in missing for scope in error.scopes))
        raise HubSpotMissingScopesError(missing[0].message, scopes=scopes, status_code=403)
    found: dict[str, dict[str, Any]] = {}
    for kind, result in zip(kinds, results, strict=True):
        if isinstance(result, BaseException):
            raise result
        found[kind] = result
    return found


async def _store_batch(
    ctx: ScanContext, job_id: str, lease: Lease, batch: Batch, checkpoint: dict[str, Any]
) -> None:
    rows, failed, batch_size = batch.rows, batch.failed, batch.batch_size
    async with ctx.sessions() as session:
        jobs = JobRepository(session)
        job = await jobs.get(job_id)
        if job is None or not lease.holds(job):
            raise _Stop
        await DealRepository(session).upsert(job_id, rows)
        processed = job.processed_items + len(rows)
        still_running = await jobs.update_if_running(
            job_id,
            lease,
            processed_items=processed,
            failed_items=job.failed_items + failed,
            with_associations=job.with_associations
            + sum(1 for r in rows if any((r["associations"] or {}).values())),
            archived_deals=job.archived_deals + sum(1 for r in rows if r["is_archived"]),
            data_bytes=job.data_bytes + sum(row_size(r) for r in rows),
            current_batch=math.ceil(processed / batch_size) if batch_size else 0,
            total_items=max(job.total_items or 0, processed + job.failed_items + failed),
            checkpoint=checkpoint,
            heartbeat_at=now(),
            updated_at=now(),
        )
        if not still_running:  # the rows above go with the rollback: nothing lands after a cancel
            await session.rollback()
            raise _Stop
        await session.commit()


async def _complete(ctx: ScanContext, job_id: str, lease: Lease) -> None:
    async with ctx.sessions() as session:
        jobs = JobRepository(session)
        job = await jobs.get(job_id)
        if job is None or not lease.holds(job):
            raise _Stop
        moment = now()
        completed = await jobs.update_if_running(
            job_id,
            lease,
            status="completed",
            completed_at=moment,
            updated_at=moment,
            total_items=job.processed_items + job.failed_items,
            total_batches=job.current_batch,
            token_encrypted=None,
        )
        if not completed:
            await session.rollback()
            raise _Stop
        superseded = await jobs.make_current(job)
        await session.commit()
        for old in superseded:  # the previous run's rows are no longer served
            await DealRepository(session).delete_job(old)
            await session.commit()
    log.info("scan.completed")


async def _finish(
    ctx: ScanContext, job_id: str, lease: Lease, *, status: str, **values: Any
) -> None:
    async with ctx.sessions() as session:
        await JobRepository(session).update_if_running(
            job_id,
            lease,
            status=status,
            completed_at=now(),
            updated_at=now(),
            token_encrypted=None,
            **values,
        )
        await session.commit()
