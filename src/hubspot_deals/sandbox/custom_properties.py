"""Custom properties as a portal's admins add them, and values of any property type.

``--custom-properties N`` defines N of them, cycling through every type and field type HubSpot has
(``KINDS``); the side door adds others while the sandbox runs. Values come in HubSpot's string
formats (fact sheet section 10), each a pure function of (seed, deal index, property): a
million-deal portal with two thousand custom properties stores none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from hubspot_deals.sandbox.catalog import PropertySpec
from hubspot_deals.sandbox.clock import iso_date, iso_ms
from hubspot_deals.sandbox.data import DealGenerator, salt_of
from hubspot_deals.sandbox.words import COMPANIES, NOTES, PRODUCTS

#: Which field types go with each type (the allowed sets of fact sheet section 5, paired as
#: HubSpot's property editor pairs them).
FIELD_TYPES_BY_TYPE: dict[str, frozenset[str]] = {
    "string": frozenset({"text", "textarea", "html", "file", "phonenumber"}),
    "number": frozenset({"number", "calculation_equation"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"date"}),
    "bool": frozenset({"booleancheckbox", "calculation_equation"}),
    "enumeration": frozenset({"select", "radio", "checkbox", "booleancheckbox"}),
    "phone_number": frozenset({"phonenumber"}),
}
TYPES = tuple(sorted(FIELD_TYPES_BY_TYPE))
FIELD_TYPES = tuple(sorted(set().union(*FIELD_TYPES_BY_TYPE.values())))
#: The property groups generated properties go to (as admins sort theirs).
GROUPS = ("deal_custom", "deal_revenue", "deal_operations", "deal_partner_program")
BOOL_OPTIONS = (("true", "Yes"), ("false", "No"))
CURRENCY_HINTS = {"showCurrencySymbol": True, "numberDisplayHint": "currency"}
_DAY_MS = 86_400_000

Options = tuple[tuple[str, str], ...]  # (value, label)


@dataclass(frozen=True)
class Kind:
    """One type/field type combination and the names admins give such properties."""

    type: str
    field_type: str
    stems: tuple[tuple[str, str, Options], ...]  # (name stem, label, options)
    currency: bool = False
    calculated: bool = False


def _opts(*values: str) -> Options:
    return tuple((v, v.replace("_", " ").title()) for v in values)


KINDS: tuple[Kind, ...] = (
    Kind(
        "string",
        "text",
        (
            ("partner_name", "Partner name", ()),
            ("po_number", "PO number", ()),
            ("competitor", "Main competitor", ()),
            ("project_code", "Project code", ()),
        ),
    ),
    Kind(
        "string",
        "textarea",
        (
            ("implementation_notes", "Implementation notes", ()),
            ("loss_reason_detail", "Loss reason detail", ()),
            ("next_steps", "Next steps", ()),
        ),
    ),
    Kind(
        "number",
        "number",
        (
            ("seats_requested", "Seats requested", ()),
            ("term_months", "Contract term (months)", ()),
            ("commission_rate", "Commission rate", ()),
            ("employee_count", "Employee count", ()),
        ),
    ),
    Kind(
        "number",
        "number",
        (
            ("annual_contract_value", "Annual contract value", ()),
            ("setup_fee", "Setup fee", ()),
            ("expansion_arr", "Expansion ARR", ()),
        ),
        currency=True,
    ),
    Kind(
        "date",
        "date",
        (
            ("renewal_date", "Renewal date", ()),
            ("go_live_date", "Go-live date", ()),
            ("trial_end_date", "Trial end date", ()),
        ),
    ),
    Kind(
        "datetime",
        "date",
        (
            ("last_demo_at", "Last demo", ()),
            ("kickoff_call_at", "Kick-off call", ()),
            ("legal_review_started_at", "Legal review started", ()),
        ),
    ),
    Kind(
        "bool",
        "booleancheckbox",
        (
            ("requires_legal_review", "Requires legal review", BOOL_OPTIONS),
            ("is_multi_year", "Multi-year deal", BOOL_OPTIONS),
            ("is_referral", "Referral", BOOL_OPTIONS),
        ),
    ),
    Kind(
        "enumeration",
        "select",
        (
            ("region", "Region", (("emea", "EMEA"), ("na", "North America"), ("apac", "APAC"))),
            ("industry", "Industry", _opts("software", "retail", "healthcare", "finance")),
            ("sales_motion", "Sales motion", _opts("inbound", "outbound", "partner")),
        ),
    ),
    Kind(
        "enumeration",
        "radio",
        (
            ("deal_size_band", "Deal size band", _opts("small", "mid", "large", "strategic")),
            ("payment_terms", "Payment terms", _opts("net_15", "net_30", "net_60", "prepaid")),
        ),
    ),
    Kind(
        "enumeration",
        "checkbox",
        (
            (
                "products_of_interest",
                "Products of interest",
                _opts("analytics", "payments", "support", "onboarding", "api_access"),
            ),
            (
                "integrations_needed",
                "Integrations needed",
                _opts("salesforce", "netsuite", "slack", "zendesk"),
            ),
        ),
    ),
    Kind(
        "phone_number",
        "phonenumber",
        (
            ("billing_phone", "Billing phone", ()),
            ("champion_phone", "Champion phone", ()),
        ),
    ),
    Kind(
        "number",
        "calculation_equation",
        (
            ("weighted_forecast", "Weighted forecast", ()),
            ("commission_due", "Commission due", ()),
        ),
        calculated=True,
    ),
)


def generated_property(k: int) -> PropertySpec:
    """Custom property ``k`` of ``--custom-properties``: kinds in turn, about one in ten hidden."""
    kind = KINDS[k % len(KINDS)]
    stem, label, options = kind.stems[k // len(KINDS) % len(kind.stems)]
    return PropertySpec(
        f"{stem}_{k}",
        f"{label} {k}",
        kind.type,
        kind.field_type,
        group=GROUPS[k // 7 % len(GROUPS)],
        options=options,
        hubspot_defined=False,
        calculated=kind.calculated,
        read_only=kind.calculated,
        extra=dict(CURRENCY_HINTS) if kind.currency else {},
        hidden=(k + k // len(KINDS)) % 10 == 9,
    )


def fill_permille(name: str) -> int:
    """How many deals in a thousand have a value: 150 to 950, a property's own."""
    return 150 + salt_of("fill:" + name) % 801


