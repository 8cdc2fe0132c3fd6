"""SQLite connections that cost one thread hop a statement.

aiosqlite runs each call in the connection's own thread, and SQLAlchemy's adapter makes four such
calls a statement: create a cursor, execute, fetch the rows, close the cursor. Each hop is a
round trip between the event loop and that thread (a queue, a wake-up, the GIL handed back and
forth), some 70-100 µs of CPU: for a results page or a status request, more than SQLite's own work.
Here the cursor does all four in one call in that thread (rows are fetched at once, as the adapter
does anyway for every statement but a server-side cursor's, which this service never asks for).
The rest is aiosqlite's: the thread, the queue, commit, rollback and close.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, Self

import aiosqlite

_Result = tuple[Any, list[Any], int, int | None]


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
        result = await self._connection.in_thread(self._run, sql, parameters, many)
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


class OneHopConnection(aiosqlite.Connection):
    """aiosqlite's connection with ``OneHopCursor``s."""

    @property
    def raw(self) -> sqlite3.Connection:
        """The sqlite3 connection; only for use in the connection's own thread."""
        return self._conn

    async def in_thread(self, function: Any, *args: Any) -> Any:
        """``function(*args)`` in the connection's thread: one hop."""
        return await self._execute(function, *args)  # type: ignore[no-untyped-call]

    def cursor(self) -> OneHopCursor:  # type: ignore[override]
        return OneHopCursor(self)

    async def commit(self) -> None:
        """No hop when there is nothing to commit: a read opens no transaction (sqlite3 begins
        one before a write only), and every session ends with a commit or a rollback."""
        if self._conn.in_transaction:
            await super().commit()

    async def rollback(self) -> None:
        if self._conn.in_transaction:
            await super().rollback()


def one_hop_creator(path: str, timeout: float) -> Any:
    """``create_async_engine``'s ``async_creator`` for a SQLite file."""

    async def create() -> OneHopConnection:
        connection = OneHopConnection(
            # read from the event loop too (``in_transaction``), between two calls of its thread
            lambda: sqlite3.connect(path, timeout=timeout, check_same_thread=False),
            64,
        )
        connection._thread.daemon = True  # as SQLAlchemy sets aiosqlite's own
        await connection
        return connection

    return create
