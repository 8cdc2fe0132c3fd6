"""SQL for extracted deals: bulk upserts by (job, deal), offset pages and keyset pages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, Table, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.store.models import DealRow

_TABLE: Table = DealRow.__table__  # type: ignore[assignment]  # a declarative model's Table
_UPDATABLE = [
    c.name for c in DealRow.__table__.columns if c.name not in ("row_id", "job_id", "deal_key")
]


@dataclass(frozen=True)
class DealFilter:
    pipeline: str | None = None
    dealstage: str | None = None
    owner_id: str | None = None

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.pipeline is not None:
            query = query.where(DealRow.pipeline_id == self.pipeline)
        if self.dealstage is not None:
            query = query.where(DealRow.deal_stage == self.dealstage)
        if self.owner_id is not None:
            query = query.where(DealRow.owner_id == self.owner_id)
        return query


class DealRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def upsert(self, job_id: str, rows: Sequence[dict[str, Any]]) -> None:
        """Insert or replace rows by (job, deal): a page stored twice is stored once.

        One statement, executed for many parameter sets (compiled once, not once per row).
        """
        if not rows:
            return
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(_TABLE)
        statement = statement.on_conflict_do_update(
            index_elements=["job_id", "deal_key"],
            set_={name: statement.excluded[name] for name in _UPDATABLE},
        )
        connection = await self.session.connection()
        await connection.execute(statement, [{"job_id": job_id, **row} for row in rows])

    async def count(self, job_id: str, where: DealFilter) -> int:
        query = where.apply(
            select(func.count()).select_from(DealRow).where(DealRow.job_id == job_id)
        )
        return int(await self.session.scalar(query) or 0)

    async def page(
        self, job_id: str, where: DealFilter, *, offset: int, limit: int
    ) -> Sequence[DealRow]:
        query = where.apply(select(DealRow).where(DealRow.job_id == job_id))
        return (
            await self.session.scalars(query.order_by(DealRow.deal_key).offset(offset).limit(limit))
        ).all()

    async def after(
        self, job_id: str, where: DealFilter, *, after_key: int, limit: int
    ) -> Sequence[DealRow]:
        """Keyset page: rows past ``after_key`` in deal id order; as fast at any depth."""
        query = where.apply(
            select(DealRow).where(DealRow.job_id == job_id, DealRow.deal_key > after_key)
        )
        return (await self.session.scalars(query.order_by(DealRow.deal_key).limit(limit))).all()

    async def delete_job(self, job_id: str) -> None:
        await self.session.execute(delete(DealRow).where(DealRow.job_id == job_id))
