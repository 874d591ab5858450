"""Reading an OCSP response into plain values (RFC 6960 4.2.1), once.

:func:`parse_response` turns DER into a frozen :class:`ParsedResponse`, or
raises :class:`MalformedResponseError` (a ``ValueError``) for any bytes it cannot
read: every exception ``cryptography`` may raise while loading or while
reading a field is caught here, so nothing later touches the parser again.
It judges nothing: trust is :mod:`.validate`'s job. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.x509 import ocsp

from certwarden.core import _der
from certwarden.core.extensions import RESPONSE_UNDERSTOOD, SINGLE_RESPONSE_UNDERSTOOD
from certwarden.core.ocsp._certinfo import CertInfo, cert_info
from certwarden.core.ocsp.certid import CertId, hash_algorithm_from
from certwarden.core.ocsp.request import NONCE_OID
from certwarden.core.ocsp.results import CertStatus
from certwarden.core.signatures import (
    PSS_OID,
    SignatureAlgorithm,
    parse_signature_algorithm,
)

__all__ = ["MalformedResponseError", "ParsedResponse", "SingleAnswer", "parse_response"]

# OCSPResponseStatus as RFC 6960 4.2.1 spells the values.
STATUS_NAMES: dict[ocsp.OCSPResponseStatus, str] = {
    ocsp.OCSPResponseStatus.SUCCESSFUL: "successful",
    ocsp.OCSPResponseStatus.MALFORMED_REQUEST: "malformedRequest",
    ocsp.OCSPResponseStatus.INTERNAL_ERROR: "internalError",
    ocsp.OCSPResponseStatus.TRY_LATER: "tryLater",
    ocsp.OCSPResponseStatus.SIG_REQUIRED: "sigRequired",
    ocsp.OCSPResponseStatus.UNAUTHORIZED: "unauthorized",
}
_CERT_STATUS = {
    ocsp.OCSPCertStatus.GOOD: CertStatus.GOOD,
    ocsp.OCSPCertStatus.REVOKED: CertStatus.REVOKED,
    ocsp.OCSPCertStatus.UNKNOWN: CertStatus.UNKNOWN,
}
_NONCE = x509.ObjectIdentifier(NONCE_OID)


class MalformedResponseError(ValueError):
    """The bytes are not an OCSP response this code can read."""


@dataclass(frozen=True, slots=True)
class SingleAnswer:
    """One SingleResponse: a CertID and what the responder says about it."""

    hash_name: str  # the CertID hash, e.g. "sha1" (may be one we never ask with)
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial_number: int
    cert_id: CertId | None  # None when the hash is not SHA-1 or SHA-256
    status: CertStatus  # GOOD, REVOKED or UNKNOWN
    this_update: datetime
    next_update: datetime | None
    revoked_at: datetime | None
    revocation_reason: str | None  # RFC 5280 CRLReason name


@dataclass(frozen=True, slots=True)
class ParsedResponse:
    """Everything validation needs from one response, read once.

    For an unsuccessful response only ``der`` and ``response_status`` are set.
    """

    der: bytes
    response_status: str  # RFC 6960 name: "successful", "tryLater", ...
    responder_name: x509.Name | None = None
    responder_key_hash: bytes | None = None
    produced_at: datetime | None = None
    singles: tuple[SingleAnswer, ...] = ()
    certificates: tuple[x509.Certificate, ...] = ()
    certificate_infos: tuple[CertInfo, ...] = ()  # what validation reads, same order
    nonce: bytes | None = None
    tbs: bytes = b""
    signature: bytes = b""
    signature_algorithm: SignatureAlgorithm | None = None
    # Critical extensions not understood (RFC 6960 4.4, RFC 5280 4.2), in the
    # response or a SingleResponse: each makes the response untrustworthy
    # (validation's reason UNSUPPORTED_CRITICAL_EXTENSION). Texts, in order.
    unsupported_critical: tuple[str, ...] = ()

    @property
    def successful(self) -> bool:
        return self.response_status == "successful"

    def responder_description(self) -> str:
        if self.responder_name is not None:
            return f"name {self.responder_name.rfc4514_string()}"
        if self.responder_key_hash is not None:
            return f"key hash {self.responder_key_hash.hex()}"
        return "none"


def parse_response(der: bytes) -> ParsedResponse:
    """Read ``der`` as an OCSPResponse. Raises :class:`MalformedResponseError`."""
    if not der:
        raise MalformedResponseError("the response is empty")
    if der[:1] != b"\x30":
        # OCSPResponse is a SEQUENCE (RFC 6960 4.2.1): say plainly what came instead.
        head = der.lstrip()[:10]
        kind = (
            "text (PEM or HTML?), not DER"
            if head.startswith((b"-----", b"<"))
            else "not DER: it does not start with a SEQUENCE"
        )
        raise MalformedResponseError(f"{kind} ({len(der)} bytes)")
    try:
        response = ocsp.load_der_ocsp_response(der)
        status = STATUS_NAMES[response.response_status]
    except Exception as exc:  # cryptography raises ValueError, but any failure is "malformed"
        raise MalformedResponseError(f"not a DER OCSP response ({_short(exc)})") from exc
    if status != "successful":
        return ParsedResponse(der=der, response_status=status)
    try:
        return _read_successful(der, response, status)
    except MalformedResponseError:
        raise
    except Exception as exc:
        raise MalformedResponseError(f"unreadable BasicOCSPResponse ({_short(exc)})") from exc


def _read_successful(der: bytes, response: ocsp.OCSPResponse, status: str) -> ParsedResponse:
    nonce: bytes | None = None
    unsupported: list[str] = []
    for ext in response.extensions:
        if ext.oid == _NONCE and isinstance(ext.value, x509.OCSPNonce):
            nonce = ext.value.nonce  # understood, critical or not (RFC 8954)
        elif ext.critical and ext.oid.dotted_string not in RESPONSE_UNDERSTOOD:
            # X.509 semantics (RFC 5280 4.2) carried into RFC 6960 4.4: an
            # unrecognised critical extension means the response is not understood.
            unsupported.append(
                f"the response carries the critical extension {ext.oid.dotted_string}, which "
                "certwarden does not process (RFC 6960 4.4)"
            )
    singles = tuple(_single(s) for s in response.responses)
    certificates = tuple(response.certificates)
    key_hash = response.responder_key_hash
    if not singles:
        raise MalformedResponseError("the response holds no SingleResponse")
    tbs = response.tbs_response_bytes
    unsupported += _critical_single_extensions(tbs)
    return ParsedResponse(
        der=der,
        response_status=status,
        # Only one is set; building an x509.Name is the costlier read, so skip it for byKey.
        responder_name=response.responder_name if key_hash is None else None,
        responder_key_hash=key_hash,
        produced_at=response.produced_at_utc,
        singles=singles,
        certificates=certificates,
        certificate_infos=tuple(_checked(c) for c in certificates),
        nonce=nonce,
        tbs=tbs,
        signature=response.signature,
        signature_algorithm=_signature_algorithm(der, response),
        unsupported_critical=tuple(unsupported),
    )


def _critical_single_extensions(tbs: bytes) -> list[str]:
    """What is wrong when a SingleResponse carries a critical singleExtension.

    RFC 6960 4.4: unrecognised extensions are ignored "unless they have the
    critical flag set and are not understood". No singleExtension changes what
    this code concludes (crlID, archiveCutoff, CRL entry extensions, SCTs are
    all informational), so none is understood in that sense, and a critical one
    means the answer is conditional on something not checked. ``cryptography``
    exposes singleExtensions only for one-answer responses, so they are read
    from the DER here:

        ResponseData ::= SEQUENCE { version [0] EXPLICIT DEFAULT v1,
            responderID, producedAt, responses SEQUENCE OF SingleResponse, ... }
        SingleResponse ::= SEQUENCE { certID, certStatus, thisUpdate,
            nextUpdate [0] EXPLICIT OPTIONAL, singleExtensions [1] EXPLICIT OPTIONAL }

    (certStatus ``revoked`` is also tagged [1], so only fields after thisUpdate count.)
    """
    found: list[str] = []
    fields = _der.children(tbs, _der.read_tlv(tbs))
    responses = next(f for f in fields if f.tag == _der.SEQUENCE)
    for number, single in enumerate(_der.children(tbs, responses), start=1):
        for part in _der.children(tbs, single)[3:]:
            if part.tag != 0xA1:
                continue
            for ext in _der.children(tbs, _der.children(tbs, part)[0]):
                items = _der.children(tbs, ext)
                critical = (
                    len(items) == 3 and items[1].tag == 0x01 and items[1].content(tbs) != b"\x00"
                )
                oid = _der.decode_oid(items[0].content(tbs))
                if critical and oid not in SINGLE_RESPONSE_UNDERSTOOD:
                    found.append(
                        f"single response #{number} carries the critical extension {oid}, "
                        "which certwarden does not process (RFC 6960 4.4)"
                    )
    return found


def _signature_algorithm(der: bytes, response: ocsp.OCSPResponse) -> SignatureAlgorithm:
    oid = response.signature_algorithm_oid.dotted_string
    # Only RSASSA-PSS carries parameters that matter (RFC 4055 3.1).
    parameters = _signature_parameters(der) if oid == PSS_OID else None
    return parse_signature_algorithm(oid, parameters)


def _checked(cert: x509.Certificate) -> CertInfo:
    """An included certificate, read through now: cryptography parses lazily,
    and a broken one must make the response malformed here, not fail later."""
    try:
        return cert_info(cert)
    except Exception as exc:
        raise MalformedResponseError(
            f"the response includes an unreadable certificate ({_short(exc)})"
        ) from exc


def _single(single: ocsp.OCSPSingleResponse) -> SingleAnswer:
    try:
        algorithm = single.hash_algorithm
    except Exception:  # an unknown CertID hash: it can never match what we asked
        name, ours = "unsupported", None
    else:
        name, ours = algorithm.name, hash_algorithm_from(algorithm)
    status = _CERT_STATUS[single.certificate_status]
    revoked_at = single.revocation_time_utc if status is CertStatus.REVOKED else None
    reason = single.revocation_reason if status is CertStatus.REVOKED else None
    serial = single.serial_number
    return SingleAnswer(
        hash_name=name,
        issuer_name_hash=single.issuer_name_hash,
        issuer_key_hash=single.issuer_key_hash,
        serial_number=serial,
        cert_id=(
            CertId(ours, single.issuer_name_hash, single.issuer_key_hash, serial)
            if ours is not None
            else None
        ),
        status=status,
        this_update=single.this_update_utc,
        next_update=single.next_update_utc,
        revoked_at=revoked_at,
        revocation_reason=reason.value if reason is not None else None,
    )


def _signature_parameters(der: bytes) -> bytes | None:
    """The DER parameters of BasicOCSPResponse.signatureAlgorithm (None if absent).

    OCSPResponse ::= SEQUENCE { responseStatus, responseBytes [0] EXPLICIT
    SEQUENCE { responseType, response OCTET STRING (BasicOCSPResponse) } };
    BasicOCSPResponse ::= SEQUENCE { tbsResponseData, signatureAlgorithm, ... }.
    Only RSASSA-PSS needs them; cryptography does not expose them.
    """
    top = _der.read_tlv(der)
    response_bytes = _der.children(der, _der.children(der, top)[1])[0]
    basic_octets = _der.children(der, response_bytes)[1]
    basic = _der.read_tlv(der, basic_octets.content_start, basic_octets.end)
    algorithm = _der.children(der, basic)[1]
    parts = _der.children(der, algorithm)
    if len(parts) < 2 or parts[1].tag == _der.NULL:
        return None
    return parts[1].whole(der)


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def certificate_sha256(cert: x509.Certificate) -> str:
    """Lowercase hex SHA-256 fingerprint of ``cert``."""
    return cert_info(cert).sha256
