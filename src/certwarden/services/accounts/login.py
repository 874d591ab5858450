"""Logging in: password checks behind a throttle kept in the database.

Every password attempt first claims a slot, per user name and per client
address, in table ``login_throttle`` with one atomic statement (an upsert
with ``RETURNING`` on SQLite and PostgreSQL, a row lock elsewhere), so the
count holds under parallel requests, across processes and instances, and
over restarts. Only a claim within the limit gets its password checked: of
50 parallel wrong passwords for one name, at most :attr:`Throttle.limit` are
checked. The limit reached, the key is refused for ``lockout`` after its
last heard attempt, without a check (:class:`LoginThrottledError` says how
long); attempts are forgotten ``forget_after`` a key's last one. A right
password clears its user name's count and gives the client back its slot.
``certwarden users unlock NAME`` clears a name (:meth:`Login.unlock`).

A refused login never says which part was wrong, and each checked failure
is written to the audit log. Time comes from the injected clock. This module
knows nothing about HTTP or cookies; the web layer and the CLI both call it.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, select, update
from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import LoginThrottle
from certwarden.clock import Clock, ensure_utc
from certwarden.errors import AuthenticationError, LoginBusyError, LoginThrottledError
from certwarden.services.accounts.audit import AuditLog
from certwarden.services.accounts.records import UserInfo
from certwarden.services.accounts.users import Users

__all__ = [
    "AuthenticationError",
    "Login",
    "LoginBusyError",
    "LoginThrottledError",
    "Throttle",
    "client_key",
    "user_key",
]


def user_key(username: str) -> str:
    return "user:" + username.lower()[:128]


def client_key(client: str) -> str:
    return "client:" + client[:128]


class Throttle:
    """Attempts per key in ``login_throttle``; at most ``limit`` per window are heard."""

    PURGE_EVERY = 200  # claims between two sweeps of forgotten rows

    def __init__(
        self, db: Database, *, limit: int, lockout: timedelta, forget_after: timedelta
    ) -> None:
        self._db = db
        self.limit = limit
        self.lockout = lockout
        self.forget_after = forget_after
        self._claims = 0
        self._lock = threading.Lock()

    def claim(self, key: str, now: datetime, limit: int | None = None) -> float | None:
        """Take one attempt for ``key``: None when it may be checked, else seconds to wait."""
        limit = self.limit if limit is None else limit
        with self._db.session() as s:
            attempts, last_at = self._claim_in(s, key, now, limit)
        with self._lock:
            self._claims += 1
            sweep = self._claims % self.PURGE_EVERY == 0
        if sweep:
            self.purge(now)
        if attempts <= limit:
            return None
        return max(1.0, (ensure_utc(last_at) + self.lockout - now).total_seconds())

    def _claim_in(self, s: Session, key: str, now: datetime, limit: int) -> tuple[int, datetime]:
        c = LoginThrottle
        # A window is over when its last heard attempt is old, or its lockout has passed.
        stale = (c.last_at < now - self.forget_after) | (
            (c.attempts >= limit) & (c.last_at <= now - self.lockout)
        )
        new_attempts = case((stale, 1), else_=c.attempts + 1)
        # Refused attempts do not move last_at: a locked key unlocks on time.
        new_last = case((stale | (c.attempts < limit), now), else_=c.last_at)
        dialect = self._db.dialect
        if dialect in {"sqlite", "postgresql"}:
            insert: Any
            if dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert
            else:
                from sqlalchemy.dialects.postgresql import insert
            statement = (
                insert(LoginThrottle)
                .values(key=key, attempts=1, last_at=now)
                .on_conflict_do_update(
                    index_elements=[c.key],
                    set_={"attempts": new_attempts, "last_at": new_last},
                )
                .returning(c.attempts, c.last_at)
            )
            attempts, last_at = s.execute(statement).one()
            return int(attempts), last_at
        # Any other database: a row lock, then the same rule.
        row = s.scalar(select(LoginThrottle).where(LoginThrottle.key == key).with_for_update())
        if row is None:
            s.add(LoginThrottle(key=key, attempts=1, last_at=now))
            s.flush()
            return 1, now
        s.execute(
            update(LoginThrottle)
            .where(c.key == key)
            .values(attempts=new_attempts, last_at=new_last)
        )
        s.refresh(row)
        return row.attempts, row.last_at

    def release(self, key: str) -> None:
        """Give back one claimed attempt (it turned out to be a right password)."""
        c = LoginThrottle
        with self._db.session() as s:
            s.execute(
                update(LoginThrottle)
                .where(c.key == key, c.attempts > 0)
                .values(attempts=c.attempts - 1)
            )

    def clear(self, key: str) -> bool:
        """Forget ``key``'s attempts; True when it had any."""
        with self._db.session() as s:
            result = s.execute(delete(LoginThrottle).where(LoginThrottle.key == key))
            return bool(getattr(result, "rowcount", 0))

    def attempts(self, key: str) -> int:
        with self._db.session() as s:
            return s.scalar(select(LoginThrottle.attempts).where(LoginThrottle.key == key)) or 0

    def purge(self, now: datetime) -> None:
        """Drop rows whose attempts are forgotten anyway (a spray of names stays bounded)."""
        cutoff = now - max(self.forget_after, self.lockout)
        with self._db.session() as s:
            s.execute(delete(LoginThrottle).where(LoginThrottle.last_at < cutoff))


class Login:
    """Password logins, throttled per user name and per client address."""

    def __init__(
        self,
        db: Database,
        users: Users,
        audit: AuditLog,
        clock: Clock,
        *,
        user_limit: int,
        client_limit: int,
        lockout: timedelta,
        forget_after: timedelta,
    ) -> None:
        self._users = users
        self._audit = audit
        self._clock = clock
        self._user_limit = user_limit
        self._client_limit = client_limit
        self._throttle = Throttle(db, limit=user_limit, lockout=lockout, forget_after=forget_after)

    def authenticate(self, username: str, password: str, *, client: str = "") -> UserInfo:
        """The user when the password is right.

        Raises:
            LoginThrottledError: this user name or client failed too often lately.
            LoginBusyError: too many password checks are running; try again soon.
            AuthenticationError: wrong user name or password, or a disabled user.
        """
        now = self._clock.now()
        ukey = user_key(username)
        ckey = client_key(client) if client else ""
        if ckey:
            wait = self._throttle.claim(ckey, now, self._client_limit)
            if wait is not None:
                raise LoginThrottledError(wait)
        wait = self._throttle.claim(ukey, now, self._user_limit)
        if wait is not None:
            if ckey:
                self._throttle.release(ckey)  # not checked: no attempt from this client
            raise LoginThrottledError(wait)
        try:
            info = self._users.login(username, password)
        except LoginBusyError:
            for key in (ukey, ckey):
                if key:
                    self._throttle.release(key)
            raise
        if info is None:
            self._audit.record(
                "anonymous", "login.failed", username[:64], {"client": client} if client else {}
            )
            raise AuthenticationError("wrong user name or password")
        self._throttle.clear(ukey)
        if ckey:
            self._throttle.release(ckey)
        return info

    def forget_failures(self, username: str) -> bool:
        """Forget a user name's failed logins (its password was just set, or an
        admin unlocked it); True when there were any."""
        return self._throttle.clear(user_key(username))

    def attempts(self, username: str) -> int:
        return self._throttle.attempts(user_key(username))
