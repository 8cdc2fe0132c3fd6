"""run_schemas (the property definitions each run used); deals.merged_from and
deals.property_history; scan_jobs.changes_merged, schema_changes and untyped_values

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_schemas",
        sa.Column(
            "job_id",
            sa.String(40),
            sa.ForeignKey("scan_jobs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("properties", sa.JSON(), nullable=False),
    )
    with op.batch_alter_table("deals") as batch:
        batch.add_column(sa.Column("merged_from", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("property_history", sa.JSON(), nullable=True))
    with op.batch_alter_table("scan_jobs") as batch:
        batch.add_column(
            sa.Column("changes_merged", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("schema_changes", sa.JSON(), nullable=True))
        batch.add_column(
            sa.Column("untyped_values", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("scan_jobs") as batch:
        batch.drop_column("untyped_values")
        batch.drop_column("schema_changes")
        batch.drop_column("changes_merged")
    with op.batch_alter_table("deals") as batch:
        batch.drop_column("property_history")
        batch.drop_column("merged_from")
    op.drop_table("run_schemas")
