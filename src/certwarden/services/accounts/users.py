"""Local users: add, list, change role, disable, remove, and their passwords.

Users have a role, ``admin`` (may change things) or ``viewer`` (read-only), and
an argon2 password hash; nothing else about the password is kept. The last
enabled admin can be neither demoted, disabled nor removed. Bad fields raise
:class:`InvalidFieldsError` naming each of them. This module does not throttle
logins, write the audit log or know about tokens beyond deleting a removed
user's: :class:`.service.UserService` ties those together. A new password, a
new role or a change of status ends the user's sessions (:mod:`.sessions`).

Argon2 checks are bounded: at most :data:`CHECKS_IN_FLIGHT` run at once (each
takes the hasher's memory cost, 64 MiB by default); one that waits longer
than :data:`CHECK_WAIT_SECONDS` for its turn is refused with
:class:`LoginBusyError` instead of piling up.
"""

from __future__ import annotations

import re
import secrets
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import ApiToken, User
from certwarden.clock import Clock
from certwarden.errors import ConflictError, InvalidFieldsError, LoginBusyError, NotFoundError
from certwarden.services.accounts.records import Role, UserInfo
from certwarden.services.accounts.sessions import end_user_sessions, new_stamp

__all__ = [
    "CHECKS_IN_FLIGHT",
    "CHECK_WAIT_SECONDS",
    "MAX_PASSWORD",
    "MIN_PASSWORD",
    "Users",
    "user_row",
]

CHECKS_IN_FLIGHT = 4
CHECK_WAIT_SECONDS = 5.0

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024


def user_row(s: Session, username: str) -> User:
    """The user named ``username``; :class:`NotFoundError` otherwise."""
    row = s.scalar(select(User).where(User.username == username))
    if row is None:
        raise NotFoundError(f"no user named {username!r}")
    return row


def check_username(username: str) -> None:
    if not _USERNAME.match(username):
        raise InvalidFieldsError(
            {
                "username": "use 1 to 64 letters, digits, '.', '_', '@' or '-', "
                "starting with a letter or digit"
            }
        )


def check_password(password: str, field_name: str = "password") -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidFieldsError({field_name: f"must be at least {MIN_PASSWORD} characters long"})
    if len(password) > MAX_PASSWORD:
        raise InvalidFieldsError({field_name: f"must be at most {MAX_PASSWORD} characters long"})


def check_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise InvalidFieldsError({"role": f"{role!r} is not a role; use admin or viewer"}) from None


