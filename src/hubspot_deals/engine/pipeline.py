"""Pages to stored batches, overlapped: pages are grouped up to a v4 association batch, groups are
prepared (their associations and histories read) several at once, and handed on in page order.
How much is in flight at once follows the deals' width (``Flow``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from hubspot_deals.engine.plan import PAGES_AHEAD, Page

#: A v4 association batch reads up to 1,000 deals' associations of one type.
ASSOCIATION_BATCH = 1_000
#: Groups of pages whose associations are read at once, ahead of the writer.
PREPARE_AHEAD = 10
#: How long a group waits for more pages before its associations are read anyway.
GROUP_WAIT_S = 0.05

T = TypeVar("T")

#: Up to this many properties a deal, the buffers are at their full size; past it they shrink in
#: proportion, so a scan of a thousand properties holds about as many values in memory as one of
#: sixty-four (each value costs some 100 bytes as a Python object).
NARROW = 64
LIST_WORKERS = 32


@dataclass(frozen=True)
class Flow:
    """How much of a scan is in flight at once: list chains walked, pages fetched ahead, pages a
    group holds, groups prepared ahead."""

    list_workers: int = LIST_WORKERS
    pages_ahead: int = PAGES_AHEAD
    page_queue: int = 16
    group_deals: int = ASSOCIATION_BATCH
    groups_ahead: int = PREPARE_AHEAD

    @classmethod
    def for_properties(cls, count: int) -> Flow:
        """Full buffers for the usual deal, smaller ones for wide deals (never below what keeps
        HubSpot's rate-limit budget spent at its 250 ms round trips)."""
        width = max(1, count // NARROW)
        return cls(
            list_workers=max(8, LIST_WORKERS // width),
            pages_ahead=max(4, PAGES_AHEAD // width),
            page_queue=max(2, 16 // width),
            group_deals=max(100, ASSOCIATION_BATCH // width),
            groups_ahead=max(2, PREPARE_AHEAD // width),
        )


async def grouped(pages: AsyncIterator[Page], flow: Flow) -> AsyncIterator[list[Page]]:
    """Pages grouped up to a v4 association batch (1,000 ids; fewer for wide deals), without
    waiting for a group to fill."""
    buffered: asyncio.Queue[Page | BaseException | None] = asyncio.Queue(maxsize=flow.page_queue)

    async def pump() -> None:
        try:
            async for page in pages:
                await buffered.put(page)
            await buffered.put(None)
        except Exception as exc:
            await buffered.put(exc)

    pumping = asyncio.create_task(pump())
    try:
        finished = False
        while not finished:
            item = await buffered.get()
            group: list[Page] = []
            while True:
                if item is None:
                    finished = True
                    break
                if isinstance(item, BaseException):
                    raise item
                group.append(item)
                if sum(len(p.deals) for p in group) >= flow.group_deals:
                    break
                try:  # a short wait fills the batch: fewer, fuller association requests
                    item = await asyncio.wait_for(buffered.get(), GROUP_WAIT_S)
                except TimeoutError:
                    break
            if group:
                yield group
    finally:
        pumping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pumping


async def in_order(
    groups: AsyncIterator[list[Page]],
    prepare: Callable[[list[Page]], Coroutine[Any, Any, T]],
    flow: Flow,
) -> AsyncIterator[T]:
    """Prepare several groups at once (association reads overlap), yield them in order."""
    ready: asyncio.Queue[asyncio.Task[T] | BaseException | None] = asyncio.Queue(flow.groups_ahead)

    async def schedule() -> None:
        try:
            async for group in groups:
                await ready.put(asyncio.create_task(prepare(group)))
            await ready.put(None)
        except Exception as exc:
            await ready.put(exc)

    scheduler = asyncio.create_task(schedule())
    pending: list[asyncio.Task[T]] = []
    try:
        while (item := await ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            pending.append(item)
            batch = await item
            pending.remove(item)
            yield batch
    finally:
        scheduler.cancel()
        for task in pending:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await scheduler
        while not ready.empty():
            leftover = ready.get_nowait()
            if isinstance(leftover, asyncio.Task):
                leftover.cancel()
