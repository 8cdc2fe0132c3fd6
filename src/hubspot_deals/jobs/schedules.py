"""Schedules as the API and the CLI manage them: made, listed, changed, paused, resumed,
deleted, each in its organization's scope (another organization's is not found, as one that
never was). The runs themselves are the scheduler's (jobs/scheduler.py)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.engine import ScanSpec
from hubspot_deals.jobs.schedule_timing import Timing
from hubspot_deals.jobs.service import ConnectionNotFound, ScanError, iso
from hubspot_deals.store.credentials import CredentialRepository
from hubspot_deals.store.jobs import JobRepository, OrgScope
from hubspot_deals.store.models import ScanJob, run_slot
from hubspot_deals.store.schedules import ScheduleRepository
from hubspot_deals.store.sync_tables import Schedule


class ScheduleNotFound(ScanError):
    code = "SCHEDULE_NOT_FOUND"


class ScheduleExists(ScanError):
    code = "SCHEDULE_EXISTS"


@dataclass(frozen=True)
class Planned:
    """What a schedule runs: the config as shown back, its typed spec, the connection."""

    config: dict[str, Any]
    spec: ScanSpec
    connection_id: str


@dataclass(frozen=True)
class Shown:
    """A schedule and its last run (None before its first), for its body."""

    schedule: Schedule
    last_run: ScanJob | None


_UNITS = ((86400, "d"), (3600, "h"), (60, "m"), (1, "s"))


def every_text(seconds: int | None) -> str | None:
    """900 -> ``"15m"``: the largest unit that divides it."""
    if seconds is None:
        return None
    size, unit = next((size, unit) for size, unit in _UNITS if seconds % size == 0)
    return f"{seconds // size}{unit}"


def schedule_body(shown: Shown) -> dict[str, Any]:
    """A schedule as the API, the CLI and its webhook event show it."""
    schedule, last = shown.schedule, shown.last_run
    return {
        "scheduleId": schedule.id,
        "scanId": schedule.scan_id,
        "organizationId": schedule.organization_id,
        "config": schedule.config,
        "every": every_text(schedule.every_seconds),
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "paused": schedule.paused,
        "pauseReason": schedule.pause_reason,
        "nextRunAt": None if schedule.paused else iso(schedule.next_run_at),
        "lastRun": None
        if last is None
        else {
            "jobId": last.id,
            "dueAt": iso(schedule.last_due_at),
            "status": last.status,
            "completedAt": iso(last.completed_at),
        },
        "consecutiveFailures": schedule.consecutive_failures,
        "runsStarted": schedule.runs_started,
        "ticksSkipped": schedule.ticks_skipped,
        "createdAt": iso(schedule.created_at),
        "updatedAt": iso(schedule.updated_at),
    }


async def _connection(session: AsyncSession, connection_id: str, scope: OrgScope) -> str:
    row = await CredentialRepository(session).connection(connection_id, scope)
    if row is None:
        raise ConnectionNotFound("Connection not found", connectionId=connection_id)
    return row.id


async def create(
    session: AsyncSession,
    *,
    org: str | None,
    scope: OrgScope,
    planned: Planned,
    timing: Timing,
    now: datetime,
) -> Shown:
    """A schedule of a scan id (one per scan id and organization); its first due time now for an
    interval, the next cron time for a cron."""
    scan_id = planned.spec.scan_id
    schedule = Schedule(
        id=f"sch_{secrets.token_hex(8)}",
        organization_id=org,
        scan_id=scan_id,
        slot=run_slot(scan_id, scope if isinstance(scope, str) else None),
        config=planned.config,
        spec=planned.spec.to_stored(),
        credential_id=await _connection(session, planned.connection_id, scope),
        every_seconds=timing.every_seconds,
        cron=timing.cron,
        timezone=timing.timezone,
        paused=False,
        next_run_at=timing.first(now),
        consecutive_failures=0,
        runs_started=0,
        ticks_skipped=0,
        created_at=now,
        updated_at=now,
    )
    ScheduleRepository(session).add(schedule)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise ScheduleExists("This scan id already has a schedule", scanId=scan_id) from None
    return Shown(schedule, None)


async def _found(session: AsyncSession, schedule_id: str, scope: OrgScope) -> Schedule:
    schedule = await ScheduleRepository(session).get(schedule_id, scope)
    if schedule is None:
        raise ScheduleNotFound("Schedule not found", scheduleId=schedule_id)
    return schedule


async def _shown(session: AsyncSession, schedule: Schedule) -> Shown:
    last = await JobRepository(session).get(schedule.last_job_id) if schedule.last_job_id else None
    return Shown(schedule, last)


async def find(session: AsyncSession, schedule_id: str, scope: OrgScope) -> Shown:
    return await _shown(session, await _found(session, schedule_id, scope))


async def listed(session: AsyncSession, scope: OrgScope) -> list[Shown]:
    return [await _shown(session, s) for s in await ScheduleRepository(session).listed(scope)]


async def update(
    session: AsyncSession,
    schedule_id: str,
    scope: OrgScope,
    *,
    timing: Timing | None,
    planned: Planned | None,
    now: datetime,
) -> Shown:
    """New timing (the next due time taken from it, from now) or a new config (from the next
    run on)."""
    schedule = await _found(session, schedule_id, scope)
    if planned is not None:
        schedule.config = planned.config
        schedule.spec = planned.spec.to_stored()
        schedule.credential_id = await _connection(session, planned.connection_id, scope)
    if timing is not None:
        schedule.every_seconds, schedule.cron = timing.every_seconds, timing.cron
        schedule.timezone = timing.timezone
        schedule.next_run_at = timing.first(now)
    schedule.updated_at = now
    await session.commit()
    return await _shown(session, schedule)


async def pause(session: AsyncSession, schedule_id: str, scope: OrgScope, now: datetime) -> Shown:
    schedule = await _found(session, schedule_id, scope)
    schedule.paused, schedule.pause_reason, schedule.updated_at = True, "Paused by request.", now
    await session.commit()
    return await _shown(session, schedule)


async def resume(session: AsyncSession, schedule_id: str, scope: OrgScope, now: datetime) -> Shown:
    """Running again from the next due time after now; its failures forgiven."""
    schedule = await _found(session, schedule_id, scope)
    timing = Timing(schedule.every_seconds, schedule.cron, schedule.timezone)
    if schedule.paused:
        schedule.paused, schedule.pause_reason = False, None
        schedule.consecutive_failures, schedule.failures_since = 0, now
        schedule.next_run_at = timing.first(now)
        schedule.updated_at = now
        await session.commit()
    return await _shown(session, schedule)


async def delete(session: AsyncSession, schedule_id: str, scope: OrgScope) -> None:
    """Gone, with its due times; the runs it started stay (they are the scan id's)."""
    schedule = await _found(session, schedule_id, scope)
    await ScheduleRepository(session).delete(schedule.id)
    await session.commit()
