"""The dashboard's pages of scans: the list (with the service's figures) and one scan with its
results (the table's own part: results.py), their live fragments, the export and the cancel
button."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Query, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.api import presenters
from hubspot_deals.api.dashboard.pages import (
    RT,
    SameOrigin,
    Session,
    Who,
    redirect,
    render,
    router,
)
from hubspot_deals.api.dashboard.results import Results, results_view
from hubspot_deals.api.deps import (
    org_scope,
    requested_scope,
)
from hubspot_deals.api.exports import ExportFormat, ExportTable, export_response
from hubspot_deals.api.routes.scans import RunStatus, checked_scan_id
from hubspot_deals.api.routes.service import health_report
from hubspot_deals.jobs import service
from hubspot_deals.jobs import stats as stats_module
from hubspot_deals.jobs.runtime import Runtime
from hubspot_deals.store.jobs import ACTIVE
from hubspot_deals.store.models import JobStatus, ScanJob

LIST_PAGE_SIZE = 20
#: The runs a scan's page lists, newest first.
RUN_HISTORY = 20
#: Notices a redirect may ask for: fixed sentences, so a link cannot put words on the page.
NOTICES = {
    "started": "Scan started.",
    "cancelled": "Scan cancelled: the deals stored so far stay readable.",
    "not-cancellable": "The scan had already finished: there was nothing to cancel.",
}


# -- the scan list --------------------------------------------------------------------------------


def _percent(job: ScanJob) -> float | None:
    """How full the progress bar is; None while the deal count is unknown (an indefinite bar)."""
    if job.status == JobStatus.COMPLETED:
        return 100.0
    if not job.total_items:
        return 0.0 if job.status != JobStatus.RUNNING else None
    return round(min(100.0, 100 * job.processed_items / job.total_items), 1)


def _row(job: ScanJob) -> dict[str, Any]:
    """A list entry as the API presents it, plus what a person reads at a glance."""
    end = job.completed_at or (datetime.now(UTC) if job.status == JobStatus.RUNNING else None)
    elapsed = (end - job.started_at).total_seconds() if job.started_at and end else None
    return presenters.list_item(job) | {"percent": _percent(job), "elapsed_seconds": elapsed}


async def _scans_view(
    request: Request, db: AsyncSession, rt: Runtime, page: int, status: str | None
) -> dict[str, Any]:
    scope = requested_scope(request, None)
    found = await service.list_runs(
        db,
        scope,
        status=status,
        sort_by="created_at",
        descending=True,
        offset=(page - 1) * LIST_PAGE_SIZE,
        limit=LIST_PAGE_SIZE,
    )

    def page_href(number: int) -> str:
        return "?" + urlencode({k: v for k, v in (("status", status), ("page", number)) if v})

    return {
        "scans": [_row(job) for job in found.jobs],
        "pagination": presenters.pagination(page, LIST_PAGE_SIZE, found.total, with_cursor=False),
        "status_filter": status,
        "query": page_href(page)[1:],
        "page_href": page_href,
        "live": await service.any_active(db, scope),
        "health": await health_report(rt),
        "stats": await stats_module.compute(db, "24h", scope),
    }


ListPage = Annotated[int, Query(ge=1, le=10_000_000)]
StatusFilter = RunStatus | None


@router.get("/", response_class=HTMLResponse)
async def index(
    request: Request, db: Session, rt: RT, who: Who, page: ListPage = 1, status: StatusFilter = None
) -> HTMLResponse:
    """Every scan of the caller with its progress, and the service's figures."""
    view = await _scans_view(request, db, rt, page, status)
    return render(request, "index.html", view | {"caller": who})


@router.get("/fragments/scans", response_class=HTMLResponse)
async def scans_fragment(
    request: Request, db: Session, rt: RT, who: Who, page: ListPage = 1, status: StatusFilter = None
) -> HTMLResponse:
    """The list's live part, polled while a scan is pending or running."""
    view = await _scans_view(request, db, rt, page, status)
    return render(request, "_scans_live.html", view | {"caller": who})


# -- one scan -------------------------------------------------------------------------------------


Notice = Annotated[str | None, Query(max_length=40)]


async def _scan_view(
    request: Request, db: AsyncSession, rt: Runtime, scan_id: str, run: str | None
) -> dict[str, Any]:
    """The run the page shows: ``run``, or the scan id's newest."""
    scope = org_scope(request)
    if run is None:
        job = await service.newest_run(db, checked_scan_id(scan_id), scope)
        if job is None:
            raise service.ScanNotFound("Scan not found", scanId=scan_id)
    else:
        job = await service.run_of(db, checked_scan_id(scan_id), run, scope)
    queue = await service.queue_of(db, job, rt.settings.max_concurrent_scans_per_org)
    return {
        "scan_id": scan_id,
        "job": _row(job),
        "status": presenters.status_body(job, queue),
        "live": job.status in ACTIVE,
    }


@router.get("/scans/{scan_id}", response_class=HTMLResponse)
async def scan_page(
    request: Request,
    scan_id: str,
    db: Session,
    rt: RT,
    who: Who,
    query: Results,
    notice: Notice = None,
) -> HTMLResponse:
    """A scan's newest run, or the one ``run`` names (progress, error, cancel), its run history
    and the results table."""
    view = await _scan_view(request, db, rt, scan_id, query.run)
    results = await results_view(request, db, rt, scan_id, query)
    history = await service.run_history(db, scan_id, org_scope(request), RUN_HISTORY)
    return render(
        request,
        "scan.html",
        view
        | {
            "caller": who,
            "results": results,
            "query": query,
            "notice": NOTICES.get(notice or ""),
            "runs": [_row(job) for job in history],
        },
    )


@router.get("/fragments/scans/{scan_id}", response_class=HTMLResponse)
async def scan_fragment(
    request: Request, scan_id: str, db: Session, rt: RT, who: Who, query: Results
) -> HTMLResponse:
    """The scan's live part, polled while it is pending or running; the poll that sees it end
    also brings the results table (an out-of-band swap), so the page never reloads."""
    view = await _scan_view(request, db, rt, scan_id, query.run)
    if not view["live"]:
        view["results"] = await results_view(request, db, rt, scan_id, query)
    return render(
        request, "_scan_live.html", view | {"caller": who, "query": query, "oob": not view["live"]}
    )


@router.get("/scans/{scan_id}/export")
async def export(
    request: Request,
    scan_id: str,
    db: Session,
    who: Who,
    query: Results,
    fmt: Annotated[ExportFormat, Query(alias="format")] = ExportFormat.CSV,
    table: ExportTable = ExportTable.DEALS,
    bom: bool = False,
) -> Response:
    """The export endpoint's download (same encoders, same download limit), under the cookie's
    key: a link cannot send an ``X-API-Key`` header."""
    job = await service.results_job(
        db, checked_scan_id(scan_id), org_scope(request), partial=query.partial
    )
    return await export_response(request, db, job, query.where, fmt, table=table, bom=bom)


@router.post("/scans/{scan_id}/cancel", dependencies=[SameOrigin])
async def cancel(request: Request, scan_id: str, db: Session, who: Who) -> Response:
    """Cancel the scan's newest run, as ``POST /api/v1/scan/cancel`` does."""
    try:
        await service.cancel_scan(db, checked_scan_id(scan_id), org_scope(request))
    except service.InvalidCancellation:
        return redirect(request, f"/scans/{scan_id}?notice=not-cancellable")
    await db.commit()
    return redirect(request, f"/scans/{scan_id}?notice=cancelled")
