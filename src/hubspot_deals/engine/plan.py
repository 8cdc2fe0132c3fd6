"""The fetch plan: how a scan spends HubSpot's whole budget, and where it resumes.

The id range of the portal's deals is cut into partitions. Workers take partitions from a shared
queue and walk them:

- list workers walk a partition with the list endpoint's cursor chain, started at the partition's
  first id (the list cursor is the id of the next record, so a chain can start anywhere) and
  stopped at the next partition's first id. They spend the 10-second burst budget.
- search workers walk a partition with the search API (``hs_object_id`` from the partition's next
  id, below its end, sorted by id, 200 a page), which has its own per-second budget outside the
  burst window. Filtered scans (pipeline, stage, dates) use only search workers; the filters ride
  along in every query, and no query ever pages, so search's 10,000-result cap never applies.
- one archived worker walks the archived list chain when ``includeArchived`` is set (search never
  returns archived deals), filtering here when the scan is filtered.

A search worker that finds no partition left takes part of a list walk's range (``_steal``): the
list endpoint's budget is spent in a burst at the start of each 10-second window, so the scan's last
list pages would otherwise wait most of a window for the next one while search's budget goes unused
(measured at 100,000 deals, 250 ms and 150 per 10 s: 55 s, 49.6 s with it).

The last partition is open-ended, so deals created while the scan runs (which get higher ids) are
read too. A page carries its partition's new position; the engine stores positions with the pages
(in order per partition), so a resumed scan restarts each partition where its last stored page
ended. Partition bounds are kept in every checkpoint (a split's two halves from the first batch
stored after it) and reused on resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from hubspot_deals.engine.filters import ScanFilters
from hubspot_deals.hubspot import Deal, DealPage, HubSpotClient

SEARCH_PAGE = 200
#: Partitions hold this many deals at least and at most; in between, enough partitions to spend a
#: whole burst window at once.
MIN_PARTITION, MAX_PARTITION = 100, 5_000
SEARCH_WORKERS = 4
#: Pages fetched ahead of the engine: bounds memory (about 100 deals each) while keeping the
#: fetchers busy when association reads or writes lag for a moment.
PAGES_AHEAD = 64
ARCHIVED = -1  # the partition id of the archived chain


@dataclass
class Partition:
    id: int
    lo: int
    hi: int | None  # exclusive; None: open-ended
    next: int | None  # the smallest id not yet read (None: from lo)
    done: bool = False

    def start(self) -> int:
        return self.next if self.next is not None else self.lo


@dataclass(frozen=True)
class Page:
    deals: list[Deal]
    partition: int
    next: int | None
    done: bool


def checkpoint_of(partitions: Sequence[Partition]) -> dict[str, Any]:
    """Every batch writes one (a partition of 100 deals each, past a thousand at generous
    limits): copies of the partitions' flat fields, not ``asdict``'s recursive copies."""
    return {"version": 2, "partitions": [dict(vars(p)) for p in partitions]}


def partitions_from(checkpoint: dict[str, Any] | None) -> list[Partition] | None:
    if not checkpoint or checkpoint.get("version") != 2:
        return None
    return [Partition(**p) for p in checkpoint["partitions"]]


def split(
    lo: int, hi: int, total: int, burst: int, smallest: int = MIN_PARTITION
) -> list[Partition]:
    """Cut [lo, hi] into partitions of ``smallest``..MAX deals, enough to spend a burst window at
    once."""
    size = min(max(total // max(burst, 1), smallest), MAX_PARTITION)
    count = max(math.ceil(total / size), 1)
    width = max((hi - lo + 1) // count, 1)
    bounds = [lo + n * width for n in range(count)]
    return [
        Partition(n, start, bounds[n + 1] if n + 1 < count else None, None)
        for n, start in enumerate(bounds)
    ]


def id_ordered_search(
    filters: list[dict[str, str]], properties: list[str], limit: int, *, descending: bool = False
) -> dict[str, Any]:
    """A search request in ``hs_object_id`` order: ranges of it page without offsets, and its
    ``total`` counts the matches."""
    return {
        "filterGroups": [{"filters": filters}] if filters else [],
        "sorts": [
            {
                "propertyName": "hs_object_id",
                "direction": "DESCENDING" if descending else "ASCENDING",
            }
        ],
        "properties": properties,
        "limit": limit,
    }


class PartitionedPlan:
    def __init__(
        self,
        client: HubSpotClient,
        properties: Sequence[str],
        batch_size: int,
        filters: ScanFilters,
        *,
        list_workers: int,
        history: Sequence[str] = (),
        smallest_partition: int = MIN_PARTITION,
        pages_ahead: int = PAGES_AHEAD,
    ) -> None:
        self.client = client
        self.properties = list(properties)
        self.batch_size = batch_size
        self.filters = filters
        self.list_workers = list_workers
        #: properties whose history list pages carry (search pages cannot: the builder reads it)
        self.history = list(history)
        self.smallest_partition = smallest_partition
        self.pages_ahead = pages_ahead
        #: ids a list page spans, about: a walk with two pages or more left gives up half of it,
        #: a shorter one all. Known from the portal's density when the plan is made, not when it
        #: resumes (no steals then).
        self.list_page_ids: int | None = None
        #: per list walk under way, the id its next request starts at, and that request
        self._reading: dict[int, int] = {}
        self._requests: dict[int, asyncio.Future[DealPage]] = {}

    def _search_body(
        self, filters: list[dict[str, str]], limit: int, descending: bool = False
    ) -> dict[str, Any]:
        properties = ["hs_object_id"] if limit == 1 else self.properties
        return id_ordered_search(filters, properties, limit, descending=descending)

    async def prepare(
        self, checkpoint: dict[str, Any] | None, burst: int
    ) -> tuple[int | None, list[Partition]]:
        """(deals the scan should see, if known; partitions), new or from the checkpoint."""
        known = partitions_from(checkpoint)
        if known is not None:
            return None, known
        user = self.filters.search_filters()
        first, last = await asyncio.gather(
            self.client.search_deals(self._search_body(user, 1)),
            self.client.search_deals(self._search_body(user, 1, descending=True)),
        )
        partitions = []
        if first.results:
            spread = int(last.results[0].id) - int(first.results[0].id) + 1
            self.list_page_ids = max(1, spread * self.batch_size // max(first.total, 1))
            partitions = split(
                int(first.results[0].id),
                int(last.results[0].id),
                first.total,
                burst,
                self.smallest_partition,
            )
        if self.filters.include_archived:
            partitions.append(Partition(ARCHIVED, 0, None, None))
        return first.total, partitions

    async def pages(self, positions: dict[int, Partition]) -> AsyncIterator[Page]:
        """Pages from every unfinished partition, as fast as the workers get them. A search
        worker left without a partition takes part or all of what a list walk has still to read
        (``_steal``), adding the new partition to ``positions``."""
        queue = deque(p for p in positions.values() if not p.done and p.id != ARCHIVED)
        archived = [p for p in positions.values() if not p.done and p.id == ARCHIVED]
        out: asyncio.Queue[Page | BaseException | None] = asyncio.Queue(maxsize=self.pages_ahead)
        self._reading.clear()

        def next_partition(steals: bool) -> Partition | None:
            if queue:
                return queue.popleft()
            return self._steal(positions) if steals else None

        async def worker(walk: Any, steals: bool) -> None:
            while part := next_partition(steals):
                async for page in walk(part):
                    await out.put(page)

        jobs = [worker(self._search, True) for _ in range(SEARCH_WORKERS)]
        if not self.filters.narrowing:
            jobs += [worker(self._list, False) for _ in range(min(self.list_workers, len(queue)))]
        jobs += [self._drain(self._archived(p), out) for p in archived]

        async def run_all() -> None:
            try:
                async with asyncio.TaskGroup() as workers:  # one fails: the others stop
                    for job in jobs:
                        workers.create_task(job)
                await out.put(None)
            except* Exception as failed:
                await out.put(failed.exceptions[0])

        runner = asyncio.create_task(run_all())
        try:
            while (item := await out.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner

    def _steal(self, positions: dict[int, Partition]) -> Partition | None:
        """Part of the largest id range a list walk has still to read, as a partition of its own
        for search to walk: its upper half, or all of it when that is under two pages. The list
        endpoint's budget comes in bursts: without this, a scan's last list pages wait up to a
        window for the next burst while search's budget goes unspent. The walk stops at the new
        bound (its pages are cut there as they come), which is above where its next request
        starts: no deal is read twice, and none is missed."""
        if self.list_page_ids is None:
            return None
        walks = [(positions[part_id], reading) for part_id, reading in self._reading.items()]
        walks = [(part, reading) for part, reading in walks if part.hi is None or part.hi > reading]
        if not walks:
            return None

        def left(walk: tuple[Partition, int]) -> int:
            """Ids left to read; the open-ended last partition (where deals created meanwhile
            land) comes last, and is taken whole."""
            part, reading = walk
            return -1 if part.hi is None else part.hi - reading

        part, reading = max(walks, key=left)
        span = None if part.hi is None else part.hi - reading
        middle = reading + span // 2 if span and span >= 2 * self.list_page_ids else reading
        taken = Partition(max(positions) + 1, middle, part.hi, None)
        part.hi = middle
        positions[taken.id] = taken
        request = self._requests.get(part.id)
        if middle == reading and request is not None and self.client.waiting_for_slot(request):
            request.cancel()  # nothing left for it: not worth a wait for the next burst
        return taken

    @staticmethod
    async def _drain(
        pages: AsyncIterator[Page], out: asyncio.Queue[Page | BaseException | None]
    ) -> None:
        async for page in pages:
            await out.put(page)

    async def _list(self, part: Partition) -> AsyncIterator[Page]:
        after: str | None = str(part.start())
        while after is not None:
            if part.hi is not None and int(after) >= part.hi:  # stolen whole meanwhile
                self._reading.pop(part.id, None)
                yield Page([], part.id, int(after), True)
                return
            self._reading[part.id] = int(after)  # where a steal may split this walk: above it
            page = await self._next_list_page(part.id, after)
            if page is None:  # stolen whole while the request waited: nothing left to read
                continue
            # the bound as it is now: a steal may have lowered it while the page was on its way
            deals = [d for d in page.results if part.hi is None or int(d.id) < part.hi]
            following = page.next_after
            done = (
                following is None
                or (part.hi is not None and int(following) >= part.hi)
                or len(deals) < len(page.results)
            )
            after = None if done else following
            if after is None:
                self._reading.pop(part.id, None)
            else:  # before the page is handed on: a steal meanwhile splits above its deals
                self._reading[part.id] = int(after)
            yield Page(deals, part.id, int(following) if following else None, done)

    async def _next_list_page(self, part_id: int, after: str) -> DealPage | None:
        """The list page from ``after``, as a task a whole steal cancels while its request waits
        for a slot (up to most of a burst window; a request sent runs to its answer, whose deals
        are then cut); None when it was."""
        request = asyncio.ensure_future(
            self.client.deal_page(
                properties=self.properties,
                properties_with_history=self.history,
                limit=self.batch_size,
                after=after,
            )
        )
        self._requests[part_id] = request
        try:
            return await request
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if request.cancelled() and task is not None and not task.cancelling():
                return None  # ours was cancelled, not the walk: by ``_steal``
            raise
        finally:
            self._requests.pop(part_id, None)

    async def _search(self, part: Partition) -> AsyncIterator[Page]:
        start = part.start()
        while True:
            bounds = [{"propertyName": "hs_object_id", "operator": "GTE", "value": str(start)}]
            if part.hi is not None:
                bounds.append(
                    {"propertyName": "hs_object_id", "operator": "LT", "value": str(part.hi)}
                )
            page = await self.client.search_deals(
                self._search_body(self.filters.search_filters() + bounds, SEARCH_PAGE)
            )
            done = len(page.results) < SEARCH_PAGE or page.next_after is None
            if page.results:
                start = int(page.results[-1].id) + 1
            yield Page(page.results, part.id, start, done)
            if done:
                return

    async def _archived(self, part: Partition) -> AsyncIterator[Page]:
        after: str | None = str(part.next) if part.next is not None else None
        chain = self.client.iter_deal_pages(
            properties=self.properties,
            properties_with_history=self.history,
            archived=True,
            limit=self.batch_size,
            after=after,
        )
        async for page in chain:
            following = page.next_after
            deals = [d for d in page.results if self.filters.matches(d)]
            yield Page(deals, ARCHIVED, int(following) if following else None, following is None)
