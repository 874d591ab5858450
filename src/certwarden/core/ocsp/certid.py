"""CertID: how OCSP names a certificate (RFC 6960 4.1.1).

    CertID ::= SEQUENCE {
        hashAlgorithm   AlgorithmIdentifier,
        issuerNameHash  OCTET STRING, -- Hash of issuer's DN
        issuerKeyHash   OCTET STRING, -- Hash of issuer's public key
        serialNumber    CertificateSerialNumber }

A response answers for a certificate only when all four fields match. The
hashes are taken over the issuer's DER-encoded subject name as it appears in
the issuer certificate and over the value of its subjectPublicKey BIT STRING
(excluding tag, length and the unused-bits octet). Pure: no I/O.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from certwarden.core import _der
from certwarden.core.ocsp.results import HashAlgorithm

__all__ = [
    "CertId",
    "IssuerHashes",
    "cert_id_for",
    "hash_algorithm_from",
    "issuer_hashes",
    "key_hash",
]

# RFC 5754 / RFC 3279 object identifiers for the CertID hashAlgorithm.
HASH_OIDS: dict[HashAlgorithm, str] = {
    HashAlgorithm.SHA1: "1.3.14.3.2.26",
    HashAlgorithm.SHA256: "2.16.840.1.101.3.4.2.1",
}


@dataclass(frozen=True, slots=True)
class CertId:
    """One certificate as OCSP names it: all four RFC 6960 4.1.1 fields."""

    hash_algorithm: HashAlgorithm
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial_number: int

    def key(self) -> str:
        """A stable string naming this CertID (the cache key)."""
        return (
            f"{self.hash_algorithm.value}:{self.issuer_name_hash.hex()}:"
            f"{self.issuer_key_hash.hex()}:{self.serial_number:x}"
        )

    def describe(self) -> str:
        """Short human form for messages."""
        return (
            f"serial {self.serial_number:x} (issuer name hash "
            f"{self.issuer_name_hash.hex()[:16]}…, key hash {self.issuer_key_hash.hex()[:16]}…, "
            f"{self.hash_algorithm.value})"
        )


@dataclass(frozen=True, slots=True)
class IssuerHashes:
    """The name and key hashes of one issuer under each supported algorithm."""

    name: dict[HashAlgorithm, bytes]
    key: dict[HashAlgorithm, bytes]


def _digest(algorithm: HashAlgorithm, data: bytes) -> bytes:
    if algorithm is HashAlgorithm.SHA1:
        # SHA-1 here is an identifier, not a signature (RFC 6960 4.1.1, RFC 5019 2.1.1).
        return hashlib.sha1(data, usedforsecurity=False).digest()
    return hashlib.sha256(data).digest()


def _subject_and_key_bits(cert: x509.Certificate) -> tuple[bytes, bytes]:
    """The subject Name DER and the subjectPublicKey bits, from the TBS encoding.

    Read from the certificate's own bytes rather than re-encoded, so the hash
    is the one a responder computes from the same certificate.
    """
    tbs = cert.tbs_certificate_bytes
    top = _der.read_tlv(tbs)
    fields = _der.children(tbs, top)
    # TBSCertificate: [0] version (optional), serial, signature, issuer,
    # validity, subject, subjectPublicKeyInfo, ... (RFC 5280 4.1)
    index = 1 if fields and fields[0].tag == 0xA0 else 0
    subject = fields[index + 4]
    spki = fields[index + 5]
    parts = _der.children(tbs, spki)
    if len(parts) != 2 or parts[1].tag != _der.BIT_STRING:
        raise _der.DerError("subjectPublicKeyInfo is not AlgorithmIdentifier + BIT STRING")
    bits = parts[1].content(tbs)
    return subject.whole(tbs), bits[1:]  # drop the unused-bits octet


@functools.lru_cache(maxsize=4096)
def issuer_hashes(issuer: x509.Certificate) -> IssuerHashes:
    """Name and key hashes of ``issuer`` (memoised: a pure function of the cert)."""
    subject, key_bits = _subject_and_key_bits(issuer)
    return IssuerHashes(
        name={alg: _digest(alg, subject) for alg in HashAlgorithm},
        key={alg: _digest(alg, key_bits) for alg in HashAlgorithm},
    )


def key_hash(cert: x509.Certificate) -> bytes:
    """SHA-1 of the subjectPublicKey bits: the ResponderID byKey form (RFC 6960 4.2.1)."""
    return issuer_hashes(cert).key[HashAlgorithm.SHA1]


def cert_id_for(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    hash_algorithm: HashAlgorithm = HashAlgorithm.SHA1,
) -> CertId:
    """The CertID of ``cert`` issued by ``issuer``."""
    hashes_ = issuer_hashes(issuer)
    return CertId(
        hash_algorithm=hash_algorithm,
        issuer_name_hash=hashes_.name[hash_algorithm],
        issuer_key_hash=hashes_.key[hash_algorithm],
        serial_number=cert.serial_number,
    )


def hash_algorithm_from(algorithm: hashes.HashAlgorithm) -> HashAlgorithm | None:
    """Our name for a ``cryptography`` hash, or None when CertIDs never use it here."""
    if isinstance(algorithm, hashes.SHA1):
        return HashAlgorithm.SHA1
    if isinstance(algorithm, hashes.SHA256):
        return HashAlgorithm.SHA256
    return None
