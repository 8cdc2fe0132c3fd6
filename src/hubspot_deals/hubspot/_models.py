"""HubSpot's reply shapes, read leniently: unknown fields pass, documented variants are normalised.

Normalisations the fact sheet calls for: the inline ``"line items"`` key is read as ``line_items``;
the doubled company entries collapse by id; v4 ``toObjectId`` arrives as a number or a string and is
read as a string; property values are strings or null.

What a scan reads by the hundred thousand (deals, their pages, association batches, owners) is
decoded by msgspec straight from the reply's bytes into frozen structs: half the CPU of pydantic
models for a deal page, a fifth of orjson plus a dataclass per association
(``docs/hubspot-client.md``). The metadata read once a scan (account, properties, pipelines)
stays pydantic.

The structs are ``gc=False``: built from JSON, they hold strings, numbers and other such structs,
so they can be in no reference cycle, and the garbage collector need not walk them. A scan
allocates enough to trigger a collection every few pages, and each walks every young object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
from msgspec import Struct, field
from pydantic import BaseModel, ConfigDict, Field

ASSOCIATION_TYPES = ("contacts", "companies", "line_items")
_INLINE_KEYS = {
    "contacts": "contacts",
    "companies": "companies",
    "line items": "line_items",
    "line_items": "line_items",
}

S = TypeVar("S")


def decoder(shape: type[S]) -> Callable[[bytes], S]:
    """A reply parser for ``shape`` (one msgspec decoder, reused for every reply)."""
    return msgspec.json.Decoder(shape).decode


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class NextPage(Struct, frozen=True, gc=False):
    after: str


class Paging(Struct, frozen=True, gc=False):
    next: NextPage | None = None


class AssociatedId(Struct, frozen=True, gc=False):
    id: str
    type: str


class InlineAssociations(Struct, frozen=True, gc=False):
    results: list[AssociatedId]
    paging: Paging | None = None


class HistoryEntry(Struct, frozen=True, gc=False):
    """One value a property held, from ``propertiesWithHistory``."""

    timestamp: str
    value: str | None = None
    source_type: str | None = field(name="sourceType", default=None)
    source_id: str | None = field(name="sourceId", default=None)


class Deal(Struct, frozen=True, gc=False):
    id: str
    properties: dict[str, str | None]
    created_at: str = field(name="createdAt")
    updated_at: str = field(name="updatedAt")
    archived: bool = False
    archived_at: str | None = field(name="archivedAt", default=None)
    #: as HubSpot keys them (``"line items"`` on some editions): read through ``inline_ids``
    associations: dict[str, InlineAssociations] = field(default_factory=dict)
    #: None when no history was asked for (a name asked for but never set gives [])
    properties_with_history: dict[str, list[HistoryEntry]] | None = field(
        name="propertiesWithHistory", default=None
    )

    def _inline(self, to_type: str) -> InlineAssociations | None:
        for key, block in self.associations.items():
            if _INLINE_KEYS.get(key, key) == to_type:
                return block
        return None

    def inline_ids(self, to_type: str) -> list[str]:
        """Associated ids of one type as listed inline, each once (companies come doubled)."""
        block = self._inline(to_type)
        return list(dict.fromkeys(a.id for a in block.results)) if block else []

    def inline_complete(self, to_type: str) -> bool:
        """False when HubSpot cut the inline list (100 per type) and more ids exist."""
        block = self._inline(to_type)
        return block is None or block.paging is None or block.paging.next is None


class DealPage(Struct, frozen=True, gc=False):
    results: list[Deal]
    paging: Paging | None = None

    @property
    def next_after(self) -> str | None:
        return self.paging.next.after if self.paging and self.paging.next else None


class SearchPage(DealPage, frozen=True, gc=False):
    total: int = 0


class BatchError(Struct, frozen=True, gc=False):
    status: str | None = None
    category: str | None = None
    sub_category: Any = field(name="subCategory", default=None)
    message: str | None = None
    context: dict[str, list[str]] = field(default_factory=dict)


class BatchDeals(Struct, frozen=True, gc=False):
    status: str
    results: list[Deal]
    errors: list[BatchError] = field(default_factory=list)


class AssociationType(Struct, frozen=True, gc=False):
    type_id: int = field(name="typeId")
    label: str | None = None


class AssociatedObject(Struct, frozen=True, gc=False):
    """One v4 association: the associated object's id and its association types.

    v4 batch replies hold tens of thousands of these: they are decoded as they come, and the id is
    made a string (HubSpot sends a number or a string) only when read.
    """

    raw_id: int | str = field(name="toObjectId")
    types: list[AssociationType] = field(name="associationTypes")

    @property
    def to_object_id(self) -> str:
        return str(self.raw_id)


class _From(Struct, frozen=True, gc=False):
    id: int | str


class _AssociationNext(Struct, frozen=True, gc=False):
    after: int | str | None = None


class _AssociationPaging(Struct, frozen=True, gc=False):
    next: _AssociationNext | None = None


class AssociationResult(Struct, frozen=True, gc=False):
    source: _From = field(name="from")
    to: list[AssociatedObject]
    paging: _AssociationPaging | None = None

    @property
    def from_id(self) -> str:
        return str(self.source.id)

    @property
    def next_after(self) -> str | None:
        after = self.paging.next.after if self.paging and self.paging.next else None
        return str(after) if after else None


class AssociationReply(Struct, frozen=True, gc=False):
    results: list[AssociationResult]


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


class Owner(Struct, frozen=True, gc=False):
    id: str
    email: str | None = None
    first_name: str | None = field(name="firstName", default=None)
    last_name: str | None = field(name="lastName", default=None)
    user_id: int | None = field(name="userId", default=None)
    archived: bool = False


class OwnerPage(Struct, frozen=True, gc=False):
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
