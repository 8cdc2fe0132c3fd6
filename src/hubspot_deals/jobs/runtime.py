"""The process's shared pieces, built once from settings: database, cipher, HubSpot, broker."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hubspot_deals.config import Settings
from hubspot_deals.engine import ScanContext
from hubspot_deals.hubspot import CallRecord, HubSpotClient
from hubspot_deals.store.crypto import TokenCipher
from hubspot_deals.store.database import create_engine, migrate, session_factory


@dataclass
class HubSpotHealth:
    """The latest real HubSpot call this process made, for /health."""

    last: CallRecord | None = None
    rate_limit_remaining: int | None = None

    def observe(self, record: CallRecord) -> None:
        self.last = record
        if record.rate_limit_remaining is not None:  # exempt endpoints send no Remaining header
            self.rate_limit_remaining = record.rate_limit_remaining


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    cipher: TokenCipher
    hubspot: HubSpotHealth = field(default_factory=HubSpotHealth)
    started: float = field(default_factory=time.monotonic)

    @classmethod
    async def start(cls, settings: Settings) -> Runtime:
        url = settings.sqlalchemy_url()
        await migrate(url)
        engine = create_engine(url)
        cipher = TokenCipher.from_settings(settings.token_encryption_key, settings.data_dir)
        return cls(settings, engine, session_factory(engine), cipher)

    async def close(self) -> None:
        await self.engine.dispose()

    def scan_context(self) -> ScanContext:
        def client(token: str) -> HubSpotClient:
            return HubSpotClient(token, settings=self.settings)

        return ScanContext(self.sessions, self.cipher, client, self.hubspot.observe)


_current: Runtime | None = None


def set_runtime(runtime: Runtime | None) -> None:
    global _current
    _current = runtime


def get_runtime() -> Runtime:
    if _current is None:
        raise RuntimeError("the runtime is not started")
    return _current
