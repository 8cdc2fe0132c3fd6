"""The web dashboard at ``/``: server-rendered pages (Jinja2), htmx for the live parts.

HTTP only, like the JSON routes: every figure comes from the services, repositories and presenters
those use (jobs/service.py, store/, api/presenters.py, jobs/stats.py, the health report), so the
dashboard cannot disagree with the API. With API keys in use, the key lives in a session cookie and
binds each request to its organization exactly as ``X-API-Key`` does (``deps.bind_key``).
docs/dashboard.md says what each page shows and why the forms need no CSRF token.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import parse_qs, urlencode

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals import __version__
from hubspot_deals.api import presenters
from hubspot_deals.api.deps import (
    bind_key,
    bound_organization,
    keys_required,
    org_scope,
    requested_scope,
    runtime,
    same_origin,
    session,
)
from hubspot_deals.api.errors import STATUS, ApiError
from hubspot_deals.api.exports import ExportFormat, export_response
from hubspot_deals.api.quotas import charge_download
from hubspot_deals.api.routes.scans import MAX_START_BODY_BYTES, checked_scan_id
from hubspot_deals.api.routes.service import health_report
from hubspot_deals.api.schemas import StartScanRequest
from hubspot_deals.api.starting import start_for_caller
from hubspot_deals.api.validation import field_errors
from hubspot_deals.jobs import service
from hubspot_deals.jobs import stats as stats_module
from hubspot_deals.jobs.runtime import Runtime
from hubspot_deals.store.deals import DealFilter
from hubspot_deals.store.jobs import ACTIVE, JobRepository
from hubspot_deals.store.keys import KeyRepository
from hubspot_deals.store.models import JobStatus, ScanJob
from hubspot_deals.store.outages import is_outage

PACKAGE_DIR = Path(__file__).resolve().parents[1]
STATIC_DIR = PACKAGE_DIR / "static"
#: A session cookie (no Max-Age): the key is forgotten when the browser closes.
KEY_COOKIE: Final = "hsd_key"
LIST_PAGE_SIZE = 20
RESULTS_PAGE_SIZES = (25, 50, 100)
STATUSES = (
    JobStatus.PENDING,
    JobStatus.RUNNING,
    JobStatus.COMPLETED,
    JobStatus.FAILED,
    JobStatus.CANCELLED,
)
ASSOCIATION_TYPES = ("contacts", "companies", "line_items")
#: The start form's mode choices: the config's values and what each does.
SCAN_MODES = (
    ("full", "Full: read every deal"),
    ("incremental", "Incremental: only what changed since the last completed run"),
)
#: Notices a redirect may ask for: fixed sentences, so a link cannot put words on the page.
NOTICES = {
    "started": "Scan started.",
    JobStatus.CANCELLED: "Scan cancelled: the deals stored so far stay readable.",
    "not-cancellable": "The scan had already finished: there was nothing to cancel.",
}
KEY_REASONS = {
    "required": "This service uses API keys: enter yours to see your organization's scans.",
    "invalid": "Your API key is not valid any more (revoked, or mistyped): enter a valid one.",
    "forgotten": "The key is forgotten: this browser holds no key now.",
}
#: Pages are self-contained (our script and stylesheet only): nothing inline runs, nothing
#: frames them (the cancel button cannot be clickjacked), no referrer carries a scan id away.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


#: What a table shows for a figure there is none of yet.
NOTHING = "\N{EN DASH}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return NOTHING
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def _number(value: float | None) -> str:
    return NOTHING if value is None else f"{value:,}"


def _when(moment: str | None) -> str:
    """The API's UTC times, shortened for reading (the ``<time>`` element keeps the full one)."""
    return NOTHING if not moment else moment.replace("T", " ").removesuffix("Z") + " UTC"


CHANGE_KINDS = ("added", "updated", "archived", "removed")


def _changes(changes: dict[str, int] | None) -> str:
    """An incremental run's changes, compact as ``scan list`` prints them: ``+12 ~40 -3 archived
    5`` (added, updated, removed; archived only when there are some)."""
    if not changes:
        return NOTHING
    text = f"+{changes['added']:,} ~{changes['updated']:,} -{changes['removed']:,}"
    return f"{text} archived {changes['archived']:,}" if changes["archived"] else text


def _changes_in_words(changes: dict[str, int] | None) -> str:
    if not changes:
        return ""
    return ", ".join(f"{changes[kind]:,} {kind}" for kind in CHANGE_KINDS)


#: A results cell names this many stays at most; longer histories show the first and the last.
HISTORY_SHOWN = 3


