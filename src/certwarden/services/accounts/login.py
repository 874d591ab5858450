"""Logging in: password checks behind a throttle, and the key that signs session cookies.

Login throttling lives in memory, per user name and per client address:
after repeated failures the next attempts are refused for a while without
even checking the password (:class:`LoginThrottledError` says how long). It
reads time only from the injected clock. A refused login never says which
part was wrong, and each failure is written to the audit log. This module
knows nothing about HTTP or cookies; the web layer and the CLI both call it.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from certwarden.adapters.db import Database
from certwarden.clock import Clock
from certwarden.errors import AuthenticationError, LoginThrottledError
from certwarden.services.accounts.audit import AuditLog
from certwarden.services.accounts.records import UserInfo
from certwarden.services.accounts.users import Users
from certwarden.services.shared.settings_store import load_section, save_section

__all__ = [
    "WEB_SECTION",
    "AuthenticationError",
    "Login",
    "LoginThrottledError",
    "Throttle",
    "load_session_key",
]

WEB_SECTION = "web"


@dataclass
class _Failures:
    count: int = 0
    last: datetime | None = None


class Throttle:
    """Counts recent failures per key; refuses a key for ``lockout`` after ``limit``."""

    def __init__(self, limit: int, lockout: timedelta, forget_after: timedelta) -> None:
        self.limit = limit
        self.lockout = lockout
        self.forget_after = forget_after
        self._lock = threading.Lock()
        self._failures: dict[str, _Failures] = {}

    def retry_after(self, key: str, now: datetime) -> float | None:
        with self._lock:
            entry = self._failures.get(key)
            if entry is None or entry.last is None or entry.count < self.limit:
                return None
            until = entry.last + self.lockout
            if now >= until:
                return None
            return (until - now).total_seconds()

    def fail(self, key: str, now: datetime) -> None:
        with self._lock:
            entry = self._failures.setdefault(key, _Failures())
            if entry.last is not None and now - entry.last > self.forget_after:
                entry.count = 0
            entry.count += 1
            entry.last = now
            if len(self._failures) > 10_000:  # bounded memory under a spray of names
                oldest = sorted(self._failures.items(), key=lambda kv: kv[1].last or now)
                for name, _ in oldest[:5_000]:
                    del self._failures[name]

    def clear(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


class Login:
    """Password logins, throttled per user name and per client address."""

    def __init__(
        self,
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
        self._by_user = Throttle(user_limit, lockout, forget_after)
        self._by_client = Throttle(client_limit, lockout, forget_after)

    def authenticate(self, username: str, password: str, *, client: str = "") -> UserInfo:
        """The user when the password is right.

        Raises:
            LoginThrottledError: this user name or client failed too often lately.
            AuthenticationError: wrong user name or password, or a disabled user.
        """
        now = self._clock.now()
        user_key, client_key = username.lower(), client
        for throttle, key in ((self._by_user, user_key), (self._by_client, client_key)):
            wait = throttle.retry_after(key, now) if key else None
            if wait is not None:
                raise LoginThrottledError(wait)
        info = self._users.login(username, password)
        if info is None:
            self._by_user.fail(user_key, now)
            if client_key:
                self._by_client.fail(client_key, now)
            self._audit.record(
                "anonymous", "login.failed", username[:64], {"client": client} if client else {}
            )
            raise AuthenticationError("wrong user name or password")
        self._by_user.clear(user_key)
        return info

    def forget_failures(self, username: str) -> None:
        """Forget a user name's failed logins (its password was just set)."""
        self._by_user.clear(username.lower())


def load_session_key(db: Database, clock: Clock) -> bytes:
    """The secret that signs session cookies (made on first use, kept in the database)."""
    with db.session() as s:
        section = load_section(s, WEB_SECTION) or {}
        key = section.get("session_key")
        if not isinstance(key, str) or len(key) < 64:
            key = secrets.token_hex(32)
            save_section(s, WEB_SECTION, {**section, "session_key": key}, clock.now())
    return bytes.fromhex(key)
