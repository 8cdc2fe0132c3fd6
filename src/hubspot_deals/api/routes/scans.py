"""The scan endpoints. Each handler translates HTTP to a service call and its answer back."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.api import presenters
from hubspot_deals.api.deps import (
    requested_scope,
    runtime_dependency,
    same_origin,
    scope_dependency,
    session,
)
from hubspot_deals.api.errors import ValidationFailed
from hubspot_deals.api.exports import MEDIA_TYPES, ExportFormat, ExportTable, export_response
from hubspot_deals.api.json_body import json_body
from hubspot_deals.api.presenters import DEAL_ENTRY
from hubspot_deals.api.quotas import charge_download
from hubspot_deals.api.requests import SCAN_ID_PATTERN, SCAN_ID_RE, StartScanRequest
from hubspot_deals.api.schemas import (
    CancelResponse,
    ErrorResponse,
    ResultsResponse,
    ScanListResponse,
    ScanStatus,
    SchemaResponse,
    StartScanResponse,
)
from hubspot_deals.api.starting import start_for_caller
from hubspot_deals.jobs import service
from hubspot_deals.jobs.runtime import Runtime
from hubspot_deals.store.deals import DealFilter
from hubspot_deals.store.jobs import OrgScope
from hubspot_deals.store.models import JobStatus

router = APIRouter(prefix="/scan", tags=["scans"])
RunStatus = Literal["pending", "running", "completed", "failed", "cancelled"]
Session = Annotated[AsyncSession, Depends(session)]
Scope = Annotated[OrgScope, Depends(scope_dependency)]
CROSS_SITE: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorResponse, "description": "Sent by another site's page (a browser says so)"}
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No scan of this id (for the caller)"}
}
NOT_READY: dict[int | str, dict[str, Any]] = {
    404: {
        "model": ErrorResponse,
        "description": "No scan of this id for the caller (SCAN_NOT_FOUND), or it has not "
        "completed and partial=true was not given (SCAN_NOT_READY, details.currentStatus)",
    }
}
#: Rows of a run that did not complete are served only when asked for by name.
Partial = Annotated[
    bool,
    Query(
        description="Serve the stored deals of a run that did not complete (running, failed or "
        "cancelled) instead of answering 404 SCAN_NOT_READY; the body says partial: true."
    ),
]
#: The path parameter as documented; ``checked_scan_id`` enforces it with the spec's message.
ScanId = Annotated[
    str,
    Path(json_schema_extra={"minLength": 1, "maxLength": 255, "pattern": SCAN_ID_PATTERN}),
]


def checked_scan_id(scan_id: str) -> str:
    if not 0 < len(scan_id) <= 255 or not SCAN_ID_RE.match(scan_id):
        raise ValidationFailed(
            {
                "scan_id": "Must be alphanumeric with hyphens/underscores only, at most 255 characters"
            }
        )
    return scan_id


@router.post(
    "/start",
    status_code=202,
    dependencies=[Depends(same_origin)],
    response_model=StartScanResponse,
    responses={
        401: {
            "model": ErrorResponse,
            "description": "No valid X-API-Key (UNAUTHORIZED), or HubSpot rejected the token "
            "(HUBSPOT_AUTH_FAILED, details.hubspot_error and details.status_code)",
        },
        403: {
            "model": ErrorResponse,
            "description": "organizationId is not the API key's, or another site's page sent it "
            "(FORBIDDEN); or the token lacks crm.objects.deals.read (HUBSPOT_AUTH_FAILED, "
            "details.missing_scopes)",
        },
        404: {
            "model": ErrorResponse,
            "description": "connectionId names no connection of the caller's "
            "(CONNECTION_NOT_FOUND)",
        },
        413: {"model": ErrorResponse, "description": "The body is over 1 MB"},
        409: {"model": ErrorResponse, "description": "A scan of this id is in progress"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/StartScanRequest"}}
            },
        }
    },
)
async def start(
    request: Request, db: Session, rt: Annotated[Runtime, Depends(runtime_dependency)]
) -> dict[str, Any]:
    """Start extracting a portal's deals; the job runs in the background."""
    config = (await json_body(request, StartScanRequest)).config
    started = await start_for_caller(request, db, rt, config)
    return {
        "message": "HubSpot deal extraction started",
        "scanId": config.scanId,
        "status": "started",
        "jobId": started.job.id,
        "estimatedDuration": started.estimated_duration,
    }


