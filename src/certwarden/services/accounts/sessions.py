"""Server-side web sessions: opened at sign-in, ended at sign-out, and ended
all together when a user's password, role or status changes.

A session is a random nonce (in the signed cookie) whose SHA-256 is a row
of ``web_sessions``, with the user's session stamp at the time. A session is
good while its row exists, has not expired, and carries the user's current
stamp, and the user is enabled: signing out deletes the row; a change to the
user renews the stamp and deletes their rows (:func:`end_user_sessions`).
A copy of the database shows only digests: no cookie can be rebuilt from it.
This module knows nothing about cookies or HTTP.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import User, WebSession
from certwarden.clock import Clock, ensure_utc
from certwarden.services.accounts.records import UserInfo

__all__ = ["Sessions", "end_user_sessions", "new_stamp"]


def new_stamp() -> str:
    return secrets.token_hex(16)


def _digest(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def end_user_sessions(s: Session, row: User) -> None:
    """In the caller's transaction: every session of ``row`` ends."""
    row.session_stamp = new_stamp()
    s.execute(delete(WebSession).where(WebSession.user_id == row.id))


class Sessions:
    """The ``web_sessions`` table."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def open(self, user: UserInfo, lifetime: timedelta) -> str:
        """A new session for ``user``; returns its nonce (for the cookie)."""
        nonce = secrets.token_urlsafe(24)
        now = self._clock.now()
        with self._db.session() as s:
            row = s.get(User, user.id)
            if row is None or row.disabled:
                raise LookupError(f"user #{user.id} cannot open a session")
            if not row.session_stamp:  # a user from before stamps: give them one
                row.session_stamp = new_stamp()
            # Expired rows go on every sign-in: the table stays as small as the live sessions.
            s.execute(delete(WebSession).where(WebSession.expires_at < now))
            s.add(
                WebSession(
                    nonce_hash=_digest(nonce),
                    user_id=row.id,
                    stamp=row.session_stamp,
                    created_at=now,
                    expires_at=now + lifetime,
                )
            )
        return nonce

    def find(self, user_id: int, nonce: str) -> UserInfo | None:
        """The user of a live session, or None (ended, expired, stale stamp, disabled)."""
        now = self._clock.now()
        with self._db.session() as s:
            found = s.execute(
                select(WebSession, User)
                .join(User, User.id == WebSession.user_id)
                .where(WebSession.nonce_hash == _digest(nonce))
            ).first()
            if found is None:
                return None
            session, user = found
            if (
                session.user_id != user_id
                or user.disabled
                or not user.session_stamp
                or not hmac.compare_digest(session.stamp, user.session_stamp)
                or ensure_utc(session.expires_at) <= now
            ):
                return None
            return UserInfo.from_row(user)

    def end(self, nonce: str) -> bool:
        """Sign-out: the session ends (True when it was live)."""
        with self._db.session() as s:
            result = s.execute(delete(WebSession).where(WebSession.nonce_hash == _digest(nonce)))
            return bool(getattr(result, "rowcount", 0))
