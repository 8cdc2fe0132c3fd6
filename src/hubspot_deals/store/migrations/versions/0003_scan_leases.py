"""scan leases: the worker running a scan and its claim counter; cancel_requested dropped

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 10:12:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scan_jobs") as batch:
        batch.add_column(sa.Column("worker_id", sa.String(length=128), nullable=True))
        batch.add_column(
            sa.Column("lease_version", sa.Integer(), nullable=False, server_default="0")
        )
        batch.drop_column("cancel_requested")
    op.create_index(
        "ix_scan_jobs_org_status", "scan_jobs", ["organization_id", "status", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_scan_jobs_org_status", table_name="scan_jobs")
    with op.batch_alter_table("scan_jobs") as batch:
        batch.add_column(
            sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.drop_column("lease_version")
        batch.drop_column("worker_id")