def _stage_path(history: list[dict[str, Any]] | None) -> str:
    """``Appointment scheduled → Qualified to buy → Closed won``: a deal's stays, oldest first."""
    if not history:
        return NOTHING
    labels = [span.get("stage_label") or span.get("stage") or "?" for span in history]
    if len(labels) > HISTORY_SHOWN:
        labels = [labels[0], "\N{HORIZONTAL ELLIPSIS}", labels[-1]]
    return " \N{RIGHTWARDS ARROW} ".join(labels)


def _stage_dates(history: list[dict[str, Any]] | None) -> str:
    """One line a stay, with when the deal entered and left it: the cell's title."""
    return "\n".join(
        f"{span.get('stage_label') or span.get('stage')}: {_when(span.get('entered_at'))}"
        f" \N{EN DASH} {_when(span.get('left_at')) if span.get('left_at') else 'now'}"
        for span in history or []
    )


templates = Jinja2Templates(directory=PACKAGE_DIR / "templates")
templates.env.globals |= {
    "version": __version__,
    "statuses": STATUSES,
    "association_types": ASSOCIATION_TYPES,
    "page_sizes": RESULTS_PAGE_SIZES,
    "change_kinds": CHANGE_KINDS,
    "scan_modes": SCAN_MODES,
}
templates.env.filters |= {
    "duration": _duration,
    "number": _number,
    "when": _when,
    "changes": _changes,
    "changes_in_words": _changes_in_words,
    "stage_path": _stage_path,
    "stage_dates": _stage_dates,
}


class KeyNeeded(Exception):
    """The request needs an API key the browser does not hold (or holds wrongly)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DashboardRoute(APIRoute):
    """A route whose failures are pages a person reads, not JSON envelopes, and whose every
    answer carries the dashboard's security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except KeyNeeded as exc:
                response = _to_key_page(request, exc.reason)
            except ApiError as exc:
                response = _error_page(request, exc.status, exc.message, exc.errors)
            except service.ScanError as exc:
                response = _error_page(request, STATUS.get(type(exc), 400), exc.message)
            except RequestValidationError as exc:
                errors = field_errors(exc.errors(), strip_first=True)
                response = _error_page(request, 400, "Input validation failed", errors)
            except Exception as exc:
                if not is_outage(exc):
                    raise  # the middleware answers it (500, logged)
                response = _error_page(
                    request, 503, "The service's database or Redis does not answer; retry later"
                )
            response.headers.update(SECURITY_HEADERS)
            return response

        return route


router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
Session = Annotated[AsyncSession, Depends(session)]
RT = Annotated[Runtime, Depends(runtime)]


