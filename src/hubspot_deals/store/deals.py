"""SQL for extracted deals: bulk upserts by (job, deal), offset pages and keyset pages.

The scan's writes and the results' reads are the service's hottest SQL, so they skip what the ORM
adds per row: rows are written through the driver's executemany with their JSON columns serialized
by orjson once (the same text SQLAlchemy's JSON type writes), and pages are read as plain rows with
those columns as their stored text, which a response embeds without decoding it
(``orjson.Fragment``).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from sqlalchemy import (
    JSON,
    Row,
    Select,
    Table,
    Text,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.store.database import equals, matchable
from hubspot_deals.store.deal_entries import Entry, entry_sql
from hubspot_deals.store.models import DealRow
from hubspot_deals.store.sqlite_connection import quick_reads

_TABLE: Table = DealRow.__table__  # type: ignore[assignment]  # a declarative model's Table
_UPDATABLE = [
    c.name for c in DealRow.__table__.columns if c.name not in ("row_id", "job_id", "deal_key")
]
JSON_COLUMNS = frozenset(c.name for c in _TABLE.columns if isinstance(c.type, JSON))
#: the columns an upsert writes, in its statement's order
_WRITTEN = ["job_id", "deal_key", *_UPDATABLE]


def _upsert_sql(dialect: str) -> str:
    """One row's upsert, in the driver's own placeholders (SQLite's ``?``, asyncpg's ``$n``):
    ``ON CONFLICT ... DO UPDATE`` reads the same in both."""
    marks = ", ".join("?" if dialect == "sqlite" else f"${n}" for n in range(1, len(_WRITTEN) + 1))
    updates = ", ".join(f"{name} = excluded.{name}" for name in _UPDATABLE)
    columns = ", ".join(_WRITTEN)
    sql = f"INSERT INTO {_TABLE.name} ({columns}) VALUES ({marks}) "  # noqa: S608 - our own names
    return f"{sql}ON CONFLICT (job_id, deal_key) DO UPDATE SET {updates}"


_UPSERT = {dialect: _upsert_sql(dialect) for dialect in ("sqlite", "postgresql")}


def row_values(row: DealRow | StoredDeal) -> dict[str, Any]:
    """A stored row as the dict it was stored from (what an engine builds), to compare with."""
    return {"deal_key": row.deal_key} | {name: getattr(row, name) for name in _UPDATABLE}


class StoredDeal(NamedTuple):
    """A stored deal as plain values, for exports and results pages: built from a row read with
    its JSON columns as text (an ORM row costs several times as much to build, and building
    2,000 of them held the loop for tens of milliseconds; a named tuple is made in C)."""

    row_id: int
    deal_key: int
    deal_id: str
    deal_name: str | None
    amount: float | None
    currency: str | None
    deal_stage: str | None
    deal_stage_label: str | None
    pipeline_id: str | None
    pipeline_label: str | None
    close_date: str | None
    deal_created_at: str | None
    deal_updated_at: str | None
    owner_id: str | None
    owner_email: str | None
    deal_type: str | None
    is_archived: bool
    deal_url: str | None
    #: the JSON columns, decoded; None where the column holds null
    properties: Any
    associations: Any
    stage_history: Any
    merged_from: Any
    property_history: Any


#: What ``raw_batches`` selects, in ``StoredDeal``'s order; JSON columns as their text.
STORED_COLUMNS = [
    cast(_TABLE.c[name], Text) if isinstance(_TABLE.c[name].type, JSON) else _TABLE.c[name]
    for name in StoredDeal._fields
]
_JSON_AT = [at for at, name in enumerate(StoredDeal._fields) if name in JSON_COLUMNS]


def stored_deals(rows: Sequence[Sequence[Any]]) -> list[StoredDeal]:
    """Rows read with ``STORED_COLUMNS`` (``raw_batches``, ``raw_page``) as records, their JSON
    decoded (CPU work for a thread when there are many)."""
    records = []
    for row in rows:
        values = list(row)
        for at in _JSON_AT:
            text = values[at]
            values[at] = None if text is None or text == "null" else orjson.loads(text)
        records.append(StoredDeal._make(values))
    return records


def spliced_values(row: Row[Any]) -> dict[str, Any]:
    """A row read with ``STORED_COLUMNS`` as ``row_values``' dict, its JSON not decoded: each
    JSON column an ``orjson.Fragment`` of the stored text, which orjson writes out as it is."""
    values: dict[str, Any] = dict(zip(StoredDeal._fields[1:], row[1:], strict=True))  # no row_id
    for name in JSON_COLUMNS:
        text = values[name]
        values[name] = None if text is None or text == "null" else orjson.Fragment(text)
    return values


#: The columns a ``DealFilter`` narrows, in its fields' order.
_FILTERED = ("pipeline_id", "deal_stage", "owner_id")


@functools.cache
def _page_query(
    filtered: tuple[str, ...],
    keyset: bool,
    offset: bool,
    entry: Entry | None = None,
    dialect: str = "",
) -> Select[Any]:
    """A page's query, built once per shape with its values bound at execution (a results page
    spent more on building and keying a new statement than on SQLite's work): the stored
    columns, or with ``entry`` the deal key and the entry the database writes (``dialect``'s)."""
    columns = (
        [_TABLE.c.deal_key, literal_column(entry_sql(entry, dialect))] if entry else STORED_COLUMNS
    )
    query = select(*columns).where(_TABLE.c.job_id == bindparam("job_id"))
    for name in filtered:
        query = query.where(_TABLE.c[name] == bindparam(name))
    if keyset:
        query = query.where(_TABLE.c.deal_key > bindparam("after_key"))
    query = query.order_by(_TABLE.c.deal_key).limit(bindparam("limit"))
    return query.offset(bindparam("offset")) if offset else query


@dataclass(frozen=True)
class DealFilter:
    pipeline: str | None = None
    dealstage: str | None = None
    owner_id: str | None = None

    def values(self) -> dict[str, str]:
        """The filters set, by their ``_FILTERED`` column's name."""
        given = (self.pipeline, self.dealstage, self.owner_id)
        return {
            name: value for name, value in zip(_FILTERED, given, strict=True) if value is not None
        }

    def apply(self, query: Select[Any]) -> Select[Any]:
        for name, value in self.values().items():
            query = query.where(equals(_TABLE.c[name], value))
        return query


#: Filter choices listed per kind: a portal has a few pipelines and stages, and owners by the
#: dozen; past this many, typing the id is quicker than scrolling a list.
FACETS_KEPT = 200


@dataclass(frozen=True)
class Facets:
    """The values a job's rows have per filter, each with a label: ``(value, label)``."""

    pipelines: list[tuple[str, str]]
    stages: list[tuple[str, str]]
    owners: list[tuple[str, str]]


class DealRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def upsert(self, job_id: str, rows: Sequence[dict[str, Any]]) -> int:
        """Insert or replace rows by (job, deal): a page stored twice is stored once. Returns
        the bytes the rows take as JSON (``data_size_mb``), measured on the text written.

        One statement through the driver's executemany, JSON serialized once per value.
        """
        if not rows:
            return 0
        connection = await self.session.connection()
        size, parameters = 0, []
        for row in rows:
            values: list[Any] = [job_id, row["deal_key"]]
            whole = dict(row)
            for name in _UPDATABLE:
                value = row[name]
                if name in JSON_COLUMNS:
                    text = orjson.dumps(value)
                    whole[name] = orjson.Fragment(text)
                    value = text.decode()
                values.append(value)
            size += len(orjson.dumps(whole))
            parameters.append(tuple(values))
        await connection.exec_driver_sql(_UPSERT[connection.dialect.name], parameters)
        return size

    async def count(self, job_id: str, where: DealFilter) -> int:
        query = where.apply(
            select(func.count()).select_from(DealRow).where(DealRow.job_id == job_id)
        )
        return int(await self.session.scalar(query) or 0)

    async def key_after(self, job_id: str, after: int, *, rows: int) -> int | None:
        """The deal key ``rows`` rows past ``after`` in deal id order; None when fewer follow."""
        query = (
            select(DealRow.deal_key)
            .where(DealRow.job_id == job_id, DealRow.deal_key > after)
            .order_by(DealRow.deal_key)
            .offset(rows - 1)
            .limit(1)
        )
        key: int | None = await self.session.scalar(query)
        return key

    async def raw_page(
        self,
        job_id: str,
        where: DealFilter,
        *,
        limit: int,
        offset: int = 0,
        after_key: int | None = None,
    ) -> Sequence[Row[Any]]:
        """One page of rows (by offset, or keyset past ``after_key``: as fast at any depth) with
        their JSON as the stored text, for ``stored_deals``."""
        return await self._page(job_id, where, None, limit, offset, after_key)

    async def entry_page(
        self,
        job_id: str,
        where: DealFilter,
        entry: Entry,
        *,
        limit: int,
        offset: int = 0,
        after_key: int | None = None,
    ) -> Sequence[Row[int, bytes]]:
        """``raw_page``'s rows as (deal key, ``entry`` as JSON the database wrote)."""
        return await self._page(job_id, where, entry, limit, offset, after_key)

    async def _page(
        self,
        job_id: str,
        where: DealFilter,
        entry: Entry | None,
        limit: int,
        offset: int,
        after_key: int | None,
    ) -> Sequence[Any]:
        filters = where.values()
        if not all(map(matchable, filters.values())):
            return []
        keyset = after_key is not None
        dialect = self.session.get_bind().dialect.name if entry else ""
        query = _page_query(tuple(filters), keyset, bool(offset) and not keyset, entry, dialect)
        values: dict[str, Any] = {"job_id": job_id, "limit": limit, "offset": offset}
        values |= filters | ({"after_key": after_key} if keyset else {})
        # unfiltered, by key or from the top: an index walk of ``limit`` rows (a deep offset, or
        # a filter few rows match, may walk many more)
        with quick_reads((keyset or not offset) and not filters):
            rows: Sequence[Any] = (await self.session.execute(query, values)).all()
        return rows

    async def raw_batches(
        self, job_id: str, where: DealFilter, *, size: int
    ) -> AsyncIterator[Sequence[Row[Any]]]:
        """Every row in deal id order, ``size`` at a time (keyset: an export's flat memory), as
        undecoded rows for ``stored_deals``."""
        query = where.apply(select(*STORED_COLUMNS).where(_TABLE.c.job_id == job_id))
        query = query.order_by(_TABLE.c.deal_key).limit(size)
        after_key = -1
        while rows := (
            await self.session.execute(query.where(_TABLE.c.deal_key > after_key))
        ).all():
            yield rows
            after_key = rows[-1].deal_key

    async def copy_job(self, source: str, target: str) -> None:
        """The source run's rows, copied into the target run in one statement (no round trip
        per row): where an incremental run starts."""
        columns = [c for c in _TABLE.columns if c.name not in ("row_id", "job_id")]
        chosen = select(literal(target), *columns).where(_TABLE.c.job_id == source)
        await self.session.execute(
            insert(_TABLE).from_select(["job_id", *(c.name for c in columns)], chosen)
        )

    async def by_keys(self, job_id: str, keys: Sequence[int]) -> dict[int, DealRow]:
        if not keys:
            return {}
        query = select(DealRow).where(DealRow.job_id == job_id, DealRow.deal_key.in_(keys))
        return {row.deal_key: row for row in (await self.session.scalars(query)).all()}

    async def delete_keys(self, job_id: str, keys: Sequence[int]) -> None:
        if keys:
            await self.session.execute(
                delete(DealRow).where(DealRow.job_id == job_id, DealRow.deal_key.in_(keys))
            )

    async def archived_among(self, job_id: str, keys: Sequence[int]) -> set[int]:
        """Which of ``keys`` the job holds as archived rows (keys only: no row is loaded)."""
        if not keys:
            return set()
        query = select(DealRow.deal_key).where(
            DealRow.job_id == job_id, DealRow.deal_key.in_(keys), DealRow.is_archived
        )
        return set((await self.session.scalars(query)).all())

    async def count_in(self, job_id: str, lo: int, hi: int, *, archived: bool) -> int:
        """Rows with ``lo <= deal_key < hi``, archived or not."""
        query = select(func.count()).where(
            DealRow.job_id == job_id,
            DealRow.deal_key >= lo,
            DealRow.deal_key < hi,
            DealRow.is_archived == archived,
        )
        return int(await self.session.scalar(query) or 0)

    async def keys_in(self, job_id: str, lo: int, hi: int, *, archived: bool) -> list[int]:
        query = select(DealRow.deal_key).where(
            DealRow.job_id == job_id,
            DealRow.deal_key >= lo,
            DealRow.deal_key < hi,
            DealRow.is_archived == archived,
        )
        return list((await self.session.scalars(query.order_by(DealRow.deal_key))).all())

    async def key_bounds(self, job_id: str) -> tuple[int, int] | None:
        low, high = (
            await self.session.execute(
                select(func.min(DealRow.deal_key), func.max(DealRow.deal_key)).where(
                    DealRow.job_id == job_id
                )
            )
        ).one()
        return None if low is None else (int(low), int(high))

    async def delete_job(self, job_id: str) -> None:
        await self.session.execute(delete(DealRow).where(DealRow.job_id == job_id))

    async def facets(self, job_id: str, limit: int = FACETS_KEPT) -> Facets:
        """The pipelines, stages and owners a job's rows have, with their labels (at most
        ``limit`` of each): the choices of the results filters."""

        async def distinct(value: Any, *labels: Any) -> list[tuple[str, list[str | None]]]:
            query = (
                select(value, *(func.max(label) for label in labels))
                .where(DealRow.job_id == job_id, value.is_not(None))
                .group_by(value)
                .order_by(value)
                .limit(limit)
            )
            return [(row[0], list(row[1:])) for row in (await self.session.execute(query)).all()]

        pipelines = await distinct(DealRow.pipeline_id, DealRow.pipeline_label)
        stages = await distinct(
            DealRow.deal_stage, DealRow.deal_stage_label, DealRow.pipeline_label
        )
        owners = await distinct(DealRow.owner_id, DealRow.owner_email)
        return Facets(
            pipelines=[(v, label or v) for v, (label,) in pipelines],
            # stage names repeat across pipelines ("Closed won"): the pipeline tells them apart
            stages=[(v, f"{s or v} ({p})" if p else s or v) for v, (s, p) in stages],
            owners=[(v, email or v) for v, (email,) in owners],
        )
