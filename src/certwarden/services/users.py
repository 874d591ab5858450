"""Local users, API tokens and the audit log.

Users have a role, ``admin`` (may change things) or ``viewer`` (read-only), and
an argon2 password hash; nothing else about the password is kept. API tokens
are random secrets shown once at creation; only their SHA-256 is stored (a
256-bit random secret needs no slow hash), with a short prefix to recognise
them by. The audit log records who changed what, and when.

Login throttling lives here too, in memory, per user name and per client
address: after repeated failures the next attempts are refused for a while
without even checking the password. It reads time only from the injected
clock.

This module knows nothing about HTTP or cookies; the web layer and the CLI
both call it.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import ApiToken, AuditEntry, User
from certwarden.clock import Clock, ensure_utc
from certwarden.errors import CertwardenError, ConflictError, NotFoundError, SettingsError
from certwarden.services.settings_store import load_section, save_section

__all__ = [
    "AuditRecord",
    "AuthenticationError",
    "LoginThrottledError",
    "Role",
    "TokenInfo",
    "UserInfo",
    "UserService",
]

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
TOKEN_PREFIX = "cwt_"  # noqa: S105 - a marker, not a secret
WEB_SECTION = "web"


def _iso(when: datetime | None) -> str | None:
    return ensure_utc(when).strftime("%Y-%m-%dT%H:%M:%SZ") if when is not None else None


@enum.unique
class Role(enum.StrEnum):
    ADMIN = "admin"
    VIEWER = "viewer"


class AuthenticationError(CertwardenError):
    """A login or token was refused (the message never says which part was wrong)."""


class LoginThrottledError(AuthenticationError):
    """Too many failed logins; ``retry_after`` seconds until the next attempt is heard."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1.0, retry_after)
        minutes = max(1, round(self.retry_after / 60))
        super().__init__(f"too many failed logins; try again in about {minutes} minute(s)")


@dataclass(frozen=True)
class UserInfo:
    id: int
    username: str
    role: str
    created_at: datetime
    disabled: bool
    # Changes whenever the password does: sessions carry it, so a password
    # change ends every session opened with the old one.
    stamp: str = field(repr=False, default="")

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "role": self.role,
            "created_at": _iso(self.created_at),
            "disabled": self.disabled,
        }

    @classmethod
    def from_row(cls, row: User) -> UserInfo:
        return cls(
            row.id,
            row.username,
            row.role,
            ensure_utc(row.created_at),
            row.disabled,
            hashlib.sha256(row.password_hash.encode()).hexdigest()[:16],
        )


@dataclass(frozen=True)
class TokenInfo:
    id: int
    user_id: int
    username: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "name": self.name,
            "prefix": self.prefix,
            "created_at": _iso(self.created_at),
            "last_used_at": _iso(self.last_used_at),
            "revoked_at": _iso(self.revoked_at),
            "active": self.active,
        }


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": _iso(self.at),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "details": self.details,
        }


@dataclass
class _Failures:
    count: int = 0
    last: datetime | None = None


class _Throttle:
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


F = TypeVar("F", bound=Callable[..., Any])


