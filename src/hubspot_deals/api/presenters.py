"""Stored jobs and rows as the spec's JSON shapes. A run's status body is built in
jobs/status_body.py (webhook deliveries carry it too) and re-exported here."""

from __future__ import annotations

import base64
import hashlib
import math
from dataclasses import dataclass
from typing import Any

from hubspot_deals.jobs.service import iso
from hubspot_deals.jobs.status_body import (
    changes_block,
    data_mb,
    identity,
    requested_mode,
    seconds_between,
    success_rate,
    time_remaining,
)
from hubspot_deals.jobs.status_body import status_body as status_body
from hubspot_deals.store.deal_entries import Entry, EntryField, Kind
from hubspot_deals.store.deals import DealFilter, StoredDeal
from hubspot_deals.store.models import Credential, JobStatus, ScanJob

NOT_FOUND_STATUS: dict[str, Any] = {
    "id": None,
    "scanId": None,
    "status": "not_found",
    "started_at": None,
    "completed_at": None,
    "error_message": None,
    "created_at": None,
    "updated_at": None,
}


def list_item(job: ScanJob) -> dict[str, Any]:
    item = identity(job) | {
        "total_items": job.total_items or 0,
        "processed_items": job.processed_items,
        "success_rate": success_rate(job),
    }
    if job.status == JobStatus.COMPLETED:
        item["duration_seconds"] = seconds_between(job.started_at, job.completed_at)
        item["data_size_mb"] = data_mb(job)
    elif job.status in (JobStatus.RUNNING, JobStatus.PENDING):
        item["estimated_time_remaining"] = time_remaining(job)
    if job.error_message:
        item["error_message"] = job.error_message
    item["mode"] = job.sync_mode or requested_mode(job)
    if job.status == JobStatus.COMPLETED:
        item["changes"] = changes_block(job)
    return item


#: ``deal_body`` as the database writes it (store/deal_entries.py), for results pages: the same
#: keys in the same order (a test holds the two to the same JSON).
DEAL_ENTRY = Entry(
    (
        EntryField("id", "row_id", Kind.RESULT_ID),
        EntryField("deal_id", "deal_id", Kind.TEXT),
        EntryField("deal_name", "deal_name", Kind.TEXT),
        EntryField("amount", "amount", Kind.NUMBER),
        EntryField("currency", "currency", Kind.TEXT),
        EntryField("deal_stage", "deal_stage", Kind.TEXT),
        EntryField("deal_stage_label", "deal_stage_label", Kind.TEXT),
        EntryField("pipeline_id", "pipeline_id", Kind.TEXT),
        EntryField("pipeline_label", "pipeline_label", Kind.TEXT),
        EntryField("close_date", "close_date", Kind.TEXT),
        EntryField("deal_created_at", "deal_created_at", Kind.TEXT),
        EntryField("deal_updated_at", "deal_updated_at", Kind.TEXT),
        EntryField("owner_id", "owner_id", Kind.TEXT),
        EntryField("owner_email", "owner_email", Kind.TEXT),
        EntryField("deal_type", "deal_type", Kind.TEXT),
        EntryField("is_archived", "is_archived", Kind.BOOLEAN),
        EntryField("deal_url", "deal_url", Kind.TEXT),
        EntryField("properties", "properties", Kind.JSON),
        EntryField("associations", "associations", Kind.JSON_OR_OBJECT),
        EntryField("stage_history", "stage_history", Kind.JSON_IF_SET),
        EntryField("merged_from", "merged_from", Kind.JSON_OR_LIST),
        EntryField("property_history", "property_history", Kind.JSON_IF_SET),
    )
)


def deal_body(row: StoredDeal) -> dict[str, Any]:
    """The spec's deal entry; ``stage_history`` only when the scan asked for it."""
    body: dict[str, Any] = {
        "id": f"result_{row.row_id:03d}",
        "deal_id": row.deal_id,
        "deal_name": row.deal_name,
        "amount": row.amount,
        "currency": row.currency,
        "deal_stage": row.deal_stage,
        "deal_stage_label": row.deal_stage_label,
        "pipeline_id": row.pipeline_id,
        "pipeline_label": row.pipeline_label,
        "close_date": row.close_date,
        "deal_created_at": row.deal_created_at,
        "deal_updated_at": row.deal_updated_at,
        "owner_id": row.owner_id,
        "owner_email": row.owner_email,
        "deal_type": row.deal_type,
        "is_archived": row.is_archived,
        "deal_url": row.deal_url,
        "properties": row.properties,
        "associations": row.associations if row.associations is not None else {},
    }
    if row.stage_history is not None:
        body["stage_history"] = row.stage_history
    body["merged_from"] = row.merged_from or []
    if row.property_history is not None:
        body["property_history"] = row.property_history
    return body


def definition_body(kept: dict[str, Any]) -> dict[str, Any]:
    """A run's property definition in HubSpot's names (``fieldType``, ``hubspotDefined``)."""
    return {
        "name": kept["name"],
        "label": kept["label"],
        "type": kept["type"],
        "fieldType": kept["field_type"],
        "group": kept["group"],
        "options": kept["options"],
        "hidden": kept["hidden"],
        "calculated": kept["calculated"],
        "hubspotDefined": kept["hubspot_defined"],
    }


def pagination(
    page: int, page_size: int, total: int, next_cursor: str | None = None, with_cursor: bool = True
) -> dict[str, Any]:
    pages = math.ceil(total / page_size) if total else 0
    body: dict[str, Any] = {
        "current_page": page,
        "page_size": page_size,
        "total_items": total,
        "total_pages": pages,
        "has_next": page < pages,
        "has_previous": page > 1,
        "next_page": page + 1 if page < pages else None,
        "previous_page": page - 1 if page > 1 else None,
    }
    if with_cursor:
        body["next_cursor"] = next_cursor
    return body


_CURSOR_NUMBER_LIMIT = 2**62


@dataclass(frozen=True)
class Cursor:
    """Where a results page ended: the run, the query (filters) it belongs to, the last deal
    id served, and how many rows came before the next page."""

    job_id: str
    query: str
    deal_key: int
    offset: int


def query_fingerprint(where: DealFilter) -> str:
    """A short digest of the filters: a cursor is only good for the query that made it."""
    text = "\x1f".join(value or "" for value in (where.pipeline, where.dealstage, where.owner_id))
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def encode_cursor(cursor: Cursor) -> str:
    raw = f"{cursor.job_id}:{cursor.query}:{cursor.deal_key}:{cursor.offset}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(text: str) -> Cursor | None:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        job_id, query, key, offset = raw.rsplit(":", 3)
        numbers = int(key), int(offset)
    except ValueError:  # also UnicodeDecodeError
        return None
    if not all(0 <= n < _CURSOR_NUMBER_LIMIT for n in numbers):  # a database integer, made up
        return None
    return Cursor(job_id, query, *numbers)


def connection_body(row: Credential) -> dict[str, Any]:
    """A stored credential as the connections API shows it: never a secret."""
    assert row.name is not None  # connections are the named credentials
    return {
        "connectionId": row.id,
        "name": row.name,
        "organizationId": row.organization_id,
        "authType": row.kind,
        "portalId": row.portal_id,
        "hubDomain": row.hub_domain,
        "scopes": row.scopes or [],
        "createdAt": iso(row.created_at),
        "checkedAt": iso(row.updated_at) if row.portal_id is not None else None,
    }
