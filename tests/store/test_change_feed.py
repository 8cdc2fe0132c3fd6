"""The changes feed's SQL and a full run's comparison, in process on SQLite and PostgreSQL: the
comparison walked in small batches gives the same events as comparing the two sets whole, resumes
where its checkpoint says without writing an event twice, and writes nothing once its lease is
lost; only completed runs' events are served."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hubspot_deals.engine import ScanContext
from hubspot_deals.engine.context import Stop
from hubspot_deals.engine.feed import POSITION, kind_of, record_full_run
from hubspot_deals.hubspot import ClientConfig, HubSpotClient, StaticToken
from hubspot_deals.store.changes import MERGED, REMOVED, Change, ChangeRepository
from hubspot_deals.store.crypto import TokenCipher
from hubspot_deals.store.database import session_factory
from hubspot_deals.store.deals import DealRepository, row_values
from hubspot_deals.store.jobs import ANY_ORG, Lease
from hubspot_deals.store.models import ScanJob, run_slot
from hubspot_deals.store.sync_tables import DealChange

LEASE = Lease("feeder", 3)
SCAN = "feed"


def row(key: int, **changed: Any) -> dict[str, Any]:
    """A stored row's values (store.deals.row_values' shape)."""
    return {
        "deal_key": key,
        "deal_id": str(key),
        "deal_name": f"Deal {key}",
        "amount": float(key),
        "currency": "USD",
        "deal_stage": "appointmentscheduled",
        "deal_stage_label": "Appointment scheduled",
        "pipeline_id": "default",
        "pipeline_label": "Sales Pipeline",
        "close_date": None,
        "deal_created_at": "2025-01-01T00:00:00Z",
        "deal_updated_at": "2025-01-02T00:00:00Z",
        "owner_id": None,
        "owner_email": None,
        "deal_type": None,
        "is_archived": False,
        "deal_url": None,
        "properties": {"dealname": f"Deal {key}"},
        "associations": {},
        "stage_history": None,
        "merged_from": [],
        "property_history": None,
    } | changed


#: The served run's rows and the new run's: kept, changed, archived, new, gone, merged away.
OLD = [
    *(row(k) for k in (1, 2, 3, 5, 8)),
    row(9, properties={"dealname": "Deal 9", "amount": "9"}),
    *(row(k) for k in (10, 11, 12, 20, 22, 23, 24)),
]
NEW = [
    row(2),
    row(3, amount=33.0),
    row(4),
    row(6, is_archived=True),
    row(7),
    # the same values, its properties in another order: stored text differs, no change
    row(9, properties={"amount": "9", "dealname": "Deal 9"}),
    row(10, is_archived=True),
    *(row(k) for k in (13, 14, 15, 16, 17, 18, 19)),
    row(21, merged_from=["12", "23"]),
    row(22, properties={"dealname": "renamed"}),
]


def job(job_id: str, status: str, **values: Any) -> ScanJob:
    moment = datetime.now(UTC)
    return ScanJob(
        id=job_id,
        scan_id=SCAN,
        status=status,
        config={},
        created_at=moment,
        updated_at=moment,
        run_slot=run_slot(SCAN, None),
        **values,
    )


def context(engine: AsyncEngine) -> ScanContext:
    return ScanContext(
        session_factory(engine),
        TokenCipher([Fernet.generate_key()]),
        lambda token: HubSpotClient(token, ClientConfig()),  # never called: nothing is read
        credential_source=StaticToken,
        worker_id=LEASE.worker,
        lease_seconds=30,
        max_running_per_org=4,
    )


@pytest.fixture
async def runs(engine: AsyncEngine) -> ScanContext:
    """A served run holding OLD and a running full run holding NEW, under LEASE."""
    ctx = context(engine)
    async with ctx.sessions() as db:
        db.add(job("job_old", "completed", is_current=True))
        db.add(
            job(
                "job_new",
                "running",
                worker_id=LEASE.worker,
                lease_version=LEASE.version,
                checkpoint={"version": 2, "partitions": []},
            )
        )
        await db.flush()
        await DealRepository(db).upsert("job_old", OLD)
        await DealRepository(db).upsert("job_new", NEW)
        await db.commit()
    return ctx


async def events(ctx: ScanContext) -> list[tuple[str, str, dict[str, Any] | None]]:
    async with ctx.sessions() as db:
        found = await ChangeRepository(db).served(run_slot(SCAN, None), ANY_ORG, after=0, limit=99)
    return [(c.kind, c.deal_id, row_values(c.deal) if c.deal else None) for c in found]


async def complete(ctx: ScanContext, job_id: str, status: str = "completed") -> None:
    async with ctx.sessions() as db:
        await db.execute(update(ScanJob).where(ScanJob.id == job_id).values(status=status))
        await db.commit()


def compare(
    old: list[dict[str, Any]], new: list[dict[str, Any]], absorbed: set[str]
) -> list[Change]:
    """The comparison by its definition, on the rows' values: what the feed's, on stored text,
    must come to."""
    before = {r["deal_key"]: r for r in old}
    after = {r["deal_key"]: r for r in new}
    changes = []
    for key in sorted(before.keys() | after.keys()):
        prior, now = before.get(key), after.get(key)
        if now is None:
            assert prior is not None
            gone = MERGED if prior["deal_id"] in absorbed else REMOVED
            changes.append(Change(gone, prior["deal_id"], None))
        elif prior != now:
            changes.append(Change(kind_of(prior, now), now["deal_id"], now))
    return changes


EXPECTED = [(c.kind, c.deal_id, c.row) for c in compare(OLD, NEW, {"12", "23"})]


def test_the_comparison_names_every_kind() -> None:
    kinds = {deal_id: kind for kind, deal_id, _ in EXPECTED}
    assert kinds == {
        "1": "removed",
        "3": "updated",
        "4": "added",
        "5": "removed",
        "6": "archived",
        "7": "added",
        "8": "removed",
        "10": "archived",
        "11": "removed",
        "12": "merged",
        **{str(k): "added" for k in range(13, 20)},
        "20": "removed",
        "21": "added",
        "22": "updated",
        "23": "merged",
        "24": "removed",
    }


@pytest.mark.parametrize("batch", [1, 3, 4, 500])
async def test_batches_give_the_whole_comparison(runs: ScanContext, batch: int) -> None:
    """Events wait unseen while the run runs, and are the whole comparison once it completed."""
    await record_full_run(runs, "job_new", LEASE, batch=batch)
    assert await events(runs) == []
    await complete(runs, "job_new")
    assert await events(runs) == EXPECTED


async def test_a_resumed_comparison_writes_nothing_twice(runs: ScanContext) -> None:
    """A takeover after the events up to deal 4 were written goes on from there."""
    await record_full_run(runs, "job_new", LEASE, batch=3)
    async with runs.sessions() as db:  # as if the walk had stopped after deal 4
        await db.execute(delete(DealChange).where(DealChange.deal_id.not_in(["1", "3", "4"])))
        await db.execute(
            update(ScanJob)
            .where(ScanJob.id == "job_new")
            .values(checkpoint={"version": 2, "partitions": [], POSITION: 4})
        )
        await db.commit()
    await record_full_run(runs, "job_new", LEASE, batch=3)
    await record_full_run(runs, "job_new", LEASE, batch=3)  # done already: nothing more
    await complete(runs, "job_new")
    assert await events(runs) == EXPECTED


async def test_a_lost_lease_writes_nothing(runs: ScanContext) -> None:
    with pytest.raises(Stop):
        await record_full_run(runs, "job_new", Lease(LEASE.worker, LEASE.version - 1))
    await complete(runs, "job_new")
    assert await events(runs) == []


async def test_a_failed_run_is_never_served(runs: ScanContext) -> None:
    await record_full_run(runs, "job_new", LEASE, batch=4)
    await complete(runs, "job_new", "failed")
    assert await events(runs) == []


async def test_a_first_run_adds_every_row(runs: ScanContext) -> None:
    """No run served before it (the old one never completed): every row is new."""
    async with runs.sessions() as db:
        await db.execute(
            update(ScanJob).where(ScanJob.id == "job_old").values(is_current=False, status="failed")
        )
        await db.commit()
    await record_full_run(runs, "job_new", LEASE, batch=4)
    await complete(runs, "job_new")
    assert await events(runs) == [
        ("archived" if r["is_archived"] else "added", r["deal_id"], r) for r in NEW
    ]
