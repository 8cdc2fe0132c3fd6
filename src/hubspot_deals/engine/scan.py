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
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import structlog

from hubspot_deals.engine.config_check import config_warnings
from hubspot_deals.engine.context import ScanContext, Stop
from hubspot_deals.engine.errors import describe
from hubspot_deals.engine.feed import record_full_run
from hubspot_deals.engine.incremental import run_incremental
from hubspot_deals.engine.pipeline import Flow, grouped, in_order
from hubspot_deals.engine.plan import Page, PartitionedPlan, checkpoint_of
from hubspot_deals.engine.reading import RowBuilder
from hubspot_deals.engine.rows import Lookups
from hubspot_deals.engine.schema import settle_schema
from hubspot_deals.engine.spec import ScanSpec, spec_of
from hubspot_deals.engine.sync import plan_sync
from hubspot_deals.engine.values import ValueTypes
from hubspot_deals.hubspot import (
    BURST,
    HubSpotClient,
    HubSpotMissingScopesError,
    Owner,
    PropertyDefinition,
    TokenSource,
)
from hubspot_deals.store.deals import DealFilter, DealRepository
from hubspot_deals.store.jobs import JobRepository, Lease
from hubspot_deals.store.models import DatabaseNow, JobStatus, ScanJob
from hubspot_deals.store.outages import cause_of, is_outage

log = structlog.get_logger(__name__)

#: Takeovers in a row without a batch written before a run fails: an error that comes back every
#: time is no outage, whatever its class. Generous, because outages come in bursts: ten PostgreSQL
#: restarts within 20 s took a scan over six times before it could write a page (test_restarts).
MAX_INTERRUPTIONS = 20


@dataclass(frozen=True)
class Claimed:
    """A job this worker holds the lease of, with its token decrypted for the run (or the
    source of its stored credential's access tokens)."""

    job: ScanJob
    lease: Lease
    token: str | TokenSource = field(repr=False)


async def claim_scan(ctx: ScanContext, job_id: str) -> Claimed | None:
    """Take the job's lease; None when it is not ours to run (finished, held by a live worker, or
    waiting for a free slot of its organization), or when it cannot run at all (then it fails
    with the reason)."""
    async with ctx.claim_lock, ctx.sessions() as session:
        jobs = JobRepository(session)
        claimed = await jobs.claim(
            job_id,
            worker=ctx.worker_id,
            lease_seconds=ctx.lease_seconds,
            max_running=ctx.max_running_per_org,
        )
        await session.commit()
        if claimed is None:
            return None
        job, lease = claimed
        refusal = _why_it_cannot_run(ctx, job)
        if refusal is not None:
            await jobs.fail_if_running(
                job_id,
                lease,
                status=JobStatus.FAILED,
                completed_at=ctx.clock(),
                error_code="INTERNAL_ERROR",
                error_cause="internal",
                error_message=refusal,
            )
            await session.commit()
            return None
        if job.credential_id is not None:
            return Claimed(job, lease, ctx.credential_source(job.credential_id))
        assert job.token_encrypted is not None  # _why_it_cannot_run says so otherwise
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


def _why_it_cannot_run(ctx: ScanContext, job: ScanJob) -> str | None:
    if job.interruptions > MAX_INTERRUPTIONS:
        log.error(
            "scan.gave_up",
            job_id=job.id,
            interruptions=job.interruptions,
            hint="the same error stopped it each time: see scan.interrupted above",
        )
        return (
            "The scan was interrupted again and again without progress; the service's log "
            "names the cause."
        )
    if job.token_encrypted is None and job.credential_id is None:
        return "The scan's HubSpot token is no longer stored; start the scan again."
    wanted = (job.spec or {}).get("hubspot_url")
    if wanted and wanted.rstrip("/") != ctx.hubspot_url.rstrip("/"):
        # never a token sent to another HubSpot than the one the scan was started for
        log.error("scan.hubspot_mismatch", job_id=job.id, wanted=wanted, mine=ctx.hubspot_url)
        return (
            f"This worker talks to HubSpot at {ctx.hubspot_url}, but the scan was started by a "
            f"service that talks to {wanted}; give the workers the API's HUBSPOT_BASE_URL."
        )
    return None


