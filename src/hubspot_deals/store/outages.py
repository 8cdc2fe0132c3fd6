"""Errors that mean a server we depend on (the database, Redis) is out of reach for now.

Such an error is not a bug and not the scan's fault: an API call answers 503 and the client
retries; a scan stops where it is and is resumed from its checkpoint once its lease lapses, instead
of being failed by an outage that outlives no one.
"""

from __future__ import annotations

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
#: (administrator shutdown, crash shutdown, cannot connect now: a server restarting).
_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def is_outage(exc: BaseException) -> bool:
    if isinstance(exc, _OUTAGES):
        return True
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        state = getattr(exc.orig, "sqlstate", None) or getattr(
            getattr(exc.orig, "__cause__", None), "sqlstate", None
        )
        return isinstance(state, str) and state.startswith(_SQLSTATES)
    return False
