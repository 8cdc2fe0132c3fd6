"""hubspot_credentials: stored OAuth grants and tokens (connections); scan_jobs.credential_id

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hubspot_credentials",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("organization_id", sa.String(255), nullable=True),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("secret_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("origin", sa.String(64), nullable=True),
        sa.Column("access_token_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("access_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("access_lifetime_s", sa.Float(), nullable=True),
        sa.Column("refreshes", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("rotations", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("refused", sa.Text(), nullable=True),
        sa.Column("portal_id", sa.BigInteger(), nullable=True),
        sa.Column("hub_domain", sa.String(255), nullable=True),
        sa.Column("scopes", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("origin", name="uq_credentials_origin"),
    )
    with op.batch_alter_table("scan_jobs") as batch:
        batch.add_column(sa.Column("credential_id", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scan_jobs") as batch:
        batch.drop_column("credential_id")
    op.drop_table("hubspot_credentials")
