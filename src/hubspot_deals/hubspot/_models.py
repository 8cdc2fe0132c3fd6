"""HubSpot's reply shapes, read leniently: unknown fields pass, documented variants are normalised.

Normalisations the fact sheet calls for: the inline ``"line items"`` key becomes ``line_items``;
the doubled company entries collapse by id; v4 ``toObjectId`` arrives as a number or a string and is
kept as a string; property values are strings or null.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

ASSOCIATION_TYPES = ("contacts", "companies", "line_items")
_INLINE_KEYS = {
    "contacts": "contacts",
    "companies": "companies",
    "line items": "line_items",
    "line_items": "line_items",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class NextPage(_Model):
    after: str


class Paging(_Model):
    next: NextPage | None = None


class AssociatedId(_Model):
    id: str
    type: str


class InlineAssociations(_Model):
    results: list[AssociatedId]
    paging: Paging | None = None


class HistoryEntry(_Model):
    """One value a property held, from ``propertiesWithHistory``."""

    value: str | None = None
    timestamp: str
    source_type: str | None = Field(None, alias="sourceType")
    source_id: str | None = Field(None, alias="sourceId")


class Deal(_Model):
    id: str
    properties: dict[str, str | None]
    created_at: str = Field(alias="createdAt")
    updated_at: str = Field(alias="updatedAt")
    archived: bool = False
    archived_at: str | None = Field(None, alias="archivedAt")
    associations: dict[str, InlineAssociations] = Field(default_factory=dict)
    #: None when no history was asked for (a name asked for but never set gives [])
    properties_with_history: dict[str, list[HistoryEntry]] | None = Field(
        None, alias="propertiesWithHistory"
    )

    @field_validator("associations", mode="before")
    @classmethod
    def _normalise_keys(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {_INLINE_KEYS.get(key, key): block for key, block in value.items()}

    def inline_ids(self, to_type: str) -> list[str]:
        """Associated ids of one type as listed inline, each once (companies come doubled)."""
        block = self.associations.get(to_type)
        return list(dict.fromkeys(a.id for a in block.results)) if block else []

    def inline_complete(self, to_type: str) -> bool:
        """False when HubSpot cut the inline list (100 per type) and more ids exist."""
        block = self.associations.get(to_type)
        return block is None or block.paging is None or block.paging.next is None


class DealPage(_Model):
    results: list[Deal]
    paging: Paging | None = None

    @property
    def next_after(self) -> str | None:
        return self.paging.next.after if self.paging and self.paging.next else None


class SearchPage(DealPage):
    total: int


class BatchError(_Model):
    status: str | None = None
    category: str | None = None
    sub_category: Any = Field(None, alias="subCategory")
    message: str | None = None
    context: dict[str, list[str]] = Field(default_factory=dict)


class BatchDeals(_Model):
    status: str
    results: list[Deal]
    errors: list[BatchError] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AssociatedObject:
    """One v4 association: the associated object's id (always a string) and its type ids and labels.

    v4 batch replies can hold tens of thousands of these, so they are read by ``parse_associations``
    without a pydantic model per entry.
    """

    to_object_id: str
    type_ids: tuple[int, ...]
    labels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AssociationResult:
    from_id: str
    to: list[AssociatedObject]
    next_after: str | None


def parse_associations(data: Any) -> list[AssociationResult]:
    """A v4 batch reply's ``results``; raises ValueError when the shape is not HubSpot's."""
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise ValueError("results: not a list")
    parsed = []
    for result in data["results"]:
        try:
            to = [
                AssociatedObject(
                    str(item["toObjectId"]),
                    tuple(int(t["typeId"]) for t in item["associationTypes"]),
                    tuple(t["label"] for t in item["associationTypes"] if t.get("label")),
                )
                for item in result["to"]
            ]
            paging = result.get("paging") or {}
            after = (paging.get("next") or {}).get("after")
            parsed.append(
                AssociationResult(str(result["from"]["id"]), to, str(after) if after else None)
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"results[{len(parsed)}]: {type(exc).__name__}") from None
    return parsed


class PropertyOption(_Model):
    label: str
    value: str
    hidden: bool = False


class PropertyDefinition(_Model):
    name: str
    label: str
    type: str
    field_type: str = Field(alias="fieldType")
    group_name: str = Field(alias="groupName")
    options: list[PropertyOption] = Field(default_factory=list)
    archived: bool = False
    calculated: bool = False
    hidden: bool = False
    hubspot_defined: bool | None = Field(None, alias="hubspotDefined")


class PipelineStage(_Model):
    id: str
    label: str
    display_order: int = Field(alias="displayOrder")
    metadata: dict[str, str] = Field(default_factory=dict)
    archived: bool = False


class Pipeline(_Model):
    id: str
    label: str
    display_order: int = Field(alias="displayOrder")
    stages: list[PipelineStage]
    archived: bool = False


class Owner(_Model):
    id: str
    email: str | None = None
    first_name: str | None = Field(None, alias="firstName")
    last_name: str | None = Field(None, alias="lastName")
    user_id: int | None = Field(None, alias="userId")
    archived: bool = False


class OwnerPage(_Model):
    results: list[Owner]
    paging: Paging | None = None


class AccountDetails(_Model):
    portal_id: int = Field(alias="portalId")
    ui_domain: str = Field(alias="uiDomain")
    time_zone: str = Field(alias="timeZone")
    company_currency: str = Field(alias="companyCurrency")
    data_hosting_location: str | None = Field(None, alias="dataHostingLocation")

    def deal_url(self, deal_id: str) -> str:
        """The deal's record page, on the portal's own UI host (EU portals differ)."""
        return f"https://{self.ui_domain}/contacts/{self.portal_id}/record/0-3/{deal_id}"


class PropertyList(_Model):
    results: list[PropertyDefinition]


class PipelineList(_Model):
    results: list[Pipeline]
