"""What validation reads from a certificate, read once per certificate.

A responder certificate arrives again in every response it signs, and
``cryptography`` builds fresh Python objects for a name or an extension each
time one is asked for. :func:`cert_info` reads everything validation needs
once and memoises it per certificate (equal DER, equal facts), which keeps
full verification close to the cost of the signature check itself. It
raises for a certificate that cannot be read (cryptography parses lazily).
Pure: no I/O.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID

from certwarden.core.certs import common_name
from certwarden.core.extensions import unsupported_critical_problem
from certwarden.core.ocsp.certid import key_hash

__all__ = ["CertInfo", "cert_info"]


@dataclass(frozen=True, slots=True, eq=False)
class CertInfo:
    subject: x509.Name
    issuer: x509.Name
    not_before: datetime
    not_after: datetime
    ocsp_signing: bool  # carries id-kp-OCSPSigning (anyExtendedKeyUsage does not count)
    is_ca: bool  # basicConstraints cA=TRUE: a CA certificate, never an OCSP responder here
    sha256: str
    key_hash: bytes  # SHA-1 of the subjectPublicKey bits (ResponderID byKey)
    label: str  # "'CN' (sha256 0123…)" for messages
    public_key: object | None
    key_problem: str | None
    # Critical extensions certwarden does not process (core/extensions.py):
    # such a certificate never signs for anyone (RFC 5280 4.2).
    critical_problem: str | None = None
    # keyUsage present without digitalSignature: the key may not sign OCSP
    # responses (RFC 5280 4.2.1.3).
    key_usage_problem: str | None = None


def _ocsp_signing(cert: x509.Certificate) -> bool:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    # RFC 6960 4.2.2.2 asks for id-kp-OCSPSigning itself.
    return ExtendedKeyUsageOID.OCSP_SIGNING in eku


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _key_usage_problem(cert: x509.Certificate) -> str | None:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    if usage.digital_signature:
        return None
    return (
        "its keyUsage lacks digitalSignature, so its key may not sign responses (RFC 5280 4.2.1.3)"
    )


@functools.lru_cache(maxsize=4096)
def cert_info(cert: x509.Certificate) -> CertInfo:
    """The facts of ``cert`` validation uses (memoised). Raises if unreadable."""
    subject = cert.subject
    sha256 = cert.fingerprint(hashes.SHA256()).hex()
    public_key: object | None
    try:
        public_key, key_problem = cert.public_key(), None
    except Exception as exc:  # an unsupported or broken key: it can verify nothing
        public_key, key_problem = None, f"the signer's public key cannot be used ({exc})"
    label = f"'{common_name(subject) or subject.rfc4514_string()}' (sha256 {sha256[:16]}…)"
    return CertInfo(
        subject=subject,
        issuer=cert.issuer,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        ocsp_signing=_ocsp_signing(cert),
        is_ca=_is_ca(cert),
        sha256=sha256,
        key_hash=key_hash(cert),
        label=label,
        public_key=public_key,
        key_problem=key_problem,
        critical_problem=unsupported_critical_problem(cert, "it"),
        key_usage_problem=_key_usage_problem(cert),
    )
