"""Keys derived from a local secret, and small sealed (encrypted) values.

Pure functions over bytes: HKDF-SHA256 (RFC 5869) derives one key per
purpose from the secret file's contents, and AES-256-GCM seals short
strings (the SMTP password) so that a reader of the database sees only
ciphertext. A sealed value is ``v1:<base64url nonce + ciphertext + tag>``;
its purpose is bound in as associated data, so a value sealed for one field
does not open as another.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["SEALED_PREFIX", "SECRET_BYTES", "derive_key", "is_sealed", "open_sealed", "seal"]

SECRET_BYTES = 32
SEALED_PREFIX = "v1:"
_NONCE = 12


def derive_key(secret: bytes, *, salt: bytes, purpose: str, length: int = 32) -> bytes:
    """HKDF-SHA256 of ``secret`` with ``salt``, one key per ``purpose``."""
    if len(secret) < 16:
        raise ValueError("the secret is too short to derive keys from (need 16 bytes or more)")
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=purpose.encode()).derive(
        secret
    )


def seal(key: bytes, plaintext: str, *, purpose: str) -> str:
    """``plaintext`` encrypted and authenticated under ``key`` (AES-256-GCM)."""
    nonce = os.urandom(_NONCE)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), purpose.encode())
    return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def open_sealed(key: bytes, value: str, *, purpose: str) -> str:
    """The plaintext of a :func:`seal` result.

    Raises:
        ValueError: not a sealed value, or sealed under another key or purpose.
    """
    if not is_sealed(value):
        raise ValueError("not a sealed value")
    try:
        raw = base64.urlsafe_b64decode(value[len(SEALED_PREFIX) :].encode())
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the sealed value is not base64") from exc
    if len(raw) < _NONCE + 16:
        raise ValueError("the sealed value is truncated")
    try:
        return AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], purpose.encode()).decode()
    except (InvalidTag, UnicodeDecodeError) as exc:
        raise ValueError("the sealed value was made with another secret file") from exc