async def run_claimed(ctx: ScanContext, claimed: Claimed) -> None:
    """Run (or resume, from its checkpoint) a claimed job to a final state."""
    job, lease = claimed.job, claimed.lease
    bound = structlog.contextvars.bound_contextvars(scan_id=job.scan_id, job_id=job.id)
    with bound:
        log.info("scan.started", resumed=job.checkpoint is not None, worker=ctx.worker_id)
        try:
            async with ctx.client_factory(claimed.token) as client:
                await _while_leased(ctx, job.id, lease, _extract(ctx, job, lease, client))
        except Stop:
            log.info("scan.stopped", reason="cancelled or taken over")
        except Exception as exc:
            if is_outage(exc):  # not the scan's fault: resumed from its checkpoint later
                log.warning(
                    "scan.interrupted",
                    error=cause_of(exc),
                    interruptions=job.interruptions,
                    # the first of a series carries the traceback; the rest only the cause
                    exc_info=exc if job.interruptions == 0 else None,
                )
                return
            failure = describe(exc)
            if failure.cause == "internal":
                log.exception("scan.crashed")
            else:
                log.warning("scan.failed", error_code=failure.code, cause=failure.cause)
            await _fail(
                ctx,
                job.id,
                lease,
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
                held = await JobRepository(session).renew(job_id, lease)
                await session.commit()
            if not held:
                raise Stop
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Stop):
                await task


async def _load_lookups(
    client: HubSpotClient, spec: ScanSpec
) -> tuple[Lookups, list[PropertyDefinition], list[str]]:
    """The portal's account, pipelines and owners for the rows, its property definitions, and
    the config's warnings."""

    async def owners(archived: bool) -> list[Owner]:
        try:
            return [o async for o in client.iter_owners(archived=archived)]
        except HubSpotMissingScopesError:
            # the spec does not require the owners scope: rows then carry owner ids without emails
            log.warning(
                "scan.owners_unreadable", hint="grant crm.objects.owners.read for owner emails"
            )
            return []

    account, pipelines, properties, active, archived = await asyncio.gather(
        client.get_account_details(),
        client.get_pipelines(),
        client.get_properties(),
        owners(False),
        owners(True),
    )
    lookups = Lookups.build(account, pipelines, active + archived)
    return lookups, properties, config_warnings(spec, properties, pipelines)


async def _extract(ctx: ScanContext, job: ScanJob, lease: Lease, client: HubSpotClient) -> None:
    spec = spec_of(job)
    started = ctx.clock()  # before the first read: whatever changes from now, the next run reads
    # also teaches the limiter the portal's real limit
    lookups, definitions, warnings = await _load_lookups(client, spec)
    if warnings:
        log.info("scan.config_warnings", warnings=warnings)
    async with ctx.sessions() as session:
        if not await JobRepository(session).update_if_running(job.id, lease, warnings=warnings):
            raise Stop
        await session.commit()
    schema = await settle_schema(ctx, job, lease, spec, definitions)
    spec = spec.resolved([d["name"] for d in schema.definitions])
    builder = RowBuilder(client, lookups, spec, ValueTypes.of(schema.definitions))
    sync = await plan_sync(ctx, job, lease, started, schema)
    if sync.mode == "incremental":
        await run_incremental(ctx, job, lease, builder, sync)
    else:
        await _run_full(ctx, job, lease, builder)
        # the changes feed: how the rows differ from the served run's, before this run serves
        await record_full_run(ctx, job.id, lease)
    await _complete(ctx, job.id, lease)


