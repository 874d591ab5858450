"""notification channels (Apprise) and their outbox

Revision ID: 0008_channels
Revises: 0006_accounts_security
Create Date: 2026-12-03 14:00:00

A channel's Apprise URL is stored sealed (AES-GCM under a key from the secret
file), with only its scheme and host kept in clear for display. Channel
notices wait in ``channel_outbox`` until the service accepts them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_channels"
down_revision = "0006_accounts_security"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("url_sealed", sa.Text(), nullable=False),
        sa.Column("url_shown", sa.String(length=255), nullable=False),
        sa.Column("min_severity", sa.String(length=16), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "channel_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("dedupe_key", sa.String(length=255), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["channel_id"], ["channels.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    op.create_index("ix_channel_outbox_state_next", "channel_outbox", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_channel_outbox_state_next", table_name="channel_outbox")
    op.drop_table("channel_outbox")
    op.drop_table("channels")
