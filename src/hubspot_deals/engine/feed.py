"""The changes feed's events of a full run: how its rows differ from those results served before.

An incremental run writes its events as it changes its set (engine/change_set.py); a full run
rebuilds the set from nothing, so at its end, before it becomes the served run, its rows are
compared with the served run's: both walked in deal id order, a batch of each per transaction
(flat memory at any size), each batch's events written with the walk's position in the run's
checkpoint and fenced by the lease. A takeover resumes from that position: no event twice.

A full run cannot tell a deal archived (without includeArchived) from one deleted: one that
vanished is ``removed``, unless a row of the run lists it in ``merged_from`` (``merged``).

A run that follows no served run (a scan id's first) adds every row: those events are written by
the database itself (``ChangeRepository.record_rows``), a batch of keys a statement, and read
their rows from the run, which keeps them when a later run supersedes it (``feed_reads_rows``):
a copy of every row in its event doubled the run's disk and cost its scan 5% of its CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row

from hubspot_deals.engine.context import ScanContext, Stop
from hubspot_deals.store.changes import (
    ADDED,
    ARCHIVED,
    LAST_KEY,
    MERGED,
    REMOVED,
    UPDATED,
    Change,
    ChangeRepository,
    scan_key,
)
from hubspot_deals.store.deals import (
    DealFilter,
    DealRepository,
    row_values,
    spliced_values,
    stored_deals,
)
from hubspot_deals.store.jobs import JobRepository, Lease
from hubspot_deals.store.models import DatabaseNow

#: Rows of each run compared per transaction.
BATCH = 500
#: Rows recorded per transaction when no run was served before: the database writes them (each
#: an added event) without reading them here, so a transaction can take more.
ADDED_BATCH = 5_000
#: Where the walk stands in the run's checkpoint (the full run's partitions ignore other keys).
POSITION = "feed_after"


def kind_of(old: dict[str, Any] | None, new: dict[str, Any]) -> str:
    """What writing ``new`` over ``old`` is: the incremental counts and the feed say the same."""
    if old is None:
        return ARCHIVED if new["is_archived"] else ADDED
    if new["is_archived"] and not old["is_archived"]:
        return ARCHIVED
    return UPDATED


def row_changes(
    old: dict[int, Row[Any]], new: dict[int, Row[Any]], absorbed: set[str]
) -> list[Change]:
    """The events that turn ``old`` into ``new`` (stored rows of one id range by deal key, read
    with their JSON as text), in deal id order; a deal gone from ``new`` that one of the run's
    rows absorbed is merged, any other removed. Rows are decoded only where their stored text
    differs, and an event embeds its row as stored."""
    changes = []
    for key in sorted(old.keys() | new.keys()):
        prior, row = old.get(key), new.get(key)
        if row is None:
            assert prior is not None
            deal_id = prior.deal_id
            changes.append(Change(MERGED if deal_id in absorbed else REMOVED, deal_id, None))
        elif prior is None:
            added = spliced_values(row)
            changes.append(Change(kind_of(None, added), row.deal_id, added))
        elif tuple(prior[1:]) != tuple(row[1:]):  # all but the row ids
            before, after = (row_values(deal) for deal in stored_deals([prior, row]))
            if before != after:
                changes.append(Change(kind_of(before, after), row.deal_id, spliced_values(row)))
    return changes


async def record_full_run(
    ctx: ScanContext, job_id: str, lease: Lease, *, batch: int | None = None
) -> None:
    """Write the events of a full run whose rows are all stored (or resume writing them),
    ``batch`` rows a transaction (by default ``ADDED_BATCH`` on a first run, ``BATCH`` else)."""
    async with ctx.sessions() as session:
        jobs = JobRepository(session)
        job = await jobs.get(job_id)
        if job is None or not lease.holds(job):
            raise Stop
        served = await jobs.serving(job.scan_id, job.organization_id)
        previous = served.id if served is not None and served.is_current else None
        absorbed = await ChangeRepository(session).absorbed(job_id) if previous else set()
        after = int((job.checkpoint or {}).get(POSITION, -1))
    done = False
    while not done:
        if previous is None:
            after, done = await _add_batch(ctx, job_id, lease, after, batch or ADDED_BATCH)
        else:
            size = batch or BATCH
            after, done = await _compare_batch(ctx, job_id, lease, previous, absorbed, after, size)


async def _add_batch(
    ctx: ScanContext, job_id: str, lease: Lease, after: int, size: int
) -> tuple[int, bool]:
    """The next ``size`` rows past ``after`` recorded as added; (where the walk is, done)."""
    async with ctx.sessions() as session:
        jobs = JobRepository(session)
        job = await jobs.get(job_id)
        if job is None or not lease.holds(job):
            raise Stop
        bound = await DealRepository(session).key_after(job_id, after, rows=size)
        reached = bound if bound is not None else LAST_KEY
        await ChangeRepository(session).record_rows(
            scan_key(job), job_id, after=after, until=reached
        )
        # its events read the rows: they stay when a later run supersedes this one
        await _save_position(
            ctx, jobs, job_id, lease, job.checkpoint, reached, feed_reads_rows=True
        )
        await session.commit()
    return reached, bound is None


async def _save_position(
    ctx: ScanContext,
    jobs: JobRepository,
    job_id: str,
    lease: Lease,
    checkpoint: dict[str, Any] | None,
    reached: int,
    **values: Any,
) -> None:
    """The walk's position in the checkpoint, and ``values``, in the batch's transaction (rolled
    back and stopped when the run is no longer ours)."""
    saved = await jobs.update_if_running(
        job_id,
        lease,
        checkpoint=(checkpoint or {}) | {POSITION: reached},
        heartbeat_at=DatabaseNow(),
        updated_at=ctx.clock(),
        **values,
    )
    if not saved:
        await jobs.session.rollback()
        raise Stop


async def _compare_batch(
    ctx: ScanContext,
    job_id: str,
    lease: Lease,
    previous: str,
    absorbed: set[str],
    after: int,
    size: int,
) -> tuple[int, bool]:
    """One batch of each run past ``after``, compared and recorded; (where the walk is, done)."""
    async with ctx.sessions() as session:
        jobs, deals = JobRepository(session), DealRepository(session)
        job = await jobs.get(job_id)
        if job is None or not lease.holds(job):
            raise Stop

        async def batch(run: str) -> Sequence[Row[Any]]:
            return await deals.raw_page(run, DealFilter(), after_key=after, limit=size)

        new, old = await batch(job_id), await batch(previous)
        # a full batch may stop short of the other run's: compare only up to the nearer end
        ends = [rows[-1].deal_key for rows in (new, old) if len(rows) == size]
        bound = min(ends) if ends else None
        if bound is not None:
            new = [r for r in new if r.deal_key <= bound]
            old = [r for r in old if r.deal_key <= bound]
        changes = row_changes({r.deal_key: r for r in old}, {r.deal_key: r for r in new}, absorbed)
        await ChangeRepository(session).record(scan_key(job), job_id, changes)
        reached = bound if bound is not None else max([after, *(r.deal_key for r in [*new, *old])])
        await _save_position(ctx, jobs, job_id, lease, job.checkpoint, reached)
        await session.commit()
    return reached, bound is None
