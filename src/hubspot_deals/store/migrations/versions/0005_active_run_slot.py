"""one active run per scan id, held by the database: scan_jobs.run_slot and a partial unique index

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 22:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ACTIVE = "status IN ('pending', 'running')"
# Runs stored before the column get the organization's slot (the keyed form; an open service's
# runs have no organization, so theirs is the scan id alone). Where the race this revision closes
# left two active runs of one scan id, only the newest holds it (the older run on, and end).
BACKFILL = """
UPDATE scan_jobs SET run_slot = COALESCE(organization_id || '/', '') || scan_id
WHERE status IN ('pending', 'running') AND NOT EXISTS (
    SELECT 1 FROM scan_jobs AS newer
    WHERE newer.status IN ('pending', 'running')
      AND newer.scan_id = scan_jobs.scan_id
      AND newer.organization_id IS NOT DISTINCT FROM scan_jobs.organization_id
      AND (newer.created_at > scan_jobs.created_at
           OR (newer.created_at = scan_jobs.created_at AND newer.id > scan_jobs.id))
)
"""


def upgrade() -> None:
    with op.batch_alter_table("scan_jobs") as batch:
        batch.add_column(sa.Column("run_slot", sa.String(length=600), nullable=True))
    op.execute(BACKFILL)
    op.create_index(
        "uq_scan_jobs_active_slot",
        "scan_jobs",
        ["run_slot"],
        unique=True,
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )


def downgrade() -> None:
    op.drop_index("uq_scan_jobs_active_slot", table_name="scan_jobs")
    with op.batch_alter_table("scan_jobs") as batch:
        batch.drop_column("run_slot")
