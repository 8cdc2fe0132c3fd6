"""An incremental run's observations applied to its result set, one transaction at a time.

Each observation is a row as HubSpot has the deal now (``seen``) or a deal that left the set, with
why (``gone``): archived, removed (deleted, or out of the scan's filters), or merged into another
deal. A row identical to the one held (the overlap reads some deals again) is no change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.engine.feed import kind_of
from hubspot_deals.engine.rows import row_size
from hubspot_deals.store.changes import (  # why a deal left the set: the feed's kinds
    ARCHIVED,
    MERGED,
    REMOVED,
    Change,
    ChangeRepository,
    scan_key,
)
from hubspot_deals.store.deals import DealRepository, row_values
from hubspot_deals.store.jobs import JobRepository, Lease
from hubspot_deals.store.models import DatabaseNow


@dataclass
class Tally:
    """What one transaction changes in the set and in the run's figures."""

    added: int = 0
    updated: int = 0
    archived: int = 0
    removed: int = 0
    merged: int = 0
    held: int = 0
    with_associations: int = 0
    archived_deals: int = 0
    data_bytes: int = 0

    def replace(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        for sign, row in ((-1, old), (1, new)):
            if row is None:
                continue
            self.held += sign
            self.with_associations += sign * int(any((row["associations"] or {}).values()))
            self.archived_deals += sign * int(bool(row["is_archived"]))
            self.data_bytes += sign * row_size(row)


@dataclass
class Changes:
    """Observations of one step: rows as HubSpot has them now (``seen``) and deals that left the
    set, with why (``gone``: key -> ARCHIVED, REMOVED or MERGED)."""

    seen: list[dict[str, Any]] = field(default_factory=list)
    gone: dict[int, str] = field(default_factory=dict)
    read: int = 0
    failed: int = 0
    untyped: int = 0

    def merges(self) -> None:
        """Deals a seen deal absorbed leave the set as merged (HubSpot lists them on the
        survivor; they are gone from every endpoint)."""
        for row in self.seen:
            for merged in row["merged_from"] or ():
                if merged.isdigit() and int(merged) != row["deal_key"]:
                    self.gone.setdefault(int(merged), MERGED)


async def apply_changes(
    session: AsyncSession,
    job_id: str,
    lease: Lease,
    changes: Changes,
    *,
    batch_size: int,
    checkpoint: dict[str, Any] | None,
    values: dict[str, Any],
) -> bool:
    """Write ``changes`` and the run's figures in ``session``; False when the lease is lost
    (nothing of it must be committed then)."""
    jobs, deals = JobRepository(session), DealRepository(session)
    job = await jobs.get(job_id)
    if job is None or not lease.holds(job):
        return False
    seen = {row["deal_key"]: row for row in changes.seen}
    gone = {k: why for k, why in changes.gone.items() if k not in seen}
    stored = await deals.by_keys(job_id, [*seen, *gone])
    held = {k: row_values(r) for k, r in stored.items()}
    tally, writes, drops, events = Tally(), [], [], []
    for key, row in seen.items():
        old = held.get(key)
        if old == row:
            continue
        kind = kind_of(old, row)
        setattr(tally, kind, getattr(tally, kind) + 1)
        tally.replace(old, row)
        writes.append(row)
        events.append(Change(kind, row["deal_id"], row))
    for key, why in gone.items():
        if key in held:
            if why == ARCHIVED and held[key]["is_archived"]:
                why = REMOVED  # an archived row the bin no longer holds
            setattr(tally, why, getattr(tally, why) + 1)
            tally.replace(held[key], None)
            drops.append(key)
            events.append(Change(why, held[key]["deal_id"], None))
    await deals.delete_keys(job_id, drops)
    await deals.upsert(job_id, writes)
    # the changes feed: one event per row written or dropped, committed (or not) with them
    await ChangeRepository(session).record(scan_key(job), job_id, events)
    processed = job.processed_items + changes.read - changes.failed
    update: dict[str, Any] = {
        "processed_items": processed,
        "failed_items": job.failed_items + changes.failed,
        "untyped_values": job.untyped_values + changes.untyped,
        "current_batch": math.ceil(processed / batch_size),
        "deals_held": job.deals_held + tally.held,
        "with_associations": job.with_associations + tally.with_associations,
        "archived_deals": job.archived_deals + tally.archived_deals,
        "data_bytes": job.data_bytes + tally.data_bytes,
        "changes_added": job.changes_added + tally.added,
        "changes_updated": job.changes_updated + tally.updated,
        "changes_archived": job.changes_archived + tally.archived,
        "changes_removed": job.changes_removed + tally.removed,
        "changes_merged": job.changes_merged + tally.merged,
        "interruptions": 0,
        "heartbeat_at": DatabaseNow(),
    } | values
    update["total_items"] = max(
        update.get("total_items") or job.total_items or 0,
        processed + job.failed_items + changes.failed,
    )
    if checkpoint is not None:
        update["checkpoint"] = checkpoint
    return await jobs.update_if_running(job_id, lease, **update)
