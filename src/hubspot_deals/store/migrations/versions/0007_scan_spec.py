"""scan_jobs.spec: what a run does, typed, stored apart from the config the API shows back

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 03:00:00

Runs stored before it get their spec from their config, by the rules the engine read the config
with until this revision (frozen here: later changes to the engine do not change old rows).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

DEFAULT_PROPERTIES = (
    "dealname",
    "amount",
    "dealstage",
    "pipeline",
    "closedate",
    "createdate",
    "hs_lastmodifieddate",
    "hubspot_owner_id",
    "dealtype",
)
DEFAULT_ASSOCIATIONS = ("contacts", "companies", "line_items")


def _ms(value: str | None) -> int | None:
    if not value:
        return None
    if value.isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)


def spec_from_config(config: dict[str, Any]) -> dict[str, Any]:
    filters = config.get("filters") or {}
    date = filters.get("dateFilter") or {}
    end = date.get("endDate")
    end_ms = _ms(end)
    if end_ms is not None and end is not None and len(end) == 10:  # a bare day: all of it
        end_ms += int(timedelta(days=1).total_seconds() * 1000) - 1
    return {
        "scan_id": config["scanId"],
        "properties": list(config.get("properties") or DEFAULT_PROPERTIES),
        "association_types": list(config.get("associationTypes") or DEFAULT_ASSOCIATIONS)
        if config.get("includeAssociations")
        else [],
        "stage_history": bool(config.get("includeStageHistory")),
        "batch_size": int(config.get("batchSize") or 100),
        "incremental": config.get("mode") == "incremental",
        "refresh_associations": bool(config.get("refreshAssociations")),
        "filters": {
            "include_archived": bool(filters.get("includeArchived")),
            "pipeline_id": filters.get("pipelineId"),
            "dealstage": filters.get("dealstage"),
            "date_property": date.get("property") if date else None,
            "start_ms": _ms(date.get("startDate")),
            "end_ms": end_ms,
            "modified_since_ms": None,
        },
    }


def upgrade() -> None:
    with op.batch_alter_table("scan_jobs") as batch:
        batch.add_column(sa.Column("spec", sa.JSON(), nullable=True))
    jobs = sa.table("scan_jobs", sa.column("id", sa.String), sa.column("config", sa.JSON))
    specs = sa.table("scan_jobs", sa.column("id", sa.String), sa.column("spec", sa.JSON))
    connection = op.get_bind()
    for job_id, config in connection.execute(sa.select(jobs.c.id, jobs.c.config)).all():
        if isinstance(config, str | bytes):
            config = orjson.loads(config)
        connection.execute(
            sa.update(specs).where(specs.c.id == job_id).values(spec=spec_from_config(config))
        )


def downgrade() -> None:
    with op.batch_alter_table("scan_jobs") as batch:
        batch.drop_column("spec")
