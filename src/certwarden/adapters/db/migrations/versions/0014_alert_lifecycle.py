"""alert lifecycle: one alert per condition, open -> acknowledged -> cleared

Revision ID: 0014_alert_lifecycle
Revises: 0013_shared_state
Create Date: 2026-12-03 16:00:00

``alert_conditions``: a condition (certificate or endpoint x kind family) with
its state, who acknowledged it (when, note), when and why it cleared, its
current severity and the severity last notified. ``active_key`` is unique
while the alert is not cleared (NULL after), so a condition has at most one
live alert. ``alerts.condition_id``: the lifecycle alert an event belongs to.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_alert_lifecycle"
down_revision = "0013_shared_state"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_conditions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("family", sa.String(length=32), nullable=False),
        sa.Column("subject_key", sa.Text(), nullable=False),
        sa.Column("active_key", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("notified_severity", sa.String(length=16), nullable=True),
        sa.Column("level", sa.String(length=16), nullable=True),
        sa.Column("certificate_id", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("store", sa.String(length=128), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acked_by", sa.String(length=255), nullable=True),
        sa.Column("ack_note", sa.Text(), nullable=True),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cleared_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificates.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("active_key"),
    )
    op.create_index("ix_alert_conditions_certificate_id", "alert_conditions", ["certificate_id"])
    op.create_index("ix_alert_conditions_state", "alert_conditions", ["state"])
    op.add_column("alerts", sa.Column("condition_id", sa.Integer(), nullable=True))
    op.create_index("ix_alerts_condition_id", "alerts", ["condition_id"])


def downgrade() -> None:
    op.drop_index("ix_alerts_condition_id", table_name="alerts")
    op.drop_column("alerts", "condition_id")
    op.drop_index("ix_alert_conditions_state", table_name="alert_conditions")
    op.drop_index("ix_alert_conditions_certificate_id", table_name="alert_conditions")
    op.drop_table("alert_conditions")
