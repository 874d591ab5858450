"""Certificate facts: everything the inventory records about one certificate.

Pure: takes a parsed :class:`cryptography.x509.Certificate`, returns an immutable
:class:`CertFacts`. Nothing here touches storage or the clock.
"""

from __future__ import annotations

import enum
import hashlib
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from certwarden.core.algorithms import LEGACY_OIDS, is_legacy
from certwarden.core.signatures import (
    PSS_OID,
    certificate_signature_algorithm,
    verify_certificate_signature,
)

__all__ = [
    "CertFacts",
    "Role",
    "common_name",
    "days_left",
    "facts_from_certificate",
    "find_issuer",
    "is_expired",
    "signed_by",
]


@enum.unique
class Role(enum.StrEnum):
    ROOT = "root"
    INTERMEDIATE = "intermediate"
    LEAF = "leaf"


_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage",
}
_KU_FIELDS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


@dataclass(frozen=True, slots=True)
class CertFacts:
    """What the inventory keeps about a certificate (SPEC section 1).

    Times are aware UTC. Fingerprints and key identifiers are lowercase hex;
    the serial is lowercase hex without leading zeros.
    """

    sha256: str
    sha1: str
    subject: str
    subject_cn: str
    issuer: str
    issuer_cn: str
    serial: str
    not_before: datetime
    not_after: datetime
    sans: tuple[str, ...]
    key_type: str
    key_size: int
    signature_algorithm: str
    is_ca: bool
    self_issued: bool
    key_usage: tuple[str, ...]
    extended_key_usage: tuple[str, ...]
    ocsp_uris: tuple[str, ...]
    ca_issuer_uris: tuple[str, ...]
    crl_uris: tuple[str, ...]
    subject_key_id: str | None
    authority_key_id: str | None
    # Signed with SHA-1 or MD5 (core/algorithms.py): legacy, refused unless accepted.
    weak_signature: bool = False

    @property
    def is_ocsp_signer(self) -> bool:
        return "OCSPSigning" in self.extended_key_usage

    def role(self, *, signed_by_self: bool) -> Role:
        """Root when self-signed CA, intermediate when another CA, else leaf."""
        if self.is_ca and self.self_issued and signed_by_self:
            return Role.ROOT
        if self.is_ca:
            return Role.INTERMEDIATE
        return Role.LEAF


