"""The OCSP engine's pure core: requests, response verification, results, cache.

No I/O, no clock, no randomness: time and nonces come from the caller. The
contract shared with the service layer is ``/work/notes/ocsp-contract.md``;
everything it names is exported here.

    certid.py     CertId and its hashes (RFC 6960 4.1.1)
    request.py    build_request (one or many certificates), get_url (RFC 6960 A.1)
    response.py   parse_response: DER -> ParsedResponse, once
    signature.py  RSA PKCS#1 v1.5, RSA-PSS, ECDSA, Ed25519/Ed448 signature checks
    validate.py   verify_response: the named validation steps (RFC 6960 4.2.2.2)
    results.py    CertStatus, Reason, TrustModel, RevocationResult, ValidationOptions
    cache.py      ResponseCache
"""

from certwarden.core.ocsp.cache import ResponseCache
from certwarden.core.ocsp.certid import CertId, cert_id_for, issuer_hashes, key_hash
from certwarden.core.ocsp.request import OcspRequest, build_request, encode_request, get_url
from certwarden.core.ocsp.response import (
    MalformedResponseError,
    ParsedResponse,
    SingleAnswer,
    parse_response,
)
from certwarden.core.ocsp.results import (
    CertStatus,
    HashAlgorithm,
    NonceMode,
    Reason,
    RevocationResult,
    TrustModel,
    ValidationOptions,
    describe,
    expired_result,
)
from certwarden.core.ocsp.validate import verify_parsed, verify_response

__all__ = [
    "CertId",
    "CertStatus",
    "HashAlgorithm",
    "MalformedResponseError",
    "NonceMode",
    "OcspRequest",
    "ParsedResponse",
    "Reason",
    "ResponseCache",
    "RevocationResult",
    "SingleAnswer",
    "TrustModel",
    "ValidationOptions",
    "build_request",
    "cert_id_for",
    "describe",
    "encode_request",
    "expired_result",
    "get_url",
    "issuer_hashes",
    "key_hash",
    "parse_response",
    "verify_parsed",
    "verify_response",
]
