"""accounts security: session stamps, server-side sessions, a shared login
throttle, token expiry and scope; the database-only session key is dropped

Revision ID: 0006_accounts_security
Revises: 0005_crl_sources
Create Date: 2026-12-03 12:30:00

Each user gets a random session stamp (sessions were stamped with a digest of
the password hash, which a database reader could compute). The session key
kept in settings section ``web`` is replaced by a random salt: cookies are
now signed with a key derived from the secret file and that salt, so every
session opened before this migration ends (users sign in again). SMTP
passwords still in clear text are sealed at the next start (that needs the
secret file, which a migration does not read).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0006_accounts_security"
down_revision = "0005_crl_sources"
branch_labels = None
depends_on = None

_settings = sa.table(
    "settings",
    sa.column("section", sa.String),
    sa.column("value", sa.JSON),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
_users = sa.table("users", sa.column("id", sa.Integer), sa.column("session_stamp", sa.String))


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("session_stamp", sa.String(length=32), server_default="", nullable=False),
    )
    op.add_column("api_tokens", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "api_tokens",
        sa.Column("scope", sa.String(length=16), server_default="full", nullable=False),
    )
    op.create_table(
        "web_sessions",
        sa.Column("nonce_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("stamp", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("nonce_hash"),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_index("ix_web_sessions_expires_at", "web_sessions", ["expires_at"])
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_login_throttle_last_at", "login_throttle", ["last_at"])
    bind = op.get_bind()
    for (user_id,) in bind.execute(sa.select(_users.c.id)).all():
        bind.execute(
            _users.update()
            .where(_users.c.id == user_id)
            .values(session_stamp=secrets.token_hex(16))
        )
    row = bind.execute(sa.select(_settings.c.value).where(_settings.c.section == "web")).first()
    now = datetime.now(UTC)  # clock: when the migration ran (bookkeeping only)
    if row is None:
        bind.execute(
            _settings.insert().values(
                section="web", value={"session_salt": secrets.token_hex(16)}, updated_at=now
            )
        )
    else:
        value = {k: v for k, v in dict(row[0] or {}).items() if k != "session_key"}
        value["session_salt"] = secrets.token_hex(16)
        bind.execute(
            _settings.update()
            .where(_settings.c.section == "web")
            .values(value=value, updated_at=now)
        )


def downgrade() -> None:
    op.drop_index("ix_login_throttle_last_at", table_name="login_throttle")
    op.drop_table("login_throttle")
    op.drop_index("ix_web_sessions_expires_at", table_name="web_sessions")
    op.drop_index("ix_web_sessions_user_id", table_name="web_sessions")
    op.drop_table("web_sessions")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("scope")
        batch.drop_column("expires_at")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_stamp")
