"""incremental scans: how a run fetched, its high-water mark, its change counts; stage history

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_COUNTS = ("deals_held", "changes_added", "changes_updated", "changes_archived", "changes_removed")


def upgrade() -> None:
    with op.batch_alter_table("scan_jobs") as batch:
        batch.add_column(sa.Column("sync_mode", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("sync_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("base_job_id", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("modified_since", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("high_water_mark", sa.DateTime(timezone=True), nullable=True))
        for name in _COUNTS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("deals") as batch:
        batch.add_column(sa.Column("stage_history", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deals") as batch:
        batch.drop_column("stage_history")
    with op.batch_alter_table("scan_jobs") as batch:
        for name in reversed(_COUNTS):
            batch.drop_column(name)
        for name in (
            "high_water_mark",
            "modified_since",
            "base_job_id",
            "sync_reason",
            "sync_mode",
        ):
            batch.drop_column(name)
