"""Reading certificate containers: PEM (one or many), DER, PKCS#7 and PKCS#12.

``load_certificates`` takes the bytes of one file and returns its certificates
or raises :class:`~certwarden.errors.ParseError` naming the file and the
problem in words an administrator can act on. Private keys found in a
container are dropped, never returned (SPEC section 1: keys are never stored).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from certwarden.errors import ParseError

__all__ = ["LoadedFile", "load_certificates"]

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 #]+)-----(.*?)-----END \1-----", re.DOTALL)
_KEY_LABELS = {
    b"PRIVATE KEY",
    b"RSA PRIVATE KEY",
    b"EC PRIVATE KEY",
    b"DSA PRIVATE KEY",
    b"ENCRYPTED PRIVATE KEY",
    b"OPENSSH PRIVATE KEY",
}
_CSR_LABELS = {b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST"}
_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"}
_PKCS7_LABELS = {b"PKCS7", b"CMS", b"PKCS #7 SIGNED DATA"}
# id-data (1.2.840.113549.1.7.1), which a PFX's authSafe ContentInfo opens with.
_PKCS7_DATA_OID = bytes.fromhex("06092a864886f70d010701")
# id-signedData (1.2.840.113549.1.7.2), which a degenerate .p7b opens with.
_PKCS7_SIGNED_OID = bytes.fromhex("06092a864886f70d010702")


@dataclass(frozen=True)
class LoadedFile:
    """The certificates from one file, in file order, and notes about the rest."""

    certificates: tuple[x509.Certificate, ...]
    container: str
    notes: tuple[str, ...] = field(default=())


def load_certificates(
    data: bytes, source: str, *, password: bytes | None = None, first_block: int = 1
) -> LoadedFile:
    """Parse ``data`` (the contents of ``source``) into certificates.

    Args:
        data: the raw file contents.
        source: the file name, used in every error message.
        password: the PKCS#12 password, when the file may be PKCS#12.
        first_block: the number of the first PEM block in ``data`` (when ``data``
            is a slice of a bigger file), so errors name the right block.

    Raises:
        ParseError: the file is empty, garbage, truncated, a key or a CSR, a
            PKCS#12 whose password is missing or wrong, or holds no certificate.
    """
    if not data.strip():
        raise ParseError(source, "the file is empty")
    if b"-----BEGIN" in data:
        return _load_pem(data, source, first_block)
    return _load_der(data, source, password)


def _load_pem(data: bytes, source: str, first_block: int = 1) -> LoadedFile:
    blocks = _PEM_BLOCK.findall(data)
    if not blocks:
        raise ParseError(source, "has a PEM header but no complete BEGIN/END block (truncated?)")
    certs: list[x509.Certificate] = []
    notes: list[str] = []
    skipped_keys = 0
    for number, (label, body) in enumerate(blocks, start=first_block):
        where = f"PEM block {number} ({label.decode()})"
        if label in _KEY_LABELS:
            skipped_keys += 1
            continue
        if label in _CSR_LABELS:
            raise ParseError(
                source, f"{where} is a certificate signing request (CSR), not a certificate"
            )
        der = _pem_body(body, source, where)
        if label in _CERT_LABELS:
            try:
                certs.append(x509.load_der_x509_certificate(der))
            except ValueError as exc:
                raise ParseError(source, f"{where} is not a valid certificate: {exc}") from exc
        elif label in _PKCS7_LABELS:
            try:
                certs.extend(pkcs7.load_der_pkcs7_certificates(der))
            except ValueError as exc:
                raise ParseError(source, f"{where} is not a valid PKCS#7 bundle: {exc}") from exc
        else:
            raise ParseError(source, f"{where} holds {label.decode()}, not a certificate")
    if not certs:
        if skipped_keys:
            raise ParseError(
                source, "holds a private key, not a certificate (keys are never imported)"
            )
        raise ParseError(source, "holds no certificate")
    if skipped_keys:
        notes.append(f"{skipped_keys} private key(s) in the file were ignored, not stored")
    return LoadedFile(tuple(certs), "PEM", tuple(notes))


def _pem_body(body: bytes, source: str, where: str) -> bytes:
    lines = [line.strip() for line in body.strip().splitlines()]
    # RFC 1421 encapsulated headers ("Proc-Type: ...") precede a blank line.
    if any(b":" in line for line in lines):
        raise ParseError(source, f"{where} is encrypted or has PEM headers; decrypt it first")
    try:
        return base64.b64decode(b"".join(lines), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ParseError(source, f"{where} has broken base64 ({exc})") from exc


def _looks_like_pkcs12(data: bytes) -> bool:
    # PFX ::= SEQUENCE { version INTEGER (3), authSafe ContentInfo, ... }
    head = data[:32]
    return b"\x02\x01\x03\x30" in head and _PKCS7_DATA_OID in head


def _load_der(data: bytes, source: str, password: bytes | None) -> LoadedFile:
    if data[:1] != b"\x30":
        raise ParseError(
            source,
            "is neither PEM nor DER (not a certificate, PKCS#7 or PKCS#12 file)",
        )
    try:
        return LoadedFile((x509.load_der_x509_certificate(data),), "DER")
    except ValueError:
        pass
    if _PKCS7_SIGNED_OID in data[:32]:
        try:
            certs = pkcs7.load_der_pkcs7_certificates(data)
        except ValueError as exc:
            raise ParseError(source, f"is a damaged PKCS#7 bundle: {exc}") from exc
        if not certs:
            raise ParseError(source, "is a PKCS#7 bundle with no certificates")
        return LoadedFile(tuple(certs), "PKCS#7")
    if _looks_like_pkcs12(data):
        return _load_pkcs12(data, source, password)
    try:
        x509.load_der_x509_csr(data)
    except ValueError:
        pass
    else:
        raise ParseError(source, "is a certificate signing request (CSR), not a certificate")
    if _is_private_key(data):
        raise ParseError(source, "holds a private key, not a certificate (keys are never imported)")
    raise ParseError(source, "is truncated or malformed DER: no certificate could be read")


def _load_pkcs12(data: bytes, source: str, password: bytes | None) -> LoadedFile:
    try:
        bundle = pkcs12.load_pkcs12(data, password)
    except ValueError as exc:
        if password is None:
            raise ParseError(
                source,
                "is PKCS#12 protected by a password; give it with --password-file or "
                "--password-env",
            ) from exc
        raise ParseError(source, "wrong PKCS#12 password, or the file is damaged") from exc
    certs: list[x509.Certificate] = []
    if bundle.cert is not None:
        certs.append(bundle.cert.certificate)
    certs.extend(c.certificate for c in bundle.additional_certs)
    if not certs:
        raise ParseError(source, "is a PKCS#12 file with no certificates")
    notes = ("the private key in the PKCS#12 file was ignored, not stored",) if bundle.key else ()
    return LoadedFile(tuple(certs), "PKCS#12", notes)


def _is_private_key(data: bytes) -> bool:
    try:
        serialization.load_der_private_key(data, password=None)
    except TypeError:
        return True  # an encrypted key: it asked for a password
    except (ValueError, UnsupportedAlgorithm):
        return False
    return True
