"""The responses' models, field for field as api-spec.md shows them (the OpenAPI document's
schemas)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hubspot_deals.api.requests import ScanMode


class StartScanResponse(BaseModel):
    message: str
    scanId: str
    status: str
    jobId: str
    estimatedDuration: str


class Progress(BaseModel):
    total_items: int = Field(description="0 until the scan has counted the deals")
    processed_items: int
    failed_items: int
    success_rate: str
    current_batch: int | None = None
    total_batches: int | None = None
    estimated_time_remaining: str | None = None
    duration_seconds: int | None = None


class Changes(BaseModel):
    """How an incremental run changed the result set it started from."""

    added: int
    updated: int
    archived: int
    removed: int = Field(
        description="Deals gone from the result set: deleted from HubSpot, or no longer "
        "matching the scan's filters."
    )
    merged: int = Field(
        0, description="Deals HubSpot merged into another deal (which lists them in merged_from)."
    )


class Sync(BaseModel):
    """How the run reads HubSpot: everything, or what changed since an earlier run."""

    requested_mode: ScanMode
    mode: ScanMode | None = Field(description="How it runs; null until it has started.")
    reason: str | None = Field(None, description="Why an incremental scan ran as a full one.")
    base_job_id: str | None = Field(None, description="The run an incremental run started from.")
    modified_since: str | None = Field(
        None,
        description="Deals modified since this moment were read (the base run's mark, less the overlap).",
    )
    high_water_mark: str | None = Field(
        None, description="When this run began reading: where the next incremental run starts."
    )


class Results(BaseModel):
    deals_extracted: int = Field(description="Deals read from HubSpot by this run.")
    with_associations: int
    archived_deals: int
    data_size_mb: float
    deals_held: int = Field(description="Deals in the run's result set.")
    untyped_values: int = Field(
        0,
        description="Property values this run read that do not fit their property's type "
        "(kept as text in every export).",
    )
    changes: Changes | None = Field(None, description="Incremental runs only.")


class PropertyType(BaseModel):
    type: str
    fieldType: str


class Retyped(BaseModel):
    name: str
    from_: PropertyType = Field(alias="from")
    to: PropertyType


class SchemaChanges(BaseModel):
    added: list[str]
    removed: list[str]
    retyped: list[Retyped]


class PropertyOptionBody(BaseModel):
    value: str
    label: str


class PropertyDefinitionBody(BaseModel):
    name: str
    label: str
    type: str = Field(description="bool, date, datetime, enumeration, number, phone_number, string")
    fieldType: str
    group: str
    options: list[PropertyOptionBody]
    hidden: bool
    calculated: bool
    hubspotDefined: bool


class SchemaResponse(BaseModel):
    scanId: str
    runId: str = Field(description="The run whose definitions these are (the one results serve).")
    status: str
    properties: list[PropertyDefinitionBody]


class QueuePlace(BaseModel):
    """Why a pending scan has not started: its organization runs its maximum of scans."""

    position: int
    running_in_organization: int
    max_running_per_organization: int
    message: str


class ScanStatus(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"description": "Fields absent for a state are omitted."}
    )

    id: str | None
    scanId: str | None
    status: str
    scanType: str | None = None
    organizationId: str | None = None
    started_at: str | None
    completed_at: str | None
    error_message: str | None
    error_code: str | None = None
    created_at: str | None
    updated_at: str | None
    progress: Progress | None = None
    queue: QueuePlace | None = None
    config: dict[str, Any] | None = None
    warnings: list[str] | None = Field(
        None,
        description="What the config names that the portal does not have (properties, the date "
        "filter's property, pipelines, stages), each with the closest name; the scan still runs.",
    )
    sync: Sync | None = None
    schema_changes: SchemaChanges | None = Field(
        None,
        description="How the portal's properties changed since the run the scan id served "
        "before this one; null for a first run.",
    )
    results: Results | None = None


class CancelResponse(BaseModel):
    message: str
    scanId: str
    status: str
    itemsProcessed: int
    cancelledAt: str | None


class Pagination(BaseModel):
    current_page: int
    page_size: int
    total_items: int
    total_pages: int
    has_next: bool
    has_previous: bool
    next_page: int | None
    previous_page: int | None
    next_cursor: str | None = None


class AssociationRef(BaseModel):
    id: str
    type: str


class StageSpan(BaseModel):
    stage: str
    stage_label: str | None
    entered_at: str
    left_at: str | None = Field(description="null while the deal is still in the stage.")


class HistoryValue(BaseModel):
    value: str | None
    timestamp: str | None
    source: str | None = Field(description="HubSpot's sourceType: CRM_UI, INTEGRATION, IMPORT...")
    source_id: str | None


class DealResult(BaseModel):
    id: str
    deal_id: str
    deal_name: str | None
    amount: float | None
    currency: str | None
    deal_stage: str | None
    deal_stage_label: str | None
    pipeline_id: str | None
    pipeline_label: str | None
    close_date: str | None
    deal_created_at: str | None
    deal_updated_at: str | None
    owner_id: str | None
    owner_email: str | None
    deal_type: str | None
    is_archived: bool
    deal_url: str | None
    properties: dict[str, str | None]
    associations: dict[str, list[AssociationRef]] = Field(
        description="One list per association type the scan read; {} when it read none"
    )
    stage_history: list[StageSpan] | None = Field(
        None, description="Oldest first; only with includeStageHistory."
    )
    merged_from: list[str] = Field(
        description="Ids of the deals HubSpot merged into this one (hs_merged_object_ids)."
    )
    property_history: dict[str, list[HistoryValue]] | None = Field(
        None, description="Per property of propertiesWithHistory, every value, oldest first."
    )


class ResultsResponse(BaseModel):
    scanId: str
    status: str
    partial: bool = Field(
        description="True when the scan failed or was cancelled: what was stored."
    )
    pagination: Pagination
    deals: list[DealResult]


class ScanListItem(BaseModel):
    id: str
    scanId: str
    status: str
    scanType: str
    organizationId: str | None
    started_at: str | None
    completed_at: str | None
    total_items: int | None
    processed_items: int
    success_rate: str
    duration_seconds: int | None = None
    data_size_mb: float | None = None
    error_message: str | None = None
    estimated_time_remaining: str | None = None
    mode: ScanMode = Field(description="How the run reads HubSpot (as requested until it starts).")
    changes: Changes | None = Field(None, description="Completed incremental runs only.")


class ScanListResponse(BaseModel):
    pagination: Pagination
    scans: list[ScanListItem]


class ErrorResponse(BaseModel):
    status: Literal["error"]
    error_code: str
    message: str
    details: dict[str, Any]
    errors: dict[str, str] | None = None
    timestamp: str
    request_id: str | None


class DependencyHealth(BaseModel):
    #: degraded: HubSpot's latest answer was a 5xx or 429, or none came (a scan retries it)
    status: Literal["healthy", "degraded", "unhealthy", "unknown", "not_configured"]
    response_time_ms: int | None
    rate_limit_remaining: int | None = None
    error: str | None = None


class HealthResponse(BaseModel):
    status: Literal["healthy", "degraded", "unhealthy"]
    timestamp: str
    version: str
    uptime_seconds: int
    dependencies: dict[str, DependencyHealth]
    metrics: dict[str, int | None] = Field(description="null while the database cannot say")


class StatsSummary(BaseModel):
    total_scans: int = Field(description="Runs that reached an outcome: successful + failed")
    successful_scans: int
    failed_scans: int
    cancelled_scans: int = Field(description="Cancelled runs (not in total_scans)")
    success_rate: str
    total_deals_extracted: int
    average_scan_duration_seconds: int
    total_data_extracted_mb: float


class PerformanceMetrics(BaseModel):
    fastest_scan_seconds: int
    slowest_scan_seconds: int
    average_deals_per_second: float
    peak_concurrent_scans: int


class ErrorAnalysis(BaseModel):
    authentication_failures: int
    rate_limit_errors: int
    network_timeouts: int
    other_errors: int


class StatsResponse(BaseModel):
    period: Literal["24h", "7d", "30d"]
    timestamp: str
    summary: StatsSummary
    status_breakdown: dict[str, int]
    performance_metrics: PerformanceMetrics
    error_analysis: ErrorAnalysis


class ConnectionResponse(BaseModel):
    """A stored HubSpot credential, never its secret."""

    connectionId: str
    name: str
    organizationId: str | None
    authType: Literal["token", "oauth"]
    portalId: int | None = Field(description="The portal the credential reaches (last check)")
    hubDomain: str | None = Field(description="The portal's UI host (last check)")
    scopes: list[str] = Field(description="The reads of a deal scan it may do (last check)")
    createdAt: str
    checkedAt: str | None


class ConnectionList(BaseModel):
    connections: list[ConnectionResponse]


class DeletedConnection(BaseModel):
    message: str
    connectionId: str
