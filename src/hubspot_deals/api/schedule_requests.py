"""The schedule requests as the API (and the dashboard's form) read them: the timing checked
field by field, the config as a scan's with its connection."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from pydantic import Field, JsonValue, ValidationError, model_validator

from hubspot_deals.api.deps import bound_organization
from hubspot_deals.api.errors import ApiError, ValidationFailed
from hubspot_deals.api.requests import SCAN_ID_PATTERN, ScanConfig
from hubspot_deals.api.strict import Strict
from hubspot_deals.api.validation import field_errors
from hubspot_deals.jobs.runtime import Runtime
from hubspot_deals.jobs.schedule_timing import Timing, TimingError, check_cron, parse_every, zone
from hubspot_deals.jobs.schedules import Planned

TIMING = {
    "every": Field(
        None,
        max_length=20,
        description='An interval: a whole number and s, m, h or d ("15m", "1h", "1d"); at '
        "least a minute. Not with cron.",
    ),
    "cron": Field(
        None,
        max_length=255,
        description='A cron expression of five fields ("0 6 * * 1-5"). Not with every.',
    ),
    "timezone": Field(None, max_length=64, description="The cron's IANA time zone; UTC."),
}


class ScheduleTimingFields(Strict):
    every: str | None = TIMING["every"]
    cron: str | None = TIMING["cron"]
    timezone: str | None = TIMING["timezone"]


class CreateSchedule(ScheduleTimingFields):
    scanId: str = Field(
        min_length=1, max_length=255, json_schema_extra={"pattern": SCAN_ID_PATTERN}
    )
    config: dict[str, JsonValue] = Field(
        description="A scan config as POST /scan/start takes it (its scanId and type may be "
        "left out), naming a connectionId; mode defaults to incremental."
    )

    @model_validator(mode="after")
    def _one_timing(self) -> CreateSchedule:
        if (self.every is None) == (self.cron is None):
            raise ValueError("Give every or cron (one of them)")
        return self


class UpdateSchedule(ScheduleTimingFields):
    config: dict[str, JsonValue] | None = Field(
        None, description="A new scan config (from the next run on)."
    )


def schedule_timing(body: ScheduleTimingFields, rt: Runtime) -> Timing:
    try:
        every = (
            parse_every(body.every, rt.settings.schedule_min_interval_seconds)
            if body.every is not None
            else None
        )
        cron = check_cron(body.cron) if body.cron is not None else None
        name = body.timezone or "UTC"
        zone(name)
    except TimingError as bad:
        raise ValidationFailed({bad.field: str(bad)}) from None
    return Timing(every, cron, name)


def planned_config(scan_id: str, raw: dict[str, Any], request: Request) -> Planned:
    """The config as a scan's, run with its connection: incremental unless it says full."""
    if "auth" in raw:
        raise ValidationFailed(
            {"config.auth": "A schedule runs with a stored connection: give connectionId"}
        )
    if raw.get("scanId", scan_id) != scan_id:
        raise ValidationFailed({"config.scanId": "Must be the schedule's scanId"})
    try:
        config = ScanConfig.model_validate(
            {"type": ["hubspot_deals"], "mode": "incremental"} | raw | {"scanId": scan_id}
        )
    except ValidationError as exc:
        raise ValidationFailed(
            {f"config.{k}": v for k, v in field_errors(exc.errors()).items()}
        ) from None
    assert config.connectionId is not None  # ScanConfig: auth or connectionId, and not auth
    bound = bound_organization(request)
    if bound is not None and config.organizationId not in (None, bound):
        raise ApiError(
            403,
            "FORBIDDEN",
            "Your API key does not act for this organization",
            errors={"config.organizationId": "Must be the organization of your API key"},
        )
    org = bound or config.organizationId
    return Planned(
        config=config.stored() | {"organizationId": org},
        spec=config.to_spec(),
        connection_id=config.connectionId,
    )
