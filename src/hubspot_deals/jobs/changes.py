"""The changes feed of a scan id: what its completed runs did to its results, event by event.

Applied in order from the first event, the feed rebuilds exactly the results the current run
serves: each run's events are relative to the run served before it (an incremental run's base,
or the run a full run compared itself with at its end), and a failed or cancelled run's are never
served, as its rows never were.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.jobs.service import ScanNotFound
from hubspot_deals.store.changes import ChangeRepository, FeedEvent
from hubspot_deals.store.jobs import JobRepository, OrgScope
from hubspot_deals.store.models import ScanJob, run_slot


@dataclass(frozen=True)
class ChangesPage:
    """Events past a position, and whether more follow at once (``has_more``)."""

    job: ScanJob  # the scan id's newest run: whose organization the page is charged to
    changes: Sequence[FeedEvent]
    has_more: bool


def feed_key(scan_id: str, scope: OrgScope) -> str:
    """The scan id's key in the feed, for the caller: the slot its runs hold (as the start
    computes it), so another organization's scan id is another feed."""
    return run_slot(scan_id, scope if isinstance(scope, str) else None)


async def changes_after(
    session: AsyncSession, scan_id: str, scope: OrgScope, *, after: int, limit: int
) -> ChangesPage:
    """Up to ``limit`` events past ``after`` (a ``seq``); a scan id without a run (for the
    caller) is not found, one whose runs have not completed has no event yet."""
    job = await JobRepository(session).newest(scan_id, scope)
    if job is None:
        raise ScanNotFound("Scan not found", scanId=scan_id)
    found = await ChangeRepository(session).served(
        feed_key(scan_id, scope), scope, after=after, limit=limit + 1
    )
    return ChangesPage(job, found[:limit], len(found) > limit)
