"""The dashboard's schedules page: the organization's schedules (timing, next and last run,
failures in a row, skipped due times, paused and why) with Pause and Resume buttons, and a small
form that makes one. Everything goes through the schedules service and the schedule endpoints'
own checks (jobs/schedules.py, api/routes/schedules.py), so the page says what the API says."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.api.dashboard.pages import (
    RT,
    Caller,
    SameOrigin,
    Session,
    Who,
    read_form,
    redirect,
    render,
    router,
)
from hubspot_deals.api.deps import org_scope
from hubspot_deals.api.errors import ApiError
from hubspot_deals.api.schedule_requests import CreateSchedule, planned_config, schedule_timing
from hubspot_deals.api.validation import field_errors
from hubspot_deals.jobs import connections, schedules, service
from hubspot_deals.jobs.runtime import Runtime
from hubspot_deals.jobs.schedules import schedule_body

#: Notices a redirect may ask for: fixed sentences, so a link cannot put words on the page.
NOTICES = {
    "created": "Schedule created: its first run starts at its first due time.",
    "paused": "Schedule paused: no more runs until it is resumed (a run in progress goes on).",
    "resumed": "Schedule resumed: it runs again from its next due time.",
}
#: The form's fields, named by the create body's paths (so the API's errors sit beside them).
FIELDS = (
    "scanId",
    "config.connectionId",
    "config.organizationId",
    "config.mode",
    "every",
    "cron",
    "timezone",
)
#: The API's errors that name no field of the form: where the form shows them.
ELSEWHERE = {"body": "every", "config.scanId": "scanId"}
ScheduleId = Annotated[str, Path(max_length=64)]
Notice = Annotated[str | None, Query(max_length=40)]


async def _schedules_view(request: Request, db: AsyncSession) -> dict[str, Any]:
    shown = [schedule_body(s) for s in await schedules.listed(db, org_scope(request))]
    return {"schedules": shown, "live": any(not s["paused"] for s in shown)}


async def _page(
    request: Request,
    db: AsyncSession,
    who: Caller,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    stored = await connections.listed(db, org_scope(request))
    view = await _schedules_view(request, db)
    return render(
        request,
        "schedules.html",
        view
        | {
            "caller": who,
            "notice": NOTICES.get(notice or ""),
            "connections": [(row.id, f"{row.name} ({row.id})") for row in stored],
            "values": values or {"config.mode": "incremental", "timezone": "UTC"},
            "errors": errors or {},
        },
        status_code,
    )


@router.get("/schedules", response_class=HTMLResponse)
async def schedules_page(
    request: Request, db: Session, who: Who, notice: Notice = None
) -> HTMLResponse:
    """The caller's schedules, newest first, and the form that makes one."""
    return await _page(request, db, who, notice=notice)


@router.get("/fragments/schedules", response_class=HTMLResponse)
async def schedules_fragment(request: Request, db: Session, who: Who) -> HTMLResponse:
    """The table's live part, polled while a schedule is not paused (next and last runs move)."""
    view = await _schedules_view(request, db)
    return render(request, "_schedules_live.html", view | {"caller": who})


def create_body(values: dict[str, str]) -> dict[str, Any]:
    """The form as the body ``POST /api/v1/schedules`` takes: what is filled in, nothing else."""
    config = {
        name.removeprefix("config."): values[name]
        for name in ("config.connectionId", "config.organizationId", "config.mode")
        if values.get(name)
    }
    timing = {name: values[name] for name in ("every", "cron", "timezone") if values.get(name)}
    if "every" in timing:  # the zone is a cron's; the form offers it for both
        timing.pop("timezone", None)
    return {"scanId": values.get("scanId", ""), "config": config} | timing


def grouped(errors: dict[str, str]) -> dict[str, list[str]]:
    """The API's ``{path: message}``, each under the form field it names; others under ``form``."""
    out: dict[str, list[str]] = {}
    for path, message in errors.items():
        field = ELSEWHERE.get(path, path.split("[", 1)[0])
        out.setdefault(field if field in FIELDS else "form", []).append(message)
    return out


async def _create(request: Request, db: AsyncSession, rt: Runtime, body: CreateSchedule) -> None:
    """What ``POST /api/v1/schedules`` does with a valid body."""
    planned = planned_config(body.scanId, body.config, request)
    await schedules.create(
        db,
        org=planned.config["organizationId"],
        scope=org_scope(request),
        planned=planned,
        timing=schedule_timing(body, rt),
        now=rt.clock(),
    )


@router.post("/schedules", dependencies=[SameOrigin])
async def create(request: Request, db: Session, rt: RT, who: Who) -> Response:
    """Make a schedule from the form, checked as the API checks its body; the API's messages
    stand beside their fields."""
    form = await read_form(request)
    values = {name: (form.get(name) or [""])[0].strip() for name in FIELDS}
    if who.keyed:  # the key's organization, as the API binds it
        values.pop("config.organizationId")
    errors: dict[str, str] = {}
    status = 400
    try:
        await _create(request, db, rt, CreateSchedule.model_validate(create_body(values)))
    except ValidationError as exc:
        errors = field_errors(exc.errors())
    except ApiError as exc:
        errors, status = exc.errors or {"form": exc.message}, exc.status
    except service.ConnectionNotFound as exc:
        errors, status = {"config.connectionId": exc.message}, 404
    except schedules.ScheduleExists as exc:
        errors, status = {"scanId": exc.message}, 409
    if errors:
        return await _page(
            request, db, who, values=values, errors=grouped(errors), status_code=status
        )
    return redirect(request, "/schedules?notice=created")


@router.post("/schedules/{schedule_id}/pause", dependencies=[SameOrigin])
async def pause(
    request: Request, schedule_id: ScheduleId, db: Session, rt: RT, who: Who
) -> Response:
    """Pause it, as ``POST /api/v1/schedules/{id}/pause`` does."""
    await schedules.pause(db, schedule_id, org_scope(request), rt.clock())
    return redirect(request, "/schedules?notice=paused")


@router.post("/schedules/{schedule_id}/resume", dependencies=[SameOrigin])
async def resume(
    request: Request, schedule_id: ScheduleId, db: Session, rt: RT, who: Who
) -> Response:
    """Resume it, as ``POST /api/v1/schedules/{id}/resume`` does."""
    await schedules.resume(db, schedule_id, org_scope(request), rt.clock())
    return redirect(request, "/schedules?notice=resumed")
