"""The changes feed endpoint: a scan id's deal changes in order, keyset-paged by an opaque cursor a
consumer keeps between calls (docs/api.md#changes-feed). Translates HTTP only: the events come
from jobs/changes.py; their shape is the results entry's, without the row id."""

from __future__ import annotations

import base64
import hashlib
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from hubspot_deals.api import presenters
from hubspot_deals.api.errors import ValidationFailed
from hubspot_deals.api.quotas import charge_download
from hubspot_deals.api.routes.scans import NOT_FOUND, ScanId, Scope, Session, checked_scan_id
from hubspot_deals.api.schemas import DealResult
from hubspot_deals.jobs.changes import changes_after, feed_key
from hubspot_deals.store.changes import FeedEvent

router = APIRouter(prefix="/scan", tags=["scans"])
ChangeKind = Literal["added", "updated", "archived", "removed", "merged"]
#: A seq is a database integer: a larger one was made up.
_SEQ_LIMIT = 2**62
_CURSOR_TAG = "feed"


def _without_row_id(schema: JsonDict) -> None:
    """The row's own id (``result_<n>``) differs per run: the feed's deals are keyed by deal_id."""
    properties = schema.get("properties")
    required = schema.get("required")
    if isinstance(properties, dict):
        properties.pop("id", None)
    if isinstance(required, list) and "id" in required:
        required.remove("id")


class ChangedDeal(DealResult):
    """A results entry as it is after the change, without ``id``."""

    model_config = ConfigDict(json_schema_extra=_without_row_id)


class DealChangeEntry(BaseModel):
    seq: int = Field(description="The event's place in the scan id's feed (increasing).")
    runId: str = Field(description="The run (job id) that made the change.")
    kind: ChangeKind
    deal_id: str
    deal: ChangedDeal | None = Field(
        description="The deal as it is after the change; null when it left the results "
        "(removed, merged, or archived without includeArchived)."
    )


class ChangesResponse(BaseModel):
    scanId: str
    changes: list[DealChangeEntry]
    next_cursor: str = Field(
        description="Where to ask from next time (the cursor given when nothing is new)."
    )
    has_more: bool = Field(description="More events follow now: ask again at once.")


def _fingerprint(key: str) -> str:
    return hashlib.blake2b(key.encode(), digest_size=6).hexdigest()


def encode_cursor(key: str, seq: int) -> str:
    raw = f"{_CURSOR_TAG}:{_fingerprint(key)}:{seq}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(text: str, key: str) -> int:
    """The seq a cursor of this scan id's feed stands for; a 400 for any other text."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        tag, fingerprint, number = raw.split(":")
        seq = int(number)
    except ValueError:  # also UnicodeDecodeError, binascii.Error and a wrong count of parts
        seq, tag, fingerprint = -1, "", ""
    if tag != _CURSOR_TAG or fingerprint != _fingerprint(key) or not 0 <= seq < _SEQ_LIMIT:
        raise ValidationFailed({"cursor": "Not a cursor of this scan's changes feed"})
    return seq


def change_body(event: FeedEvent) -> dict[str, Any]:
    deal = None
    if event.deal is not None:  # a results entry without its id (which differs run to run)
        deal = presenters.deal_body(event.deal)
        del deal["id"]
    return {
        "seq": event.seq,
        "runId": event.job_id,
        "kind": event.kind,
        "deal_id": event.deal_id,
        "deal": deal,
    }


@router.get("/changes/{scan_id}", response_model=ChangesResponse, responses=NOT_FOUND)
async def changes(
    request: Request,
    scan_id: ScanId,
    db: Session,
    scope: Scope,
    limit: Annotated[int, Query(ge=1, le=1000, description="Events a page")] = 100,
    cursor: Annotated[
        str | None,
        Query(max_length=200, description="next_cursor of the previous answer; none: the start"),
    ] = None,
) -> Response:
    """The deal changes the scan id's completed runs made, in order: applied from the start,
    they rebuild its current results exactly. Poll with ``next_cursor`` for new ones."""
    checked_scan_id(scan_id)
    key = feed_key(scan_id, scope)
    after = 0 if cursor is None else decode_cursor(cursor, key)
    page = await changes_after(db, scan_id, scope, after=after, limit=limit)
    last = page.changes[-1].seq if page.changes else after
    body = {
        "scanId": scan_id,
        "changes": [change_body(c) for c in page.changes],
        "next_cursor": encode_cursor(key, last),
        "has_more": page.has_more,
    }
    response = Response(orjson.dumps(body), media_type="application/json")
    await charge_download(request, page.job.organization_id, len(response.body))
    return response
