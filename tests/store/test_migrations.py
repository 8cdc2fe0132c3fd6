"""The revisions of this issue on a database holding runs from before them, SQLite and PostgreSQL:
the race's leftovers (two active runs of one scan id) and every kind of config."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from hubspot_deals.api.requests import ScanConfig
from hubspot_deals.engine import ScanSpec
from hubspot_deals.store.database import create_engine, migrate

TOKEN = {"hubspot_access_token": "pat-na1-migration"}
CONFIGS: list[dict[str, Any]] = [
    {"scanId": "plain", "type": ["hubspot_deals"]},
    {
        "scanId": "shaped",
        "type": ["hubspot_deals"],
        "properties": ["dealname", "amount"],
        "includeAssociations": True,
        "associationTypes": ["companies"],
        "batchSize": 50,
        "mode": "incremental",
        "refreshAssociations": True,
        "includeStageHistory": True,
        "filters": {
            "includeArchived": True,
            "pipelineId": "default",
            "dateFilter": {
                "property": "closedate",
                "startDate": "2024-01-01",
                "endDate": "2024-06-30",
            },
        },
    },
]


def old_row(
    job_id: str, scan_id: str, status: str, at: datetime, org: str | None
) -> dict[str, Any]:
    config = next(c for c in CONFIGS if c["scanId"] == scan_id.split("#")[0])
    return {
        "id": job_id,
        "scan_id": scan_id.split("#")[0],
        "organization_id": org,
        "status": status,
        "config": config | {"organizationId": org},
        "created_at": at,
        "updated_at": at,
        "cancel_requested": False,
        "processed_items": 0,
        "failed_items": 0,
        "current_batch": 0,
        "with_associations": 0,
        "archived_deals": 0,
        "data_bytes": 0,
        "is_current": False,
    }


async def test_run_slots_and_specs_of_runs_stored_before(database_url: str) -> None:
    await migrate(database_url, "0004")
    engine = create_engine(database_url)
    moment = datetime(2026, 12, 1, tzinfo=UTC)
    rows = [
        old_row("job_old", "plain", "running", moment, None),
        old_row("job_new", "plain", "pending", moment + timedelta(seconds=1), None),  # the race's
        old_row("job_org", "plain", "running", moment, "acme"),
        old_row("job_done", "shaped", "completed", moment, None),
    ]
    async with engine.begin() as connection:
        table = await connection.run_sync(
            lambda sync: sa.Table("scan_jobs", sa.MetaData(), autoload_with=sync)
        )
        await connection.execute(sa.insert(table), rows)
    await engine.dispose()

    await migrate(database_url)
    engine = create_engine(database_url)
    async with engine.connect() as connection:
        found = {
            row.id: row
            for row in await connection.execute(
                sa.text("SELECT id, run_slot, spec, interruptions FROM scan_jobs")
            )
        }
    await engine.dispose()
    # of the two active runs of one scan id, only the newest holds the slot (the index is unique)
    assert found["job_new"].run_slot == "plain" and found["job_old"].run_slot is None
    assert found["job_org"].run_slot == "acme/plain" and found["job_done"].run_slot is None
    assert {row.interruptions for row in found.values()} == {0}
    for job_id, scan_id in (("job_new", "plain"), ("job_done", "shaped")):
        stored = found[job_id].spec
        stored = json.loads(stored) if isinstance(stored, str) else stored
        config = next(c for c in CONFIGS if c["scanId"] == scan_id)
        # the frozen conversion gives what the API builds from the same config today
        assert ScanSpec.from_stored(stored) == ScanConfig(**config, auth=TOKEN).to_spec()
