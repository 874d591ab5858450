"""change events of monitored TLS endpoints

Revision ID: 0011_endpoint_changes
Revises: 0009_notice_levels
Create Date: 2026-12-03 16:00:00

``endpoints.change_state``: a small bounded JSON history of the certificates
the endpoint served (core/cert_changes.py), what was last announced and when,
for change events damped per endpoint. NULL: nothing seen yet.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_endpoint_changes"
down_revision = "0009_notice_levels"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("endpoints", sa.Column("change_state", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("endpoints", "change_state")
