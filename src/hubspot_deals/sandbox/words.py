"""What generated deals are made of: company and product names, notes, sources of changes and
exchange rates. A data table (the names in many scripts on purpose: they test encodings)."""

from __future__ import annotations

from decimal import Decimal

FX_TO_USD = {
    "USD": Decimal(1),
    "EUR": Decimal("1.08"),
    "GBP": Decimal("1.27"),
    "JPY": Decimal("0.0067"),
    "CAD": Decimal("0.73"),
}

COMPANIES = (
    "ACME Corp",
    "Globex",
    "Initech",
    "Umbrella Health",
    "Müller & Söhne GmbH",
    "Café Olé S.L.",
    "株式会社サクラ",
    "Ωmega Analytics",
    "Nordlys AS",
    "São Paulo Têxtil",
    "Łódź Logistics",
    "Đà Nẵng Foods",
    "Hooli",
    "Vandelay Industries",
    "Stark Labs",
    "شركة النخيل",
    "Zürich Re-Insurance",
    "Björk & Partners",
    "Crème Brûlée Co.",
    "Tyrell 🚀 Systems",
)
PRODUCTS = (
    "Enterprise licence",
    "Renewal",
    "Upsell – seats",
    "Pilot",
    "Support plan",
    "Onboarding",
    "Platform migration",
    "Multi-year deal",
    "Expansion",
    "POC",
)
NOTES = (
    "Zürich office — renewal ✓",
    "東京オフィスの担当者と打ち合わせ",
    "São Paulo\nsecond line",
    "Needs legal review (§4.2)",
    "🚀 expansion in Q3",
    "Contact prefers email; no calls",
    "مراجعة العقد",
    "Budget ≈ €40k, decision in «spring»",
)
SOURCES = (
    ("CRM_UI", "CRM UI"),
    ("INTEGRATION", "Salesforce sync"),
    ("IMPORT", "deals-2023.csv"),
    ("API", "Private app"),
)