def _page(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def _error_page(
    request: Request, status: int, message: str, errors: dict[str, str] | None = None
) -> HTMLResponse:
    return _page(
        request,
        "error.html",
        {"status_code": status, "message": message, "errors": errors or {}},
        status,
    )


def _redirect(request: Request, url: str) -> Response:
    """See other: after a form post, or for htmx (which follows ``HX-Redirect`` instead)."""
    if request.headers.get("hx-request"):
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def _to_key_page(request: Request, reason: str) -> Response:
    response = _redirect(request, f"/key?reason={reason}")
    if reason == "invalid":
        _forget(request, response)
    return response


def _forget(request: Request, response: Response) -> None:
    response.delete_cookie(
        KEY_COOKIE, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )


# -- who is asking --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """The browser's standing: whether it holds a key (keys are in use), and for whom."""

    keyed: bool
    organization: str | None


async def caller(request: Request) -> Caller:
    """The session cookie's key, checked and bound like the API's header; without a valid one
    while keys are in use, the key page."""
    key = request.cookies.get(KEY_COOKIE) or None
    try:
        await bind_key(request, key)
    except ApiError:
        raise KeyNeeded("invalid" if key else "required") from None
    return Caller(keyed=key is not None, organization=bound_organization(request))


Who = Annotated[Caller, Depends(caller)]


SameOrigin = Depends(same_origin)


async def _read_form(request: Request) -> dict[str, list[str]]:
    """A URL-encoded form, capped like the API's start body (nothing past the cap is read)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise ApiError(400, "VALIDATION_ERROR", "Send the dashboard's form")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_START_BODY_BYTES:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", "The form is too large")
    try:
        return parse_qs(raw.decode(), keep_blank_values=True, max_num_fields=2000)
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "VALIDATION_ERROR", "The form could not be read") from None


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
    jobs = JobRepository(db)
    found = await jobs.page(
        org=scope,
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
        "live": await jobs.count(ACTIVE, scope) > 0,
        "health": await health_report(rt),
        "stats": await stats_module.compute(db, "24h", scope),
    }


ListPage = Annotated[int, Query(ge=1, le=10_000_000)]
StatusFilter = Annotated[
    str | None, Query(pattern="^(pending|running|completed|failed|cancelled)$")
]


@router.get("/", response_class=HTMLResponse)
async def index(
    request: Request, db: Session, rt: RT, who: Who, page: ListPage = 1, status: StatusFilter = None
) -> HTMLResponse:
    """Every scan of the caller with its progress, and the service's figures."""
    view = await _scans_view(request, db, rt, page, status)
    return _page(request, "index.html", view | {"caller": who})


@router.get("/fragments/scans", response_class=HTMLResponse)
async def scans_fragment(
    request: Request, db: Session, rt: RT, who: Who, page: ListPage = 1, status: StatusFilter = None
) -> HTMLResponse:
    """The list's live part, polled while a scan is pending or running."""
    view = await _scans_view(request, db, rt, page, status)
    return _page(request, "_scans_live.html", view | {"caller": who})


# -- one scan -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultsQuery:
    """The results table's filters and page, as the results endpoint takes them."""

    page: int = 1
    page_size: int = RESULTS_PAGE_SIZES[0]
    pipeline: str | None = None
    dealstage: str | None = None
    owner_id: str | None = None

    @property
    def where(self) -> DealFilter:
        return DealFilter(self.pipeline, self.dealstage, self.owner_id)

    @property
    def filtered(self) -> bool:
        return self.where != DealFilter()

    def params(self, **changes: Any) -> dict[str, str]:
        """The query's parameters (defaults left out), with ``changes`` made."""
        changed = replace(self, **changes)
        pairs = {
            "pipeline": changed.pipeline,
            "dealstage": changed.dealstage,
            "owner_id": changed.owner_id,
            "page_size": changed.page_size if changed.page_size != RESULTS_PAGE_SIZES[0] else None,
            "page": changed.page if changed.page != 1 else None,
        }
        return {k: str(v) for k, v in pairs.items() if v is not None}

    def href(self, **changes: Any) -> str:
        encoded = urlencode(self.params(**changes))
        return f"?{encoded}" if encoded else ""

    def export_query(self, fmt: str) -> str:
        """The export of every row these filters select (no paging). A CSV from a browser is
        most likely opened in a spreadsheet: it starts with a byte order mark, which tells
        spreadsheets it is UTF-8."""
        filters = self.params(page=1, page_size=RESULTS_PAGE_SIZES[0])
        return urlencode({"format": fmt} | filters | ({"bom": "true"} if fmt == "csv" else {}))


def results_query(
    page: Annotated[int, Query(ge=1, le=10_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = RESULTS_PAGE_SIZES[0],
    pipeline: Annotated[str | None, Query(max_length=255)] = None,
    dealstage: Annotated[str | None, Query(max_length=255)] = None,
    owner_id: Annotated[str | None, Query(max_length=64)] = None,
) -> ResultsQuery:
    """The filter form sends empty fields for "any": those filter nothing."""
    return ResultsQuery(page, page_size, pipeline or None, dealstage or None, owner_id or None)


Results = Annotated[ResultsQuery, Depends(results_query)]
Notice = Annotated[str | None, Query(max_length=40)]


async def _scan_view(
    request: Request, db: AsyncSession, rt: Runtime, scan_id: str
) -> dict[str, Any]:
    job = await JobRepository(db).newest(checked_scan_id(scan_id), org_scope(request))
    if job is None:
        raise service.ScanNotFound("Scan not found", scanId=scan_id)
    queue = await service.queue_of(db, job, rt.settings.max_concurrent_scans_per_org)
    return {
        "scan_id": scan_id,
        "job": _row(job),
        "status": presenters.status_body(job, queue),
        "live": job.status in ACTIVE,
    }


async def _results_view(
    request: Request, db: AsyncSession, rt: Runtime, scan_id: str, query: ResultsQuery
) -> dict[str, Any] | None:
    """The run results are served from (the newest completed one while a re-run goes on), or
    None while there is none yet."""
    try:
        job = await service.results_job(db, scan_id, org_scope(request))
    except service.ScanNotReady:
        return None
    total, rows = await service.result_rows(
        db,
        rt.results,
        job,
        query.where,
        limit=query.page_size,
        offset=(query.page - 1) * query.page_size,
    )
    deals = [presenters.deal_body(row) for row in rows]
    # the same measure as the results endpoint: the JSON the page's deals would make
    await charge_download(request, job.organization_id, len(orjson.dumps(deals)))
    return {
        "job_id": job.id,
        "status": job.status,
        "completed_at": service.iso(job.completed_at),
        "partial": job.status != JobStatus.COMPLETED,
        "deals": deals,
        "pagination": presenters.pagination(query.page, query.page_size, total, with_cursor=False),
        "query": query,
        "page_href": lambda number: query.href(page=number),
        "facets": await service.result_facets(db, rt.results, job),
        "stage_history": any("stage_history" in deal for deal in deals),
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
    """A scan's newest run (progress, error, cancel) and the results table."""
    view = await _scan_view(request, db, rt, scan_id)
    results = await _results_view(request, db, rt, scan_id, query)
    return _page(
        request,
        "scan.html",
        view
        | {
            "caller": who,
            "results": results,
            "query": query,
            "notice": NOTICES.get(notice or ""),
        },
    )


@router.get("/fragments/scans/{scan_id}", response_class=HTMLResponse)
async def scan_fragment(
    request: Request, scan_id: str, db: Session, rt: RT, who: Who, query: Results
) -> HTMLResponse:
    """The scan's live part, polled while it is pending or running; the poll that sees it end
    also brings the results table (an out-of-band swap), so the page never reloads."""
    view = await _scan_view(request, db, rt, scan_id)
    if not view["live"]:
        view["results"] = await _results_view(request, db, rt, scan_id, query)
    return _page(
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
    bom: bool = False,
) -> Response:
    """The export endpoint's download (same encoders, same download limit), under the cookie's
    key: a link cannot send an ``X-API-Key`` header."""
    job = await service.results_job(db, checked_scan_id(scan_id), org_scope(request))
    return await export_response(request, db, job, query.where, fmt, bom=bom)


@router.post("/scans/{scan_id}/cancel", dependencies=[SameOrigin])
async def cancel(request: Request, scan_id: str, db: Session, who: Who) -> Response:
    """Cancel the scan's newest run, as ``POST /api/v1/scan/cancel`` does."""
    try:
        await service.cancel_scan(db, checked_scan_id(scan_id), org_scope(request))
    except service.InvalidCancellation:
        return _redirect(request, f"/scans/{scan_id}?notice=not-cancellable")
    await db.commit()
    return _redirect(request, f"/scans/{scan_id}?notice=cancelled")


# -- starting a scan ------------------------------------------------------------------------------

#: The form's fields, named by the config paths the API's errors use, so each message lands
#: next to its field. Errors of paths below a field (list items) land on the field.
FORM_FIELDS = (
    "config.scanId",
    "config.organizationId",
    "config.auth.hubspot_access_token",
    "config.properties",
    "config.includeAssociations",
    "config.associationTypes",
    "config.batchSize",
    "config.includeStageHistory",
    "config.mode",
    "config.refreshAssociations",
    "config.filters.includeArchived",
    "config.filters.pipelineId",
    "config.filters.dealstage",
    "config.filters.dateFilter.property",
    "config.filters.dateFilter.startDate",
    "config.filters.dateFilter.endDate",
    "config.filters.dateFilter",
)
TOKEN_FIELD = "config.auth.hubspot_access_token"  # noqa: S105 (a field name)


def _whole_number(text: str) -> int | str:
    """Digits as the number they write, else the text. Python's ``int`` refuses more than 4,300
    digits (a ValueError); a number that long is past every bound, so its first 20 digits stand
    for it and the model answers it as it answers any number too large."""
    if not (text.isascii() and text.isdigit()):
        return text
    return int((text.lstrip("0") or "0")[:20])


def config_from_form(form: dict[str, list[str]]) -> dict[str, Any]:
    """The JSON config the form stands for: empty fields are absent, checkboxes booleans, lists
    split on commas or spaces; a batch size that is no whole number stays text, so the model
    answers it with the API's own message."""

    def text(name: str) -> str:
        return (form.get(name) or [""])[0].strip()

    config: dict[str, Any] = {
        "scanId": text("config.scanId"),
        "type": ["hubspot_deals"],
        "auth": {"hubspot_access_token": (form.get(TOKEN_FIELD) or [""])[0]},
        "includeAssociations": "config.includeAssociations" in form,
    }
    if organization := text("config.organizationId"):
        config["organizationId"] = organization
    if properties := text("config.properties").replace(",", " ").split():
        config["properties"] = properties
    if kinds := form.get("config.associationTypes"):
        config["associationTypes"] = kinds
    if batch := text("config.batchSize"):
        config["batchSize"] = _whole_number(batch)
    if mode := text("config.mode"):
        config["mode"] = mode
    config["refreshAssociations"] = "config.refreshAssociations" in form
    config["includeStageHistory"] = "config.includeStageHistory" in form
    filters: dict[str, Any] = {"includeArchived": "config.filters.includeArchived" in form}
    for name in ("pipelineId", "dealstage"):
        if value := text(f"config.filters.{name}"):
            filters[name] = value
    start, end = (
        text("config.filters.dateFilter.startDate"),
        text("config.filters.dateFilter.endDate"),
    )
    if start or end:
        moment: dict[str, Any] = {
            "property": text("config.filters.dateFilter.property") or "createdate"
        }
        if start:
            moment["startDate"] = start
        if end:
            moment["endDate"] = end
        filters["dateFilter"] = moment
    config["filters"] = filters
    return config


def errors_by_field(errors: dict[str, str]) -> dict[str, list[str]]:
    """The API's ``{path: message}`` map, grouped under the form field each path belongs to
    (``config.properties[2]`` under ``config.properties``); anything else under ``form``."""
    grouped: dict[str, list[str]] = {}
    for path, message in errors.items():
        field = path.split("[", 1)[0]
        while field not in FORM_FIELDS and "." in field:
            field = field.rsplit(".", 1)[0]
        grouped.setdefault(field if field in FORM_FIELDS else "form", []).append(message)
    return grouped


def _form_values(form: dict[str, list[str]]) -> dict[str, Any]:
    """What the form shows again after errors: everything but the token."""
    return {name: values for name, values in form.items() if name != TOKEN_FIELD}


def _start_page(
    request: Request,
    who: Caller,
    values: dict[str, list[str]],
    errors: dict[str, str],
    status_code: int = 200,
) -> HTMLResponse:
    grouped = errors_by_field(errors)
    if who.keyed and "config.organizationId" in grouped:  # no such field under a key
        grouped.setdefault("form", []).extend(grouped.pop("config.organizationId"))
    return _page(
        request,
        "start.html",
        {"caller": who, "values": values, "errors": grouped},
        status_code,
    )


@router.get("/start", response_class=HTMLResponse)
async def start_form(request: Request, who: Who) -> HTMLResponse:
    """The start form with the config's defaults."""
    defaults = {
        "config.batchSize": ["100"],
        "config.mode": ["full"],
        "config.filters.dateFilter.property": ["createdate"],
    }
    return _start_page(request, who, defaults, {})


@router.post("/start", dependencies=[SameOrigin])
async def start(request: Request, db: Session, rt: RT, who: Who) -> Response:
    """Validate the form with the API's model and start the scan as the API does; errors are
    shown next to their fields with the API's messages."""
    form = await _read_form(request)
    values = _form_values(form)
    try:
        body = StartScanRequest.model_validate({"config": config_from_form(form)})
    except ValidationError as exc:
        return _start_page(request, who, values, field_errors(exc.errors()), 400)
    try:
        await start_for_caller(request, db, rt, body.config)
    except ApiError as exc:
        return _start_page(request, who, values, exc.errors or {"form": exc.message}, exc.status)
    except service.ScanInProgress as exc:
        return _start_page(request, who, values, {"config.scanId": exc.message}, 409)
    return _redirect(request, f"/scans/{body.config.scanId}?notice=started")


# -- the key --------------------------------------------------------------------------------------


@router.get("/key", response_class=HTMLResponse)
async def key_form(
    request: Request,
    db: Session,
    rt: RT,
    reason: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """Where a browser gives its API key; while the service runs open, there is nothing to give."""
    if reason != "forgotten" and not await keys_required(rt, KeyRepository(db)):
        return _redirect(request, "/")
    return _page(request, "key.html", {"reason": KEY_REASONS.get(reason or ""), "errors": {}})


@router.post("/key", dependencies=[SameOrigin])
async def give_key(request: Request) -> Response:
    """Check the key as the API would, then keep it in a session cookie the page's scripts cannot
    read (HttpOnly) and other sites' requests do not carry (SameSite=Strict)."""
    key = ((await _read_form(request)).get("api_key") or [""])[0].strip()
    error = "Enter your API key" if not key else None
    if key:
        try:
            await bind_key(request, key)
        except ApiError:
            error = "This is not a valid API key (mistyped, or revoked)"
    if error is not None:
        return _page(request, "key.html", {"reason": None, "errors": {"api_key": error}}, 401)
    response = _redirect(request, "/")
    response.set_cookie(
        KEY_COOKIE,
        key,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/key/forget", dependencies=[SameOrigin])
async def forget_key(request: Request) -> Response:
    """Drop the browser's key."""
    response = _redirect(request, "/key?reason=forgotten")
    _forget(request, response)
    return response
