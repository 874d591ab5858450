"""certificates.weak_signature: the certificate is signed with SHA-1 or MD5 (issue 10)

Revision ID: 0004_weak_signature
Revises: 0003_cluster
Create Date: 2026-12-03 12:40:00

Existing rows are flagged from the signature algorithm name already stored
(cryptography's names; an RSASSA-PSS signature over SHA-1 is not told apart
by its name and is flagged at its next import).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_weak_signature"
down_revision = "0003_cluster"
branch_labels = None
depends_on = None

_WEAK_NAMES = (
    "sha1WithRSAEncryption",
    "ecdsa-with-SHA1",
    "md5WithRSAEncryption",
    "dsa-with-sha1",
    "1.3.14.3.2.29",
)


def upgrade() -> None:
    op.add_column(
        "certificates",
        sa.Column("weak_signature", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    certificates = sa.table(
        "certificates",
        sa.column("signature_algorithm", sa.String()),
        sa.column("weak_signature", sa.Boolean()),
    )
    op.execute(
        certificates.update()
        .where(certificates.c.signature_algorithm.in_(_WEAK_NAMES))
        .values(weak_signature=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("certificates") as batch:
        batch.drop_column("weak_signature")