async def _run_full(ctx: ScanContext, job: ScanJob, lease: Lease, builder: RowBuilder) -> None:
    spec, client = builder.spec, builder.client
    batch_size = spec.batch_size
    burst = client.limiter.limit(BURST)[0]
    flow = Flow.for_properties(len(spec.fetched_properties()))
    plan = PartitionedPlan(
        client,
        spec.fetched_properties(),
        batch_size,
        spec.filters,
        list_workers=min(burst, flow.list_workers),
        history=spec.history_names(),
        pages_ahead=flow.pages_ahead,
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
                updated_at=ctx.clock(),
            )
            await session.commit()

    async def prepare(pages: list[Page]) -> Batch:
        built = await builder.build([d for page in pages for d in page.deals])
        return Batch(pages, built.rows, built.failed, batch_size, built.untyped)

    positions = {p.id: p for p in partitions}
    async for batch in in_order(grouped(plan.pages(positions), flow), prepare, flow):
        for page in batch.pages:  # pages of one partition arrive, and are stored, in order
            position = positions[page.partition]
            position.next, position.done = page.next, page.done
        await _store_batch(ctx, job.id, lease, batch, checkpoint_of(list(positions.values())))


@dataclass(frozen=True)
class Batch:
    """Pages whose rows are stored in one transaction, with the positions they reach."""

    pages: list[Page]
    rows: list[dict[str, Any]]
    failed: int
    batch_size: int  # the scan's batchSize: progress counts batches of this many deals
    untyped: int = 0  # values that did not fit their property's type


async def _store_batch(
    ctx: ScanContext, job_id: str, lease: Lease, batch: Batch, checkpoint: dict[str, Any]
) -> None:
    rows, failed, batch_size = batch.rows, batch.failed, batch.batch_size
    async with ctx.sessions() as session:
        jobs = JobRepository(session)
        job = await jobs.get(job_id, checkpoint=False)  # a new one is written below
        if job is None or not lease.holds(job):
            raise Stop
        data_bytes = await DealRepository(session).upsert(job_id, rows)
        processed = job.processed_items + len(rows)
        still_running = await jobs.update_if_running(
            job_id,
            lease,
            processed_items=processed,
            failed_items=job.failed_items + failed,
            untyped_values=job.untyped_values + batch.untyped,
            with_associations=job.with_associations
            + sum(1 for r in rows if any((r["associations"] or {}).values())),
            archived_deals=job.archived_deals + sum(1 for r in rows if r["is_archived"]),
            data_bytes=job.data_bytes + data_bytes,
            current_batch=math.ceil(processed / batch_size) if batch_size else 0,
            total_items=max(job.total_items or 0, processed + job.failed_items + failed),
            checkpoint=checkpoint,
            interruptions=0,  # progress: the interruptions before it were passing ones
            heartbeat_at=DatabaseNow(),
            updated_at=ctx.clock(),
        )
        if not still_running:  # the rows above go with the rollback: nothing lands after a cancel
            await session.rollback()
            raise Stop
        await session.commit()


async def _complete(ctx: ScanContext, job_id: str, lease: Lease) -> None:
    async with ctx.sessions() as session:
        jobs = JobRepository(session)
        job = await jobs.get(job_id)
        if job is None or not lease.holds(job):
            raise Stop
        moment = ctx.clock()
        completed = await jobs.update_if_running(
            job_id,
            lease,
            status=JobStatus.COMPLETED,
            completed_at=moment,
            updated_at=moment,
            total_items=job.processed_items + job.failed_items,
            total_batches=job.current_batch,
            deals_held=await DealRepository(session).count(job_id, DealFilter()),
            token_encrypted=None,
        )
        if not completed:
            await session.rollback()
            raise Stop
        unread = await jobs.make_current(job)
        await session.commit()
        for old in unread:  # the previous run's rows are no longer served
            await DealRepository(session).delete_job(old)
            await session.commit()
    log.info("scan.completed")


async def _fail(ctx: ScanContext, job_id: str, lease: Lease, **values: Any) -> None:
    async with ctx.sessions() as session:
        await JobRepository(session).fail_if_running(
            job_id,
            lease,
            status=JobStatus.FAILED,
            completed_at=ctx.clock(),
            updated_at=ctx.clock(),
            token_encrypted=None,
            **values,
        )
        await session.commit()