def seeded_values(spec: PropertySpec, gen: DealGenerator) -> Callable[[int], str | None]:
    """The values a custom property has on each deal, from its definition at creation (a later
    change of type keeps them, as HubSpot keeps stored values)."""
    salt, fill = salt_of(spec.name), fill_permille(spec.name)
    dated = spec.type in ("date", "datetime")

    def value(index: int) -> str | None:
        h = gen.hash_of(index, salt)
        if h % 1000 >= fill:
            return None
        return typed_value(spec, h >> 10, gen.created_ms(index) if dated else 0)

    return value


def typed_value(spec: PropertySpec, h: int, created_ms: int) -> str:
    """A value of the property's type, in HubSpot's string format, picked by the hash ``h``;
    dates and datetimes fall around the deal's creation (``created_ms``)."""
    kind, field_type = spec.type, spec.field_type
    if kind == "number" or field_type == "calculation_equation":
        return _number(spec, h)
    if kind == "date":  # midnight UTC, written as the day
        return iso_date(created_ms + (h % 1095 - 90) * _DAY_MS)
    if kind == "datetime":
        return iso_ms(created_ms + h % (400 * _DAY_MS))
    if kind == "bool":
        return "true" if h % 2 else "false"
    if kind == "enumeration":
        values = [value for value, _ in spec.options] or ["true", "false"]
        if field_type != "checkbox":
            return values[h % len(values)]
        picked = {(h >> (8 * n)) % len(values) for n in range(1 + h % 3)}
        return ";".join(values[n] for n in sorted(picked))
    if kind == "phone_number" or field_type == "phonenumber":
        return _phone(h)
    return _text(field_type, h)


def _number(spec: PropertySpec, h: int) -> str:
    if spec.type == "bool":
        return "true" if h % 2 else "false"
    whole = (h >> 4) % 5_000
    cents = (h >> 20) % 100
    if spec.field_type == "calculation_equation" or spec.extra.get("showCurrencySymbol"):
        return f"{whole * 10 + h % 10}.{cents:02d}"  # currency: always two decimals
    if h % 3 == 0:
        return str(whole)
    return f"{whole % 100}.{cents or 5:02d}".rstrip("0")


def _phone(h: int) -> str:
    line = (h >> 8) % 10_000
    return (
        f"+1 415 555 {line:04d}",
        f"+44 20 7946 {line:04d}",
        f"+49 30 901820{line % 100:02d}",
        f"(617) 555-{line:04d}",
    )[h % 4]


def _text(field_type: str, h: int) -> str:
    note = NOTES[(h >> 4) % len(NOTES)]
    if field_type == "textarea":
        return note if h % 3 else f"{note}\n{NOTES[(h >> 12) % len(NOTES)]}"
    if field_type == "html":
        return f"<p>{escape(note)}</p>"
    if field_type == "file":
        return f"https://files.example.com/deals/{(h >> 8) % 100_000}/contract.pdf"
    return (
        COMPANIES[(h >> 4) % len(COMPANIES)],
        f"PO-{(h >> 8) % 900_000 + 100_000}",
        PRODUCTS[(h >> 4) % len(PRODUCTS)],
        f"{COMPANIES[(h >> 4) % len(COMPANIES)]} ({PRODUCTS[(h >> 12) % len(PRODUCTS)]})",
    )[h % 4]
