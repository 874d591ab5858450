"""several instances on one database: nodes and job leases

Revision ID: 0003_cluster
Revises: 0002_ari
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_cluster"
down_revision = "0002_ari"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cluster_nodes",
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("node_id"),
    )
    op.create_table(
        "cluster_leases",
        sa.Column("job", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=True),
        sa.Column("token", sa.Integer(), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job"),
    )


def downgrade() -> None:
    op.drop_table("cluster_leases")
    op.drop_table("cluster_nodes")
