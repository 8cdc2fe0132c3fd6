"""An incremental run: the previous run's deals, brought up to date with what changed since.

It holds what a full scan at that moment would hold, at a fraction of the requests. In phases, each
resumable (the checkpoint names the phase and where in it the run is):

1. ``copy``: the base run's rows become this run's, in one statement, with the checkpoint.
2. ``changes``: deals modified since the base run's mark (less an overlap: HubSpot's search index
   lags writes) are searched over id partitions, each walked by ``hs_object_id`` and never by
   offset, so neither the 10,000-result cap nor any number of deals sharing one timestamp can stop
   or loop it. Every changed deal's associations and stage history are read again.
3. ``archived``: the recycle bin is walked; deals the set holds live that are now in it are marked
   archived (``includeArchived``) or dropped. With ``includeArchived``, archived rows the bin no
   longer has are checked one by one.
4. ``deletes``: one search counts the live deals; when the count differs from the set's, id ranges
   are bisected by count until the differing ids are found, and each is checked with a batch read:
   archived, deleted for good, or missing from the set.
5. ``associations`` (``refreshAssociations``): every deal's associations are read again (HubSpot
   does not mark a deal modified when only its associations change).

A deal is compared with the row the set holds before it is written (engine/change_set.py): what
is identical (the overlap reads some deals again) counts as no change. A deal that absorbed others
in a merge takes them out of the set, counted as merged rather than removed.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import structlog

from hubspot_deals.engine.change_set import Changes, apply_changes
from hubspot_deals.engine.context import ScanContext, Stop
from hubspot_deals.engine.filters import ScanFilters
from hubspot_deals.engine.pipeline import Flow, grouped, in_order
from hubspot_deals.engine.plan import (
    SEARCH_PAGE,
    Page,
    PartitionedPlan,
    checkpoint_of,
    id_ordered_search,
)
from hubspot_deals.engine.reading import RowBuilder, read_associations
from hubspot_deals.engine.rows import association_entries
from hubspot_deals.engine.sync import SyncPlan
from hubspot_deals.hubspot import BURST, Deal
from hubspot_deals.store.deals import DealFilter, DealRepository, row_values, stored_deals
from hubspot_deals.store.jobs import JobRepository, Lease
from hubspot_deals.store.models import ScanJob

log = structlog.get_logger(__name__)

#: Changed deals are few: partitions of at least this many keep search requests full.
SMALLEST_CHANGES_PARTITION = 1_000
#: Id ranges are cut in this many parts while their counts differ ...
FANOUT = 8
#: ... until one holds at most this many deals: then its ids are listed (two search pages).
LEAF = 2 * SEARCH_PAGE
#: Deals read from the bin or by id per transaction.
CHUNK = 1_000
_NO_KEY = 2**63 - 1


class IncrementalRun:
    def __init__(
        self, ctx: ScanContext, job: ScanJob, lease: Lease, builder: RowBuilder, sync: SyncPlan
    ) -> None:
        self.ctx, self.job, self.lease, self.builder = ctx, job, lease, builder
        self.client = builder.client
        self.sync = sync
        self.spec = builder.spec
        self.filters = self.spec.filters
        self.fetched = self.spec.fetched_properties()
        self.batch_size = self.spec.batch_size

    # -- the phases --------------------------------------------------------------------------------

    async def run(self) -> None:
        checkpoint = self.job.checkpoint or {}
        phase = checkpoint.get("phase")
        if phase is None:
            await self._copy()
            checkpoint = {}
        if phase in (None, "changes"):
            await self._changes(checkpoint)
        if phase in (None, "changes", "archived"):
            await self._archived()
        if phase in (None, "changes", "archived", "deletes"):
            await self._deletes()
        if self.spec.refresh_associations and self.builder.kinds:
            after = int(checkpoint.get("refresh_after", -1)) if phase == "associations" else -1
            await self._refresh_associations(after)

    async def _copy(self) -> None:
        assert self.sync.base_job_id is not None
        async with self.ctx.sessions() as session:
            jobs = JobRepository(session)
            base = await jobs.get(self.sync.base_job_id)
            if base is None:
                raise RuntimeError("the base run of an incremental run is gone")
            await DealRepository(session).copy_job(base.id, self.job.id)
            copied = await jobs.update_if_running(
                self.job.id,
                self.lease,
                deals_held=base.deals_held,
                with_associations=base.with_associations,
                archived_deals=base.archived_deals,
                data_bytes=base.data_bytes,
                checkpoint={"version": 2, "phase": "changes", "partitions": None},
                updated_at=self.ctx.clock(),
            )
            if not copied:
                await session.rollback()
                raise Stop
            await session.commit()

    async def _changes(self, checkpoint: dict[str, Any]) -> None:
        assert self.sync.since is not None
        since = ScanFilters(modified_since_ms=int(self.sync.since.timestamp() * 1000))
        flow = Flow.for_properties(len(self.fetched))
        plan = PartitionedPlan(
            self.client,
            self.fetched,
            self.batch_size,
            since,
            list_workers=0,
            smallest_partition=SMALLEST_CHANGES_PARTITION,
            pages_ahead=flow.pages_ahead,
        )
        burst = self.client.limiter.limit(BURST)[0]
        known = checkpoint if checkpoint.get("partitions") else None
        total, partitions = await plan.prepare(known, burst)
        if known is None:
            await self._save(
                Changes(),
                checkpoint=checkpoint_of(partitions) | {"phase": "changes"},
                total_items=total,
                total_batches=math.ceil((total or 0) / self.batch_size),
            )

        async def prepare(pages: list[Page]) -> tuple[list[Page], Changes]:
            return pages, await self._observe([d for page in pages for d in page.deals])

        positions = {p.id: p for p in partitions}
        async for pages, changes in in_order(grouped(plan.pages(positions), flow), prepare, flow):
            for page in pages:
                position = positions[page.partition]
                position.next, position.done = page.next, page.done
            await self._save(
                changes, checkpoint=checkpoint_of(list(positions.values())) | {"phase": "changes"}
            )
        await self._save(Changes(), checkpoint={"version": 2, "phase": "archived"})

    async def _archived(self) -> None:
        include = self.filters.include_archived
        binned: set[int] = set()
        pages = self.client.iter_deal_pages(
            properties=self.fetched if include else ["hs_object_id"], archived=True, limit=100
        )
        async for page in pages:
            keys = [int(d.id) for d in page.results]
            binned.update(keys)
            if not include:  # only rows the set holds live matter: they leave it
                await self._save(Changes(gone=dict.fromkeys(keys, "archived")))
                continue
            async with self.ctx.sessions() as session:
                known = await DealRepository(session).archived_among(self.job.id, keys)
            # rows already held as archived are as they were (archived deals do not change)
            fresh = [d for d in page.results if int(d.id) not in known]
            await self._save(await self._observe(fresh) if fresh else Changes())
        if include:  # archived rows the bin no longer has: restored, or deleted for good
            async with self.ctx.sessions() as session:
                stored = await DealRepository(session).keys_in(
                    self.job.id, 0, _NO_KEY, archived=True
                )
            await self._check([str(k) for k in stored if k not in binned])
        await self._save(Changes(), checkpoint={"version": 2, "phase": "deletes"})

    async def _deletes(self) -> None:
        user = self.filters.search_filters()
        live = (await self.client.search_deals(_count_body(user))).total
        async with self.ctx.sessions() as session:
            deals = DealRepository(session)
            held = await deals.count_in(self.job.id, 0, _NO_KEY, archived=False)
            bounds = await deals.key_bounds(self.job.id)
        if live != held:
            log.info("scan.reconciling", live=live, held=held)
            first, last = await asyncio.gather(
                self.client.search_deals(_count_body(user, descending=False)),
                self.client.search_deals(_count_body(user, descending=True)),
            )
            ends = [int(p.results[0].id) for p in (first, last) if p.results]
            if bounds is not None:
                ends += list(bounds)
            if ends:
                suspects = await self._differing(min(ends), max(ends) + 1, user)
                await self._check(suspects)
        if self.spec.refresh_associations and self.builder.kinds:
            await self._save(Changes(), checkpoint={"version": 2, "phase": "associations"})

    async def _refresh_associations(self, after: int) -> None:
        kinds = self.builder.kinds
        while True:
            async with self.ctx.sessions() as session:
                rows = await DealRepository(session).raw_page(
                    self.job.id, DealFilter(), after_key=after, limit=CHUNK
                )
                held = [row_values(deal) for deal in stored_deals(rows)]
            if not held:
                return
            found = await read_associations(self.client, kinds, [str(r["deal_key"]) for r in held])
            changes = Changes()
            for row in held:
                fresh = {k: association_entries(k, found[k].get(row["deal_id"], [])) for k in kinds}
                if fresh != row["associations"]:
                    changes.seen.append(row | {"associations": fresh})
            after = held[-1]["deal_key"]
            await self._save(
                changes, checkpoint={"version": 2, "phase": "associations", "refresh_after": after}
            )

    # -- steps -------------------------------------------------------------------------------------

    async def _observe(self, deals: Sequence[Deal]) -> Changes:
        """Deals as HubSpot has them now: rows for those the scan keeps, the rest leave the set."""
        changes = Changes(read=len(deals))
        kept: list[Deal] = []
        for deal in deals:
            if not self.filters.matches(deal):
                changes.gone[int(deal.id)] = "removed"  # it left the scan's filters
            elif deal.archived and not self.filters.include_archived:
                changes.gone[int(deal.id)] = "archived"
            else:
                kept.append(deal)
        if kept:
            built = await self.builder.build(kept)
            changes.seen, changes.failed, changes.untyped = built.rows, built.failed, built.untyped
            changes.merges()
        return changes

    async def _check(self, ids: Sequence[str]) -> None:
        """Deals whose state the set may have wrong, read by id: live, archived, or gone."""
        for start in range(0, len(ids), CHUNK):
            chunk = list(ids[start : start + CHUNK])
            live, missing = await self.client.batch_read_deals(chunk, properties=self.fetched)
            binned, deleted = await self.client.batch_read_deals(
                missing, properties=self.fetched, archived=True
            )
            changes = await self._observe([*live, *binned])
            for deal_id in deleted:
                changes.gone[int(deal_id)] = "removed"
            await self._save(changes)

    async def _differing(self, lo: int, hi: int, user: list[dict[str, str]]) -> list[str]:
        """Ids in [lo, hi) that HubSpot's live deals and the set's live rows do not share."""
        body = _count_body(user + _id_range(lo, hi))
        async with self.ctx.sessions() as session:
            held = await DealRepository(session).count_in(self.job.id, lo, hi, archived=False)
        live = (await self.client.search_deals(body)).total
        if live == held:
            return []
        if max(live, held) <= LEAF or hi - lo <= FANOUT:
            async with self.ctx.sessions() as session:
                stored = await DealRepository(session).keys_in(self.job.id, lo, hi, archived=False)
            found = await self._live_ids(lo, hi, user)
            return [str(k) for k in sorted(set(stored) ^ found)]
        step = math.ceil((hi - lo) / FANOUT)
        parts = await asyncio.gather(
            *(self._differing(s, min(s + step, hi), user) for s in range(lo, hi, step))
        )
        return [i for part in parts for i in part]

    async def _live_ids(self, lo: int, hi: int, user: list[dict[str, str]]) -> set[int]:
        found: set[int] = set()
        start = lo
        while True:
            page = await self.client.search_deals(
                _count_body(user + _id_range(start, hi), limit=SEARCH_PAGE)
            )
            found.update(int(d.id) for d in page.results)
            if len(page.results) < SEARCH_PAGE:
                return found
            start = int(page.results[-1].id) + 1

    async def _save(
        self, changes: Changes, *, checkpoint: dict[str, Any] | None = None, **values: Any
    ) -> None:
        """Apply observations to the set in one transaction, with the figures and checkpoint."""
        async with self.ctx.sessions() as session:
            applied = await apply_changes(
                session,
                self.job.id,
                self.lease,
                changes,
                batch_size=self.batch_size,
                checkpoint=checkpoint,
                values={"updated_at": self.ctx.clock()} | values,
            )
            if not applied:
                await session.rollback()
                raise Stop
            await session.commit()


async def run_incremental(
    ctx: ScanContext, job: ScanJob, lease: Lease, builder: RowBuilder, sync: SyncPlan
) -> None:
    await IncrementalRun(ctx, job, lease, builder, sync).run()


def _id_range(lo: int, hi: int) -> list[dict[str, str]]:
    return [
        {"propertyName": "hs_object_id", "operator": "GTE", "value": str(lo)},
        {"propertyName": "hs_object_id", "operator": "LT", "value": str(hi)},
    ]


def _count_body(
    filters: list[dict[str, str]], *, limit: int = 1, descending: bool = False
) -> dict[str, Any]:
    """A search for ids only: its ``total`` counts, its results list ids."""
    return id_ordered_search(filters, ["hs_object_id"], limit, descending=descending)
