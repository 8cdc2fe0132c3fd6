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

The last partition is open-ended, so deals created while the scan runs (which get higher ids) are
read too. A page carries its partition's new position; the engine stores positions with the pages
(in order per partition), so a resumed scan restarts each partition where its last stored page
ended. Partition bounds are fixed in the first checkpoint and reused on resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hubspot_deals.hubspot import Deal, HubSpotClient

SEARCH_PAGE = 200
#: Partitions hold this many deals at least and at most; in between, enough partitions to spend a
#: whole burst window at once.
MIN_PARTITION, MAX_PARTITION = 100, 5_000
SEARCH_WORKERS = 4
#: Pages fetched ahead of the engine: bounds memory (about 100 deals each) while keeping the
#: fetchers busy when association reads or writes lag for a moment.
PAGES_AHEAD = 64
ARCHIVED = -1  # the partition id of the archived chain


@dataclass(frozen=True)
class ScanFilters:
    include_archived: bool = False
    pipeline_id: str | None = None
    dealstage: str | None = None
    date_property: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None  # inclusive
    #: an incremental run's lower bound on hs_lastmodifieddate (search only, never the bin)
    modified_since_ms: int | None = None

    @property
    def narrowing(self) -> bool:
        return any(
            v is not None
            for v in (
                self.pipeline_id,
                self.dealstage,
                self.start_ms,
                self.end_ms,
                self.modified_since_ms,
            )
        )

    def search_filters(self) -> list[dict[str, str]]:
        filters = []
        if self.pipeline_id is not None:
            filters.append(
                {"propertyName": "pipeline", "operator": "EQ", "value": self.pipeline_id}
            )
        if self.dealstage is not None:
            filters.append({"propertyName": "dealstage", "operator": "EQ", "value": self.dealstage})
        if self.date_property and self.start_ms is not None:
            filters.append(
                {"propertyName": self.date_property, "operator": "GTE", "value": str(self.start_ms)}
            )
        if self.date_property and self.end_ms is not None:
            filters.append(
                {"propertyName": self.date_property, "operator": "LTE", "value": str(self.end_ms)}
            )
        if self.modified_since_ms is not None:
            filters.append(
                {
                    "propertyName": "hs_lastmodifieddate",
                    "operator": "GTE",
                    "value": str(self.modified_since_ms),
                }
            )
        return filters

    def matches(self, deal: Deal) -> bool:
        """The same filters, applied here to deals search cannot return (archived ones)."""
        props = deal.properties
        if self.pipeline_id is not None and props.get("pipeline") != self.pipeline_id:
            return False
        if self.dealstage is not None and props.get("dealstage") != self.dealstage:
            return False
        if self.date_property and (self.start_ms is not None or self.end_ms is not None):
            moment = parse_ms(props.get(self.date_property))
            if moment is None:
                return False
            if self.start_ms is not None and moment < self.start_ms:
                return False
            if self.end_ms is not None and moment > self.end_ms:
                return False
        return True


def parse_ms(value: str | None) -> int | None:
    if not value:
        return None
    if value.isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)


def day_bounds_ms(start: str | None, end: str | None) -> tuple[int | None, int | None]:
    """A date filter's bounds in epoch ms; a bare end date includes its whole day."""
    low = parse_ms(start) if start else None
    high = None
    if end:
        high = parse_ms(end)
        if high is not None and len(end) == 10:  # YYYY-MM-DD
            high += int(timedelta(days=1).total_seconds() * 1000) - 1
    return low, high


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

    async def pages(self, partitions: Sequence[Partition]) -> AsyncIterator[Page]:
        """Pages from every unfinished partition, as fast as the workers get them."""
        queue = deque(p for p in partitions if not p.done and p.id != ARCHIVED)
        archived = [p for p in partitions if not p.done and p.id == ARCHIVED]
        out: asyncio.Queue[Page | BaseException | None] = asyncio.Queue(maxsize=self.pages_ahead)

        async def worker(walk: Any) -> None:
            while queue:
                async for page in walk(queue.popleft()):
                    await out.put(page)

        jobs = [worker(self._search) for _ in range(SEARCH_WORKERS)]
        if not self.filters.narrowing:
            jobs += [worker(self._list) for _ in range(min(self.list_workers, len(queue)))]
        jobs += [self._drain(self._archived(p), out) for p in archived]

        async def run_all() -> None:
            try:
                await asyncio.gather(*jobs)
                await out.put(None)
            except Exception as exc:
                await out.put(exc)

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

    @staticmethod
    async def _drain(
        pages: AsyncIterator[Page], out: asyncio.Queue[Page | BaseException | None]
    ) -> None:
        async for page in pages:
            await out.put(page)

    async def _list(self, part: Partition) -> AsyncIterator[Page]:
        after: str | None = str(part.start())
        while after is not None:
            page = await anext(
                self.client.iter_deal_pages(
                    properties=self.properties,
                    properties_with_history=self.history,
                    limit=self.batch_size,
                    after=after,
                )
            )
            deals = [d for d in page.results if part.hi is None or int(d.id) < part.hi]
            following = page.next_after
            done = (
                following is None
                or (part.hi is not None and int(following) >= part.hi)
                or len(deals) < len(page.results)
            )
            after = None if done else following
            yield Page(deals, part.id, int(following) if following else None, done)

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