class Users:
    """The users table and the password hashes in it."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        hasher: PasswordHasher,
        *,
        checks_in_flight: int = CHECKS_IN_FLIGHT,
        check_wait: float = CHECK_WAIT_SECONDS,
    ) -> None:
        self._db = db
        self._clock = clock
        self._hasher = hasher
        self._slots = threading.BoundedSemaphore(checks_in_flight)
        self._check_wait = check_wait
        # A hash to verify against when the user does not exist, so that a wrong
        # user name costs as much time as a wrong password.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    def _hash(self, password: str) -> str:
        if not self._slots.acquire(timeout=self._check_wait):
            raise LoginBusyError()
        try:
            return self._hasher.hash(password)
        finally:
            self._slots.release()

    def add(self, username: str, password: str, role: str = Role.VIEWER) -> UserInfo:
        """Create a user. Raises InvalidFieldsError for bad fields, ConflictError when taken."""
        errors: dict[str, str] = {}
        for check in (
            lambda: check_username(username),
            lambda: check_password(password),
            lambda: check_role(role),
        ):
            try:
                check()
            except InvalidFieldsError as exc:
                errors.update(exc.errors)
        if errors:
            raise InvalidFieldsError(errors)
        hashed = self._hash(password)
        with self._db.session() as s:
            if s.scalar(select(User.id).where(User.username == username)) is not None:
                raise ConflictError(f"user {username!r} already exists")
            row = User(
                username=username,
                password_hash=hashed,
                role=Role(role).value,
                created_at=self._clock.now(),
                disabled=False,
                session_stamp=new_stamp(),
            )
            s.add(row)
            s.flush()
            return UserInfo.from_row(row)

    def all(self) -> list[UserInfo]:
        with self._db.session() as s:
            return [UserInfo.from_row(r) for r in s.scalars(select(User).order_by(User.username))]

    def count(self) -> int:
        with self._db.session() as s:
            return s.scalar(select(func.count()).select_from(User)) or 0

    def get(self, username: str) -> UserInfo:
        with self._db.session() as s:
            return UserInfo.from_row(user_row(s, username))

    def get_by_id(self, user_id: int) -> UserInfo | None:
        with self._db.session() as s:
            row = s.get(User, user_id)
            return UserInfo.from_row(row) if row is not None else None

    def set_password(self, username: str, password: str) -> UserInfo:
        check_password(password)
        hashed = self._hash(password)
        with self._db.session() as s:
            row = user_row(s, username)
            row.password_hash = hashed
            end_user_sessions(s, row)
            s.flush()
            return UserInfo.from_row(row)

    def check_current_password(self, username: str, current: str) -> None:
        """For a user changing their own password: :class:`InvalidFieldsError` unless
        ``current`` is the password they have now."""
        with self._db.session() as s:
            stored = user_row(s, username).password_hash
        if not self._verify(stored, current):
            raise InvalidFieldsError({"current_password": "is not your current password"})

    def set_role(self, username: str, role: str) -> UserInfo:
        wanted = check_role(role)
        with self._db.session() as s:
            row = user_row(s, username)
            if row.role == Role.ADMIN and wanted != Role.ADMIN:
                _refuse_last_admin(s, row, f"change the role of {username!r}")
            if row.role != wanted.value:
                end_user_sessions(s, row)
            row.role = wanted.value
            s.flush()
            return UserInfo.from_row(row)

    def set_disabled(self, username: str, disabled: bool) -> UserInfo:
        with self._db.session() as s:
            row = user_row(s, username)
            if disabled and row.role == Role.ADMIN:
                _refuse_last_admin(s, row, f"disable {username!r}")
            if row.disabled != disabled:
                end_user_sessions(s, row)
            row.disabled = disabled
            s.flush()
            return UserInfo.from_row(row)

    def remove(self, username: str) -> UserInfo:
        """Remove a user and their API tokens."""
        with self._db.session() as s:
            row = user_row(s, username)
            if row.role == Role.ADMIN:
                _refuse_last_admin(s, row, f"remove {username!r}")
            info = UserInfo.from_row(row)
            s.execute(delete(ApiToken).where(ApiToken.user_id == row.id))
            end_user_sessions(s, row)
            s.delete(row)
            return info

    def login(self, username: str, password: str) -> UserInfo | None:
        """The user when the password is right and the user enabled, else None.

        An unknown user name costs one hash verification too. A hash made with
        older parameters is replaced on a successful login.
        """
        with self._db.session() as s:  # no connection held during the argon2 check
            row = s.scalar(select(User).where(User.username == username))
            stored = row.password_hash if row is not None else self._dummy_hash
            info = UserInfo.from_row(row) if row is not None else None
        ok = self._verify(stored, password) and info is not None and not info.disabled
        if ok and info is not None and self._hasher.check_needs_rehash(stored):
            rehashed = self._hash(password)
            with self._db.session() as s:
                fresh = s.get(User, info.id)
                if fresh is not None and fresh.password_hash == stored:
                    fresh.password_hash = rehashed
        return info if ok else None

    def _verify(self, stored: str, password: str) -> bool:
        """One argon2 check, when a slot frees up in time (else :class:`LoginBusyError`)."""
        if not self._slots.acquire(timeout=self._check_wait):
            raise LoginBusyError()
        try:
            return self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        finally:
            self._slots.release()


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