def common_name(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attrs:
        return ""
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _key_description(cert: x509.Certificate) -> tuple[str, int]:
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return ("unsupported", 0)
    if isinstance(key, rsa.RSAPublicKey):
        return ("RSA", key.key_size)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return (f"EC {key.curve.name}", key.key_size)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return ("Ed25519", 256)
    if isinstance(key, ed448.Ed448PublicKey):
        return ("Ed448", 456)
    if isinstance(key, dsa.DSAPublicKey):
        return ("DSA", key.key_size)
    return (type(key).__name__, 0)


def _general_names(names: Iterable[x509.GeneralName]) -> tuple[str, ...]:
    out: list[str] = []
    for name in names:
        if isinstance(name, x509.DNSName):
            out.append(f"DNS:{name.value}")
        elif isinstance(name, x509.IPAddress):
            out.append(f"IP:{name.value}")
        elif isinstance(name, x509.RFC822Name):
            out.append(f"email:{name.value}")
        elif isinstance(name, x509.UniformResourceIdentifier):
            out.append(f"URI:{name.value}")
        elif isinstance(name, x509.DirectoryName):
            out.append(f"DirName:{name.value.rfc4514_string()}")
        else:
            out.append(f"other:{name.value!r}")
    return tuple(out)


def facts_from_certificate(cert: x509.Certificate, der: bytes | None = None) -> CertFacts:
    """Extract :class:`CertFacts`; never raises for odd but parseable certificates.

    Extensions are walked once (this runs for every certificate of an import).
    """
    if der is None:
        der = cert.public_bytes(serialization.Encoding.DER)
    is_ca = False
    key_usage: list[str] = []
    ext_key_usage: tuple[str, ...] = ()
    sans: tuple[str, ...] = ()
    ocsp: list[str] = []
    ca_issuers: list[str] = []
    crl: list[str] = []
    ski_hex: str | None = None
    aki_hex: str | None = None
    try:
        extensions = list(cert.extensions)
    except (ValueError, x509.DuplicateExtension):  # keep the rest of the facts
        # (Imports refuse such certificates first: core/cert_checks.py.)
        extensions = []
    for extension in extensions:
        value = extension.value
        if isinstance(value, x509.BasicConstraints):
            is_ca = value.ca
        elif isinstance(value, x509.KeyUsage):
            key_usage = [f for f in _KU_FIELDS if getattr(value, f)]
            if value.key_agreement:
                if value.encipher_only:
                    key_usage.append("encipher_only")
                if value.decipher_only:
                    key_usage.append("decipher_only")
        elif isinstance(value, x509.ExtendedKeyUsage):
            ext_key_usage = tuple(_EKU_NAMES.get(oid, oid.dotted_string) for oid in value)
        elif isinstance(value, x509.SubjectAlternativeName):
            sans = _general_names(value)
        elif isinstance(value, x509.AuthorityInformationAccess):
            for desc in value:
                if isinstance(desc.access_location, x509.UniformResourceIdentifier):
                    if desc.access_method == AuthorityInformationAccessOID.OCSP:
                        ocsp.append(desc.access_location.value)
                    elif desc.access_method == AuthorityInformationAccessOID.CA_ISSUERS:
                        ca_issuers.append(desc.access_location.value)
        elif isinstance(value, x509.CRLDistributionPoints):
            for point in value:
                for gn in point.full_name or ():
                    if isinstance(gn, x509.UniformResourceIdentifier):
                        crl.append(gn.value)
        elif isinstance(value, x509.SubjectKeyIdentifier):
            ski_hex = value.digest.hex()
        elif isinstance(value, x509.AuthorityKeyIdentifier) and value.key_identifier:
            aki_hex = sys.intern(value.key_identifier.hex())

    key_type, key_size = _key_description(cert)
    oid = cert.signature_algorithm_oid
    subject, issuer = cert.subject, cert.issuer
    return CertFacts(
        sha256=hashlib.sha256(der).hexdigest(),
        sha1=hashlib.sha1(der).hexdigest(),
        subject=subject.rfc4514_string(),
        subject_cn=common_name(subject),
        # Interned: a big import has one issuer for thousands of certificates.
        issuer=sys.intern(issuer.rfc4514_string()),
        issuer_cn=sys.intern(common_name(issuer)),
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        sans=sans,
        key_type=sys.intern(key_type),
        key_size=key_size,
        signature_algorithm=getattr(oid, "_name", None) or oid.dotted_string,
        is_ca=is_ca,
        self_issued=subject == issuer,
        key_usage=tuple(key_usage),
        extended_key_usage=ext_key_usage,
        ocsp_uris=tuple(sys.intern(u) for u in ocsp),
        ca_issuer_uris=tuple(sys.intern(u) for u in ca_issuers),
        crl_uris=tuple(sys.intern(u) for u in crl),
        subject_key_id=ski_hex,
        authority_key_id=aki_hex,
        weak_signature=_weak_signature(cert, oid.dotted_string),
    )


def _weak_signature(cert: x509.Certificate, oid: str) -> bool:
    # Only RSASSA-PSS needs its parameters read (the digest is inside them).
    if oid not in LEGACY_OIDS and oid != PSS_OID:
        return False
    return is_legacy(certificate_signature_algorithm(cert))


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``cert`` names ``issuer`` as its issuer and ``issuer``'s key made its signature.

    The signature is checked here (:func:`certwarden.core.signatures.verify_certificate_signature`:
    the issuer's public key over the TBS bytes, for RSA PKCS#1 v1.5, RSA-PSS,
    ECDSA, Ed25519 and Ed448), not with ``cryptography``'s
    ``verify_directly_issued_by``, which refuses SHA-1: whether ``issuer``
    signed is a question of keys, and a SHA-1-signed certificate *is* issued
    by its CA. Whether its algorithm is acceptable is the policy's question
    (:mod:`certwarden.core.algorithms`), asked where a signature is relied on.
    """
    if cert.issuer != issuer.subject:
        return False
    try:
        key = issuer.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return False
    return verify_certificate_signature(cert, key) is None


def find_issuer(
    cert: x509.Certificate,
    facts: CertFacts,
    candidates: Sequence[tuple[x509.Certificate, CertFacts]],
) -> int | None:
    """Index of the candidate that issued ``cert``, or None.

    Candidates are filtered by name (issuer == subject) and, when both carry
    one, key identifier (AKI == SKI), then confirmed by the signature.
    """
    for index, (candidate, cfacts) in enumerate(candidates):
        if candidate.subject != cert.issuer:
            continue
        if (
            facts.authority_key_id
            and cfacts.subject_key_id
            and facts.authority_key_id != cfacts.subject_key_id
        ):
            continue
        if signed_by(cert, candidate):
            return index
    return None


def is_expired(not_after: datetime, now: datetime) -> bool:
    """RFC 5280 4.1.2.5: notAfter is inclusive, so expired only strictly after it."""
    return now > not_after


def days_left(not_after: datetime, now: datetime) -> float:
    """Days until notAfter (negative once expired)."""
    return (not_after - now).total_seconds() / 86400
