"""Runs scans in this process (a worker, or the embedded service) and finds scans nobody runs.

A message only says "look at job X". Whether this process runs it is decided by the lease on the
job's row (``engine.claim_scan``), so a message delivered twice, or a job found by two sweepers,
runs once. A claimed scan runs in the runner's own task, not the broker's: the message is
acknowledged once the lease is taken, and a broker hiccup never interrupts a running scan.

The sweeper is what turns a dead worker's scan, a lost message or a freed organization slot into a
running scan again: it needs nothing from the broker, only the database.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from hubspot_deals.engine import Claimed, ScanContext, claim_scan, run_claimed
from hubspot_deals.store.jobs import JobRepository
from hubspot_deals.store.outages import report

log = structlog.get_logger(__name__)


class ScanRunner:
    def __init__(
        self,
        ctx: ScanContext,
        *,
        capacity: int,
        dispatch: Callable[[str], Awaitable[None]],
    ) -> None:
        self.ctx = ctx
        self.capacity = capacity
        self._dispatch = dispatch
        self._slots = asyncio.Semaphore(capacity)
        self._scans: dict[str, asyncio.Task[None]] = {}

    @property
    def busy(self) -> int:
        """Scans running here now."""
        return len(self._scans)

    async def submit(self, job_id: str) -> bool:
        """Wait for a free slot, take the job's lease and start it; False when it is not ours."""
        if job_id in self._scans:  # a second message for a scan this process already runs
            return False
        await self._slots.acquire()
        try:
            claimed = await claim_scan(self.ctx, job_id)
        except BaseException:
            self._slots.release()
            raise
        if claimed is None:
            self._slots.release()
            return False
        task = asyncio.create_task(self._run(claimed), name=f"scan {job_id}")
        self._scans[job_id] = task
        return True

    async def _run(self, claimed: Claimed) -> None:
        job = claimed.job
        try:
            await run_claimed(self.ctx, claimed)
        finally:
            self._scans.pop(job.id, None)
            self._slots.release()
        try:
            await self.dispatch_waiting(job.organization_id)
        except Exception as exc:  # the sweepers start them later
            report(log, "dispatch.failed", exc)

    async def dispatch_waiting(self, org: str | None) -> None:
        """A slot of ``org`` freed: send its oldest pending scans to the workers."""
        async with self.ctx.sessions() as session:
            waiting = await JobRepository(session).waiting(org, self.ctx.max_running_per_org)
        for job_id in waiting:
            await self._dispatch(job_id)

    async def sweep(self) -> int:
        """Start, here, the scans no live worker holds; returns how many were taken on."""
        async with self.ctx.sessions() as session:
            orphaned = await JobRepository(session).orphaned(self.ctx.lease_seconds)
        started = 0
        for job_id in orphaned:
            if self.busy >= self.capacity:
                break
            started += await self.submit(job_id)
        if started:
            log.info("sweep.resumed", count=started)
        return started

    async def sweep_forever(self) -> None:
        interval = self.ctx.lease_seconds / 3
        while True:
            try:
                await self.sweep()
            except Exception as exc:  # the database is down: the next round tries again
                report(log, "sweep.failed", exc)
            await asyncio.sleep(interval)

    async def close(self) -> None:
        """Stop the scans running here; their leases lapse and another worker resumes them."""
        tasks = list(self._scans.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
