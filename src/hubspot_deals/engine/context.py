"""What every part of a scan shares: the process's context, the clock, the stop signal."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hubspot_deals.hubspot import HubSpotClient, TokenSource
from hubspot_deals.store.crypto import TokenCipher


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ScanContext:
    """What a scan needs from its process: sessions, the token cipher, a HubSpot client factory
    (which wires the client's calls to the process's health and metrics), and who this worker is
    for the lease it holds on the jobs it runs."""

    sessions: async_sessionmaker[AsyncSession]
    cipher: TokenCipher
    #: a client for a token (or a stored credential's source), paced with the process's other
    #: scans of that token
    client_factory: Callable[[str | TokenSource], AbstractAsyncContextManager[HubSpotClient]]
    #: the access tokens of a stored credential (an OAuth grant), by its id
    credential_source: Callable[[str], TokenSource]
    worker_id: str
    lease_seconds: float
    max_running_per_org: int
    #: the HubSpot this process's clients talk to (a scan started for another is refused)
    hubspot_url: str = "https://api.hubapi.com"
    #: how far before the previous run's mark an incremental run starts reading
    overlap_seconds: float = 300.0
    #: this worker's clock, for the times a run records (started, updated, its high-water mark);
    #: leases go by the database's clock instead, so a worker whose clock is off holds none wrongly
    clock: Callable[[], datetime] = now
    #: one claim at a time in this process (SQLite has no cross-connection lock to lean on)
    claim_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Stop(Exception):
    """The job left ``running`` under our lease (cancelled, or taken over) between two writes."""
