"""Pages to stored batches, overlapped: pages are grouped up to a v4 association batch, groups are
prepared (their associations and histories read) several at once, and handed on in page order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar

from hubspot_deals.engine.plan import Page

#: A v4 association batch reads up to 1,000 deals' associations of one type.
ASSOCIATION_BATCH = 1_000
#: Groups of pages whose associations are read at once, ahead of the writer.
PREPARE_AHEAD = 10
#: How long a group waits for more pages before its associations are read anyway.
GROUP_WAIT_S = 0.05

T = TypeVar("T")


async def grouped(pages: AsyncIterator[Page]) -> AsyncIterator[list[Page]]:
    """Pages grouped up to a v4 association batch (1,000 ids), without waiting for a group to fill."""
    buffered: asyncio.Queue[Page | BaseException | None] = asyncio.Queue(maxsize=16)

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
                if sum(len(p.deals) for p in group) >= ASSOCIATION_BATCH:
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
    groups: AsyncIterator[list[Page]], prepare: Callable[[list[Page]], Coroutine[Any, Any, T]]
) -> AsyncIterator[T]:
    """Prepare up to PREPARE_AHEAD groups at once (association reads overlap), yield them in order."""
    ready: asyncio.Queue[asyncio.Task[T] | BaseException | None] = asyncio.Queue(PREPARE_AHEAD)

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
