"""A migrated database of each kind, real SQLite and the machine's PostgreSQL, for tests of the
store's SQL and of the engine's use of it, run in process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hubspot_deals.service_process import DistributedBacking
from hubspot_deals.store.database import create_engine, migrate
from tests.e2e.conftest import POSTGRES, REDIS


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'figures.db'}"
        return
    backing = DistributedBacking(POSTGRES, REDIS)
    yield backing.env["DATABASE_URL"]
    backing.drop()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await migrate(database_url)
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()
