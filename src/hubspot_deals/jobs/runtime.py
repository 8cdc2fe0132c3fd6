"""The process's shared pieces, built once from settings: database, cipher, broker, Redis, runner.

The settings alone choose the mode: without ``REDIS_URL`` everything is in process (SQLite by
default, the in-memory broker, limits in memory); with it, jobs go through Redis to worker
processes and the HubSpot and service limits are shared there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import orjson
import structlog
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from taskiq import AsyncBroker

from hubspot_deals.config import Settings
from hubspot_deals.engine import ScanContext
from hubspot_deals.engine.context import now
from hubspot_deals.hubspot import (
    CallRecord,
    ClientConfig,
    HubSpotClient,
    LocalRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    TokenSource,
)
from hubspot_deals.jobs.caches import ResultCaches
from hubspot_deals.jobs.credentials import CredentialLocks, CredentialSource
from hubspot_deals.jobs.pacing import TokenPacing
from hubspot_deals.jobs.runner import ScanRunner
from hubspot_deals.jobs.scheduler import Scheduler
from hubspot_deals.jobs.tasks import ScanTask, make_broker
from hubspot_deals.jobs.token_check import TokenChecks
from hubspot_deals.jobs.webhook_delivery import DeliveryLoop
from hubspot_deals.metrics import Metrics
from hubspot_deals.store.crypto import TokenCipher
from hubspot_deals.store.database import create_engine, migrate, session_factory
from hubspot_deals.store.jobs import JobRepository

log = structlog.get_logger(__name__)


@dataclass
class HubSpotHealth:
    """The latest HubSpot attempt, for /health (None as its status: no answer came). In the
    distributed mode the workers make the calls and the API replicas answer /health, so the
    record goes through Redis (at most once a second per worker)."""

    redis: Redis | None = None
    key: str = ""
    last: CallRecord | None = None
    rate_limit_remaining: int | None = None
    _published: float = 0.0
    _publishing: set[asyncio.Task[None]] = field(default_factory=set)

    def observe(self, record: CallRecord) -> None:
        self.last = record
        if record.rate_limit_remaining is not None:  # exempt endpoints send no Remaining header
            self.rate_limit_remaining = record.rate_limit_remaining
        if self.redis is not None and record.at - self._published >= 1:
            self._published = record.at
            task = asyncio.create_task(self._publish())
            self._publishing.add(task)
            task.add_done_callback(self._publishing.discard)

    async def _publish(self) -> None:
        assert self.redis is not None and self.last is not None
        body = {"record": asdict(self.last), "remaining": self.rate_limit_remaining}
        with contextlib.suppress(RedisError):  # health reporting never fails a scan
            await self.redis.set(self.key, orjson.dumps(body), ex=3600)

    async def latest(self) -> tuple[CallRecord | None, int | None]:
        """The newest record and the newest known remaining budget, wherever the call was made."""
        if self.redis is None:
            return self.last, self.rate_limit_remaining
        raw = await self.redis.get(self.key)
        if raw is None:
            return None, None
        body = orjson.loads(raw)
        return CallRecord(**body["record"]), body["remaining"]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    cipher: TokenCipher
    redis: Redis | None
    #: where the service's own limits (requests per key, downloads per organization) are counted
    limits_storage: Storage
    #: this process's instruments (the API serves them at /metrics, a worker on its own port)
    metrics: Metrics = field(default_factory=Metrics)
    #: the clock of the times this process records; tests give it one of their own
    clock: Callable[[], datetime] = field(default=now)
    broker: AsyncBroker = field(init=False)
    _scan_task: ScanTask = field(init=False, repr=False)
    results: ResultCaches = field(default_factory=ResultCaches)
    runner: ScanRunner = field(init=False)
    #: webhook deliveries, sent by the processes that run scans (``webhooks.start()``)
    webhooks: DeliveryLoop = field(init=False)
    #: schedules' due times, claimed by every process (API replicas and workers) that starts it
    scheduler: Scheduler = field(init=False)
    hubspot: HubSpotHealth = field(init=False)
    client_config: ClientConfig = field(init=False)
    pacing: TokenPacing = field(init=False)
    started: float = field(default_factory=time.monotonic)
    #: tokens a start checked lately (jobs/token_check.py)
    token_checks: TokenChecks = field(default_factory=TokenChecks)
    #: one renewal of a stored credential at a time in this process (jobs/credentials.py)
    credential_locks: CredentialLocks = field(default_factory=CredentialLocks)
    worker_id: str = field(default_factory=worker_name)
    #: tasks nothing awaits any more that must run to their end (asyncio keeps only weak
    #: references to tasks: one left without a strong one can be collected halfway)
    detached: set[asyncio.Task[Any]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.broker, self._scan_task = make_broker(self.settings)
        self.client_config = self.settings.hubspot_client()
        self.pacing = TokenPacing(self._limiter)
        self.hubspot = HubSpotHealth(self.redis, f"{self.settings.redis_namespace}:hubspot:last")
        self.runner = ScanRunner(
            self.scan_context(), capacity=self.settings.worker_concurrency, dispatch=self.dispatch
        )
        self.broker.add_dependency_context({ScanRunner: self.runner})
        self.webhooks = DeliveryLoop(self.sessions, self.cipher, self.settings)
        self.scheduler = Scheduler(
            self.sessions, self.dispatch, self.settings.scheduler_poll_seconds
        )

    def detach(self, task: asyncio.Task[Any]) -> None:
        """Let ``task`` finish on its own, held until it does."""
        self.detached.add(task)
        task.add_done_callback(self.detached.discard)

    @classmethod
    async def start(cls, settings: Settings, metrics: Metrics | None = None) -> Runtime:
        """Build the runtime; the caller starts the broker (``broker.startup``) in its role.
        ``metrics``: instruments the caller also feeds (the app's request latency)."""
        url = settings.sqlalchemy_url()
        await migrate(url)
        engine = create_engine(
            url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
        )
        cipher = TokenCipher.from_settings(settings.token_encryption_key, settings.data_dir)
        redis: Redis | None = None
        storage: Storage = MemoryStorage()
        if settings.redis_url is not None:
            redis = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
            storage = RedisStorage(
                "async+" + settings.redis_url,
                implementation="redispy",
                key_prefix=f"{settings.redis_namespace}:limits",
                socket_timeout=5,
                socket_connect_timeout=5,
            )
        return cls(
            settings,
            engine,
            session_factory(engine),
            cipher,
            redis,
            storage,
            metrics or Metrics(),
        )

    async def resume_unfinished(self) -> None:
        """The embedded service on start: it was the only worker, so the leases of the scans a
        stopped process left behind are void; they resume from their checkpoints, oldest first."""
        async with self.sessions() as db:
            jobs = JobRepository(db)
            await jobs.forget_workers()
            await db.commit()
            unfinished = await jobs.unfinished()
        for job_id in unfinished:
            await self.dispatch(job_id)
        if unfinished:
            log.info("scans.resumed", count=len(unfinished))

    async def dispatch(self, job_id: str) -> None:
        """Send a committed job to whoever runs scans (this process, or the workers)."""
        await self._scan_task.kiq(job_id)

    async def close(self) -> None:
        await self.scheduler.close()
        await self.webhooks.close()
        await self.runner.close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()

    def observe_call(self, record: CallRecord) -> None:
        """Every HubSpot attempt of this process's scans: counted, and kept for /health."""
        self.metrics.observe_hubspot(record)
        self.hubspot.observe(record)

    def _limiter(self, token: str) -> RateLimiter:
        settings = self.settings
        if self.redis is None:
            return LocalRateLimiter(
                burst_limit=settings.hubspot_burst_limit, search_rate=settings.hubspot_search_rate
            )
        return RedisRateLimiter(
            self.redis,
            token,
            namespace=settings.redis_namespace,
            burst_limit=settings.hubspot_burst_limit,
            search_rate=settings.hubspot_search_rate,
            hold_s=settings.hubspot_timeout_seconds,
        )

    def credential_source(self, credential_id: str) -> CredentialSource:
        """Access tokens of a stored credential, renewed once per expiry across the workers."""
        return CredentialSource(
            credential_id,
            sessions=self.sessions,
            cipher=self.cipher,
            config=self.client_config,
            locks=self.credential_locks,
        )

    @asynccontextmanager
    async def hubspot_client(self, token: str | TokenSource) -> AsyncIterator[HubSpotClient]:
        """A client for one scan, paced together with every other scan of its token (or of
        its stored credential)."""
        with self.pacing.hold(token if isinstance(token, str) else token.key) as limiter:
            async with HubSpotClient(
                token, self.client_config, limiter=limiter, on_call=self.observe_call
            ) as client:
                yield client

    def scan_context(self) -> ScanContext:
        settings = self.settings
        return ScanContext(
            self.sessions,
            self.cipher,
            self.hubspot_client,
            credential_source=self.credential_source,
            worker_id=self.worker_id,
            lease_seconds=settings.scan_lease_seconds,
            max_running_per_org=settings.max_concurrent_scans_per_org,
            hubspot_url=self.client_config.base_url,
            overlap_seconds=settings.incremental_overlap_seconds,
            clock=self.clock,
        )
