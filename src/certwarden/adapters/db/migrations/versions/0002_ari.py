"""ACME Renewal Information (RFC 9773): the latest window per certificate

Revision ID: 0002_ari
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_ari"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "renewal_info",
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("explanation_url", sa.Text(), nullable=True),
        sa.Column("previous_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificates.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("certificate_id"),
    )
    with op.batch_alter_table("renewal_info", schema=None) as batch_op:
        batch_op.create_index("ix_renewal_info_next_check_at", ["next_check_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("renewal_info", schema=None) as batch_op:
        batch_op.drop_index("ix_renewal_info_next_check_at")
    op.drop_table("renewal_info")