@router.get(
    "/status/{scan_id}",
    response_model=ScanStatus,
    response_model_exclude_unset=True,
)
async def status(
    scan_id: ScanId, db: Session, scope: Scope, rt: Annotated[Runtime, Depends(runtime_dependency)]
) -> dict[str, Any]:
    """The newest run of a scan; ``status: not_found`` (still 200) when there is none."""
    job = await service.newest_run(db, checked_scan_id(scan_id), scope)
    if job is None:
        return presenters.NOT_FOUND_STATUS
    queue = await service.queue_of(db, job, rt.settings.max_concurrent_scans_per_org)
    return presenters.status_body(job, queue)


@router.post(
    "/cancel/{scan_id}",
    response_model=CancelResponse,
    dependencies=[Depends(same_origin)],
    responses=NOT_FOUND | CROSS_SITE,
)
async def cancel(scan_id: ScanId, db: Session, scope: Scope) -> dict[str, Any]:
    """Cancel a pending or running scan; it stops before its next page is stored."""
    job = await service.cancel_scan(db, checked_scan_id(scan_id), scope)
    await db.commit()
    return {
        "message": "Extraction cancelled successfully",
        "scanId": job.scan_id,
        "status": JobStatus.CANCELLED,
        "itemsProcessed": job.processed_items,
        "cancelledAt": service.iso(job.completed_at),
    }


def _position(cursor: str, with_page: bool, job_id: str, query: str) -> presenters.Cursor:
    """The page a cursor stands for, if it is one of this run and these filters."""
    if with_page:
        raise ValidationFailed({"cursor": "Give cursor or page, not both"})
    decoded = presenters.decode_cursor(cursor)
    if decoded is None or decoded.job_id != job_id:
        raise ValidationFailed({"cursor": "Not a cursor of this scan's results"})
    if decoded.query != query:
        raise ValidationFailed(
            {
                "cursor": "Made with other filters (pipeline, dealstage, owner_id): ask with "
                "the filters of the page that gave it, or without a cursor"
            }
        )
    return decoded


@router.get("/results/{scan_id}", response_model=ResultsResponse, responses=NOT_READY)
async def results(
    request: Request,
    scan_id: ScanId,
    db: Session,
    scope: Scope,
    rt: Annotated[Runtime, Depends(runtime_dependency)],
    page: Annotated[int, Query(ge=1, le=10_000_000, description="Not with cursor")] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None,
        Query(
            max_length=200,
            description="next_cursor of the previous page, asked with the same filters",
        ),
    ] = None,
    pipeline: Annotated[str | None, Query(max_length=255)] = None,
    dealstage: Annotated[str | None, Query(max_length=255)] = None,
    owner_id: Annotated[str | None, Query(max_length=64)] = None,
    partial: Partial = False,
) -> Response:
    """Extracted deals by page number, or by ``cursor`` (keyset: as fast on page 20,000 as on 1)."""
    job = await service.results_job(
        db, checked_scan_id(scan_id), scope, partial=partial, brief=True
    )
    where = DealFilter(pipeline, dealstage, owner_id)
    query = presenters.query_fingerprint(where)
    if cursor is not None:
        position = _position(cursor, "page" in request.query_params, job.id, query)
        offset = position.offset
        total, rows = await service.result_entries(
            db, rt.results, job, where, DEAL_ENTRY, limit=page_size, after_key=position.deal_key
        )
        page = offset // page_size + 1
    else:
        offset = (page - 1) * page_size
        total, rows = await service.result_entries(
            db, rt.results, job, where, DEAL_ENTRY, limit=page_size, offset=offset
        )
    more = bool(rows) and offset + len(rows) < total
    next_cursor = (
        presenters.encode_cursor(presenters.Cursor(job.id, query, rows[-1][0], offset + len(rows)))
        if more
        else None
    )
    # built to the ResultsResponse shape (tests hold it) and encoded by orjson as is, the deals
    # as the database wrote them (store/deal_entries.py): validating, decoding and encoding up
    # to 500 deals again would cost more than reading them
    deals = b"[" + b",".join(entry for _, entry in rows) + b"]"
    body = {
        "scanId": job.scan_id,
        "status": job.status,
        "partial": job.status != JobStatus.COMPLETED,
        "pagination": presenters.pagination(page, page_size, total, next_cursor),
        "deals": orjson.Fragment(deals),
    }
    response = Response(orjson.dumps(body), media_type="application/json")
    await charge_download(request, job.organization_id, len(response.body))
    return response


