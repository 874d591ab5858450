"""CRLs: blobs by SHA-256, one row per distribution point URL, checks' source

Revision ID: 0005_crl_sources
Revises: 0004_weak_signature
Create Date: 2026-12-03 12:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_crl_sources"
down_revision = "0004_weak_signature"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crl_blobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sha256"),
    )
    op.create_table(
        "crl_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("issuer", sa.Text(), nullable=True),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("this_update", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_update", sa.DateTime(timezone=True), nullable=True),
        sa.Column("crl_number", sa.Text(), nullable=True),
        sa.Column("entries", sa.Integer(), nullable=True),
        sa.Column("blob_sha256", sa.String(length=64), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_reason", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("url"),
    )
    with op.batch_alter_table("ocsp_checks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("crl_number", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("crl_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("delta_crl_number", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("delta_crl_sha256", sa.String(length=64), nullable=True))
    # Every check recorded before CRLs existed was answered by OCSP, if by anyone.
    op.execute(
        "UPDATE ocsp_checks SET source = 'ocsp' "
        "WHERE trust_model IS NOT NULL OR responder_url IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("ocsp_checks", schema=None) as batch_op:
        batch_op.drop_column("delta_crl_sha256")
        batch_op.drop_column("delta_crl_number")
        batch_op.drop_column("crl_sha256")
        batch_op.drop_column("crl_number")
        batch_op.drop_column("source")
    op.drop_table("crl_sources")
    op.drop_table("crl_blobs")
