"""The keys certwarden derives from its secret file (never stored in the database).

* the **session key** signs session cookies and CSRF tokens: HKDF of the
  secret file's bytes with a random salt kept in the database (settings
  section ``web``, ``session_salt``). Neither alone signs a cookie; a new
  salt (or a new secret file) ends every session.
* the **sealing key** encrypts settings a database reader must not see (the
  SMTP password), with AES-GCM (:mod:`certwarden.core.keys`).

The secret is read (or created) on first use, through the loader the
composition root hands in. :meth:`Keyring.ephemeral` makes one with a
random in-memory secret (tests, and code paths without a data directory):
its sessions and sealed values last as long as the process.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections.abc import Callable

from certwarden.adapters.db import Database
from certwarden.clock import Clock
from certwarden.core.keys import SECRET_BYTES, derive_key, open_sealed, seal
from certwarden.errors import ConfigurationError, ConflictingWriteError
from certwarden.services.shared.settings_store import load_section, save_section

__all__ = ["SECRET_CHECK_SECTION", "WEB_SECTION", "Keyring"]

WEB_SECTION = "web"
SECRET_CHECK_SECTION = "secret_check"  # noqa: S105 - a settings section name
_SEAL_SALT = b"certwarden sealed settings"
_CHECK_SALT = b"certwarden secret check"


class Keyring:
    """Keys derived from the secret file (and, for sessions, a salt in the database)."""

    def __init__(self, load_secret: Callable[[], bytes], db: Database, clock: Clock) -> None:
        self._load_secret = load_secret
        self._db = db
        self._clock = clock
        self._lock = threading.Lock()
        self._secret: bytes | None = None
        self._session_key: bytes | None = None
        self._seal_key: bytes | None = None

    @classmethod
    def ephemeral(cls, db: Database, clock: Clock) -> Keyring:
        secret = secrets.token_bytes(SECRET_BYTES)
        return cls(lambda: secret, db, clock)

    def _secret_bytes(self) -> bytes:
        if self._secret is None:
            self._secret = self._load_secret()
        return self._secret

    def session_key(self) -> bytes:
        """The key that signs session cookies and CSRF tokens."""
        with self._lock:
            if self._session_key is None:
                salt = self._session_salt()
                self._session_key = derive_key(
                    self._secret_bytes(), salt=salt, purpose="certwarden session cookies v2"
                )
            return self._session_key

    def _session_salt(self) -> bytes:
        with self._db.session() as s:
            section = load_section(s, WEB_SECTION) or {}
            salt = section.get("session_salt")
            if not isinstance(salt, str) or len(salt) < 32:
                salt = secrets.token_hex(16)
                section.pop("session_key", None)  # the old, database-only key
                save_section(s, WEB_SECTION, {**section, "session_salt": salt}, self._clock.now())
        return bytes.fromhex(salt)

    def confirm_secret(self, source: str) -> None:
        """Refuse a secret file other than the one the database was set up with.

        Instances sharing a database must share the secret file too: with another
        one, an instance could neither read a session cookie another signed nor
        open the sealed SMTP password and channel URLs. The database keeps a check
        value derived from the secret (a one-way HKDF output: it reveals nothing
        of the secret); the first instance writes it, every later start compares.
        """
        check = derive_key(
            self._secret_bytes(), salt=_CHECK_SALT, purpose="certwarden secret check v1"
        ).hex()
        # A section of its own (not ``web``'s read-modify-write with the session
        # salt), inserted once: of instances starting together, one writes it
        # and the others compare with what it wrote.
        stored = self._stored_check()
        if stored is None:
            try:
                with self._db.session() as s:
                    save_section(s, SECRET_CHECK_SECTION, {"check": check}, self._clock.now())
                return
            except ConflictingWriteError:
                stored = self._stored_check()
        if stored is None or not hmac.compare_digest(stored, check):
            raise ConfigurationError(
                f"the secret file {source} is not the one this database was set up with: "
                "every instance sharing a database needs the same secret file (copy it from "
                "an instance that works, or point CERTWARDEN_SECRET_FILE at a copy)"
            )

    def _stored_check(self) -> str | None:
        with self._db.session() as s:
            value = (load_section(s, SECRET_CHECK_SECTION) or {}).get("check")
        return value if isinstance(value, str) else None

    def _sealing_key(self) -> bytes:
        with self._lock:
            if self._seal_key is None:
                self._seal_key = derive_key(
                    self._secret_bytes(), salt=_SEAL_SALT, purpose="certwarden sealed settings v1"
                )
            return self._seal_key

    def seal(self, plaintext: str, *, purpose: str) -> str:
        """``plaintext`` encrypted under the sealing key, bound to ``purpose``."""
        return seal(self._sealing_key(), plaintext, purpose=purpose)

    def open(self, sealed: str, *, purpose: str) -> str:
        """The plaintext of :meth:`seal`; ValueError when it was sealed elsewhere."""
        return open_sealed(self._sealing_key(), sealed, purpose=purpose)
