"""SQL for webhooks and their deliveries. Callers own the transaction: nothing here commits.

A delivery is created once per webhook and event (``uq_deliveries_event``): an insert that meets
the constraint does nothing, so processes that notice one event at once make one delivery. A
delivery is sent by whoever claims it: an update of ``next_attempt_at`` guarded by the value read,
as a job's lease is taken (store/jobs.py), so two processes never send one attempt at once.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.store.crypto import TokenCipher
from hubspot_deals.store.jobs import ACTIVE, FINISHED, OrgScope, scoped
from hubspot_deals.store.models import DatabaseNow, ScanJob
from hubspot_deals.store.sync_tables import Webhook, WebhookDelivery

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


@dataclass(frozen=True)
class NewDelivery:
    webhook_id: str
    event: str
    event_key: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Due:
    """A delivery due now, with the ``next_attempt_at`` its claim is guarded by."""

    id: str
    next_attempt_at: datetime


@dataclass(frozen=True)
class Ended:
    """A run that ended, as the noticing loop first reads it (the row itself only if needed)."""

    id: str
    organization_id: str | None
    status: str
    completed_at: datetime


class WebhookRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def now(self) -> datetime:
        """The database's clock: every process judges due times by it."""
        moment: datetime | None = await self.session.scalar(select(DatabaseNow()))
        assert moment is not None
        return moment

    # -- webhooks ---------------------------------------------------------------------------------

    def add(
        self,
        cipher: TokenCipher,
        *,
        org: str | None,
        url: str,
        events: list[str],
        secret: str,
        moment: datetime,
    ) -> Webhook:
        """A webhook, its signing secret sealed with the runtime's cipher."""
        row = Webhook(
            id=f"wh_{secrets.token_hex(8)}",
            organization_id=org,
            url=url,
            events=events,
            secret_encrypted=cipher.encrypt(secret),
            created_at=moment,
            updated_at=moment,
        )
        self.session.add(row)
        return row

    async def listed(self, org: OrgScope) -> Sequence[Webhook]:
        """The organization's webhooks, newest first."""
        query = scoped(select(Webhook), org, Webhook.organization_id)
        return (await self.session.scalars(query.order_by(Webhook.created_at.desc()))).all()

    async def get(self, webhook_id: str, org: OrgScope) -> Webhook | None:
        query = scoped(
            select(Webhook).where(Webhook.id == webhook_id), org, Webhook.organization_id
        )
        return (await self.session.scalars(query)).one_or_none()

    async def delete(self, row: Webhook) -> None:
        """The webhook and (by the foreign key's cascade) its deliveries."""
        await self.session.delete(row)

    async def everyone(self) -> Sequence[Webhook]:
        """Every webhook: the few rows the noticing loop matches ended runs against."""
        return (await self.session.scalars(select(Webhook))).all()

    async def subscribed(self, org: str | None, event: str) -> list[Webhook]:
        """The organization's webhooks that asked for ``event`` (matched here: JSON lists are
        searched differently by each database, and an organization has few webhooks)."""
        rows = await self.listed(org)
        return [row for row in rows if event in row.events]

    # -- deliveries -------------------------------------------------------------------------------

    async def add_deliveries(self, new: Sequence[NewDelivery], moment: datetime) -> int:
        """Insert each delivery unless its (webhook, event key) exists; how many were new."""
        if not new:
            return 0
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        made = 0
        for item in new:
            result = await self.session.execute(
                insert(WebhookDelivery)
                .values(
                    id=f"dlv_{secrets.token_hex(8)}",
                    webhook_id=item.webhook_id,
                    event=item.event,
                    event_key=item.event_key,
                    payload=item.payload,
                    status=PENDING,
                    attempts=[],
                    next_attempt_at=moment,
                    created_at=moment,
                )
                .on_conflict_do_nothing(index_elements=["webhook_id", "event_key"])
            )
            made += getattr(result, "rowcount", 0) or 0
        return made

    async def known(self, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which (webhook id, event key) pairs already have their delivery."""
        found: set[tuple[str, str]] = set()
        for start in range(0, len(pairs), 200):
            chunk = pairs[start : start + 200]
            rows = await self.session.execute(
                select(WebhookDelivery.webhook_id, WebhookDelivery.event_key).where(
                    tuple_(WebhookDelivery.webhook_id, WebhookDelivery.event_key).in_(chunk)
                )
            )
            found |= {(webhook_id, key) for webhook_id, key in rows}
        return found

    async def page(
        self, webhook_id: str, page: int, page_size: int
    ) -> tuple[Sequence[WebhookDelivery], int]:
        """A page of the webhook's deliveries, newest first, and how many it has."""
        total = await self.session.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == webhook_id)
        )
        rows = await self.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == webhook_id)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
            .offset((page - 1) * page_size)
            .limit(page_size)
        )
        return rows.all(), total or 0

    async def due(self, moment: datetime, limit: int) -> list[Due]:
        """Pending deliveries whose time has come, oldest due first."""
        rows = await self.session.execute(
            select(WebhookDelivery.id, WebhookDelivery.next_attempt_at)
            .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= moment)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        )
        return [Due(delivery_id, at) for delivery_id, at in rows if at is not None]

    async def claim(self, due: Due, until: datetime) -> bool:
        """Take a due delivery until ``until`` (its attempt's deadline): succeeds only against
        the ``next_attempt_at`` read, so of two processes exactly one sends the attempt. A
        process that dies while sending leaves it due again at ``until``."""
        result = await self.session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == due.id,
                WebhookDelivery.status == PENDING,
                WebhookDelivery.next_attempt_at == due.next_attempt_at,
            )
            .values(next_attempt_at=until)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def claimed(self, delivery_id: str) -> tuple[WebhookDelivery, Webhook] | None:
        """A claimed delivery with its webhook (gone if the webhook was deleted meanwhile)."""
        row = (
            await self.session.execute(
                select(WebhookDelivery, Webhook)
                .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                .where(WebhookDelivery.id == delivery_id)
                .execution_options(populate_existing=True)
            )
        ).one_or_none()
        return None if row is None else (row[0], row[1])

    async def record(
        self,
        delivery_id: str,
        claimed_until: datetime,
        *,
        attempts: list[dict[str, Any]],
        status: str,
        next_attempt_at: datetime | None,
        delivered_at: datetime | None,
    ) -> bool:
        """An attempt's outcome, written only while the claim is still this process's."""
        result = await self.session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.status == PENDING,
                WebhookDelivery.next_attempt_at == claimed_until,
            )
            .values(
                attempts=attempts,
                status=status,
                next_attempt_at=next_attempt_at,
                delivered_at=delivered_at,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    # -- runs that ended --------------------------------------------------------------------------

    async def active_runs(self) -> list[str]:
        """The runs pending or running now (``ix_scan_jobs_status``: a few rows)."""
        return list(
            await self.session.scalars(select(ScanJob.id).where(ScanJob.status.in_(ACTIVE)))
        )

    async def ended(
        self, *, created_since: datetime, watched: Sequence[str], ended_since: datetime
    ) -> list[Ended]:
        """Runs that ended since ``ended_since``: of those created since ``created_since``
        (``ix_scan_jobs_created``) and of the ``watched`` ones (by id), which were active when
        the caller last looked. Together they hold every run that ended in between."""
        columns = (ScanJob.id, ScanJob.organization_id, ScanJob.status, ScanJob.completed_at)
        ended = (ScanJob.status.in_(FINISHED), ScanJob.completed_at >= ended_since)
        queries = [select(*columns).where(ScanJob.created_at >= created_since, *ended)]
        for start in range(0, len(watched), 500):
            chunk = watched[start : start + 500]
            queries.append(select(*columns).where(ScanJob.id.in_(chunk), *ended))
        found: dict[str, Ended] = {}
        for query in queries:
            for job_id, org, status, completed_at in await self.session.execute(query):
                if completed_at is not None:
                    found[job_id] = Ended(job_id, org, status, completed_at)
        return sorted(found.values(), key=lambda run: run.completed_at)

    async def runs(self, job_ids: Sequence[str]) -> dict[str, ScanJob]:
        rows = await self.session.scalars(select(ScanJob).where(ScanJob.id.in_(job_ids)))
        return {row.id: row for row in rows}
