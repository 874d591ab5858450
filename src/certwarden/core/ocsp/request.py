"""Building OCSP requests (RFC 6960 4.1) and their GET form (RFC 6960 A.1, RFC 5019).

``cryptography``'s ``OCSPRequestBuilder`` asks about one certificate only;
OpenSSL's responder (and RFC 6960) accepts several in one request, which is how
a monitor checks thousands of certificates quickly. So the request is encoded
here, by hand, with :mod:`._der`; for one certificate the bytes are identical
to ``cryptography``'s (the tests compare them) and for several ``openssl ocsp``
parses and answers them (the tests start one). Pure: the nonce comes from the
caller, never from a random source here.
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509

from certwarden.core import _der
from certwarden.core.ocsp.certid import HASH_OIDS, CertId, cert_id_for
from certwarden.core.ocsp.results import HashAlgorithm

__all__ = [
    "NONCE_LENGTH",
    "NONCE_OID",
    "OcspRequest",
    "build_request",
    "encode_request",
    "get_url",
]

# id-pkix-ocsp-nonce (RFC 6960 4.4.1, RFC 9654).
NONCE_OID = "1.3.6.1.5.5.7.48.1.2"
# RFC 9654 2.1 (as RFC 8954 before it): a nonce is 1 to 32 octets, and a
# client SHOULD use 32 (the length certwarden sends).
NONCE_LENGTH = 32
_NONCE_MAX = 32


@dataclass(frozen=True)
class OcspRequest:
    """A DER-encoded request and what it asks about, in order."""

    der: bytes
    cert_ids: tuple[CertId, ...]
    nonce: bytes | None


def _cert_id_der(cert_id: CertId) -> bytes:
    # AlgorithmIdentifier with NULL parameters, as OpenSSL and cryptography write it.
    algorithm = _der.sequence(
        _der.encode_oid(HASH_OIDS[cert_id.hash_algorithm]), _der.encode_null()
    )
    return _der.sequence(
        algorithm,
        _der.encode_octet_string(cert_id.issuer_name_hash),
        _der.encode_octet_string(cert_id.issuer_key_hash),
        _der.encode_integer(cert_id.serial_number),
    )


def encode_request(cert_ids: Sequence[CertId], nonce: bytes | None = None) -> bytes:
    """DER of an unsigned OCSPRequest asking about ``cert_ids`` (RFC 6960 4.1.1).

    version is left at its DEFAULT v1 (so omitted, as DER requires); the nonce,
    when given, is the RFC 8954 OCTET STRING inside the extension's extnValue.
    """
    if not cert_ids:
        raise ValueError("an OCSP request must ask about at least one certificate")
    request_list = _der.sequence(*(_der.sequence(_cert_id_der(c)) for c in cert_ids))
    parts = [request_list]
    if nonce is not None:
        if not 1 <= len(nonce) <= _NONCE_MAX:
            raise ValueError(f"an OCSP nonce must be 1 to {_NONCE_MAX} bytes (RFC 8954)")
        extension = _der.sequence(
            _der.encode_oid(NONCE_OID),
            _der.encode_octet_string(_der.encode_octet_string(nonce)),
        )
        parts.append(_der.explicit(2, _der.sequence(extension)))
    return _der.sequence(_der.sequence(*parts))


def build_request(
    pairs: Sequence[tuple[x509.Certificate, x509.Certificate]],
    *,
    hash_algorithm: HashAlgorithm = HashAlgorithm.SHA1,
    nonce: bytes | None = None,
) -> OcspRequest:
    """A request about each ``(cert, issuer)`` pair, in order.

    Args:
        pairs: the certificates to ask about, each with the CA that issued it.
        hash_algorithm: the CertID hash (SHA-1 is what responders widely support).
        nonce: 1-32 bytes chosen by the caller, or None for no nonce.
    """
    cert_ids = tuple(cert_id_for(cert, issuer, hash_algorithm) for cert, issuer in pairs)
    return OcspRequest(der=encode_request(cert_ids, nonce), cert_ids=cert_ids, nonce=nonce)


def get_url(base_url: str, request_der: bytes) -> str:
    """The HTTP GET form: ``{url}/{url-encoded base64 of the DER}`` (RFC 6960 A.1.1)."""
    encoded = urllib.parse.quote(base64.b64encode(request_der).decode("ascii"), safe="")
    return f"{base_url.rstrip('/')}/{encoded}"
