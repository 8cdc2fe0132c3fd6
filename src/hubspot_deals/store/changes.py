"""SQL for the changes feed (``deal_changes``): events written with the rows they describe, served
in ``seq`` order once their run completed. Callers own the transaction: nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import BigInteger, Text, and_, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.store.deals import STORED_COLUMNS, StoredDeal, stored_deals
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


#: A deal key past every deal's: "up to the end".
LAST_KEY = 2**63 - 1


def _rows_as_events(dialect: str) -> str:
    """Every row of a run in a deal key range as its added (or archived) event, in deal id order,
    each reading its row from the run (``row_in_run``) rather than holding a copy: a first run's
    events were a second copy of all its rows, as large as they and built by the scan (its CPU
    and disk: docs/benchmarks.md)."""
    marks = ["?"] * 5 if dialect == "sqlite" else ["$1", "$2", "$2", "$3", "$4"]
    key, job, same_job, after, until = marks
    return (
        f"INSERT INTO {DealChange.__tablename__} "  # noqa: S608 - our own names
        "(scan_key, job_id, kind, deal_id, row_in_run) "
        f"SELECT CAST({key} AS TEXT), CAST({job} AS TEXT), "
        f"CASE WHEN is_archived THEN '{ARCHIVED}' ELSE '{ADDED}' END, deal_id, TRUE "
        f"FROM {DealRow.__tablename__} "
        f"WHERE job_id = {same_job} AND deal_key > {after} AND deal_key <= {until} "
        "ORDER BY deal_key"
    )


_ROWS_AS_EVENTS = {dialect: _rows_as_events(dialect) for dialect in ("sqlite", "postgresql")}


@dataclass(frozen=True, slots=True)
class Change:
    """One event to write: the row as it is after the change (a row dict as the engine builds
    it, ``store.deals.row_values``' shape), or None when the deal left the results."""

    kind: str
    deal_id: str
    row: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """An event as the feed serves it: the deal as it is after the change, None when it left."""

    seq: int
    job_id: str
    kind: str
    deal_id: str
    deal: StoredDeal | None

    @classmethod
    def of(cls, change: DealChange, stored: Sequence[Any]) -> FeedEvent:
        """``change`` with its row: the one it holds, else (``row_in_run``) ``stored``, the run's
        row read with ``STORED_COLUMNS``."""
        if change.row_in_run:
            if stored[0] is None:  # its run's rows are kept for it (``feed_reads_rows``)
                raise LookupError(f"event {change.seq}: its run {change.job_id} lost its row")
            deal: StoredDeal | None = stored_deals([stored])[0]
        elif change.row is not None:
            fields: dict[str, Any] = {name: change.row.get(name) for name in StoredDeal._fields}
            deal = StoredDeal(**fields | {"row_id": 0})
        else:
            deal = None
        return cls(change.seq, change.job_id, change.kind, change.deal_id, deal)


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

    async def record_rows(self, key: str, job_id: str, *, after: int, until: int) -> None:
        """Each of the run's rows with a deal key in (after, until] as an added (or archived)
        event, in the caller's transaction: what a run that follows no served run records,
        written by the database without the rows' round trip through Python."""
        connection = await self.session.connection()
        dialect = connection.dialect.name
        values = (
            (key, job_id, job_id, after, until)
            if dialect == "sqlite"
            else (key, job_id, after, until)
        )
        await connection.exec_driver_sql(_ROWS_AS_EVENTS[dialect], values)

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

    async def served(self, key: str, org: OrgScope, *, after: int, limit: int) -> list[FeedEvent]:
        """Events past ``after`` of completed runs only, in ``seq`` order (keyset on the feed's
        index), with their rows. A running run's events wait unseen; a failed or cancelled run's
        never show."""
        in_run = and_(
            DealChange.row_in_run,
            DealRow.job_id == DealChange.job_id,
            DealRow.deal_key == cast(DealChange.deal_id, BigInteger),
        )
        query = scoped(
            select(DealChange, *STORED_COLUMNS)
            .join(ScanJob, ScanJob.id == DealChange.job_id)
            .outerjoin(DealRow, in_run)
            .where(
                DealChange.scan_key == key,
                DealChange.seq > after,
                ScanJob.status == JobStatus.COMPLETED,
            ),
            org,
        )
        found = (await self.session.execute(query.order_by(DealChange.seq).limit(limit))).all()
        return [FeedEvent.of(change, stored) for change, *stored in found]
