"""The local secret file: random bytes that never enter the database.

``<data dir>/secret.key`` (or ``CERTWARDEN_SECRET_FILE``) holds 32 random
bytes, hex-encoded, created 0600 at first start. Session cookies are signed
with a key derived from it (and a salt in the database), and the SMTP
password is sealed under another: a copy of the database alone can neither
sign a session nor read that password. A file found readable by others is
tightened, with a warning in the log; a file that cannot be read, or that
does not hold a secret, is a :class:`ConfigurationError` naming it.
"""

from __future__ import annotations

import binascii
import logging
import os
import secrets
import stat
from pathlib import Path

from certwarden.core.keys import SECRET_BYTES
from certwarden.errors import ConfigurationError

__all__ = ["SECRET_FILE_MODE", "SECRET_FILE_NAME", "load_or_create_secret"]

SECRET_FILE_NAME = "secret.key"  # noqa: S105 - a file name
SECRET_FILE_MODE = 0o600
log = logging.getLogger("certwarden.storage")


def _create(path: Path) -> bytes:
    secret = secrets.token_bytes(SECRET_BYTES)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_FILE_MODE)
    except FileExistsError:
        return b""  # another process made it first: read theirs
    except OSError as exc:
        raise ConfigurationError(f"cannot create the secret file {path}: {exc.strerror}") from exc
    try:
        os.write(fd, secret.hex().encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    log.warning(
        "created the secret file %s: it signs sessions and seals the SMTP password; "
        "back it up with the database",
        path,
    )
    return secret


def load_or_create_secret(path: Path) -> bytes:
    """The secret in ``path``, made (0600) when the file does not exist."""
    if not path.exists():
        made = _create(path)
        if made:
            return made
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "it is not text"
        raise ConfigurationError(f"cannot read the secret file {path}: {why}") from exc
    if mode & 0o077:
        try:
            path.chmod(SECRET_FILE_MODE)
        except OSError as exc:
            log.warning("the secret file %s is open to other users (mode %04o) and could "
                        "not be tightened: %s", path, mode, exc.strerror)  # fmt: skip
        else:
            log.warning("tightened the permissions of the secret file %s from %04o to %04o",
                        path, mode, SECRET_FILE_MODE)  # fmt: skip
    try:
        secret = bytes.fromhex(text)
    except (ValueError, binascii.Error):
        secret = b""
    if len(secret) < 16:
        raise ConfigurationError(
            f"the secret file {path} does not hold a secret (64 hexadecimal digits "
            "expected); restore it from the backup, or delete it to make a new one "
            "(everyone signs in again and the SMTP password must be set again)"
        )
    return secret