@router.get(
    "/results/{scan_id}/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Every deal of the scan (the filters applied), streamed as a file",
            "content": {media: {} for media in MEDIA_TYPES.values()},
            "headers": {
                "Content-Disposition": {"schema": {"type": "string"}},
                "X-Total-Count": {"schema": {"type": "integer"}},
                "X-Scan-Status": {
                    "description": "The run's status: other than completed, a partial file",
                    "schema": {"type": "string"},
                },
            },
        },
        **NOT_READY,
    },
)
async def export(
    request: Request,
    scan_id: ScanId,
    db: Session,
    scope: Scope,
    fmt: Annotated[ExportFormat, Query(alias="format")] = ExportFormat.CSV,
    table: Annotated[
        ExportTable,
        Query(
            description="deals, or property_history: one line per value each property of "
            "propertiesWithHistory took (deal_id, property, value, timestamp, source, source_id)"
        ),
    ] = ExportTable.DEALS,
    bom: Annotated[bool, Query(description="CSV only: a UTF-8 byte order mark")] = False,
    pipeline: Annotated[str | None, Query(max_length=255)] = None,
    dealstage: Annotated[str | None, Query(max_length=255)] = None,
    owner_id: Annotated[str | None, Query(max_length=64)] = None,
    partial: Partial = False,
) -> StreamingResponse:
    """Every deal of a scan as CSV, NDJSON or Parquet, streamed whatever the size; counted
    against the organization's download limit (slowed to it rather than cut off)."""
    job = await service.results_job(db, checked_scan_id(scan_id), scope, partial=partial)
    return await export_response(
        request, db, job, DealFilter(pipeline, dealstage, owner_id), fmt, table=table, bom=bom
    )


@router.get("/schema/{scan_id}", response_model=SchemaResponse, responses=NOT_READY)
async def schema(scan_id: ScanId, db: Session, scope: Scope, partial: Partial = False) -> Any:
    """The property definitions of the run whose deals the results serve: what each property
    is (type, field type, group, options with labels, hidden, calculated)."""
    job = await service.results_job(db, checked_scan_id(scan_id), scope, partial=partial)
    body = {
        "scanId": job.scan_id,
        "runId": job.id,
        "status": job.status,
        "properties": [presenters.definition_body(d) for d in await service.run_schema(db, job)],
    }
    return Response(orjson.dumps(body), media_type="application/json")


@router.get(
    "/list",
    response_model=ScanListResponse,
    response_model_exclude_unset=True,
)
async def list_scans(
    request: Request,
    db: Session,
    status: RunStatus | None = None,
    organization_id: Annotated[str | None, Query(max_length=255)] = None,
    page: Annotated[int, Query(ge=1, le=10_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
    sort_by: Literal["created_at", "completed_at"] = "created_at",
    sort_order: Literal["asc", "desc"] = "desc",
) -> dict[str, Any]:
    """Every scan run, newest first by default."""
    effective = requested_scope(request, organization_id)
    found = await service.list_runs(
        db,
        effective,
        status=status,
        sort_by=sort_by,
        descending=sort_order == "desc",
        offset=(page - 1) * page_size,
        limit=page_size,
    )
    return {
        "pagination": presenters.pagination(page, page_size, found.total, with_cursor=False),
        "scans": [presenters.list_item(j) for j in found.jobs],
    }
