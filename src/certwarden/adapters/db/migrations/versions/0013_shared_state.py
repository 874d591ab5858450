"""state several instances share: invalidation counters, the OCSP answers, refused TLS peers

Revision ID: 0013_shared_state
Revises: 0012_check_chunks
Create Date: 2026-12-03 16:00:00

``shared_generations``: counters (``tokens``, ``ocsp``, ``ocsp_clear``,
``tls_refused``) that grow when state the instances cache in memory has
changed; each instance reads them at most once a second. ``shared_ocsp_answers``
(and the responses' DER in ``shared_ocsp_blobs``): the latest validated OCSP
answer per CertID, so an answer one instance validated is reused, and never
contradicted, by the others. ``tls_refused_peers``: the TLS peers refused until
their status allows them again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_shared_state"
down_revision = "0012_check_chunks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shared_generations",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "shared_ocsp_answers",
        sa.Column("cert_key", sa.String(length=255), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("this_update", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("response_sha256", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("cert_key"),
    )
    op.create_index("ix_shared_ocsp_answers_generation", "shared_ocsp_answers", ["generation"])
    op.create_index("ix_shared_ocsp_answers_until", "shared_ocsp_answers", ["until"])
    op.create_table(
        "shared_ocsp_blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_table(
        "tls_refused_peers",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("refused_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_index("ix_tls_refused_peers_refused_at", "tls_refused_peers", ["refused_at"])


def downgrade() -> None:
    op.drop_index("ix_tls_refused_peers_refused_at", table_name="tls_refused_peers")
    op.drop_table("tls_refused_peers")
    op.drop_table("shared_ocsp_blobs")
    op.drop_index("ix_shared_ocsp_answers_until", table_name="shared_ocsp_answers")
    op.drop_index("ix_shared_ocsp_answers_generation", table_name="shared_ocsp_answers")
    op.drop_table("shared_ocsp_answers")
    op.drop_table("shared_generations")