def _invalidates(method: F) -> F:
    """After ``method`` (committed or not), forget cached token verifications."""

    @functools.wraps(method)
    def wrapper(self: UserService, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        finally:
            self._changed()

    return cast(F, wrapper)


class UserService:
    """Users, tokens, login checks and the audit log."""

    # Five wrong passwords for one user name (or twenty from one address)
    # within a quarter of an hour lock that name (or address) for 5 minutes.
    USER_LIMIT = 5
    CLIENT_LIMIT = 20
    LOCKOUT = timedelta(minutes=5)
    FORGET_AFTER = timedelta(minutes=15)
    # Writing last_used_at on every API call would turn every read into a write.
    TOKEN_TOUCH_EVERY = timedelta(minutes=1)
    # A verified token is trusted this long without asking the database again. Any
    # change to users or tokens made through this service forgets them at once; a
    # token revoked by another process (the CLI) stops working within this time.
    TOKEN_CACHE_SECONDS = 5.0

    def __init__(self, db: Database, clock: Clock, hasher: PasswordHasher | None = None) -> None:
        self._db = db
        self._clock = clock
        self._hasher = hasher or PasswordHasher()
        self._by_user = _Throttle(self.USER_LIMIT, self.LOCKOUT, self.FORGET_AFTER)
        self._by_client = _Throttle(self.CLIENT_LIMIT, self.LOCKOUT, self.FORGET_AFTER)
        # A hash to verify against when the user does not exist, so that a wrong
        # user name costs as much time as a wrong password.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        self._session_key: bytes | None = None
        self._generation = 0
        self._token_cache: dict[str, tuple[UserInfo, TokenInfo, int, float]] = {}

    # ------------------------------------------------------------- validation

    @staticmethod
    def _check_username(username: str) -> None:
        if not _USERNAME.match(username):
            raise SettingsError(
                {
                    "username": "use 1 to 64 letters, digits, '.', '_', '@' or '-', "
                    "starting with a letter or digit"
                }
            )

    @staticmethod
    def _check_password(password: str, field_name: str = "password") -> None:
        if len(password) < MIN_PASSWORD:
            raise SettingsError({field_name: f"must be at least {MIN_PASSWORD} characters long"})
        if len(password) > MAX_PASSWORD:
            raise SettingsError({field_name: f"must be at most {MAX_PASSWORD} characters long"})

    @staticmethod
    def _check_role(role: str) -> Role:
        try:
            return Role(role)
        except ValueError:
            raise SettingsError({"role": f"{role!r} is not a role; use admin or viewer"}) from None

    # ------------------------------------------------------------------ users

    def add_user(self, username: str, password: str, role: str = Role.VIEWER) -> UserInfo:
        """Create a user. Raises SettingsError for bad fields, ConflictError when taken."""
        errors: dict[str, str] = {}
        for check in (
            lambda: self._check_username(username),
            lambda: self._check_password(password),
            lambda: self._check_role(role),
        ):
            try:
                check()
            except SettingsError as exc:
                errors.update(exc.errors)
        if errors:
            raise SettingsError(errors)
        hashed = self._hasher.hash(password)
        with self._db.session() as s:
            if s.scalar(select(User.id).where(User.username == username)) is not None:
                raise ConflictError(f"user {username!r} already exists")
            row = User(
                username=username,
                password_hash=hashed,
                role=Role(role).value,
                created_at=self._clock.now(),
                disabled=False,
            )
            s.add(row)
            s.flush()
            return UserInfo.from_row(row)

    def list_users(self) -> list[UserInfo]:
        with self._db.session() as s:
            return [UserInfo.from_row(r) for r in s.scalars(select(User).order_by(User.username))]

    def count_users(self) -> int:
        with self._db.session() as s:
            return s.scalar(select(func.count()).select_from(User)) or 0

    def get(self, username: str) -> UserInfo:
        with self._db.session() as s:
            return UserInfo.from_row(self._user(s, username))

    def get_by_id(self, user_id: int) -> UserInfo | None:
        with self._db.session() as s:
            row = s.get(User, user_id)
            return UserInfo.from_row(row) if row is not None else None

    @staticmethod
    def _user(s: Session, username: str) -> User:
        row = s.scalar(select(User).where(User.username == username))
        if row is None:
            raise NotFoundError(f"no user named {username!r}")
        return row

    @_invalidates
    def set_password(self, username: str, password: str) -> UserInfo:
        self._check_password(password)
        hashed = self._hasher.hash(password)
        with self._db.session() as s:
            row = self._user(s, username)
            row.password_hash = hashed
            s.flush()
            info = UserInfo.from_row(row)
        self._by_user.clear(username.lower())
        return info

    def change_own_password(self, username: str, current: str, new: str) -> UserInfo:
        """A user changing their own password must give the current one."""
        with self._db.session() as s:
            stored = self._user(s, username).password_hash
        if not self._verify(stored, current):
            raise SettingsError({"current_password": "is not your current password"})
        self._check_password(new, "new_password")
        return self.set_password(username, new)

    @_invalidates
    def set_role(self, username: str, role: str) -> UserInfo:
        wanted = self._check_role(role)
        with self._db.session() as s:
            row = self._user(s, username)
            if row.role == Role.ADMIN and wanted != Role.ADMIN:
                self._refuse_last_admin(s, row, f"change the role of {username!r}")
            row.role = wanted.value
            s.flush()
            return UserInfo.from_row(row)

    @_invalidates
    def set_disabled(self, username: str, disabled: bool) -> UserInfo:
        with self._db.session() as s:
            row = self._user(s, username)
            if disabled and row.role == Role.ADMIN:
                self._refuse_last_admin(s, row, f"disable {username!r}")
            row.disabled = disabled
            s.flush()
            return UserInfo.from_row(row)

    @_invalidates
    def remove_user(self, username: str) -> UserInfo:
        with self._db.session() as s:
            row = self._user(s, username)
            if row.role == Role.ADMIN:
                self._refuse_last_admin(s, row, f"remove {username!r}")
            info = UserInfo.from_row(row)
            s.execute(delete(ApiToken).where(ApiToken.user_id == row.id))
            s.delete(row)
            return info

    @staticmethod
    def _refuse_last_admin(s: Session, row: User, what: str) -> None:
        others = s.scalar(
            select(func.count())
            .select_from(User)
            .where(User.role == Role.ADMIN.value, User.disabled.is_(False), User.id != row.id)
        )
        if not others:
            raise ConflictError(
                f"cannot {what}: it is the last enabled admin; create another admin first"
            )

    def ensure_initial_admin(self, password: str | None = None) -> str | None:
        """On a database without users, create ``admin``.

        Returns the password when one was generated (to be shown once), else None;
        returns None too when users exist already.
        """
        if self.count_users():
            return None
        generated = password is None
        secret = password if password is not None else secrets.token_urlsafe(15)
        self.add_user("admin", secret, Role.ADMIN)
        self.audit("system", "user.create", "admin", {"role": "admin", "initial": True})
        return secret if generated else None

    # ------------------------------------------------------------------ login

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

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
        with self._db.session() as s:
            row = s.scalar(select(User).where(User.username == username))
            stored = row.password_hash if row is not None else self._dummy_hash
            ok = self._verify(stored, password) and row is not None and not row.disabled
            info = UserInfo.from_row(row) if row is not None else None
            if ok and row is not None and self._hasher.check_needs_rehash(stored):
                row.password_hash = self._hasher.hash(password)
                s.flush()
                info = UserInfo.from_row(row)
        if not ok or info is None:
            self._by_user.fail(user_key, now)
            if client_key:
                self._by_client.fail(client_key, now)
            self.audit(
                "anonymous", "login.failed", username[:64], {"client": client} if client else {}
            )
            raise AuthenticationError("wrong user name or password")
        self._by_user.clear(user_key)
        return info

    # ----------------------------------------------------------------- tokens

    def create_token(self, username: str, name: str) -> tuple[TokenInfo, str]:
        """A new API token for ``username``; returns its record and the secret (shown once)."""
        name = name.strip()
        if not name or len(name) > 128:
            raise SettingsError({"name": "give the token a name of 1 to 128 characters"})
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._clock.now()
        with self._db.session() as s:
            user = self._user(s, username)
            row = ApiToken(
                user_id=user.id,
                name=name,
                token_hash=hashlib.sha256(secret.encode()).hexdigest(),
                prefix=secret[: len(TOKEN_PREFIX) + 8],
                created_at=now,
                last_used_at=None,
                revoked_at=None,
            )
            s.add(row)
            s.flush()
            return self._token_info(row, user.username), secret

    @staticmethod
    def _token_info(row: ApiToken, username: str) -> TokenInfo:
        return TokenInfo(
            row.id,
            row.user_id,
            username,
            row.name,
            row.prefix,
            ensure_utc(row.created_at),
            ensure_utc(row.last_used_at) if row.last_used_at else None,
            ensure_utc(row.revoked_at) if row.revoked_at else None,
        )

    def list_tokens(self, username: str | None = None) -> list[TokenInfo]:
        query = (
            select(ApiToken, User.username)
            .join(User, User.id == ApiToken.user_id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
        if username is not None:
            query = query.where(User.username == username)
        with self._db.session() as s:
            if username is not None:
                self._user(s, username)
            return [self._token_info(row, uname) for row, uname in s.execute(query)]

    def get_token(self, token_id: int) -> TokenInfo:
        with self._db.session() as s:
            row = s.get(ApiToken, token_id)
            if row is None:
                raise NotFoundError(f"no API token with ID {token_id}")
            return self._token_info(row, s.get_one(User, row.user_id).username)

    @_invalidates
    def revoke_token(self, token_id: int) -> TokenInfo:
        with self._db.session() as s:
            row = s.get(ApiToken, token_id)
            if row is None:
                raise NotFoundError(f"no API token with ID {token_id}")
            if row.revoked_at is None:
                row.revoked_at = self._clock.now()
            return self._token_info(row, s.get_one(User, row.user_id).username)

    def cached_token(self, secret: str) -> tuple[UserInfo, TokenInfo] | None:
        """A token verified within the last :attr:`TOKEN_CACHE_SECONDS`, with nothing about
        users or tokens changed in this process since; None when not cached (then call
        :meth:`verify_token`). Cheap: no database, for the request path."""
        digest = hashlib.sha256(secret.encode()).hexdigest()
        entry = self._token_cache.get(digest)
        if entry is None:
            return None
        user, token, generation, expires = entry
        if generation != self._generation or time.monotonic() > expires:
            self._token_cache.pop(digest, None)
            return None
        return user, token

    def _changed(self) -> None:
        """Users or tokens changed: forget every cached token verification."""
        self._generation += 1
        self._token_cache.clear()

    def verify_token(self, secret: str) -> tuple[UserInfo, TokenInfo] | None:
        """The user and token for a presented secret, or None (unknown, revoked, disabled)."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            return None
        digest = hashlib.sha256(secret.encode()).hexdigest()
        generation = self._generation
        found = self._verify_digest(digest)
        if found is not None:
            if len(self._token_cache) > 10_000:
                self._token_cache.clear()
            expires = time.monotonic() + self.TOKEN_CACHE_SECONDS
            self._token_cache[digest] = (found[0], found[1], generation, expires)
        return found

    def _verify_digest(self, digest: str) -> tuple[UserInfo, TokenInfo] | None:
        now = self._clock.now()
        with self._db.session() as s:
            found = s.execute(
                select(ApiToken, User)
                .join(User, User.id == ApiToken.user_id)
                .where(ApiToken.token_hash == digest)
            ).first()
            if found is None:
                return None
            token, user = found
            if token.revoked_at is not None or user.disabled:
                return None
            last = ensure_utc(token.last_used_at) if token.last_used_at else None
            if last is None or now - last >= self.TOKEN_TOUCH_EVERY:
                token.last_used_at = now
            return UserInfo.from_row(user), self._token_info(token, user.username)

    # ------------------------------------------------------------------ audit

    def audit(
        self, actor: str, action: str, target: str = "", details: dict[str, Any] | None = None
    ) -> None:
        """Record that ``actor`` did ``action`` to ``target`` (its own transaction)."""
        with self._db.session() as s:
            self.audit_in(s, actor, action, target, details)

    def audit_in(
        self,
        s: Session,
        actor: str,
        action: str,
        target: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        s.add(
            AuditEntry(
                at=self._clock.now(),
                actor=actor[:64],
                action=action[:64],
                target=target,
                details=details or {},
            )
        )

    def list_audit(
        self, *, limit: int = 100, offset: int = 0, actor: str | None = None
    ) -> tuple[list[AuditRecord], int]:
        """Newest first, with the total count."""
        query = select(AuditEntry)
        counted = select(func.count()).select_from(AuditEntry)
        if actor:
            query = query.where(AuditEntry.actor == actor)
            counted = counted.where(AuditEntry.actor == actor)
        query = query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        with self._db.session() as s:
            total = s.scalar(counted) or 0
            rows = s.scalars(query.offset(offset).limit(limit))
            return [
                AuditRecord(r.id, ensure_utc(r.at), r.actor, r.action, r.target, dict(r.details))
                for r in rows
            ], total

    # ------------------------------------------------------------ session key

    def session_key(self) -> bytes:
        """The secret that signs session cookies (made on first use, kept in the database)."""
        if self._session_key is None:
            with self._db.session() as s:
                section = load_section(s, WEB_SECTION) or {}
                key = section.get("session_key")
                if not isinstance(key, str) or len(key) < 64:
                    key = secrets.token_hex(32)
                    save_section(s, WEB_SECTION, {**section, "session_key": key}, self._clock.now())
            self._session_key = bytes.fromhex(key)
        return self._session_key
