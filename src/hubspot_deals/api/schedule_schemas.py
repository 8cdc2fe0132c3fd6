"""A schedule's body (the API's and the CLI's), and its response models for the document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from hubspot_deals.jobs.schedules import schedule_body as schedule_body


class LastRun(BaseModel):
    jobId: str
    dueAt: str | None = Field(description="The due time that started it.")
    status: str
    completedAt: str | None


class ScheduleResponse(BaseModel):
    scheduleId: str
    scanId: str
    organizationId: str | None
    config: dict[str, Any]
    every: str | None = Field(description='The interval ("15m"); null for a cron schedule.')
    cron: str | None
    timezone: str
    paused: bool
    pauseReason: str | None = Field(
        description="Why it is paused: by request, or the connection HubSpot refused."
    )
    nextRunAt: str | None = Field(description="The next due time; null while paused.")
    lastRun: LastRun | None
    consecutiveFailures: int = Field(description="Failed runs in a row (the next run waits).")
    runsStarted: int
    ticksSkipped: int = Field(description="Due times that found the previous run still going.")
    createdAt: str
    updatedAt: str


class ScheduleList(BaseModel):
    schedules: list[ScheduleResponse]


class DeletedSchedule(BaseModel):
    message: str
    scheduleId: str
