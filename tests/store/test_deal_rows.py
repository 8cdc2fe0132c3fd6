"""The deal rows' fast paths on both databases: the driver-level upsert writes what the ORM reads
back, its byte count is the rows' JSON, a page read as stored text embeds as the values would,
the entries the database writes for a results page are the presenter's deal bodies, the events
the database builds from rows serve the rows' values, and SQLite's one-hop cursor behaves as a
DBAPI cursor (row counts, errors, every row fetched)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import null, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hubspot_deals.api.presenters import DEAL_ENTRY, deal_body
from hubspot_deals.store.changes import (
    ADDED,
    ARCHIVED,
    LAST_KEY,
    REMOVED,
    UPDATED,
    Change,
    ChangeRepository,
)
from hubspot_deals.store.database import session_factory
from hubspot_deals.store.deals import (
    DealFilter,
    DealRepository,
    row_values,
    spliced_values,
    stored_deals,
)
from hubspot_deals.store.jobs import ANY_ORG
from hubspot_deals.store.models import DealRow, ScanJob
from hubspot_deals.store.sync_tables import DealChange


def row(key: int, **changed: Any) -> dict[str, Any]:
    return {
        "deal_key": key,
        "deal_id": str(key),
        "deal_name": f"Deal {key} \u00e9\u4e2d",
        "amount": key + 0.5,
        "currency": "EUR",
        "deal_stage": "closedwon",
        "deal_stage_label": "Closed won",
        "pipeline_id": "default",
        "pipeline_label": "Sales",
        "close_date": "2025-01-01T00:00:00Z",
        "deal_created_at": "2024-01-01T00:00:00.123Z",
        "deal_updated_at": "2025-01-02T00:00:00Z",
        "owner_id": "7",
        "owner_email": "o@example.com",
        "deal_type": None,
        "is_archived": key % 2 == 0,
        "deal_url": f"https://app.hubspot.com/contacts/1/record/0-3/{key}",
        "properties": {"dealname": f"Deal {key}", "amount": None, "nested": 'a"b\\c'},
        "associations": {"contacts": [{"id": "9", "type": "deal_to_contact"}]},
        "stage_history": None if key % 3 else [{"stage": "a", "entered_at": "x"}],
        "merged_from": [] if key % 5 else ["1", "2"],
        "property_history": None,
    } | changed


#: amounts that 15 significant digits would not give back, and none
AMOUNTS = {7: 0.1 + 0.2, 8: 123456789.12345679, 9: None, 10: 1e20, 11: 100.0, 12: 5e-7}
#: what a row's JSON may hold besides: text to escape, no associations, a property's history
ODD = {
    13: {"deal_name": 'Quote " back \\ slash\nline \x01 tab\t', "associations": None},
    14: {"property_history": {"amount": [{"value": "1", "timestamp": "t"}]}, "owner_id": None},
    # text ending a run of text fields (which SQLite writes as one object, its braces cut off)
    16: {"deal_name": "braces {}}", "deal_type": "}", "deal_url": "{"},
}
ROWS = [row(k, amount=AMOUNTS.get(k, k + 0.5), **ODD.get(k, {})) for k in range(1, 301)]


@pytest.fixture
async def stored(engine: AsyncEngine) -> tuple[AsyncEngine, int]:
    moment = datetime.now(UTC)
    async with session_factory(engine)() as db:
        db.add(
            ScanJob(
                id="j",
                scan_id="s",
                status="running",
                config={},
                created_at=moment,
                updated_at=moment,
            )
        )
        await db.flush()
        size = await DealRepository(db).upsert("j", ROWS[:200])
        size += await DealRepository(db).upsert("j", ROWS[100:])  # 100 rows a second time
        await db.commit()
    return engine, size


async def test_rows_read_back_as_written(stored: tuple[AsyncEngine, int]) -> None:
    engine, size = stored
    async with session_factory(engine)() as db:
        kept = (await db.scalars(select(DealRow).order_by(DealRow.deal_key))).all()
    assert [row_values(r) for r in kept] == ROWS
    assert size == sum(len(orjson.dumps(r)) for r in ROWS[:200] + ROWS[100:])


async def test_a_page_as_stored_text_embeds_as_its_values(
    stored: tuple[AsyncEngine, int],
) -> None:
    engine, _ = stored
    async with session_factory(engine)() as db:
        raw = await DealRepository(db).raw_page("j", DealFilter(), limit=50, after_key=120)
    assert [r.deal_key for r in raw] == list(range(121, 171))
    as_text = [orjson.loads(orjson.dumps(spliced_values(r))) for r in raw]
    assert as_text == ROWS[120:170]
    decoded = stored_deals(raw)
    assert [d.properties for d in decoded] == [r["properties"] for r in ROWS[120:170]]
    assert all(d.stage_history is None for d in decoded if d.deal_key % 3)


async def test_entries_the_database_writes_are_the_deal_bodies(
    stored: tuple[AsyncEngine, int],
) -> None:
    engine, _ = stored
    async with session_factory(engine)() as db:
        # JSON columns may hold SQL NULL too (not only the text null that None is written as)
        await db.execute(
            update(DealRow)
            .where(DealRow.deal_key == 15)
            .values(associations=null(), merged_from=null(), stage_history=null())
        )
        deals = DealRepository(db)
        entries = await deals.entry_page("j", DealFilter(), DEAL_ENTRY, limit=40, after_key=0)
        rows = await deals.raw_page("j", DealFilter(), limit=40, after_key=0)
        later = await deals.entry_page("j", DealFilter(), DEAL_ENTRY, limit=5, offset=290)
    bodies = [deal_body(d) for d in stored_deals(rows)]
    written = [orjson.loads(entry) for _, entry in entries]
    assert [key for key, _ in entries] == [r.deal_key for r in rows] == list(range(1, 41))
    assert written == bodies  # floats to the last digit: 0.1 + 0.2 is not 0.3
    assert [list(w) for w in written] == [list(b) for b in bodies]  # the keys in their order
    assert written[14]["associations"] == {} and written[14]["merged_from"] == []
    assert "stage_history" not in written[14] and "property_history" in written[13]
    assert [key for key, _ in later] == list(range(291, 296))


async def test_events_built_by_the_database_serve_the_rows_values(
    stored: tuple[AsyncEngine, int],
) -> None:
    engine, _ = stored
    async with session_factory(engine)() as db:
        deals, changes = DealRepository(db), ChangeRepository(db)
        bound = await deals.key_after("j", 0, rows=120)
        assert bound == 120 and await deals.key_after("j", 120, rows=181) is None
        await changes.record_rows("s", "j", after=0, until=bound)
        await changes.record_rows("s", "j", after=bound, until=LAST_KEY)
        # an event that holds its row (a later run's) and one without, served alike
        await changes.record("s", "j", [Change(UPDATED, "7", ROWS[6]), Change(REMOVED, "8", None)])
        await db.execute(update(ScanJob).where(ScanJob.id == "j").values(status="completed"))
        await db.commit()
        held = (await db.scalars(select(DealChange).order_by(DealChange.seq))).all()
        served = await changes.served("s", ANY_ORG, after=0, limit=1_000)
        # the run's rows are what its first events read: gone, they are an error, not null deals
        await deals.delete_job("j")
        with pytest.raises(LookupError):
            await changes.served("s", ANY_ORG, after=0, limit=1)
    assert [e.row for e in held[:300]] == [None] * 300 and all(e.row_in_run for e in held[:300])
    assert [e.deal_id for e in served] == [r["deal_id"] for r in ROWS] + ["7", "8"]
    kinds = [ARCHIVED if r["is_archived"] else ADDED for r in ROWS]
    assert [e.kind for e in served] == [*kinds, UPDATED, REMOVED]
    assert [row_values(e.deal) for e in served if e.deal] == [*ROWS, ROWS[6]]
    assert served[-1].deal is None and [e.job_id for e in served] == ["j"] * 302


async def test_the_cursor_counts_raises_and_fetches_everything(
    stored: tuple[AsyncEngine, int],
) -> None:
    engine, _ = stored
    async with session_factory(engine)() as db:
        changed = await db.execute(
            update(DealRow).where(DealRow.deal_key > 250).values(deal_type="renewal")
        )
        assert changed.rowcount == 50  # type: ignore[attr-defined]
        everything = (await db.execute(text("SELECT deal_key FROM deals"))).all()
        assert len(everything) == 300
        with pytest.raises(IntegrityError):
            await db.execute(
                text(
                    "INSERT INTO deals (job_id, deal_key, deal_id, is_archived, properties) "
                    "VALUES ('j', 1, '1', false, '{}')"
                )
            )
