"""API tokens: create, list, revoke, and verify a presented secret (with a short cache).

Tokens are random secrets shown once at creation; only their SHA-256 is
stored (a 256-bit random secret needs no slow hash), with a short prefix to
recognise them by. A token may expire (``expires_at``) and may be
read-only (scope ``read``: GET and HEAD; the web layer enforces it). A
verified token is trusted for a few seconds without asking the database
again; :meth:`Tokens.forget_cached` (called on every change to users or
tokens) ends that at once in this process and bumps the ``tokens`` counter
(:mod:`certwarden.services.shared.generations`), which every other instance
reads at most once a second: a token revoked on one instance is refused by
all of them within a second. Writing ``last_used_at`` is bookkeeping: when the
database refuses the write (read-only, full, locked) it is logged and the
request goes on. This module does not check passwords or write the audit log.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import select, update

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import ApiToken, User
from certwarden.clock import Clock, ensure_utc
from certwarden.core.durations import parse_duration
from certwarden.errors import InvalidFieldsError, NotFoundError, StorageError
from certwarden.services.accounts.records import TokenInfo, TokenScope, UserInfo
from certwarden.services.accounts.users import user_row
from certwarden.services.shared.generations import SYNC_EVERY, Watch, bump

__all__ = ["TOKEN_PREFIX", "Tokens", "token_lifetime"]

TOKEN_PREFIX = "cwt_"  # noqa: S105 - a marker, not a secret
MAX_LIFETIME = timedelta(days=3660)
log = logging.getLogger("certwarden.accounts")


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
        ensure_utc(row.expires_at) if row.expires_at else None,
        row.scope or TokenScope.FULL,
    )


def token_lifetime(text: str | None) -> timedelta | None:
    """``--expires`` / the form's field: ``30d``, ``12h``, ``52w`` ...; empty: no expiry.

    Raises:
        InvalidFieldsError: on field ``expires``.
    """
    if text is None or not text.strip():
        return None
    try:
        return parse_duration(text.strip())
    except ValueError as exc:
        raise InvalidFieldsError({"expires": str(exc)}) from exc


def check_token_fields(name: str, scope: str, lifetime: timedelta | None) -> TokenScope:
    """The scope; :class:`InvalidFieldsError` naming every bad field."""
    errors: dict[str, str] = {}
    if not name or len(name) > 128:
        errors["name"] = "give the token a name of 1 to 128 characters"
    try:
        wanted = TokenScope(scope)
    except ValueError:
        errors["scope"] = f"{scope!r} is not a token scope; use full or read"
        wanted = TokenScope.FULL
    if lifetime is not None and not timedelta(minutes=1) <= lifetime <= MAX_LIFETIME:
        errors["expires"] = "a token lasts from 1 minute to 3660 days; leave it out for no expiry"
    if errors:
        raise InvalidFieldsError(errors)
    return wanted


class Tokens:
    """The API tokens table and the cache of recent verifications."""

    def __init__(
        self, db: Database, clock: Clock, *, touch_every: timedelta, cache_seconds: float
    ) -> None:
        self._db = db
        self._clock = clock
        # Writing last_used_at on every API call would turn every read into a write.
        self._touch_every = touch_every
        self._cache_seconds = cache_seconds
        self._generation = 0
        self._cache: dict[str, tuple[UserInfo, TokenInfo, int, float]] = {}
        self._shared = Watch(db, "tokens", every=SYNC_EVERY)

    def create(
        self,
        username: str,
        name: str,
        *,
        scope: str = TokenScope.FULL,
        lifetime: timedelta | None = None,
    ) -> tuple[TokenInfo, str]:
        """A new API token for ``username``; returns its record and the secret (shown once).

        ``lifetime`` None: it lasts until revoked. ``scope`` ``read``: GET and HEAD only.
        """
        name = name.strip()
        wanted = check_token_fields(name, scope, lifetime)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._clock.now()
        with self._db.session() as s:
            user = user_row(s, username)
            row = ApiToken(
                user_id=user.id,
                name=name,
                token_hash=hashlib.sha256(secret.encode()).hexdigest(),
                prefix=secret[: len(TOKEN_PREFIX) + 8],
                created_at=now,
                last_used_at=None,
                revoked_at=None,
                expires_at=now + lifetime if lifetime is not None else None,
                scope=wanted.value,
            )
            s.add(row)
            s.flush()
            return _token_info(row, user.username), secret

    def all(self, username: str | None = None) -> list[TokenInfo]:
        """Every token (of ``username``, when given), newest first."""
        query = (
            select(ApiToken, User.username)
            .join(User, User.id == ApiToken.user_id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
        if username is not None:
            query = query.where(User.username == username)
        with self._db.session() as s:
            if username is not None:
                user_row(s, username)
            return [_token_info(row, uname) for row, uname in s.execute(query)]

    def get(self, token_id: int) -> TokenInfo:
        with self._db.session() as s:
            row = s.get(ApiToken, token_id)
            if row is None:
                raise NotFoundError(f"no API token with ID {token_id}")
            return _token_info(row, s.get_one(User, row.user_id).username)

    def revoke(self, token_id: int) -> TokenInfo:
        with self._db.session() as s:
            row = s.get(ApiToken, token_id)
            if row is None:
                raise NotFoundError(f"no API token with ID {token_id}")
            if row.revoked_at is None:
                row.revoked_at = self._clock.now()
            return _token_info(row, s.get_one(User, row.user_id).username)

    def cached(self, secret: str) -> tuple[UserInfo, TokenInfo] | None:
        """A token verified within the cache time, with nothing about users or
        tokens changed since (here, or on another instance: the shared counter,
        read at most once a second); None when not cached (then call
        :meth:`verify`, which also reads the counter when due). Cheap: no database, for
        the request path."""
        digest = hashlib.sha256(secret.encode()).hexdigest()
        entry = self._cache.get(digest)
        if entry is None:
            return None
        if self._shared.due(self._clock.now()):
            return None  # time to look at the shared counter: verify() does, off the hot path
        user, token, generation, expires = entry
        if (
            generation != self._generation
            or time.monotonic() > expires
            or token.expired_at(self._clock.now())
        ):
            self._cache.pop(digest, None)
            return None
        return user, token

    def forget_cached(self) -> None:
        """Users or tokens changed: forget every cached token verification, here
        and (through the shared counter) on every other instance."""
        self._forget_local()
        try:
            with self._db.session() as s:
                bump(s, "tokens")
        except StorageError as exc:
            log.warning("could not tell the other instances that tokens changed "
                        "(their caches last %.0f s at most): %s", self._cache_seconds,
                        exc.diagnostics().splitlines()[0][:300])  # fmt: skip

    def _forget_local(self) -> None:
        # A verification running now read the database before the change: its
        # entry carries the old generation and is never served.
        self._generation += 1
        self._cache.clear()

    def verify(self, secret: str) -> tuple[UserInfo, TokenInfo] | None:
        """The user and token for a presented secret, or None (unknown, revoked, disabled)."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            return None
        digest = hashlib.sha256(secret.encode()).hexdigest()
        if self._shared.moved(self._clock.now()):
            self._forget_local()  # changed elsewhere since the last look
        generation = self._generation
        found = self._verify_digest(digest)
        if found is not None:
            if len(self._cache) > 10_000:
                self._cache.clear()
            expires = time.monotonic() + self._cache_seconds
            self._cache[digest] = (found[0], found[1], generation, expires)
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
            info = _token_info(token, user.username)
            if not info.usable_at(now) or user.disabled:
                return None
            found_user = UserInfo.from_row(user)
        last = info.last_used_at
        if (last is None or now - last >= self._touch_every) and self._touch(token.id, now):
            # What is cached and shown (``/me``) is this use, as now stored.
            info = replace(info, last_used_at=now)
        return found_user, info

    def _touch(self, token_id: int, now: datetime) -> bool:
        """Write ``last_used_at``; a refused write is logged (False), never fatal."""
        try:
            with self._db.session() as s:
                s.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
            return True
        except StorageError as exc:
            log.warning("could not record the use of API token #%d (the request goes on): %s",
                        token_id, exc.diagnostics().splitlines()[0][:300])  # fmt: skip
            return False
