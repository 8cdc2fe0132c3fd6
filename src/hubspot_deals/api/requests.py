"""The start request, validated field by field as api-spec.md shows it, and the typed scan it
becomes (``ScanConfig.to_spec``). Errors are keyed by the field's path (api/validation.py)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    JsonValue,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict

from hubspot_deals.api.request_auth import Auth
from hubspot_deals.api.strict import Strict, given_without
from hubspot_deals.engine import (
    DEFAULT_ASSOCIATIONS,
    DEFAULT_PROPERTIES,
    ScanFilters,
    ScanSpec,
    day_bounds_ms,
)

SCAN_ID_PATTERN = r"^[A-Za-z0-9_-]+$"
SCAN_ID_RE = re.compile(SCAN_ID_PATTERN)
#: An existing tenant's id as it is (``acme/eu``, ``Org 12``): visible characters and inner
#: spaces, no control characters, nothing blank at either end.
ORGANIZATION_PATTERN = r"^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$"
ORGANIZATION_RE = re.compile(ORGANIZATION_PATTERN)
CONNECTION_ID_PATTERN = r"^conn_[0-9a-f]{16}$"
#: HubSpot's internal property names: lowercase letters, digits and underscores.
PROPERTY_PATTERN = r"^[a-z][a-z0-9_]*$"
PROPERTY_RE = re.compile(PROPERTY_PATTERN)
#: ``"properties": "all"`` (or ``["*"]``): every property the portal defines when the run starts.
ALL_PROPERTIES = "*"
_PROPERTY_ITEMS: JsonDict = {"type": "string", "pattern": PROPERTY_PATTERN, "maxLength": 100}
#: propertiesWithHistory: HubSpot reads 50 deals a page with history, and we ask for 50 names at
#: most (each name's values ride on every deal).
MAX_HISTORY_PROPERTIES = 50
#: A date, or a date and time (RFC 3339), as the document states it; the validators parse them.
MOMENT_SCHEMA: JsonDict = {
    "anyOf": [
        {"type": "string", "format": "date"},
        {"type": "string", "format": "date-time"},
        {"type": "null"},
    ]
}
AssociationType = Literal["contacts", "companies", "line_items"]
ScanMode = Literal["full", "incremental"]


def _property_name(value: str) -> str:
    if value == ALL_PROPERTIES:
        return value
    if not PROPERTY_RE.match(value) or len(value) > 100:
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise ValueError(
            f"{shown!r} is not a HubSpot property name (lowercase letters, digits and "
            "underscores, starting with a letter, at most 100 characters)"
        )
    return value


#: Checked one by one, so each bad name is reported under its own index.
PropertyName = Annotated[str, AfterValidator(_property_name)]


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


class DateFilter(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": [end], "properties": {end: {"type": "string"}}}
                for end in ("startDate", "endDate")
            ],
            "description": "endDate must not be before startDate.",
        }
    )

    property: str = Field(
        "createdate",
        max_length=100,
        description="A date or datetime deal property.",
        json_schema_extra={"pattern": PROPERTY_PATTERN},
    )
    startDate: str | None = Field(
        None, description="YYYY-MM-DD or ISO-8601; inclusive.", json_schema_extra=MOMENT_SCHEMA
    )
    endDate: str | None = Field(
        None,
        description="YYYY-MM-DD (the whole day) or ISO-8601; inclusive.",
        json_schema_extra=MOMENT_SCHEMA,
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


class Filters(Strict):
    includeArchived: bool = False
    pipelineId: str | None = Field(None, min_length=1, max_length=255)
    dealstage: str | None = Field(None, min_length=1, max_length=255)
    dateFilter: DateFilter | None = None


#: Fields that mean nothing without ``includeAssociations: true``, and when they are set.
_NEEDS_ASSOCIATIONS: tuple[tuple[str, JsonDict], ...] = (
    ("refreshAssociations", {"const": True}),
    ("associationTypes", {"type": "array"}),
)


#: refreshAssociations and associationTypes need includeAssociations; auth or connectionId.
_NEEDS_INCLUDE: JsonDict = {
    "properties": {"includeAssociations": {"const": True}},
    "required": ["includeAssociations"],
}
_CONFIG_RULES: list[JsonValue] = [
    {"if": {"properties": {f: when}, "required": [f]}, "then": _NEEDS_INCLUDE}
    for f, when in _NEEDS_ASSOCIATIONS
]
_CONFIG_RULES.append(
    {
        "oneOf": [
            given_without({"auth": "object"}, {"connectionId": "string"}),
            given_without({"connectionId": "string"}, {"auth": "object"}),
        ]
    }
)


class ScanConfig(Strict):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"allOf": _CONFIG_RULES},
    )

    scanId: str = Field(
        max_length=255,
        description="Letters, digits, hyphens and underscores.",
        json_schema_extra={"minLength": 1, "pattern": SCAN_ID_PATTERN},
    )
    type: list[str] = Field(
        description='Must include "hubspot_deals".',
        json_schema_extra={"contains": {"const": "hubspot_deals"}},
    )
    connectionId: str | None = Field(
        None,
        description="A stored connection (POST /connections) instead of auth.",
        json_schema_extra={"pattern": CONNECTION_ID_PATTERN},
    )
    #: checked after connectionId (declared first), even when not given: one or the other
    auth: Auth | None = Field(
        None,
        validate_default=True,
        description="The HubSpot credential: a token or an OAuth grant (or connectionId).",
    )
    organizationId: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        description="Any tenant id: visible characters, inner spaces allowed.",
        json_schema_extra={"pattern": ORGANIZATION_PATTERN},
    )
    properties: list[PropertyName] | None = Field(
        None,
        max_length=1000,
        description='The properties to extract; "all" (or ["*"]) for every property the portal '
        "defines when the run starts, hidden ones included.",
        json_schema_extra={
            "anyOf": [
                {"type": "string", "const": "all"},
                {"type": "array", "uniqueItems": True, "maxItems": 1000, "items": _PROPERTY_ITEMS},
                {"type": "array", "items": {"const": "*"}, "minItems": 1, "maxItems": 1},
                {"type": "null"},
            ]
        },
    )
    propertiesWithHistory: list[PropertyName] | None = Field(
        None,
        max_length=MAX_HISTORY_PROPERTIES,
        description="Properties whose every value (with when and by what it was set) each deal "
        "carries, up to 50.",
        json_schema_extra={"uniqueItems": True, "items": _PROPERTY_ITEMS},
    )
    includeAssociations: bool = False
    associationTypes: list[AssociationType] | None = Field(
        None, max_length=3, json_schema_extra={"uniqueItems": True}
    )
    filters: Filters | None = None
    batchSize: int = Field(100, ge=1, le=100)
    mode: ScanMode = Field(
        "full",
        description="incremental: start from the latest completed run of this scanId and read "
        "only what changed since (a full scan when there is none).",
    )
    refreshAssociations: bool = Field(
        False,
        description="In an incremental run, re-read every deal's associations, not only those of "
        "changed deals (HubSpot does not mark a deal modified when only its associations change).",
    )
    includeStageHistory: bool = Field(
        False, description="Give each deal its stage history (stage, entered at, left at)."
    )

    @field_validator("batchSize", mode="before")
    @classmethod
    def _whole_number(cls, value: Any) -> Any:
        """JSON does not tell 71 from 71.0 (JSON Schema calls both integers); 71.5 stays wrong."""
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value

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

    @field_validator("properties", mode="before")
    @classmethod
    def _all(cls, value: Any) -> Any:
        return [ALL_PROPERTIES] if value == "all" else value

    @field_validator("properties", "propertiesWithHistory")
    @classmethod
    def _properties(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if value is None:
            return None
        if len(set(value)) != len(value):
            raise ValueError("Must not repeat a property")
        if ALL_PROPERTIES in value and info.field_name != "properties":
            raise ValueError('Name each property ("*" means every property only in properties)')
        if ALL_PROPERTIES in value and len(value) > 1:
            raise ValueError('"*" (every property) stands alone: give "all" or ["*"]')
        return value

    @field_validator("associationTypes")
    @classmethod
    def _association_types(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if value is None:
            return None
        if len(set(value)) != len(value):
            raise ValueError("Must not repeat an association type")
        if not info.data.get("includeAssociations"):
            raise ValueError(
                "Needs includeAssociations: true (no associations are read without it)"
            )
        return value

    @field_validator("refreshAssociations")
    @classmethod
    def _refresh(cls, value: bool, info: ValidationInfo) -> bool:
        if value and not info.data.get("includeAssociations"):
            raise ValueError(
                "Needs includeAssociations: true (there are no associations to refresh)"
            )
        return value

    @field_validator("auth")
    @classmethod
    def _one_credential(cls, auth: Auth | None, info: ValidationInfo) -> Auth | None:
        connection = info.data.get("connectionId")
        if auth is not None and connection is not None:
            raise ValueError("Give auth or connectionId, not both")
        if auth is None and connection is None:
            raise ValueError("Field is required (or give connectionId)")
        return auth

    @field_validator("organizationId")
    @classmethod
    def _organization(cls, value: str | None) -> str | None:
        if value is not None and not ORGANIZATION_RE.fullmatch(value):
            raise ValueError(
                "Must be visible characters (inner spaces allowed), no control characters, "
                "nothing blank at either end"
            )
        return value

    def stored(self) -> dict[str, Any]:
        """The config as kept with the job: everything but the token."""
        return self.model_dump(exclude={"auth"}, exclude_none=False)

    def to_spec(self) -> ScanSpec:
        """The typed scan the engine runs: the one place a config's camelCase is read."""
        filters = self.filters or Filters()
        date = filters.dateFilter
        start_ms, end_ms = day_bounds_ms(date.startDate, date.endDate) if date else (None, None)
        return ScanSpec(
            scan_id=self.scanId,
            properties=()
            if self.properties == [ALL_PROPERTIES]
            else tuple(self.properties or DEFAULT_PROPERTIES),
            all_properties=self.properties == [ALL_PROPERTIES],
            history_properties=tuple(self.propertiesWithHistory or ()),
            association_types=tuple(self.associationTypes or DEFAULT_ASSOCIATIONS)
            if self.includeAssociations
            else (),
            stage_history=self.includeStageHistory,
            batch_size=self.batchSize,
            incremental=self.mode == "incremental",
            refresh_associations=self.refreshAssociations,
            filters=ScanFilters(
                include_archived=filters.includeArchived,
                pipeline_id=filters.pipelineId,
                dealstage=filters.dealstage,
                date_property=date.property if date else None,
                start_ms=start_ms,
                end_ms=end_ms,
            ),
        )


class StartScanRequest(Strict):
    config: ScanConfig
