"""scheduled revocation checks cut into chunks that every instance claims

Revision ID: 0012_check_chunks
Revises: 0011_endpoint_changes
Create Date: 2026-12-03 16:00:00

``revocation_runs``: one scheduled revocation check (planned by the holder of
the revocation lease, completed by whoever commits its last chunk).
``revocation_chunks``: its certificates, grouped by issuer and responder, cut
into chunks that instances claim (``FOR UPDATE SKIP LOCKED`` on PostgreSQL);
``token`` grows at every claim and fences the chunk's commit.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_check_chunks"
down_revision = "0011_endpoint_changes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revocation_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("planned_by", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("certificate_count", sa.Integer(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("notices_queued", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "revocation_chunks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("certificate_ids", sa.JSON(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=True),
        sa.Column("token", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claim_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["revocation_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_revocation_chunks_state_expires", "revocation_chunks", ["state", "claim_expires_at"]
    )
    op.create_index("ix_revocation_chunks_run_state", "revocation_chunks", ["run_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_revocation_chunks_run_state", table_name="revocation_chunks")
    op.drop_index("ix_revocation_chunks_state_expires", table_name="revocation_chunks")
    op.drop_table("revocation_chunks")
    op.drop_table("revocation_runs")
