"""Errors that mean a server we depend on (the database, Redis) is out of reach for now.

Such an error is not a bug and not the scan's fault: an API call answers 503 and the client
retries; a scan stops where it is and is resumed from its checkpoint once its lease lapses, instead
of being failed by an outage that outlives no one.
"""

from __future__ import annotations

from typing import Any

import redis.exceptions
import sqlalchemy.exc

_OUTAGES = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,  # the pool waited in vain for a connection
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ConnectionError,
    TimeoutError,
)
#: SQLSTATE classes of a lost or refused connection: 08 (connection exception) and 57P01-57P03
#: (administrator shutdown, crash shutdown, cannot connect now: a server restarting), and 53
#: (insufficient resources: too many connections, out of memory or disk).
_SQLSTATES = ("08", "53", "57P01", "57P02", "57P03")
#: SQLite's primary result codes of a passing condition: BUSY, LOCKED, IOERR, FULL, CANTOPEN,
#: PROTOCOL. SQLite raises its other errors (SQLITE_ERROR: "no such column") as OperationalError
#: too, and those are bugs or a schema out of date, which no waiting mends.
_SQLITE_PASSING = frozenset({5, 6, 10, 13, 14, 15})


def is_outage(exc: BaseException) -> bool:
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        sqlite_code = getattr(exc.orig, "sqlite_errorcode", None)
        if isinstance(sqlite_code, int):
            return sqlite_code & 0xFF in _SQLITE_PASSING
        state = getattr(exc.orig, "sqlstate", None) or getattr(
            getattr(exc.orig, "__cause__", None), "sqlstate", None
        )
        if isinstance(state, str):
            return state.startswith(_SQLSTATES)
    return isinstance(exc, _OUTAGES)


def cause_of(exc: BaseException) -> str:
    """The error in a line for a log: its type and the driver's message, without the statement
    or its parameters (SQLAlchemy adds both to its own message)."""
    inner = getattr(exc, "orig", None) or exc
    return f"{type(exc).__name__}: {str(inner).splitlines()[0][:300] if str(inner) else ''}"


def report(log: Any, event: str, exc: BaseException, **context: Any) -> None:
    """Log a failure a loop survives: an outage as a warning naming its cause, anything else as
    the bug it is, with its traceback (never only "the database is unhealthy")."""
    if is_outage(exc):
        log.warning(event, error=cause_of(exc), **context)
    else:
        log.error(event, error=cause_of(exc), exc_info=exc, **context)
