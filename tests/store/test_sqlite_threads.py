"""SQLite connections on threads shared between them: writers that meet another connection's
write lock wait in the event loop, so they never hold the threads the lock's holder needs to
finish (more waiting writers than shared threads, and every write still lands)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from sqlalchemy import text

from hubspot_deals.store.database import create_engine
from hubspot_deals.store.sqlite_connection import SHARED_THREADS, quick_reads


async def test_writers_waiting_for_the_lock_do_not_hold_the_threads(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'locks.db'}")
    try:
        async with engine.begin() as setup:
            await setup.execute(text("CREATE TABLE t (n INTEGER)"))
        holder = await engine.connect()
        await holder.execute(text("INSERT INTO t VALUES (0)"))  # holds the write lock, open

        async def write(n: int) -> None:
            async with engine.begin() as connection:
                await connection.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})

        waiting = [asyncio.create_task(write(n)) for n in range(1, 2 * SHARED_THREADS + 2)]
        await asyncio.sleep(0.2)  # every writer has met the lock by now
        assert not any(task.done() for task in waiting)
        # the holder's own statements still find a thread at once: it writes again, lets go
        await asyncio.wait_for(holder.execute(text("INSERT INTO t VALUES (100)")), timeout=2)
        await asyncio.wait_for(holder.commit(), timeout=2)
        await holder.close()
        await asyncio.wait_for(asyncio.gather(*waiting), timeout=10)
        async with engine.connect() as reader:
            count = (await reader.execute(text("SELECT count(*) FROM t"))).scalar()
        assert count == len(waiting) + 2
    finally:
        await engine.dispose()


async def test_a_cancelled_call_still_ends_before_the_next_one_starts(tmp_path: Path) -> None:
    """The caller of a long statement is cancelled (a scan cancelled mid-write): the statement runs
    on, and the connection's next call (SQLAlchemy's rollback or close) waits for its end rather
    than run beside it on the other shared thread."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'order.db'}")
    try:
        async with engine.connect() as connection:
            raw = (await connection.get_raw_connection()).driver_connection
            calls: list[str] = []

            def long_call() -> None:
                calls.append("long starts")
                time.sleep(0.1)  # a long executemany, as far as the connection can tell
                calls.append("long ends")

            caller = asyncio.create_task(raw.in_thread(long_call))
            await asyncio.sleep(0.02)
            caller.cancel()
            await raw.in_thread(lambda: calls.append("next"))
            assert calls == ["long starts", "long ends", "next"]
    finally:
        await engine.dispose()


async def test_quick_reads_run_on_the_event_loop_while_the_connection_is_idle(
    tmp_path: Path,
) -> None:
    """A read marked quick skips the thread hop when nothing else of its connection is queued or
    running; unmarked reads, and quick ones queued behind a running call, keep their hop (and
    their order)."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'quick.db'}")
    try:
        async with engine.connect() as connection:
            raw = (await connection.get_raw_connection()).driver_connection
            raw.raw.create_function("thread_id", 0, threading.get_ident)
            here = threading.get_ident()

            async def ran_on() -> int:
                return int((await connection.execute(text("SELECT thread_id()"))).scalar_one())

            assert await ran_on() != here
            with quick_reads():
                assert await ran_on() == here
                calls: list[str] = []
                busy = asyncio.create_task(
                    raw.in_thread(lambda: (time.sleep(0.05), calls.append("busy")))
                )
                await asyncio.sleep(0)  # queued: the connection is no longer idle
                assert await ran_on() != here and calls == ["busy"]
                await busy
    finally:
        await engine.dispose()


async def test_connections_opened_for_concurrent_requests_stay_open(tmp_path: Path) -> None:
    """Sixteen requests at once open sixteen connections, which the pool keeps for the next
    sixteen (SQLAlchemy's default kept five and opened the rest again every time)."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'pool.db'}")
    try:

        async def request() -> None:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
                await asyncio.sleep(0.01)  # all sixteen hold theirs at once

        await asyncio.gather(*(request() for _ in range(16)))
        assert engine.pool.checkedin() == 16  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
