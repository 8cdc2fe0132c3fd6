"""A scan's results table on the dashboard: its query (filters, page, property columns), the rows
of the run results are served from, and the column picker over that run's property definitions
with its live filter."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import Depends, Query, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.api import presenters
from hubspot_deals.api.dashboard.filters import RESULTS_PAGE_SIZES
from hubspot_deals.api.dashboard.pages import Session, Who, redirect, render, router
from hubspot_deals.api.deps import org_scope
from hubspot_deals.api.exports import ExportTable
from hubspot_deals.api.quotas import charge_download
from hubspot_deals.api.requests import PROPERTY_RE
from hubspot_deals.api.routes.scans import checked_scan_id
from hubspot_deals.engine.spec import spec_of
from hubspot_deals.jobs import service
from hubspot_deals.jobs.runtime import Runtime
from hubspot_deals.store.deals import DealFilter
from hubspot_deals.store.jobs import ACTIVE
from hubspot_deals.store.models import JobStatus

#: Property columns a table shows at most (names past it, and names that are none, are dropped).
MAX_COLUMNS = 100
#: HubSpot's longest property name.
MAX_NAME = 100
#: The picker's checkboxes: one parameter a property (``column.NAME=on``), as no parameter may
#: be given twice; its form answers with the page whose ``columns`` they make.
COLUMN_PREFIX = "column."


@dataclass(frozen=True)
class ResultsQuery:
    """The results table's filters, page and property columns, as the page's URL holds them."""

    page: int = 1
    page_size: int = RESULTS_PAGE_SIZES[0]
    pipeline: str | None = None
    dealstage: str | None = None
    owner_id: str | None = None
    partial: bool = False  #: the stored deals of a run that did not complete, asked for
    run: str | None = None  #: the run whose status the page shows (the newest when None)
    columns: tuple[str, ...] = ()  #: the property columns shown besides the row's own
    find: str = ""  #: the column picker's filter (its live part's; not carried by links)

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
            "columns": ",".join(changed.columns) or None,
            "page_size": changed.page_size if changed.page_size != RESULTS_PAGE_SIZES[0] else None,
            "page": changed.page if changed.page != 1 else None,
            "partial": "true" if changed.partial else None,
            "run": changed.run,
        }
        return {k: str(v) for k, v in pairs.items() if v is not None}

    def href(self, **changes: Any) -> str:
        encoded = urlencode(self.params(**changes), safe=",")
        return f"?{encoded}" if encoded else ""

    def export_query(self, fmt: str, table: str = ExportTable.DEALS) -> str:
        """The export of every row these filters select (no paging). A CSV from a browser is
        most likely opened in a spreadsheet: it starts with a byte order mark, which tells
        spreadsheets it is UTF-8."""
        filters = self.params(page=1, page_size=RESULTS_PAGE_SIZES[0], columns=())
        which = {"table": table} if table != ExportTable.DEALS else {}
        return urlencode(
            {"format": fmt} | which | filters | ({"bom": "true"} if fmt == "csv" else {})
        )


def column_names(values: list[str]) -> tuple[str, ...]:
    """Property names in order, each once (comma-joined ones split); what is no property name is
    left out."""
    names = (name.strip() for value in values for name in value.split(","))
    valid = (name for name in names if len(name) <= MAX_NAME and PROPERTY_RE.match(name))
    return tuple(dict.fromkeys(valid))[:MAX_COLUMNS]


async def results_query(
    page: Annotated[int, Query(ge=1, le=10_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = RESULTS_PAGE_SIZES[0],
    pipeline: Annotated[str | None, Query(max_length=255)] = None,
    dealstage: Annotated[str | None, Query(max_length=255)] = None,
    owner_id: Annotated[str | None, Query(max_length=64)] = None,
    partial: bool = False,
    run: Annotated[str | None, Query(max_length=40)] = None,
    columns: Annotated[str, Query(max_length=MAX_COLUMNS * (MAX_NAME + 1))] = "",
    find: Annotated[str, Query(max_length=MAX_NAME)] = "",
) -> ResultsQuery:
    """The filter form sends empty fields for "any": those filter nothing."""
    return ResultsQuery(
        page,
        page_size,
        pipeline or None,
        dealstage or None,
        owner_id or None,
        partial,
        run,
        column_names([columns]),
        find.strip(),
    )


Results = Annotated[ResultsQuery, Depends(results_query)]


def ticked_columns(request: Request) -> tuple[str, ...]:
    """The columns the picker's form ticks, in its order."""
    keys = [key for key in request.query_params if key.startswith(COLUMN_PREFIX)]
    return column_names([key.removeprefix(COLUMN_PREFIX) for key in keys])


