"""Webhook deliveries in the store, on SQLite and PostgreSQL: one delivery per webhook and event
however many processes notice or enqueue it, and one sender per attempt however many try to claim
it at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from cryptography.fernet import Fernet
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hubspot_deals.config import Settings
from hubspot_deals.jobs.webhook_delivery import DeliveryLoop
from hubspot_deals.jobs.webhooks import enqueue_event, new_secret
from hubspot_deals.store.crypto import TokenCipher
from hubspot_deals.store.database import session_factory
from hubspot_deals.store.models import ScanJob
from hubspot_deals.store.sync_tables import WebhookDelivery
from hubspot_deals.store.webhooks import Due, WebhookRepository

CIPHER = TokenCipher([Fernet.generate_key()])
SETTINGS = Settings(webhook_allow_private_urls=True)


async def add_webhook(engine: AsyncEngine, org: str | None, events: list[str]) -> str:
    async with session_factory(engine)() as db:
        repository = WebhookRepository(db)
        row = repository.add(
            CIPHER,
            org=org,
            url="http://127.0.0.1:9/hook",
            events=events,
            secret=new_secret(),
            moment=await repository.now() - timedelta(seconds=5),
        )
        await db.commit()
        return row.id


async def deliveries(engine: AsyncEngine) -> list[tuple[str, str, str]]:
    async with session_factory(engine)() as db:
        rows = await db.execute(
            select(WebhookDelivery.webhook_id, WebhookDelivery.event, WebhookDelivery.event_key)
        )
        return sorted((a, b, c) for a, b, c in rows)


async def test_an_event_enqueued_twice_makes_one_delivery_a_subscribed_webhook(
    engine: AsyncEngine,
) -> None:
    paused = await add_webhook(engine, "org_a", ["schedule.paused"])
    await add_webhook(engine, "org_a", ["scan.completed"])  # not subscribed to it
    await add_webhook(engine, "org_b", ["schedule.paused"])  # another organization's
    sessions = session_factory(engine)
    made = []
    for _ in range(2):  # the same event noticed twice (two processes, or a retry)
        async with sessions() as db:
            made.append(await enqueue_event(db, "org_a", "schedule.paused", "sched_1@t0", {"x": 1}))
            await db.commit()
    assert made == [1, 0]
    assert await deliveries(engine) == [(paused, "schedule.paused", "sched_1@t0")]


async def test_of_processes_claiming_one_due_delivery_one_wins(engine: AsyncEngine) -> None:
    await add_webhook(engine, "org_a", ["schedule.paused"])
    sessions = session_factory(engine)
    async with sessions() as db:
        await enqueue_event(db, "org_a", "schedule.paused", "sched_2@t0", {})
        await db.commit()

    async def read() -> Due:
        async with sessions() as db:
            repository = WebhookRepository(db)
            (due,) = await repository.due(await repository.now() + timedelta(seconds=1), 10)
            return due

    async def claim(due: Due, n: int) -> bool:
        async with sessions() as db:
            until = datetime.now(UTC) + timedelta(seconds=30, microseconds=n)
            won = await WebhookRepository(db).claim(due, until)
            await db.commit()
            return won

    # four processes read the same due time; one guarded update finds it unchanged
    seen = await asyncio.gather(*(read() for _ in range(4)))
    won = await asyncio.gather(*(claim(due, n) for n, due in enumerate(seen)))
    assert sorted(won) == [False, False, False, True]


async def test_loops_noticing_one_run_end_at_once_make_one_delivery(engine: AsyncEngine) -> None:
    hook = await add_webhook(engine, "org_a", ["scan.completed", "scan.failed"])
    await add_webhook(engine, "org_b", ["scan.completed"])  # never told of org_a's runs
    sessions = session_factory(engine)
    moment = datetime.now(UTC)
    async with sessions() as db:
        for n, status in enumerate(("completed", "failed", "cancelled")):
            db.add(
                ScanJob(
                    id=f"job_end{n}",
                    scan_id=f"end{n}",
                    organization_id="org_a",
                    status=status,
                    config={},
                    created_at=moment,
                    updated_at=moment,
                    completed_at=moment,
                )
            )
        await db.commit()
    loops = [DeliveryLoop(sessions, CIPHER, SETTINGS) for _ in range(3)]
    await asyncio.gather(*(loop.notice() for loop in loops))
    await asyncio.gather(*(loop.notice() for loop in loops))  # a second round finds them made
    assert await deliveries(engine) == [
        (hook, "scan.completed", "job_end0"),
        (hook, "scan.failed", "job_end1"),
    ]
    async with sessions() as db:
        payloads = (await db.scalars(select(WebhookDelivery.payload))).all()
        assert {p["data"]["scanId"] for p in payloads} == {"end0", "end1"}
        assert await db.scalar(select(func.count()).select_from(WebhookDelivery)) == 2
