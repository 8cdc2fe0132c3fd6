"""Leases are written and judged by the database's clock: a worker whose own clock runs two minutes
ahead or behind neither takes over a live scan nor leaves a dead one unclaimed past its lease."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from hubspot_deals.engine import ScanContext
from hubspot_deals.engine.scan import MAX_INTERRUPTIONS, claim_scan
from hubspot_deals.hubspot import ClientConfig, HubSpotClient, StaticToken
from hubspot_deals.jobs.runner import ScanRunner
from hubspot_deals.store.crypto import TokenCipher
from hubspot_deals.store.database import session_factory
from hubspot_deals.store.jobs import JobRepository
from hubspot_deals.store.models import ScanJob

LEASE_S = 30.0
SKEW = timedelta(seconds=120)
CIPHER = TokenCipher([Fernet.generate_key()])


def worker(engine: AsyncEngine, name: str, skew: timedelta) -> ScanContext:
    """A worker whose clock is ``skew`` off (what it would write as times of its own)."""
    return ScanContext(
        session_factory(engine),
        CIPHER,
        lambda token: HubSpotClient(token, ClientConfig()),  # never called: nothing runs here
        credential_source=StaticToken,  # never called either
        worker_id=name,
        lease_seconds=LEASE_S,
        max_running_per_org=4,
        clock=lambda: datetime.now(UTC) + skew,
    )


async def set_heartbeat_age(engine: AsyncEngine, job_id: str, age: float) -> None:
    """The side door: the heartbeat made ``age`` seconds old by the database's clock."""
    async with session_factory(engine)() as db:
        now = await JobRepository(db).database_time()
        await db.execute(
            update(ScanJob)
            .where(ScanJob.id == job_id)
            .values(heartbeat_at=now - timedelta(seconds=age))
        )
        await db.commit()


async def no_dispatch(job_id: str) -> None:
    raise AssertionError(f"nothing may be dispatched here ({job_id})")


@pytest.mark.parametrize("skew", [SKEW, -SKEW], ids=["ahead", "behind"])
async def test_leases_go_by_the_database_clock(engine: AsyncEngine, skew: timedelta) -> None:
    sessions = session_factory(engine)
    moment = datetime.now(UTC)
    async with sessions() as db:
        db.add(
            ScanJob(
                id="job_lease",
                scan_id="lease",
                status="pending",
                config={"scanId": "lease"},
                token_encrypted=CIPHER.encrypt("pat-na1-lease"),
                created_at=moment,
                updated_at=moment,
            )
        )
        await db.commit()
    live, skewed = worker(engine, "live", timedelta(0)), worker(engine, "skewed", skew)
    held = await claim_scan(live, "job_lease")
    assert held is not None and held.job.worker_id == "live"

    # a heartbeat just inside the lease: the scan is live, whatever the skewed worker's clock says
    await set_heartbeat_age(engine, "job_lease", LEASE_S - 1)
    assert await claim_scan(skewed, "job_lease") is None
    assert await ScanRunner(skewed, capacity=1, dispatch=no_dispatch).sweep() == 0
    async with sessions() as db:
        assert await JobRepository(db).renew("job_lease", held.lease)
        await db.commit()

    # a heartbeat just past the lease: the worker is dead, and the skewed worker takes over now
    await set_heartbeat_age(engine, "job_lease", LEASE_S + 0.5)
    async with sessions() as db:
        assert await JobRepository(db).orphaned(LEASE_S) == ["job_lease"]
    taken = await claim_scan(skewed, "job_lease")
    assert taken is not None and taken.job.worker_id == "skewed"
    assert taken.lease.version == held.lease.version + 1
    async with sessions() as db:
        assert not await JobRepository(db).renew("job_lease", held.lease)  # the old holder stops
        assert await JobRepository(db).renew("job_lease", taken.lease)
        await db.commit()
        heartbeat = (await JobRepository(db).get("job_lease")).heartbeat_at  # type: ignore[union-attr]
        database_now = await JobRepository(db).database_time()
    assert heartbeat is not None and abs((database_now - heartbeat).total_seconds()) < 5


async def test_interruptions_without_progress_are_bounded(engine: AsyncEngine) -> None:
    """Each takeover of a running scan counts; one past the bound fails it with INTERNAL_ERROR
    instead of resuming it again (an error that returns every time is not an outage)."""
    sessions = session_factory(engine)
    moment = datetime.now(UTC)
    async with sessions() as db:
        db.add(
            ScanJob(
                id="job_stuck",
                scan_id="stuck",
                status="pending",
                config={"scanId": "stuck"},
                token_encrypted=CIPHER.encrypt("pat-na1-stuck"),
                created_at=moment,
                updated_at=moment,
            )
        )
        await db.commit()
    ctx = worker(engine, "again", timedelta(0))
    assert await claim_scan(ctx, "job_stuck") is not None
    for takeover in range(1, MAX_INTERRUPTIONS + 1):
        await set_heartbeat_age(engine, "job_stuck", LEASE_S + 1)
        claimed = await claim_scan(ctx, "job_stuck")
        assert claimed is not None and claimed.job.interruptions == takeover
    await set_heartbeat_age(engine, "job_stuck", LEASE_S + 1)
    assert await claim_scan(ctx, "job_stuck") is None
    async with sessions() as db:
        job = await JobRepository(db).get("job_stuck")
    assert job is not None and job.status == "failed" and job.error_code == "INTERNAL_ERROR"
