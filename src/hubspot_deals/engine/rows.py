"""HubSpot deals to result rows, in the shape of the spec's ``deals`` entries."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from hubspot_deals.engine.filters import parse_ms
from hubspot_deals.hubspot import (
    AccountDetails,
    AssociatedObject,
    Deal,
    HistoryEntry,
    Owner,
    Pipeline,
)

#: The spec's default properties, what a scan asks for when its config names none.
DEFAULT_PROPERTIES: tuple[str, ...] = (
    "dealname",
    "amount",
    "dealstage",
    "pipeline",
    "closedate",
    "createdate",
    "hs_lastmodifieddate",
    "hubspot_owner_id",
    "dealtype",
)
#: Association types read when a config asks for associations without naming them.
DEFAULT_ASSOCIATIONS: tuple[str, ...] = ("contacts", "companies", "line_items")
#: Where HubSpot lists the deals merged into a deal, ``;``-joined.
MERGED_IDS = "hs_merged_object_ids"
#: Properties asked of HubSpot whatever the user asked, because the row's own columns need them.
ROW_PROPERTIES: tuple[str, ...] = (*DEFAULT_PROPERTIES, "deal_currency_code", MERGED_IDS)
_INLINE_TYPE = {"contacts": "deal_to_contact", "line_items": "deal_to_line_item"}
_PRIMARY_COMPANY_TYPE_ID = 5


#: HubSpot's usual datetime, already UTC ISO-8601 (``Z``, milliseconds or none): kept as sent
#: but for ``.000``, without parsing and formatting it again (three of them a deal).
_CANONICAL = re.compile(r"[1-9]\d{3}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{3})?Z")


def utc_text(value: str | None) -> str | None:
    """A HubSpot datetime (ISO or epoch ms) as UTC ISO-8601 with ``Z``; milliseconds only if any."""
    if not value:
        return None
    if _CANONICAL.fullmatch(value):
        try:
            datetime.fromisoformat(value)  # a real moment (not 2024-02-30): else kept as sent
        except ValueError:
            return value
        return f"{value[:19]}Z" if value.endswith(".000Z") else value
    try:
        if value.isdigit():
            moment = datetime.fromtimestamp(int(value) / 1000, UTC)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except ValueError:
        return value
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    millis = moment.microsecond // 1000
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


def _amount(raw: str | None) -> float | None:
    if raw is None or not raw.strip():
        return None
    try:
        amount = float(raw)
    except ValueError:
        return None
    return amount if math.isfinite(amount) else None  # "Infinity", "1e999": no amount JSON can hold


@dataclass(frozen=True)
class Lookups:
    """What a scan loads once: the portal, its pipelines and stages, and every owner."""

    account: AccountDetails
    pipelines: dict[str, str]  # pipeline id -> label
    stages: dict[tuple[str, str], str]  # (pipeline id, stage id) -> label
    owner_emails: dict[str, str | None]
    stage_labels: dict[str, str]  # stage id -> label, for stages of pipelines a deal has left

    @classmethod
    def build(
        cls, account: AccountDetails, pipelines: Sequence[Pipeline], owners: Sequence[Owner]
    ) -> Lookups:
        return cls(
            account=account,
            pipelines={p.id: p.label for p in pipelines},
            stages={(p.id, s.id): s.label for p in pipelines for s in p.stages},
            owner_emails={o.id: o.email for o in owners},
            stage_labels={s.id: s.label for p in pipelines for s in p.stages},
        )

    def stage_label(self, pipeline: str | None, stage: str) -> str | None:
        return self.stages.get((pipeline or "", stage)) or self.stage_labels.get(stage)


def _oldest_first(history: Sequence[HistoryEntry]) -> list[HistoryEntry]:
    """By time; values set in the same millisecond in the order they were set (HubSpot lists
    newest first, so the later of two ties is the one listed first)."""
    ordered = sorted(enumerate(history), key=lambda at: (parse_ms(at[1].timestamp) or 0, -at[0]))
    return [entry for _, entry in ordered]


def stage_spans(
    history: Sequence[HistoryEntry], pipeline: str | None, lookups: Lookups
) -> list[dict[str, Any]]:
    """HubSpot's dealstage history (any order) as stays, oldest first: a value set again while
    the deal was already in that stage does not start a new stay."""
    spans: list[dict[str, Any]] = []
    for entry in _oldest_first(history):
        if not entry.value or (spans and spans[-1]["stage"] == entry.value):
            continue
        entered = utc_text(entry.timestamp)
        if spans:
            spans[-1]["left_at"] = entered
        spans.append(
            {
                "stage": entry.value,
                "stage_label": lookups.stage_label(pipeline, entry.value),
                "entered_at": entered,
                "left_at": None,
            }
        )
    return spans


def history_entries(history: Sequence[HistoryEntry]) -> list[dict[str, Any]]:
    """A property's values (HubSpot lists them newest first), oldest first, times in UTC."""
    ordered = _oldest_first(history)
    return [
        {
            "value": entry.value,
            "timestamp": utc_text(entry.timestamp),
            "source": entry.source_type,
            "source_id": entry.source_id,
        }
        for entry in ordered
    ]


