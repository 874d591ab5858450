"""Reading certificate containers: PEM (one or many), DER, PKCS#7 and PKCS#12.

``load_certificates`` takes the bytes of one file and returns its certificates
or raises :class:`~certwarden.errors.ParseError` naming the file and the
problem in words an administrator can act on. Private keys found in a
container are dropped, never returned (SPEC section 1: keys are never stored).

Every certificate returned has been read whole (``core/cert_checks.py``): one
whose subject, issuer or extensions cannot be decoded, or whose serial is not
positive, makes its file a rejection that names it. PEM blocks are found in
linear time (``core/pem.py``), and a PKCS#12 file's key-derivation work is
bounded before any key is derived (``core/pkcs12_cost.py``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.utils import CryptographyDeprecationWarning

from certwarden.core.cert_checks import (
    certificate_problem,
    pkcs7_certificate_ders,
    serial_problem,
)
from certwarden.core.pem import pem_blocks
from certwarden.core.pkcs12_cost import check_pkcs12_cost
from certwarden.errors import ParseError

__all__ = ["PASSWORD_REQUIRED", "LoadedFile", "load_certificates"]

# ParseError.code of a PKCS#12 file given without its password.
PASSWORD_REQUIRED = "password_required"  # noqa: S105 - a code, not a password

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
    blocks = pem_blocks(data)
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
            certs.append(_one_certificate(der, source, where))
        elif label in _PKCS7_LABELS:
            certs.extend(_pkcs7(der, source, where))
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
    if problem := serial_problem(data):
        raise ParseError(source, f"the certificate ({_fingerprint(data)}) {problem}")
    try:
        cert = _load_der_certificate(data)
    except ValueError:
        pass
    else:
        return LoadedFile((_checked(cert, data, source, "the certificate"),), "DER")
    if _PKCS7_SIGNED_OID in data[:32]:
        certs = _pkcs7(data, source, None)
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
    # Before anything derives a key: the file itself says how much work that is.
    outline = check_pkcs12_cost(data, source)
    # The certificates stored without encryption are read on their own first,
    # so that an odd one is named (OpenSSL would call the whole file damaged).
    for number, cert_der in enumerate(outline.plain_certificates, start=1):
        try:
            _one_certificate(cert_der, source, f"certificate {number}")
        except ParseError as exc:
            if "is not a valid certificate" not in exc.problem:
                raise
    try:
        bundle = pkcs12.load_pkcs12(data, password)
    except CryptographyDeprecationWarning as exc:  # raised when warnings are errors
        raise ParseError(source, f"holds a certificate that {_NON_POSITIVE}") from exc
    except ValueError as exc:
        if password is None:
            raise ParseError(
                source,
                "is PKCS#12 protected by a password; give it with --password-file or "
                "--password-env",
                code=PASSWORD_REQUIRED,
            ) from exc
        raise ParseError(source, "wrong PKCS#12 password, or the file is damaged") from exc
    certs: list[x509.Certificate] = []
    if bundle.cert is not None:
        certs.append(bundle.cert.certificate)
    certs.extend(c.certificate for c in bundle.additional_certs)
    if not certs:
        raise ParseError(source, "is a PKCS#12 file with no certificates")
    for number, cert in enumerate(certs, start=1):
        _checked(
            cert, cert.public_bytes(serialization.Encoding.DER), source, f"certificate {number}"
        )
    notes = ("the private key in the PKCS#12 file was ignored, not stored",) if bundle.key else ()
    return LoadedFile(tuple(certs), "PKCS#12", notes)


_NON_POSITIVE = (
    "has a serial number that is not positive; RFC 5280 4.1.2.2 requires a positive "
    "serial and certwarden does not store such certificates"
)


def _load_der_certificate(der: bytes) -> x509.Certificate:
    """``load_der_x509_certificate``, its deprecation warning raised as a ValueError."""
    try:
        return x509.load_der_x509_certificate(der)
    except CryptographyDeprecationWarning as exc:
        raise ValueError(str(exc)) from exc


def _one_certificate(der: bytes, source: str, where: str) -> x509.Certificate:
    # The serial first: cryptography warns about (and one day refuses) a bad one.
    if problem := serial_problem(der):
        raise ParseError(source, f"{where} ({_fingerprint(der)}) {problem}")
    try:
        cert = _load_der_certificate(der)
    except ValueError as exc:
        raise ParseError(source, f"{where} is not a valid certificate: {exc}") from exc
    return _checked(cert, der, source, where)


def _pkcs7(der: bytes, source: str, where: str | None) -> list[x509.Certificate]:
    """The certificates of a PKCS#7 bundle, each checked and named when odd."""
    prefix = f"{where} " if where else ""
    # Each certificate is read on its own first: an odd one is then named with
    # its problem (OpenSSL's loader would only call the bundle damaged), and a
    # bad serial is refused before cryptography warns about it.
    for number, cert_der in enumerate(pkcs7_certificate_ders(der), start=1):
        inner = f"certificate {number} of {where}" if where else f"certificate {number}"
        if problem := serial_problem(cert_der):
            raise ParseError(source, f"{inner} ({_fingerprint(cert_der)}) {problem}")
        try:
            cert = _load_der_certificate(cert_der)
        except ValueError:
            continue  # the bundle's loader below says what is wrong
        _checked(cert, cert_der, source, inner)
    try:
        certs = list(pkcs7.load_der_pkcs7_certificates(der))
    except CryptographyDeprecationWarning as exc:  # raised when warnings are errors
        raise ParseError(source, f"{prefix}holds a certificate that {_NON_POSITIVE}") from exc
    except ValueError as exc:
        if where:
            raise ParseError(source, f"{where} is not a valid PKCS#7 bundle: {exc}") from exc
        raise ParseError(source, f"is a damaged PKCS#7 bundle: {exc}") from exc
    for number, cert in enumerate(certs, start=1):
        inner = f"certificate {number} of {where}" if where else f"certificate {number}"
        _checked(cert, cert.public_bytes(serialization.Encoding.DER), source, inner)
    return certs


def _checked(cert: x509.Certificate, der: bytes, source: str, where: str) -> x509.Certificate:
    """``cert``, when everything certwarden will read of it can be read."""
    if problem := certificate_problem(cert, der):
        raise ParseError(source, f"{where} ({_fingerprint(der)}) {problem}")
    return cert


def _fingerprint(der: bytes) -> str:
    return f"SHA-256 {hashlib.sha256(der).hexdigest()[:16]}"


def _is_private_key(data: bytes) -> bool:
    try:
        serialization.load_der_private_key(data, password=None)
    except TypeError:
        return True  # an encrypted key: it asked for a password
    except (ValueError, UnsupportedAlgorithm):
        return False
    return True
