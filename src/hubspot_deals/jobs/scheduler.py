"""The clock's starts. Every process of the service (each API replica, each worker) looks for
schedules whose due time has come, a second apart, and claims each due time in one transaction:

- the due time's row in ``schedule_ticks`` (its primary key refuses a second claim, whichever
  process makes it), the new run's row (the scan id's active slot refuses a second active run) and
  the schedule moved past the due time (only if it is still at it) commit together or not at all,
  so each due time starts one run at most, and a run is never started without its due time
  recorded;
- a due time that finds the previous run still going is recorded as skipped and counted, not
  queued behind it;
- the next due time is the next one on the grid still ahead of now: after downtime a schedule runs
  once, not once per missed time;
- failed runs in a row push the next start back (twice the interval, four times, then eight), and
  a connection HubSpot refused (or one deleted) pauses the schedule with the reason, and tells the
  organization's webhooks (``schedule.paused``) in the same transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hubspot_deals.engine import ScanSpec
from hubspot_deals.jobs.schedule_timing import Timing
from hubspot_deals.jobs.schedules import Shown, schedule_body
from hubspot_deals.jobs.service import new_job
from hubspot_deals.jobs.webhooks import enqueue_event
from hubspot_deals.store.credentials import CredentialRepository
from hubspot_deals.store.jobs import JobRepository
from hubspot_deals.store.models import JobStatus, ScanJob
from hubspot_deals.store.outages import report
from hubspot_deals.store.schedules import ScheduleRepository
from hubspot_deals.store.sync_tables import Schedule, ScheduleTick

log = structlog.get_logger(__name__)

#: Schedules claimed a round, most overdue first.
ROUND = 50
#: Runs looked back at to count the failures in a row (past it, the backoff is at its cap).
FAILURES_SEEN = 4
#: How long closing waits for a round to end before it cancels it.
CLOSE_WITHIN_S = 10


class _Moved(Exception):
    """The schedule left the due time this process was claiming (another one claimed it)."""


def timing_of(schedule: Schedule) -> Timing:
    return Timing(schedule.every_seconds, schedule.cron, schedule.timezone)


@dataclass
class Scheduler:
    sessions: async_sessionmaker[AsyncSession]
    dispatch: Callable[[str], Awaitable[None]]
    poll_seconds: float
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _stop: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    def start(self) -> None:
        """Look for due schedules from now on (in the background, until ``close``)."""
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self.run_forever(), name="scheduler")

    async def close(self) -> None:
        """Stop between two rounds: a cancelled query would leave the database adapter's
        connection half-closed (and a task pending in the log)."""
        if self._task is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), CLOSE_WITHIN_S)
        except TimeoutError:  # a round stuck on a database that does not answer
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def run_forever(self) -> None:
        while not self._stop.is_set():
            try:
                await self.round()
            except Exception as exc:  # the database is down: the next round tries again
                report(log, "scheduler.failed", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.poll_seconds)

    async def round(self) -> list[str]:
        """Claim every due time that has come; what each came to (for tests and logs)."""
        async with self.sessions() as session:
            jobs = JobRepository(session)
            now = await jobs.database_time()
            due = await ScheduleRepository(session).due(now, ROUND)
        return [outcome for schedule_id in due if (outcome := await self.claim(schedule_id))]

    async def claim(self, schedule_id: str) -> str | None:
        """One due time of one schedule: ``started``, ``skipped``, ``backing-off``, ``paused``,
        or None when it was not due (or another process took it)."""
        async with self.sessions() as session:
            repo = ScheduleRepository(session)
            schedule = await repo.locked(schedule_id)
            now = await JobRepository(session).database_time()
            if schedule is None or schedule.paused or schedule.next_run_at > now:
                return None
            try:
                outcome, job = await self._decide(session, schedule, now)
                await session.commit()
            except (IntegrityError, _Moved):  # another process took this due time first
                await session.rollback()
                return None
        if job is not None:
            try:
                await self.dispatch(job.id)
            except Exception as exc:  # stored: a sweeper starts it
                report(log, "dispatch.failed", exc, job_id=job.id)
        log.info("schedule.due", schedule_id=schedule_id, outcome=outcome)
        return outcome

    async def _decide(
        self, session: AsyncSession, schedule: Schedule, now: datetime
    ) -> tuple[str, ScanJob | None]:
        repo, jobs = ScheduleRepository(session), JobRepository(session)
        due, timing = schedule.next_run_at, timing_of(schedule)
        following = timing.following(due, now)
        if await jobs.active_in_slot(schedule.slot) is not None:
            repo.tick(ScheduleTick(schedule_id=schedule.id, due_at=due, outcome="skipped",
                                   created_at=now))  # fmt: skip
            await self._advance(
                repo, schedule, next_run_at=following, ticks_skipped=schedule.ticks_skipped + 1,
                updated_at=now,
            )  # fmt: skip
            return "skipped", None
        failures = await self._failures(session, schedule)
        refused = await self._refusal(session, schedule)
        if refused is not None:
            await self._advance(
                repo, schedule, paused=True, pause_reason=refused,
                consecutive_failures=failures, updated_at=now,
            )  # fmt: skip
            last = await jobs.get(schedule.last_job_id) if schedule.last_job_id else None
            shown = schedule_body(Shown(schedule, last))
            await enqueue_event(
                session,
                schedule.organization_id,
                "schedule.paused",
                f"schedule_{schedule.id}_{due.isoformat()}",
                shown | {"paused": True, "pauseReason": refused, "nextRunAt": None},
            )
            return "paused", None
        if failures and schedule.last_due_at is not None:
            earliest = timing.backed_off(schedule.last_due_at, failures)
            if due < earliest:
                await self._advance(
                    repo, schedule, next_run_at=max(earliest, following),
                    consecutive_failures=failures, updated_at=now,
                )  # fmt: skip
                return "backing-off", None
        job = new_job(
            schedule.config,
            ScanSpec.from_stored(schedule.spec),
            org=schedule.organization_id,
            slot=schedule.slot,
            credential_id=schedule.credential_id,
        )
        jobs.add(job)
        repo.tick(ScheduleTick(schedule_id=schedule.id, due_at=due, outcome="started",
                               job_id=job.id, created_at=now))  # fmt: skip
        await self._advance(
            repo, schedule, next_run_at=following, last_job_id=job.id,
            runs_started=schedule.runs_started + 1, consecutive_failures=failures,
            last_due_at=due, updated_at=now,
        )  # fmt: skip
        return "started", job

    async def _advance(self, repo: ScheduleRepository, schedule: Schedule, **values: Any) -> None:
        if not await repo.advance(schedule.id, schedule.next_run_at, **values):
            raise _Moved

    async def _failures(self, session: AsyncSession, schedule: Schedule) -> int:
        """Failed runs in a row among the schedule's last finished ones, newest first."""
        failures = 0
        finished = ScheduleRepository(session).finished(
            schedule.id, FAILURES_SEEN, schedule.failures_since
        )
        for status in await finished:
            if status != JobStatus.FAILED:
                break
            failures += 1
        return failures

    async def _refusal(self, session: AsyncSession, schedule: Schedule) -> str | None:
        """Why the schedule cannot run: its connection is gone, or HubSpot refused it. Its row
        stays locked until the run is stored, so a deletion waits for the start."""
        credential = await CredentialRepository(session).locked(schedule.credential_id)
        if credential is None:
            return "Its connection was deleted: give the schedule another connectionId."
        if credential.refused:
            return f"HubSpot refused its connection ({credential.refused}): reconnect the portal."
        return None