# -- the column picker ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """A property the picker offers, in its definition's words: whether the table shows it, and
    whether the picker's filter lets it be seen (a hidden choice that is ticked stays ticked)."""

    name: str
    label: str
    type: str
    field_type: str
    hidden: bool
    calculated: bool
    chosen: bool
    shown: bool


@dataclass(frozen=True)
class Picker:
    """The run's properties by group (groups by name, properties by label), filtered by ``find``."""

    groups: list[tuple[str, list[Choice]]]
    find: str
    total: int
    matches: int


def _matches(definition: dict[str, Any], find: str) -> bool:
    """Every word of ``find`` is in the name, label, type, field type or group."""
    keys = ("name", "label", "type", "field_type", "group")
    text = " ".join(str(definition.get(key) or "") for key in keys).casefold()
    return all(word in text for word in find.casefold().split())


def column_picker(definitions: list[dict[str, Any]], query: ResultsQuery) -> Picker:
    chosen = set(query.columns)
    groups: dict[str, list[Choice]] = {}
    matches = 0
    ordered = sorted(
        definitions,
        key=lambda d: (str(d["group"] or ""), str(d["label"] or d["name"]).casefold(), d["name"]),
    )
    for definition in ordered:
        shown = _matches(definition, query.find)
        matches += shown
        groups.setdefault(definition["group"] or "other", []).append(
            Choice(
                name=definition["name"],
                label=definition["label"] or definition["name"],
                type=definition["type"],
                field_type=definition["field_type"],
                hidden=bool(definition["hidden"]),
                calculated=bool(definition["calculated"]),
                chosen=definition["name"] in chosen,
                shown=shown,
            )
        )
    return Picker(list(groups.items()), query.find, len(definitions), matches)


# -- the table ------------------------------------------------------------------------------------


async def results_view(
    request: Request, db: AsyncSession, rt: Runtime, scan_id: str, query: ResultsQuery
) -> dict[str, Any] | None:
    """The run results are served from (the newest completed one while a re-run goes on); None
    while there is none yet; only ``withheld`` for a run that failed or was cancelled, whose stored
    deals are shown when asked for, as the API serves them."""
    try:
        job = await service.results_job(db, scan_id, org_scope(request), partial=query.partial)
    except service.ScanNotReady as exc:
        status = exc.details["currentStatus"]
        if status in ACTIVE:
            return None
        return {"withheld": status, "partial_href": query.href(partial=True, page=1)}
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
    definitions = await service.run_schema(db, job)
    by_name = {definition["name"]: definition for definition in definitions}
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
        "columns": [by_name[name] for name in query.columns if name in by_name],
        "picker": column_picker(definitions, query),
        "labels": {name: definition["label"] or name for name, definition in by_name.items()},
        "property_history": bool(spec_of(job).history_properties),
    }


@router.get("/scans/{scan_id}/columns")
async def choose_columns(
    request: Request, scan_id: str, db: Session, who: Who, query: Results
) -> Response:
    """The picker's form: the scan's page showing the ticked columns, filters and page kept, its
    URL one to share (``?columns=a,b``). Another organization's scan is not found here either."""
    job = await service.results_job(db, checked_scan_id(scan_id), org_scope(request), partial=True)
    href = replace(query, columns=ticked_columns(request)).href()
    return redirect(request, f"/scans/{job.scan_id}{href}")


@router.get("/fragments/scans/{scan_id}/columns", response_class=HTMLResponse)
async def columns_fragment(
    request: Request, scan_id: str, db: Session, who: Who, query: Results
) -> HTMLResponse:
    """The column picker's choices filtered by ``find`` as the user types (htmx sends the
    picker's form, so what is ticked stays ticked, filtered out of sight or not)."""
    job = await service.results_job(
        db, checked_scan_id(scan_id), org_scope(request), partial=query.partial
    )
    ticked = replace(query, columns=ticked_columns(request))
    picker = column_picker(await service.run_schema(db, job), ticked)
    return render(request, "_column_choices.html", {"picker": picker})
