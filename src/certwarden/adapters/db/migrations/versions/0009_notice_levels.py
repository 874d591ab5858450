"""notice levels and lifetime-share thresholds for the Certificate Expiry Monitor

Revision ID: 0009_notice_levels
Revises: 0008_channels
Create Date: 2026-12-03 14:00:00

``certificates.notice_level``: the level (1 warning, 2 major, 3 critical,
4 expired) of the certificate's last notice, so a rise is notified at once.
``stores.lifetime_share`` and ``certificates.lifetime_share`` (an override):
notify when less than this share of the lifetime remains. The start it gives
is kept in ``certificates.notice_from`` (indexed: the due query is a range).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_notice_levels"
down_revision = "0008_channels"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("certificates", sa.Column("notice_level", sa.Integer(), nullable=True))
    op.add_column("certificates", sa.Column("lifetime_share", sa.Float(), nullable=True))
    op.add_column(
        "certificates", sa.Column("notice_from", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index("ix_certificates_notice_from", "certificates", ["notice_from"])
    op.add_column("stores", sa.Column("lifetime_share", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("stores", "lifetime_share")
    op.drop_index("ix_certificates_notice_from", table_name="certificates")
    op.drop_column("certificates", "notice_from")
    op.drop_column("certificates", "lifetime_share")
    op.drop_column("certificates", "notice_level")
