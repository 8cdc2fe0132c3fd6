"""SQL for the changes feed (``deal_changes``): events written with the rows they describe, served
in ``seq`` order once their run completed. Callers own the transaction: nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Text, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.store.jobs import OrgScope, scoped
from hubspot_deals.store.models import DealRow, JobStatus, ScanJob, run_slot
from hubspot_deals.store.sync_tables import DealChange

#: What a change did to a deal: a row with ``added``, ``updated`` and (with includeArchived)
#: ``archived``; none with ``removed``, ``merged`` and ``archived`` (without includeArchived).
ADDED, UPDATED, ARCHIVED, REMOVED, MERGED = "added", "updated", "archived", "removed", "merged"


_INSERT = {
    dialect: f"INSERT INTO {DealChange.__tablename__} "  # noqa: S608 - our own names
    f'(scan_key, job_id, kind, deal_id, "row") VALUES ({marks})'
    for dialect, marks in (("sqlite", "?, ?, ?, ?, ?"), ("postgresql", "$1, $2, $3, $4, $5"))
}


@dataclass(frozen=True, slots=True)
class Change:
    """One event to write: the row as it is after the change (a row dict as the engine builds
    it, ``store.deals.row_values``' shape), or None when the deal left the results."""

    kind: str
    deal_id: str
    row: dict[str, Any] | None


def scan_key(job: ScanJob) -> str:
    """The results a run changes: its slot (``run_slot``, as the start computed it from the
    caller's scope), so the feed is keyed exactly as the one-active-run rule is."""
    return job.run_slot or run_slot(job.scan_id, job.organization_id)


class ChangeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, key: str, job_id: str, changes: Sequence[Change]) -> None:
        """Append events in the caller's transaction (one statement, many parameter sets): they
        commit, or roll back, with the rows they describe."""
        if not changes:
            return
        connection = await self.session.connection()
        await connection.exec_driver_sql(  # a full run's first writes every row: no ORM per row
            _INSERT[connection.dialect.name],
            [(key, job_id, c.kind, c.deal_id, orjson.dumps(c.row).decode()) for c in changes],
        )

    async def absorbed(self, job_id: str, batch: int = 5_000) -> set[str]:
        """The ids a run's rows list in ``merged_from`` (deals merged into them), read a batch
        at a time as stored text (almost every row's is ``[]``): a full run's removals that are
        merges."""
        found: set[str] = set()
        after = -1
        merged = cast(DealRow.merged_from, Text)
        query = select(DealRow.deal_key, merged).where(DealRow.job_id == job_id)
        while rows := (
            await self.session.execute(
                query.where(DealRow.deal_key > after).order_by(DealRow.deal_key).limit(batch)
            )
        ).all():
            for _, text in rows:
                if text not in (None, "null", "[]"):
                    found.update(orjson.loads(text))
            after = rows[-1].deal_key
        return found

    async def served(
        self, key: str, org: OrgScope, *, after: int, limit: int
    ) -> Sequence[DealChange]:
        """Events past ``after`` of completed runs only, in ``seq`` order (keyset on the feed's
        index). A running run's events wait unseen; a failed or cancelled run's never show."""
        query = scoped(
            select(DealChange)
            .join(ScanJob, ScanJob.id == DealChange.job_id)
            .where(
                DealChange.scan_key == key,
                DealChange.seq > after,
                ScanJob.status == JobStatus.COMPLETED,
            ),
            org,
        )
        return (await self.session.scalars(query.order_by(DealChange.seq).limit(limit))).all()
