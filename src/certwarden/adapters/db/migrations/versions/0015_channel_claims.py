"""per-message claims fenced by the outbox lease (e-mail and channel notices)

Revision ID: 0015_channel_claims
Revises: 0014_alert_lifecycle
Create Date: 2026-12-03 16:10:00

``outbox.claim_token`` and ``channel_outbox.claim_token``: the outbox lease's
fencing token under which the instance delivering a notice claimed it (NULL:
unclaimed, or claimed without a lease — the CLI, "deliver now"). A later holder
of the lease (a larger token) takes over a notice its dead predecessor had
claimed at once, rather than after the claim's own 5–10 minutes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_channel_claims"
down_revision = "0014_alert_lifecycle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("claim_token", sa.Integer(), nullable=True))
    op.add_column("channel_outbox", sa.Column("claim_token", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("channel_outbox", "claim_token")
    op.drop_column("outbox", "claim_token")
