"""The schedule endpoints: a scan that runs by the clock, with a stored connection."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.api.deps import (
    org_scope,
    runtime_dependency,
    same_origin,
    scope_dependency,
    session,
)
from hubspot_deals.api.errors import ValidationFailed
from hubspot_deals.api.json_body import json_body
from hubspot_deals.api.schedule_requests import (
    CreateSchedule,
    UpdateSchedule,
    planned_config,
    schedule_timing,
)
from hubspot_deals.api.schedule_schemas import (
    DeletedSchedule,
    ScheduleList,
    ScheduleResponse,
    schedule_body,
)
from hubspot_deals.api.schemas import ErrorResponse
from hubspot_deals.jobs import schedules
from hubspot_deals.jobs.runtime import Runtime
from hubspot_deals.store.jobs import OrgScope

router = APIRouter(prefix="/schedules", tags=["schedules"])
Session = Annotated[AsyncSession, Depends(session)]
Scope = Annotated[OrgScope, Depends(scope_dependency)]
Rt = Annotated[Runtime, Depends(runtime_dependency)]
ScheduleId = Annotated[str, Path(max_length=64)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No schedule of this id (for the caller)"}
}


@router.post(
    "",
    status_code=201,
    response_model=ScheduleResponse,
    dependencies=[Depends(same_origin)],
    responses={
        403: {
            "model": ErrorResponse,
            "description": "config.organizationId is not the API key's, or another site's page "
            "sent it",
        },
        404: {"model": ErrorResponse, "description": "No such connection (CONNECTION_NOT_FOUND)"},
        409: {"model": ErrorResponse, "description": "The scan id has a schedule"},
        413: {"model": ErrorResponse, "description": "The body is over 1 MB"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/CreateSchedule"}}
            },
        }
    },
)
async def create(request: Request, db: Session, rt: Rt) -> dict[str, Any]:
    """Run a scan by the clock: every interval, or at a cron's times. The first run reads every
    deal; the next ones what changed (unless the config says mode: full)."""
    body = await json_body(request, CreateSchedule)
    planned = planned_config(body.scanId, body.config, request)
    shown = await schedules.create(
        db,
        org=planned.config["organizationId"],
        scope=org_scope(request),
        planned=planned,
        timing=schedule_timing(body, rt),
        now=rt.clock(),
    )
    return schedule_body(shown)


@router.get("", response_model=ScheduleList)
async def list_schedules(db: Session, scope: Scope) -> dict[str, Any]:
    """The caller's schedules, newest first."""
    return {"schedules": [schedule_body(s) for s in await schedules.listed(db, scope)]}


@router.get("/{schedule_id}", response_model=ScheduleResponse, responses=NOT_FOUND)
async def show(schedule_id: ScheduleId, db: Session, scope: Scope) -> dict[str, Any]:
    return schedule_body(await schedules.find(db, schedule_id, scope))


@router.patch(
    "/{schedule_id}",
    response_model=ScheduleResponse,
    dependencies=[Depends(same_origin)],
    responses=NOT_FOUND,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/UpdateSchedule"}}
            },
        }
    },
)
async def update(
    schedule_id: ScheduleId, request: Request, db: Session, scope: Scope, rt: Rt
) -> dict[str, Any]:
    """Change the timing (the next due time follows it from now) or the config."""
    body = await json_body(request, UpdateSchedule)
    current = (await schedules.find(db, schedule_id, scope)).schedule
    timing = None
    if {"every", "cron", "timezone"} & body.model_fields_set:
        if body.every is not None and body.cron is not None:
            raise ValidationFailed({"every": "Give every or cron (one of them)"})
        if body.every is None and body.cron is None:  # the timezone of the current cron
            body = body.model_copy(update={"cron": current.cron})
            if current.cron is None:
                raise ValidationFailed({"timezone": "Only a cron schedule has a time zone"})
        timing = schedule_timing(body, rt)
    planned = (
        planned_config(current.scan_id, body.config, request) if body.config is not None else None
    )
    shown = await schedules.update(
        db, schedule_id, scope, timing=timing, planned=planned, now=rt.clock()
    )
    return schedule_body(shown)


@router.post(
    "/{schedule_id}/pause",
    response_model=ScheduleResponse,
    dependencies=[Depends(same_origin)],
    responses=NOT_FOUND,
)
async def pause(schedule_id: ScheduleId, db: Session, scope: Scope, rt: Rt) -> dict[str, Any]:
    """No more runs until resumed (a run in progress goes on)."""
    return schedule_body(await schedules.pause(db, schedule_id, scope, rt.clock()))


@router.post(
    "/{schedule_id}/resume",
    response_model=ScheduleResponse,
    dependencies=[Depends(same_origin)],
    responses=NOT_FOUND,
)
async def resume(schedule_id: ScheduleId, db: Session, scope: Scope, rt: Rt) -> dict[str, Any]:
    """Runs again: an interval's next run at once, a cron's at its next time."""
    return schedule_body(await schedules.resume(db, schedule_id, scope, rt.clock()))


@router.delete(
    "/{schedule_id}",
    response_model=DeletedSchedule,
    dependencies=[Depends(same_origin)],
    responses=NOT_FOUND,
)
async def delete(schedule_id: ScheduleId, db: Session, scope: Scope) -> dict[str, Any]:
    """Forget the schedule (the runs it started stay the scan id's)."""
    await schedules.delete(db, schedule_id, scope)
    return {"message": "Schedule deleted", "scheduleId": schedule_id}
