"""Request and response bodies, mirroring api-spec.md field for field."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

SCAN_ID_PATTERN = r"^[A-Za-z0-9_-]+$"
SCAN_ID_RE = re.compile(SCAN_ID_PATTERN)
#: HubSpot's internal property names: lowercase letters, digits and underscores.
PROPERTY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
AssociationType = Literal["contacts", "companies", "line_items"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _check_moment(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        if len(value) == 10:
            date.fromisoformat(value)
        else:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("Must be a date (YYYY-MM-DD) or an ISO-8601 datetime") from None
    return value


def _as_datetime(value: str) -> datetime:
    moment = datetime.fromisoformat(
        value.replace("Z", "+00:00") if len(value) > 10 else value + "T00:00:00+00:00"
    )
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Auth(_Strict):
    hubspot_access_token: SecretStr = Field(
        description="HubSpot private-app or OAuth access token."
    )

    @field_validator("hubspot_access_token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value()
        if not token.strip():
            raise ValueError("Field is required")
        if len(token) > 512 or any(c.isspace() or not c.isprintable() for c in token):
            raise ValueError("Must be a HubSpot access token (no spaces, at most 512 characters)")
        return value


class DateFilter(_Strict):
    property: str = Field("createdate", description="A date or datetime deal property.")
    startDate: str | None = Field(None, description="YYYY-MM-DD or ISO-8601; inclusive.")
    endDate: str | None = Field(
        None, description="YYYY-MM-DD (the whole day) or ISO-8601; inclusive."
    )

    @field_validator("property")
    @classmethod
    def _property(cls, value: str) -> str:
        if not PROPERTY_RE.match(value) or len(value) > 100:
            raise ValueError(
                "Must be a HubSpot property name (lowercase letters, digits, underscores)"
            )
        return value

    @field_validator("startDate", "endDate")
    @classmethod
    def _moment(cls, value: str | None) -> str | None:
        return _check_moment(value)

    @model_validator(mode="after")
    def _order(self) -> DateFilter:
        if self.startDate is None and self.endDate is None:
            raise ValueError("Give startDate, endDate or both")
        if (
            self.startDate
            and self.endDate
            and _as_datetime(self.endDate) < _as_datetime(self.startDate)
        ):
            raise ValueError("endDate must not be before startDate")
        return self


class Filters(_Strict):
    includeArchived: bool = False
    pipelineId: str | None = Field(None, min_length=1, max_length=255)
    dealstage: str | None = Field(None, min_length=1, max_length=255)
    dateFilter: DateFilter | None = None


class ScanConfig(_Strict):
    scanId: str = Field(max_length=255, description="Letters, digits, hyphens and underscores.")
    type: list[str] = Field(description='Must include "hubspot_deals".')
    auth: Auth
    organizationId: str | None = Field(None, min_length=1, max_length=255)
    properties: list[str] | None = Field(None, max_length=1000)
    includeAssociations: bool = False
    associationTypes: list[AssociationType] | None = Field(None, max_length=3)
    filters: Filters | None = None
    batchSize: int = Field(100, ge=1, le=100)

    @field_validator("scanId")
    @classmethod
    def _scan_id(cls, value: str) -> str:
        if not value:
            raise ValueError("Field is required")
        if not SCAN_ID_RE.match(value):
            raise ValueError("Must be alphanumeric with hyphens/underscores only")
        return value

    @field_validator("type")
    @classmethod
    def _type(cls, value: list[str]) -> list[str]:
        if "hubspot_deals" not in value:
            raise ValueError('Must include "hubspot_deals"')
        return value

    @field_validator("properties")
    @classmethod
    def _properties(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        bad = [p for p in value if not PROPERTY_RE.match(p) or len(p) > 100]
        if bad:
            raise ValueError(
                f"Not HubSpot property names (lowercase letters, digits, underscores): {', '.join(bad[:5])}"
            )
        if len(set(value)) != len(value):
            raise ValueError("Must not repeat a property")
        return value

    @field_validator("associationTypes")
    @classmethod
    def _association_types(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("Must not repeat an association type")
        return value

    @field_validator("organizationId")
    @classmethod
    def _organization(cls, value: str | None) -> str | None:
        if value is not None and not SCAN_ID_RE.match(value):
            raise ValueError("Must be alphanumeric with hyphens/underscores only")
        return value

    def stored(self) -> dict[str, Any]:
        """The config as kept with the job: everything but the token."""
        return self.model_dump(exclude={"auth"}, exclude_none=False)


class StartScanRequest(_Strict):
    config: ScanConfig


# -- responses ------------------------------------------------------------------------------------


class StartScanResponse(BaseModel):
    message: str
    scanId: str
    status: str
    jobId: str
    estimatedDuration: str


class Progress(BaseModel):
    total_items: int | None
    processed_items: int
    failed_items: int
    success_rate: str
    current_batch: int | None = None
    total_batches: int | None = None
    estimated_time_remaining: str | None = None
    duration_seconds: int | None = None


class Results(BaseModel):
    deals_extracted: int
    with_associations: int
    archived_deals: int
    data_size_mb: float


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
    associations: dict[str, list[AssociationRef]] | None


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
