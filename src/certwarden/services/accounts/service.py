"""UserService: users, tokens, logins and the audit log behind one handle.

The web layer and the CLI hold one of these. It ties the account modules
together where one change touches several of them: any change to users or
tokens forgets the cached token verifications (:mod:`.tokens`), setting a
password forgets that user name's failed logins (:mod:`.login`). Sessions
(:mod:`.sessions`) are signed with the keyring's session key, which comes
from the secret file, not from the database. It knows nothing about HTTP or
cookies.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar, cast

from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.clock import Clock
from certwarden.errors import ConflictError, StorageError
from certwarden.services.accounts.audit import AuditLog
from certwarden.services.accounts.login import Login
from certwarden.services.accounts.records import AuditRecord, Role, TokenInfo, TokenScope, UserInfo
from certwarden.services.accounts.sessions import Sessions
from certwarden.services.accounts.tokens import Tokens
from certwarden.services.accounts.users import Users, check_password
from certwarden.services.shared.keyring import Keyring

__all__ = ["UserService"]

F = TypeVar("F", bound=Callable[..., Any])


def _invalidates(method: F) -> F:
    """After ``method`` (committed or not), forget cached token verifications."""

    @functools.wraps(method)
    def wrapper(self: UserService, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        finally:
            self._tokens.forget_cached()

    return cast(F, wrapper)


@dataclass(frozen=True)
class InitialAdmin:
    """The ``admin`` user :meth:`UserService.ensure_initial_admin` created;
    ``password`` when it was generated (to be shown once), else None."""

    password: str | None


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
    # change made by another process (the CLI, another instance) bumps the shared
    # counter, read at most once a second (services/shared/generations.py).
    TOKEN_CACHE_SECONDS = 5.0

    def __init__(
        self,
        db: Database,
        clock: Clock,
        hasher: PasswordHasher | None = None,
        *,
        keyring: Keyring | None = None,
    ) -> None:
        """``keyring`` None: a random in-memory one (sessions last as long as the process)."""
        self._db = db
        self._clock = clock
        self._users = Users(db, clock, hasher or PasswordHasher())
        self._audit = AuditLog(db, clock)
        self._keyring = keyring or Keyring.ephemeral(db, clock)
        self._sessions = Sessions(db, clock)
        self._login = Login(
            db,
            self._users,
            self._audit,
            clock,
            user_limit=self.USER_LIMIT,
            client_limit=self.CLIENT_LIMIT,
            lockout=self.LOCKOUT,
            forget_after=self.FORGET_AFTER,
        )
        self._tokens = Tokens(
            db, clock, touch_every=self.TOKEN_TOUCH_EVERY, cache_seconds=self.TOKEN_CACHE_SECONDS
        )

    # ------------------------------------------------------------------ users

    def add_user(self, username: str, password: str, role: str = Role.VIEWER) -> UserInfo:
        """Create a user. Raises InvalidFieldsError for bad fields, ConflictError when taken."""
        return self._users.add(username, password, role)

    def list_users(self) -> list[UserInfo]:
        return self._users.all()

    def count_users(self) -> int:
        return self._users.count()

    def get(self, username: str) -> UserInfo:
        return self._users.get(username)

    def get_by_id(self, user_id: int) -> UserInfo | None:
        return self._users.get_by_id(user_id)

    @_invalidates
    def set_password(self, username: str, password: str) -> UserInfo:
        info = self._users.set_password(username, password)
        self._login.forget_failures(username)
        return info

    def change_own_password(self, username: str, current: str, new: str) -> UserInfo:
        """A user changing their own password must give the current one."""
        self._users.check_current_password(username, current)
        check_password(new, "new_password")
        return self.set_password(username, new)

    @_invalidates
    def set_role(self, username: str, role: str) -> UserInfo:
        return self._users.set_role(username, role)

    @_invalidates
    def set_disabled(self, username: str, disabled: bool) -> UserInfo:
        return self._users.set_disabled(username, disabled)

    @_invalidates
    def remove_user(self, username: str) -> UserInfo:
        return self._users.remove(username)

    def ensure_initial_admin(self, password: str | None = None) -> InitialAdmin | None:
        """On a database without users, create ``admin`` with ``password`` (None:
        a generated one, returned to be shown once).

        Returns None when this call created nothing: users exist, or another
        instance sharing the database created ``admin`` a moment ago.
        """
        if self.count_users():
            return None
        generated = password is None
        secret = password if password is not None else secrets.token_urlsafe(15)
        try:
            self.add_user("admin", secret, Role.ADMIN)
        except (ConflictError, StorageError):
            # Another instance sharing the database created it a moment ago
            # (seen first, or a unique-constraint failure at commit).
            if self.count_users():
                return None
            raise
        self.audit("system", "user.create", "admin", {"role": "admin", "initial": True})
        return InitialAdmin(secret if generated else None)

    # ------------------------------------------------------------------ login

    def authenticate(self, username: str, password: str, *, client: str = "") -> UserInfo:
        """The user when the password is right.

        Raises:
            LoginThrottledError: this user name or client failed too often lately.
            AuthenticationError: wrong user name or password, or a disabled user.
        """
        return self._login.authenticate(username, password, client=client)

    def unlock(self, username: str) -> bool:
        """Forget a user name's failed logins (an admin locked out can sign in
        again at once); True when there were any. The name need not exist."""
        return self._login.forget_failures(username)

    def failed_attempts(self, username: str) -> int:
        return self._login.attempts(username)

    def session_key(self) -> bytes:
        """The key that signs session cookies (derived from the secret file and a salt)."""
        return self._keyring.session_key()

    # --------------------------------------------------------------- sessions

    def open_session(self, user: UserInfo, lifetime: timedelta) -> str:
        """A server-side session for ``user``; returns its nonce (for the cookie)."""
        return self._sessions.open(user, lifetime)

    def session_user(self, user_id: int, nonce: str) -> UserInfo | None:
        """The user of a live session, or None (signed out, expired, user changed or disabled)."""
        return self._sessions.find(user_id, nonce)

    def end_session(self, nonce: str) -> bool:
        """Sign-out: that session ends on the server."""
        return self._sessions.end(nonce)

    # ----------------------------------------------------------------- tokens

    def create_token(
        self,
        username: str,
        name: str,
        *,
        scope: str = TokenScope.FULL,
        lifetime: timedelta | None = None,
    ) -> tuple[TokenInfo, str]:
        """A new API token for ``username``; returns its record and the secret (shown once).

        ``lifetime``: it expires that long after now (None: when revoked).
        ``scope``: ``full`` (the user's role) or ``read`` (GET and HEAD only).
        """
        return self._tokens.create(username, name, scope=scope, lifetime=lifetime)

    def list_tokens(self, username: str | None = None) -> list[TokenInfo]:
        return self._tokens.all(username)

    def get_token(self, token_id: int) -> TokenInfo:
        return self._tokens.get(token_id)

    @_invalidates
    def revoke_token(self, token_id: int) -> TokenInfo:
        return self._tokens.revoke(token_id)

    def cached_token(self, secret: str) -> tuple[UserInfo, TokenInfo] | None:
        """A token verified within the last :attr:`TOKEN_CACHE_SECONDS`, with nothing about
        users or tokens changed in this process since; None when not cached (then call
        :meth:`verify_token`). Cheap: no database, for the request path."""
        return self._tokens.cached(secret)

    def verify_token(self, secret: str) -> tuple[UserInfo, TokenInfo] | None:
        """The user and token for a presented secret, or None (unknown, revoked, disabled)."""
        return self._tokens.verify(secret)

    # ------------------------------------------------------------------ audit

    def audit(
        self, actor: str, action: str, target: str = "", details: dict[str, Any] | None = None
    ) -> None:
        """Record that ``actor`` did ``action`` to ``target`` (its own transaction)."""
        self._audit.record(actor, action, target, details)

    def audit_in(
        self,
        s: Session,
        actor: str,
        action: str,
        target: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        """Like :meth:`audit`, inside the caller's transaction ``s``."""
        self._audit.record_in(s, actor, action, target, details)

    def list_audit(
        self, *, limit: int = 100, offset: int = 0, actor: str | None = None
    ) -> tuple[list[AuditRecord], int]:
        """Newest first, with the total count."""
        return self._audit.entries(limit=limit, offset=offset, actor=actor)
