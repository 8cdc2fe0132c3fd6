"""The sandbox portal's fixed metadata: pipelines, property definitions, owners, account details.

Shapes follow HubSpot's CRM v3 schemas (see ``docs/sandbox.md``); values are the defaults a new portal
ships with plus a few custom pipelines and properties, so the data looks like a real account's.
``PROPERTIES`` is where every portal's catalog starts (``schema.Catalog``: a portal's own, which
``--custom-properties`` and the side door add to).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hubspot_deals.sandbox.clock import iso_ms

# -- pipelines ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    id: str
    label: str
    probability: str  # HubSpot sends stage metadata as strings
    closed: bool


@dataclass(frozen=True)
class Pipeline:
    id: str
    label: str
    stages: tuple[Stage, ...]
    created_ms: int


PIPELINES: tuple[Pipeline, ...] = (
    Pipeline(
        "default",
        "Sales Pipeline",
        (
            Stage("appointmentscheduled", "Appointment Scheduled", "0.2", False),
            Stage("qualifiedtobuy", "Qualified To Buy", "0.4", False),
            Stage("presentationscheduled", "Presentation Scheduled", "0.6", False),
            Stage("decisionmakerboughtin", "Decision Maker Bought-In", "0.8", False),
            Stage("contractsent", "Contract Sent", "0.9", False),
            Stage("closedwon", "Closed Won", "1.0", True),
            Stage("closedlost", "Closed Lost", "0.0", True),
        ),
        0,  # default pipelines carry createdAt = epoch 0
    ),
    Pipeline(
        "75432101",
        "Renewals",
        (
            Stage("75432102", "Renewal Due", "0.3", False),
            Stage("75432103", "Negotiation", "0.7", False),
            Stage("75432104", "Renewed", "1.0", True),
            Stage("75432105", "Churned", "0.0", True),
        ),
        1_585_699_200_000,
    ),
    Pipeline(
        "75432201",
        "Partner Channel — EMEA",
        (
            Stage("75432202", "Partner Sourced", "0.1", False),
            Stage("75432203", "Joint Qualification", "0.5", False),
            Stage("75432204", "Won", "1.0", True),
            Stage("75432205", "Lost", "0.0", True),
        ),
        1_640_995_200_000,
    ),
)

#: Share of deals in each pipeline, in per-mille, in PIPELINES order.
PIPELINE_WEIGHTS: tuple[int, ...] = (700, 200, 100)

STAGE_BY_ID: dict[str, Stage] = {s.id: s for p in PIPELINES for s in p.stages}


def pipeline_json(p: Pipeline) -> dict[str, Any]:
    created = iso_ms(p.created_ms)
    return {
        "id": p.id,
        "label": p.label,
        "displayOrder": PIPELINES.index(p),
        "archived": False,
        "createdAt": created,
        "updatedAt": created,
        "stages": [
            {
                "id": s.id,
                "label": s.label,
                "displayOrder": n,
                "metadata": {"probability": s.probability, "isClosed": str(s.closed).lower()},
                "archived": False,
                "createdAt": created,
                "updatedAt": created,
                "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
            }
            for n, s in enumerate(p.stages)
        ],
    }


# -- owners -------------------------------------------------------------------------------------

_FIRST = (
    "Ana",
    "Bjørn",
    "Chloé",
    "Dmitri",
    "Eun-ji",
    "Farid",
    "Grace",
    "Hiroshi",
    "Ines",
    "Jonas",
    "Keziah",
    "Luca",
    "Małgorzata",
    "Nnamdi",
    "Olivia",
    "Pedro",
    "Qi",
    "Rania",
    "Søren",
    "Tariq",
    "Uma",
    "Valentina",
    "Wei",
    "Ximena",
    "Yusuf",
    "Zoë",
    "Aarav",
    "Brigitte",
    "Callum",
    "Dalia",
    "Émile",
    "Fatima",
    "Gustavo",
    "Hana",
    "Ivan",
    "Jia",
)
_LAST = (
    "Silva",
    "Andersen",
    "Dubois",
    "Ivanov",
    "Kim",
    "Haddad",
    "Okafor",
    "Tanaka",
    "García",
    "Weber",
    "Mensah",
    "Rossi",
    "Kowalski",
    "Eze",
    "Brown",
    "Santos",
    "Li",
    "Nasser",
    "Jensen",
    "Khan",
    "Patel",
    "Moretti",
    "Zhang",
    "López",
    "Demir",
    "Müller",
    "Sharma",
    "Fischer",
    "Reid",
    "Cohen",
    "Leroy",
    "Ali",
    "Costa",
    "Sato",
    "Petrov",
    "Chen",
)

#: Owners 0..ACTIVE_OWNERS-1 are active; the rest are archived (left the company) but still
#: referenced by old deals, as in real portals.
ACTIVE_OWNERS = 30
OWNER_COUNT = len(_FIRST)
OWNER_ID_BASE = 41_000_000
_OWNERS_CREATED_MS = 1_546_300_800_000  # 2019-01-01
TEAMS = ("Enterprise", "Mid-Market", "SMB", "Partners")


@dataclass(frozen=True)
class Owner:
    id: str
    email: str
    first_name: str
    last_name: str
    user_id: int
    archived: bool
    team: str

    def json(self) -> dict[str, Any]:
        created = iso_ms(_OWNERS_CREATED_MS + int(self.id) % 997 * 86_400_000)
        return {
            "id": self.id,
            "email": self.email,
            "type": "PERSON",
            "firstName": self.first_name,
            "lastName": self.last_name,
            "userId": self.user_id,
            "userIdIncludingInactive": self.user_id,
            "createdAt": created,
            "updatedAt": created,
            "archived": self.archived,
            "teams": [
                {"id": str(7_001 + TEAMS.index(self.team)), "name": self.team, "primary": True}
            ],
        }


def _owner(n: int) -> Owner:
    first, last = _FIRST[n], _LAST[n]
    ascii_email = (
        f"{first}.{last}".lower()
        .encode("ascii", "ignore")
        .decode()
        .replace(" ", "")
        .replace("'", "")
    )
    return Owner(
        id=str(OWNER_ID_BASE + n * 37),
        email=f"{ascii_email}@example-sales.com",
        first_name=first,
        last_name=last,
        user_id=9_100_000 + n,
        archived=n >= ACTIVE_OWNERS,
        team=TEAMS[n % len(TEAMS)],
    )


OWNERS: tuple[Owner, ...] = tuple(_owner(n) for n in range(OWNER_COUNT))


# -- property definitions -------------------------------------------------------------------------


@dataclass(frozen=True)
class PropertySpec:
    name: str
    label: str
    type: str  # bool, date, datetime, enumeration, number, phone_number, string
    field_type: str
    group: str = "dealinformation"
    options: tuple[tuple[str, str], ...] = ()  # (value, label)
    hubspot_defined: bool = True
    calculated: bool = False
    read_only: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    archived: bool = False
    hidden: bool = False
    description: str | None = None  # else "{label} of the deal."
    # set for definitions changed while the sandbox runs (the side door), else fixed dates
    created_at: str | None = None
    updated_at: str | None = None
    archived_at: str | None = None

    def json(self, order: int) -> dict[str, Any]:
        created = self.created_at or (
            "2019-08-06T02:41:52.767Z" if self.hubspot_defined else "2022-03-14T09:12:44.100Z"
        )
        out: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description or f"{self.label} of the deal.",
            "groupName": self.group,
            "options": [
                {"label": label, "value": value, "displayOrder": n, "hidden": False}
                for n, (value, label) in enumerate(self.options)
            ],
            "displayOrder": order,
            "calculated": self.calculated,
            "externalOptions": False,
            "hasUniqueValue": self.name == "hs_object_id",
            "hidden": self.hidden,
            "hubspotDefined": self.hubspot_defined,
            "formField": not self.read_only,
            "dataSensitivity": "non_sensitive",
            "createdAt": created,
            "updatedAt": self.updated_at or created,
            "archived": self.archived,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
        }
        if not self.hubspot_defined:
            out["createdUserId"] = "9100001"
            out["updatedUserId"] = "9100001"
        if self.archived:
            out["archivedAt"] = self.archived_at or "2024-02-01T10:00:00.000Z"
        out.update(self.extra)
        return out


_STAGE_OPTIONS = tuple((s.id, s.label) for p in PIPELINES for s in p.stages)
_PIPELINE_OPTIONS = tuple((p.id, p.label) for p in PIPELINES)
CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CAD")
_CURRENCY_OPTIONS = tuple((c, c) for c in CURRENCIES)

PROPERTIES: tuple[PropertySpec, ...] = (
    PropertySpec("dealname", "Deal Name", "string", "text"),
    PropertySpec(
        "amount",
        "Amount",
        "number",
        "number",
        extra={
            "showCurrencySymbol": True,
            "numberDisplayHint": "currency",
            "currencyPropertyName": "deal_currency_code",
        },
    ),
    PropertySpec(
        "amount_in_home_currency",
        "Amount in company currency",
        "number",
        "calculation_equation",
        calculated=True,
        read_only=True,
        extra={"showCurrencySymbol": True},
    ),
    PropertySpec(
        "deal_currency_code", "Currency", "enumeration", "select", options=_CURRENCY_OPTIONS
    ),
    PropertySpec("dealstage", "Deal Stage", "enumeration", "radio", options=_STAGE_OPTIONS),
    PropertySpec("pipeline", "Pipeline", "enumeration", "select", options=_PIPELINE_OPTIONS),
    PropertySpec("closedate", "Close Date", "datetime", "date"),
    PropertySpec("createdate", "Create Date", "datetime", "date", read_only=True),
    PropertySpec("hs_createdate", "Object create date/time", "datetime", "date", read_only=True),
    PropertySpec("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", read_only=True),
    PropertySpec("hs_object_id", "Record ID", "number", "number", read_only=True),
    PropertySpec(
        "hubspot_owner_id",
        "Deal owner",
        "enumeration",
        "select",
        extra={"externalOptions": True, "referencedObjectType": "OWNER"},
    ),
    PropertySpec(
        "dealtype",
        "Deal Type",
        "enumeration",
        "radio",
        options=(("newbusiness", "New Business"), ("existingbusiness", "Existing Business")),
    ),
    PropertySpec("description", "Deal Description", "string", "textarea"),
    PropertySpec(
        "hs_priority",
        "Priority",
        "enumeration",
        "select",
        options=(("low", "Low"), ("medium", "Medium"), ("high", "High")),
    ),
    PropertySpec(
        "hs_analytics_source",
        "Original Source Type",
        "enumeration",
        "select",
        group="analyticsinformation",
        read_only=True,
        options=(
            ("ORGANIC_SEARCH", "Organic Search"),
            ("PAID_SEARCH", "Paid Search"),
            ("EMAIL_MARKETING", "Email Marketing"),
            ("SOCIAL_MEDIA", "Organic Social"),
            ("REFERRALS", "Referrals"),
            ("DIRECT_TRAFFIC", "Direct Traffic"),
            ("OFFLINE", "Offline Sources"),
        ),
    ),
    PropertySpec(
        "hs_deal_stage_probability",
        "Deal probability",
        "number",
        "number",
        calculated=True,
        read_only=True,
        extra={"numberDisplayHint": "probability"},
    ),
    PropertySpec(
        "hs_is_closed",
        "Is Deal Closed?",
        "bool",
        "booleancheckbox",
        calculated=True,
        read_only=True,
        options=(("true", "True"), ("false", "False")),
    ),
    PropertySpec(
        "hs_is_closed_won",
        "Is Closed Won",
        "bool",
        "booleancheckbox",
        calculated=True,
        read_only=True,
        options=(("true", "True"), ("false", "False")),
    ),
    PropertySpec(
        "hs_v2_date_entered_current_stage",
        "Date entered current stage",
        "datetime",
        "date",
        calculated=True,
        read_only=True,
    ),
    PropertySpec(
        "hs_open_deal_create_date",
        "Open deal create date",
        "number",
        "number",
        calculated=True,
        read_only=True,
    ),
    PropertySpec(
        "num_associated_contacts",
        "Number of Associated Contacts",
        "number",
        "number",
        calculated=True,
        read_only=True,
    ),
    PropertySpec(
        "hs_num_of_associated_line_items",
        "Number of associated line items",
        "number",
        "number",
        calculated=True,
        read_only=True,
    ),
    PropertySpec(
        "num_contacted_notes",
        "Number of times contacted",
        "number",
        "number",
        group="dealactivity",
        read_only=True,
    ),
    PropertySpec("hs_object_source", "Record source", "string", "text", read_only=True),
    PropertySpec(
        "hs_object_source_label", "Record source detail", "string", "text", read_only=True
    ),
    # the ids of the deals merged into this one, ";"-joined (fact sheet section 13)
    PropertySpec(
        "hs_merged_object_ids", "Merged Deal IDs", "enumeration", "checkbox", read_only=True
    ),
    # custom properties, as a portal's admins add them
    PropertySpec(
        "contract_tier",
        "Contract tier",
        "enumeration",
        "select",
        group="deal_custom",
        hubspot_defined=False,
        options=(
            ("bronze", "Bronze"),
            ("silver", "Silver"),
            ("gold", "Gold"),
            ("platinum", "Platinum"),
        ),
    ),
    PropertySpec(
        "renewal_date", "Renewal date", "date", "date", group="deal_custom", hubspot_defined=False
    ),
    PropertySpec("seats", "Seats", "number", "number", group="deal_custom", hubspot_defined=False),
    PropertySpec(
        "is_strategic",
        "Strategic account",
        "bool",
        "booleancheckbox",
        group="deal_custom",
        hubspot_defined=False,
        options=(("true", "Yes"), ("false", "No")),
    ),
    PropertySpec(
        "region_notes",
        "Région / notes",
        "string",
        "textarea",
        group="deal_custom",
        hubspot_defined=False,
    ),
    PropertySpec(
        "legacy_territory",
        "Legacy territory",
        "string",
        "text",
        group="deal_custom",
        hubspot_defined=False,
        archived=True,
    ),
)

#: What the list, read and search endpoints return when no `properties` are asked for.
DEFAULT_PROPERTIES: tuple[str, ...] = (
    "dealname",
    "amount",
    "closedate",
    "pipeline",
    "dealstage",
    "createdate",
    "hs_lastmodifieddate",
    "hs_object_id",
)

# -- object types and scopes ------------------------------------------------------------------------

#: Accepted spellings of each associated object type -> (canonical plural, inline key, scope).
ASSOCIATION_TYPES: dict[str, tuple[str, str, str]] = {}
for _names, _canonical, _inline_key, _scope in (
    (("contacts", "contact", "0-1"), "contacts", "contacts", "crm.objects.contacts.read"),
    (("companies", "company", "0-2"), "companies", "companies", "crm.objects.companies.read"),
    # HubSpot keys inline line items as "line items", with a space, whatever was asked for
    (("line_items", "line_item", "0-8"), "line_items", "line items", "crm.objects.line_items.read"),
):
    for _name in _names:
        ASSOCIATION_TYPES[_name] = (_canonical, _inline_key, _scope)

#: Other CRM object types HubSpot knows; deals have no associations with them here.
OTHER_OBJECT_TYPES = frozenset(
    {
        "tickets",
        "ticket",
        "0-5",
        "quotes",
        "quote",
        "0-14",
        "calls",
        "emails",
        "meetings",
        "notes",
        "tasks",
        "products",
        "0-7",
        "deals",
        "deal",
        "0-3",
    }
)

DEALS_READ = "crm.objects.deals.read"
ALL_SCOPES: tuple[str, ...] = (
    DEALS_READ,
    "crm.schemas.deals.read",
    "crm.objects.contacts.read",
    "crm.objects.companies.read",
    "crm.objects.line_items.read",
    "crm.objects.owners.read",
)


@dataclass(frozen=True)
class Account:
    portal_id: int
    ui_domain: str

    def json(self) -> dict[str, Any]:
        eu = "eu1" in self.ui_domain
        return {
            "portalId": self.portal_id,
            "accountType": "STANDARD",
            "timeZone": "Europe/Berlin" if eu else "US/Eastern",
            "companyCurrency": "EUR" if eu else "USD",
            "additionalCurrencies": [c for c in CURRENCIES if c != ("EUR" if eu else "USD")],
            "utcOffset": "+01:00" if eu else "-05:00",
            "utcOffsetMilliseconds": 3_600_000 if eu else -18_000_000,
            "uiDomain": self.ui_domain,
            "dataHostingLocation": "eu1" if eu else "na1",
        }
