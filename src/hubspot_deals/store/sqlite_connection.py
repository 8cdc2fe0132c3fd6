"""SQLite connections that cost one thread hop a statement.

aiosqlite runs each call in the connection's own thread, and SQLAlchemy's adapter makes four such
calls a statement: create a cursor, execute, fetch the rows, close the cursor. Each hop is a
round trip between the event loop and that thread (a queue, a wake-up, the GIL handed back and
forth), some 70-100 µs of CPU: for a results page or a status request, more than SQLite's own work.
Here the cursor does all four in one call (rows are fetched at once, as the adapter
does anyway for every statement but a server-side cursor's, which this service never asks for).

The calls of every connection of an engine run on a few threads shared between them
(``SHARED_THREADS``), not one thread a connection: SQLite's own work runs without the GIL, but a
thread per connection meant, under 16 concurrent results requests, 16 threads handing the GIL
around, and a page cost 6.8 ms of CPU instead of 4 (docs/benchmarks.md). A connection's calls still
run one at a time, in order, as on a thread of its own (``_SharedThreads``). The rest is
aiosqlite's: commit, rollback and close.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Self

import aiosqlite

_Result = tuple[Any, list[Any], int, int | None]
#: Threads an engine's SQLite connections share: two lets a read run beside a write.
SHARED_THREADS = 2
#: Waits between two tries of a statement that met another connection's write lock.
BUSY_FIRST_PAUSE_S, BUSY_LAST_PAUSE_S = 0.001, 0.05
#: SQLITE_BUSY and the variants a new connection may meet (another connection rebuilding the WAL
#: index, a lock's timeout): nothing was written, the call can run again. Not a stale snapshot's
#: SQLITE_BUSY_SNAPSHOT, which ends its transaction.
_BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_BUSY_RECOVERY, sqlite3.SQLITE_BUSY_TIMEOUT})
#: Set while a caller runs reads it knows to be short (``quick_reads``).
_QUICK: ContextVar[bool] = ContextVar("sqlite_quick_reads", default=False)


@contextmanager
def quick_reads(quick: bool = True) -> Iterator[None]:
    """The reads run in this block are short (an index lookup, a page by key), unless ``quick``
    is false: on an idle connection they run on the event loop itself, not on a shared thread.
    The hop costs more than such a read (waking a thread, the GIL handed over and back: a results
    page's three hops were a fifth of its CPU); a read that may take long (a count, an export's
    batch) keeps its hop, so it never holds up the event loop."""
    token = _QUICK.set(quick)
    try:
        yield
    finally:
        _QUICK.reset(token)


class OneHopCursor:
    """What SQLAlchemy's aiosqlite adapter asks of a cursor, each statement in one call."""

    arraysize = 1

    def __init__(self, connection: OneHopConnection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list[Any] = []

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def _run(self, sql: str, parameters: Any, many: bool) -> _Result:
        cursor = self._connection.raw.cursor()
        try:
            if many:
                cursor.executemany(sql, parameters)
            else:
                cursor.execute(sql, parameters)
            description = cursor.description
            rows = cursor.fetchall() if description else []
            return description, rows, cursor.rowcount, cursor.lastrowid
        finally:
            cursor.close()

    async def _call(self, sql: str, parameters: Any, many: bool) -> Self:
        result = None
        if _QUICK.get() and not many and self._connection.idle and sql.startswith("SELECT"):
            try:
                result = self._run(sql, parameters, many)
            except sqlite3.OperationalError as exc:  # busy: waited for as any statement is
                if exc.sqlite_errorcode not in _BUSY:
                    raise
        if result is None:
            result = await self._connection.patiently(self._run, sql, parameters, many)
        self.description, self._rows, self.rowcount, self.lastrowid = result
        return self

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> Self:
        return await self._call(sql, () if parameters is None else parameters, many=False)

    async def executemany(self, sql: str, parameters: Sequence[Sequence[Any]]) -> Self:
        return await self._call(sql, parameters, many=True)

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        count = size or self.arraysize
        rows, self._rows = self._rows[:count], self._rows[count:]
        return rows

    async def close(self) -> None:
        self._rows = []


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if not future.done():  # its caller may have been cancelled meanwhile
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


def _run(future: asyncio.Future[Any] | None, function: Callable[[], Any]) -> None:
    """One queued call, on a shared thread; its result handed back to the event loop."""
    try:
        result, error = function(), None
    except BaseException as exc:  # handed back to the caller, as aiosqlite does
        result, error = None, exc
    if future is not None:
        future.get_loop().call_soon_threadsafe(_settle, future, result, error)


class _SharedThreads:
    """What aiosqlite's connection (and SQLAlchemy's adapter, which reaches for it) puts its calls
    on: ``put_nowait((future, function))``. One connection's calls run in order, one at a time, on
    the engine's shared threads, even those whose caller stopped waiting: a cancelled statement
    still runs to its end before the rollback or close queued after it."""

    def __init__(self, threads: ThreadPoolExecutor) -> None:
        self._threads = threads
        self._calls: deque[tuple[asyncio.Future[Any] | None, Callable[[], Any]]] = deque()
        self._lock = threading.Lock()  # the event loop queues, a shared thread takes
        self._draining = False

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        with self._lock:
            self._calls.append(item)
            if self._draining:
                return
            self._draining = True
        try:
            self._threads.submit(self._drain)
        except RuntimeError:  # the engine is disposed: only a late close comes now, run it here
            self._drain()

    @property
    def idle(self) -> bool:
        """No call queued or running: only the event loop queues, so it stays so until it does."""
        return not self._draining

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._calls:
                    self._draining = False
                    return
                future, function = self._calls.popleft()
            _run(future, function)


class OneHopConnection(aiosqlite.Connection):
    """aiosqlite's connection with ``OneHopCursor``s, its calls on the engine's shared threads."""

    def __init__(
        self,
        connector: Callable[[], sqlite3.Connection],
        threads: ThreadPoolExecutor,
        busy_seconds: float,
    ) -> None:
        super().__init__(connector, 64)
        self._shared = _SharedThreads(threads)
        self._tx = self._shared  # type: ignore[assignment]  # in place of its queue
        #: how long a statement waits for another connection's write lock
        self.busy_seconds = busy_seconds

    def __await__(self) -> Generator[Any, None, Self]:
        return self._connect().__await__()  # type: ignore[return-value]  # no thread of its own

    @property
    def idle(self) -> bool:
        return self._shared.idle

    @property
    def raw(self) -> sqlite3.Connection:
        """The sqlite3 connection: used in the connection's calls (``in_thread``); the event loop
        reads only ``in_transaction``, between two calls."""
        return self._conn

    async def patiently(self, function: Any, *args: Any) -> Any:
        """``function(*args)`` (a statement, a commit) on a shared thread, tried again while
        another connection holds the write lock: the wait is in the event loop, not in SQLite's
        busy handler, which would hold a shared thread (and, both held so, the lock holders' own
        next statements) for as long as it waits."""
        loop = asyncio.get_running_loop()
        deadline, pause = loop.time() + self.busy_seconds, BUSY_FIRST_PAUSE_S
        while True:
            try:
                return await self.in_thread(function, *args)
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode not in _BUSY or loop.time() > deadline:
                    raise
                await asyncio.sleep(pause)
                pause = min(pause * 2, BUSY_LAST_PAUSE_S)

    async def in_thread(self, function: Any, *args: Any) -> Any:
        """``function(*args)`` on a shared thread, after the connection's earlier calls: one hop."""
        return await self._execute(function, *args)  # type: ignore[no-untyped-call]

    def cursor(self) -> OneHopCursor:  # type: ignore[override]
        return OneHopCursor(self)

    async def commit(self) -> None:
        """No hop when there is nothing to commit: a read opens no transaction (sqlite3 begins
        one before a write only), and every session ends with a commit or a rollback."""
        if self._conn.in_transaction:
            await self.patiently(self._conn.commit)

    async def rollback(self) -> None:
        if self._conn.in_transaction:
            await super().rollback()


def one_hop_creator(path: str, timeout: float) -> Any:
    """``create_async_engine``'s ``async_creator`` for a SQLite file: its connections share
    ``SHARED_THREADS`` threads, which live as long as the engine does; a statement waits up to
    ``timeout`` seconds for another connection's write lock."""
    threads = ThreadPoolExecutor(SHARED_THREADS, thread_name_prefix="sqlite")

    async def create() -> OneHopConnection:
        connection = OneHopConnection(
            # used from whichever shared thread runs a call, and from the event loop
            # (``in_transaction``) between two calls; SQLite itself never waits for a lock
            lambda: sqlite3.connect(path, timeout=0, check_same_thread=False),
            threads,
            timeout,
        )
        await connection
        return connection

    return create
