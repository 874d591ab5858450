"""Local users: add, list, change role, disable, remove, and their passwords.

Users have a role, ``admin`` (may change things) or ``viewer`` (read-only), and
an argon2 password hash; nothing else about the password is kept. The last
enabled admin can be neither demoted, disabled nor removed. Bad fields raise
:class:`InvalidFieldsError` naming each of them. This module does not throttle
logins, write the audit log or know about tokens beyond deleting a removed
user's: :class:`.service.UserService` ties those together.
"""

from __future__ import annotations

import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import ApiToken, User
from certwarden.clock import Clock
from certwarden.errors import ConflictError, InvalidFieldsError, NotFoundError
from certwarden.services.accounts.records import Role, UserInfo

__all__ = ["MAX_PASSWORD", "MIN_PASSWORD", "Users", "user_row"]

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

    def __init__(self, db: Database, clock: Clock, hasher: PasswordHasher) -> None:
        self._db = db
        self._clock = clock
        self._hasher = hasher
        # A hash to verify against when the user does not exist, so that a wrong
        # user name costs as much time as a wrong password.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

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
        hashed = self._hasher.hash(password)
        with self._db.session() as s:
            row = user_row(s, username)
            row.password_hash = hashed
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
            row.role = wanted.value
            s.flush()
            return UserInfo.from_row(row)

    def set_disabled(self, username: str, disabled: bool) -> UserInfo:
        with self._db.session() as s:
            row = user_row(s, username)
            if disabled and row.role == Role.ADMIN:
                _refuse_last_admin(s, row, f"disable {username!r}")
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
            s.delete(row)
            return info

    def login(self, username: str, password: str) -> UserInfo | None:
        """The user when the password is right and the user enabled, else None.

        An unknown user name costs one hash verification too. A hash made with
        older parameters is replaced on a successful login.
        """
        with self._db.session() as s:
            row = s.scalar(select(User).where(User.username == username))
            stored = row.password_hash if row is not None else self._dummy_hash
            ok = self._verify(stored, password) and row is not None and not row.disabled
            info = UserInfo.from_row(row) if row is not None else None
            if ok and row is not None and self._hasher.check_needs_rehash(stored):
                row.password_hash = self._hasher.hash(password)
                s.flush()
                info = UserInfo.from_row(row)
        return info if ok else None

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


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
