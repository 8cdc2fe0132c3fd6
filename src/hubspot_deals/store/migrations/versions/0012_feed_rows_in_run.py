"""deal_changes.row_in_run and scan_jobs.feed_reads_rows: a first run's added events read their
rows from the run instead of holding a copy of each

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 00:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # events and runs from before keep what they were: rows copied into the events, runs whose
    # rows go when they are superseded
    op.add_column(
        "deal_changes",
        sa.Column("row_in_run", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "scan_jobs",
        sa.Column("feed_reads_rows", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    # the revision before has no way to show such an event's row: refuse rather than lose them
    referencing = (
        op.get_bind()
        .execute(sa.text("SELECT count(*) FROM deal_changes WHERE row_in_run"))
        .scalar()
    )
    if referencing:
        raise RuntimeError(
            f"{referencing} changes feed events read their rows from their run: "
            "revision 0011 cannot hold them"
        )
    with op.batch_alter_table("scan_jobs") as table:
        table.drop_column("feed_reads_rows")
    with op.batch_alter_table("deal_changes") as table:
        table.drop_column("row_in_run")