def merged_ids(raw: str | None) -> list[str]:
    """``hs_merged_object_ids`` as a list of ids."""
    return [part.strip() for part in (raw or "").split(";") if part.strip()]


def association_entries(to_type: str, found: Sequence[AssociatedObject]) -> list[dict[str, str]]:
    """Unique ids with the v3 type names the spec shows (the primary company as deal_to_company)."""
    if to_type != "companies":
        kind = _INLINE_TYPE[to_type]
        unique: dict[str, dict[str, str]] = {}
        for item in found:  # a third faster than dict.fromkeys and a comprehension
            raw = item.raw_id
            key = raw if raw.__class__ is str else str(raw)
            if key not in unique:
                unique[key] = {"id": key, "type": kind}
        return list(unique.values())
    entries: dict[str, str] = {}
    for item in found:
        key = str(item.raw_id)
        if any(t.type_id == _PRIMARY_COMPANY_TYPE_ID for t in item.types):
            entries[key] = "deal_to_company"
        else:
            entries.setdefault(key, "deal_to_company_unlabeled")
    return [{"id": i, "type": t} for i, t in entries.items()]


def build_row(
    deal: Deal,
    *,
    lookups: Lookups,
    requested: Sequence[str],
    associations: dict[str, list[dict[str, str]]] | None,
    stage_history: list[dict[str, Any]] | None = None,
    property_history: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """One result row; ``properties`` holds exactly the requested properties, as HubSpot sent them."""
    props = deal.properties
    pipeline = props.get("pipeline")
    stage = props.get("dealstage")
    owner = props.get("hubspot_owner_id")
    account = lookups.account
    return {
        "deal_key": int(deal.id),
        "deal_id": deal.id,
        "deal_name": props.get("dealname"),
        "amount": _amount(props.get("amount")),
        "currency": props.get("deal_currency_code") or account.company_currency,
        "deal_stage": stage,
        "deal_stage_label": lookups.stages.get((pipeline or "", stage or "")),
        "pipeline_id": pipeline,
        "pipeline_label": lookups.pipelines.get(pipeline or ""),
        "close_date": utc_text(props.get("closedate")),
        "deal_created_at": utc_text(deal.created_at or props.get("createdate")),
        "deal_updated_at": utc_text(deal.updated_at or props.get("hs_lastmodifieddate")),
        "owner_id": owner or None,
        "owner_email": lookups.owner_emails.get(owner) if owner else None,
        "deal_type": props.get("dealtype"),
        "is_archived": deal.archived,
        "deal_url": account.deal_url(deal.id),
        "properties": {name: props.get(name) for name in requested},
        "associations": associations,
        "stage_history": stage_history,
        "merged_from": merged_ids(props.get(MERGED_IDS)),
        "property_history": property_history,
    }


def row_size(row: dict[str, Any]) -> int:
    """Bytes the row takes as JSON: what ``data_size_mb`` adds up."""
    return len(orjson.dumps(row))
