"""Engine and sessions for SQLite (embedded) or PostgreSQL (distributed), and migrations on start."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import ColumnElement, event, false
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import QueryableAttribute

from hubspot_deals.store.sqlite_connection import one_hop_creator

MIGRATIONS = Path(__file__).parent / "migrations"
#: How long a SQLite statement waits for another connection's write lock before it fails.
BUSY_TIMEOUT_S = 30.0


def _dumps(value: Any) -> str:
    """JSON columns (properties, associations) are written for every row: orjson is much faster."""
    return orjson.dumps(value).decode()


def matchable(value: str) -> bool:
    """Whether text a caller sent (a filter) can match anything. Text with a NUL matches nothing,
    in either mode: PostgreSQL's text cannot hold one, and it refuses one as a parameter (a 500)."""
    return "\x00" not in value


def equals(column: QueryableAttribute[Any] | ColumnElement[Any], value: str) -> ColumnElement[bool]:
    """``column = value`` for text a caller sent, false where it cannot match (``matchable``)."""
    return column == value if matchable(value) else false()


#: SQLite connections kept open once opened. SQLAlchemy's default keeps five: a sixth request at
#: once opened a connection and closed it after, each time (five thread hops: the connection and
#: its pragmas), and under 16 concurrent results clients that churn was a tenth of the requests,
#: each waiting 100 ms and more for its hops. Opened only as concurrency asks; a connection's page
#: cache fills only as it reads.
SQLITE_POOL_SIZE = 32


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        on_disk = bool(parsed.database) and parsed.database != ":memory:"
        if on_disk:
            Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
        # a statement in one hop to aiosqlite's thread instead of four (store/sqlite_connection.py)
        connecting: dict[str, Any] = (
            {"async_creator": one_hop_creator(str(parsed.database), BUSY_TIMEOUT_S)}
            if on_disk
            else {"connect_args": {"timeout": BUSY_TIMEOUT_S}}
        )
        engine = create_async_engine(
            url,
            hide_parameters=True,  # errors name the statement, never the values (tokens, deals)
            json_serializer=_dumps,
            json_deserializer=orjson.loads,
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=SQLITE_POOL_SIZE,
            **connecting,
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the scan's writes
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_async_engine(
        url,
        pool_pre_ping=True,  # a restarted PostgreSQL costs one failed check, not failed requests
        pool_size=pool_size,
        max_overflow=max_overflow,
        hide_parameters=True,
        json_serializer=_dumps,
        json_deserializer=orjson.loads,
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def _alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(_alembic_config(url), revision)


async def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema to the newest revision (runs on every start; a no-op when current), or to
    ``revision`` (tests of a migration start from the one before it)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(_upgrade, url, revision)
