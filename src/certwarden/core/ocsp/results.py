"""What an OCSP check concludes: statuses, could-not-tell reasons, results.

Outcomes are values (STYLE.md): a revoked certificate or a responder that
could not be trusted is a :class:`RevocationResult`, never an exception. The
enum values are persisted and shown in JSON, so they never change meaning.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import base64
import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from certwarden.core.certs import is_expired
from certwarden.core.timefmt import iso_z

__all__ = [
    "CertStatus",
    "HashAlgorithm",
    "NonceMode",
    "Reason",
    "RevocationResult",
    "Source",
    "TrustModel",
    "ValidationOptions",
    "describe",
    "exempt_result",
    "expired_result",
    "iso_z",
]


@enum.unique
class HashAlgorithm(enum.StrEnum):
    """The hash a CertID is computed with (RFC 6960 4.1.1 hashAlgorithm)."""

    SHA1 = "sha1"
    SHA256 = "sha256"


@enum.unique
class NonceMode(enum.StrEnum):
    """What to do about the nonce extension (RFC 8954).

    SEND: send a nonce; if the response echoes one it must match, but a
    response without it is accepted (many responders pre-produce responses).
    REQUIRE: the response must echo the nonce that was sent.
    """

    OFF = "off"
    SEND = "send"
    REQUIRE = "require"


@enum.unique
class CertStatus(enum.StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"
    COULD_NOT_TELL = "could_not_tell"
    # Not checked by design: an OCSP responder certificate carrying
    # id-pkix-ocsp-nocheck (RFC 6960 4.2.2.2.1), reason OCSP_NOCHECK.
    EXEMPT = "exempt"


# The statuses only a validated response (or the expiry rule) can give.
_VALIDATED = frozenset({CertStatus.GOOD, CertStatus.REVOKED, CertStatus.UNKNOWN})


@enum.unique
class Reason(enum.StrEnum):
    """Why a result is COULD_NOT_TELL (``ocsp_nocheck`` alone: why it is EXEMPT). Expiry is not
    a reason: an expired certificate is REVOKED with ``expired`` set."""

    NO_RESPONDER_URL = "no_responder_url"
    ISSUER_NOT_FOUND = "issuer_not_found"
    RESPONDER_UNREACHABLE = "responder_unreachable"
    TIMEOUT = "timeout"
    HTTP_ERROR = "http_error"
    BAD_CONTENT_TYPE = "bad_content_type"
    RESPONSE_TOO_LARGE = "response_too_large"
    MALFORMED_RESPONSE = "malformed_response"
    UNSUCCESSFUL_STATUS = "unsuccessful_status"
    CERTID_MISMATCH = "certid_mismatch"
    UNAUTHORIZED_SIGNER = "unauthorized_signer"
    BAD_SIGNATURE = "bad_signature"
    NOT_YET_VALID = "not_yet_valid"
    STALE = "stale"
    NONCE_MISMATCH = "nonce_mismatch"
    OCSP_DISABLED = "ocsp_disabled"
    WEAK_SIGNATURE_ALGORITHM = "weak_signature_algorithm"  # SHA-1/MD5 (core/algorithms.py)
    UNSUPPORTED_CRITICAL_EXTENSION = "unsupported_critical_extension"  # RFC 5280 4.2
    OCSP_NOCHECK = "ocsp_nocheck"  # why a status is EXEMPT (RFC 6960 4.2.2.2.1)
    # CRLs, one block: the CRL-only reasons. stale, not_yet_valid, bad_signature,
    # unauthorized_signer and response_too_large apply to CRLs too.
    MALFORMED_CRL = "malformed_crl"
    NO_CRL_DISTRIBUTION_POINT = "no_crl_distribution_point"
    CRL_SCOPE_MISMATCH = "crl_scope_mismatch"
    CRL_NUMBER_REGRESSED = "crl_number_regressed"
    DELTA_CRL_MISMATCH = "delta_crl_mismatch"


@enum.unique
class Source(enum.StrEnum):
    """Which revocation source produced a result."""

    OCSP = "ocsp"
    CRL = "crl"


@enum.unique
class TrustModel(enum.StrEnum):
    """Which rule made the response's signer acceptable."""

    ISSUER = "issuer"  # signed by the issuing CA itself (DTM, RFC 6960 4.2.2.2 first case)
    DELEGATED = "delegated"  # a responder cert the issuing CA issued with OCSPSigning (DTM)
    TRUSTED_RESPONDER = "trusted_responder"  # a designated signer in tomcat-trust (TRP)


@dataclass(frozen=True)
class RevocationResult:
    """The outcome of one revocation check of one certificate.

    ``status`` is GOOD, REVOKED or UNKNOWN only when a response that passed
    every validation step said so, or REVOKED with ``expired`` set for an
    expired certificate (expiry is a cause of revocation, not a reason for
    not knowing: no responder is asked). Otherwise it is COULD_NOT_TELL and
    ``reason`` says why (the first failing step) while ``problems`` lists
    every failure seen.
    """

    status: CertStatus
    reason: Reason | None = None
    detail: str = ""
    problems: tuple[str, ...] = ()
    revoked_at: datetime | None = None
    revocation_reason: str | None = None  # RFC 5280 CRLReason name, e.g. "keyCompromise"
    trust_model: TrustModel | None = None
    signer_sha256: str | None = None
    this_update: datetime | None = None
    next_update: datetime | None = None
    produced_at: datetime | None = None
    responder_url: str | None = None
    raw_response: bytes | None = field(default=None, repr=False)
    http_status: int | None = None
    ocsp_response_status: str | None = None
    expired: bool = False  # REVOKED because notAfter has passed (no responder asked)
    # The source and, for CRLs, the evidence: the complete CRL's number and
    # SHA-256 (and the delta CRL's, when one was applied).
    source: Source = Source.OCSP
    crl_number: int | None = None
    crl_sha256: str | None = None
    delta_crl_number: int | None = None
    delta_crl_sha256: str | None = None

    @property
    def on_hold(self) -> bool:
        """Revoked with certificateHold (RFC 5280 5.3.1): may still be released."""
        return self.status is CertStatus.REVOKED and self.revocation_reason == "certificateHold"

    # The legacy (SHA-1) signatures this result relied on, accepted because the
    # administrator accepts legacy signatures: a cache must not serve it once
    # they are refused (core/ocsp/cache.py).
    legacy_signatures: tuple[str, ...] = ()

    @property
    def validated(self) -> bool:
        """True when a trusted response (or the expiry rule) produced the status.

        The one "validated" predicate (the cache and the TLS guard use it):
        GOOD, REVOKED or UNKNOWN; never COULD_NOT_TELL or EXEMPT.
        """
        return self.status in _VALIDATED

    def to_json(self, *, include_raw: bool = False) -> dict[str, Any]:
        """A JSON-ready dict: ISO-8601 ``Z`` times; the raw response only if asked."""
        out: dict[str, Any] = {
            "status": self.status.value,
            "reason": self.reason.value if self.reason else None,
            "expired": self.expired,
            "detail": self.detail,
            "problems": list(self.problems),
            "on_hold": self.on_hold,
            "revoked_at": iso_z(self.revoked_at),
            "revocation_reason": self.revocation_reason,
            "trust_model": self.trust_model.value if self.trust_model else None,
            "signer_sha256": self.signer_sha256,
            "this_update": iso_z(self.this_update),
            "next_update": iso_z(self.next_update),
            "produced_at": iso_z(self.produced_at),
            "responder_url": self.responder_url,
            "http_status": self.http_status,
            "ocsp_response_status": self.ocsp_response_status,
            "legacy_signatures": list(self.legacy_signatures),
            "source": self.source.value,
            "crl_number": self.crl_number,
            "crl_sha256": self.crl_sha256,
            "delta_crl_number": self.delta_crl_number,
            "delta_crl_sha256": self.delta_crl_sha256,
        }
        if include_raw:
            out["raw_response"] = (
                base64.b64encode(self.raw_response).decode("ascii")
                if self.raw_response is not None
                else None
            )
        return out

    @classmethod
    def could_not_tell(cls, reason: Reason, detail: str, **kw: Any) -> RevocationResult:
        """A could-not-tell result; ``detail`` also becomes the first problem."""
        problems = kw.pop("problems", None) or (detail,)
        return cls(
            status=CertStatus.COULD_NOT_TELL,
            reason=reason,
            detail=detail,
            problems=tuple(problems),
            **kw,
        )


@dataclass(frozen=True)
class ValidationOptions:
    """Knobs of response validation: clock skew, the maximum age without nextUpdate, nonces.

    The cache judges freshness with the same options (:func:`.freshness.fresh_until`).
    """

    skew: timedelta = timedelta(minutes=5)
    max_age: timedelta = timedelta(hours=24)  # applies when nextUpdate is absent
    nonce_mode: NonceMode = NonceMode.SEND
    # SHA-1 signatures (core/algorithms.py). False in Common Criteria mode, always.
    accept_legacy_signatures: bool = False

    def __post_init__(self) -> None:
        if self.skew < timedelta(0):
            raise ValueError("skew must not be negative")
        if self.max_age <= timedelta(0):
            raise ValueError("max_age must be positive")


def expired_result(cert: x509.Certificate, now: datetime) -> RevocationResult | None:
    """REVOKED with ``expired`` set once ``now`` is past notAfter, else None.

    RFC 5280 4.1.2.5: notAfter is inclusive, so a certificate is still valid
    at exactly its notAfter. No responder is asked: the product "revokes
    expired certificates automatically" (the admin-guide chapter).
    """
    not_after = cert.not_valid_after_utc
    if not is_expired(not_after, now):
        return None
    return RevocationResult(
        status=CertStatus.REVOKED,
        expired=True,
        detail=f"the certificate expired at {iso_z(not_after)}",
        revoked_at=not_after,
        revocation_reason=None,
    )


def exempt_result(cert: x509.Certificate) -> RevocationResult | None:
    """EXEMPT (reason OCSP_NOCHECK) for an OCSP responder certificate with id-pkix-ocsp-nocheck.

    RFC 6960 4.2.2.2.1: a CA may say that a client need not check the
    revocation status of a responder certificate for its lifetime by
    including id-pkix-ocsp-nocheck. It means something only on a responder
    certificate (id-kp-OCSPSigning, not a CA); on any other certificate it is
    ignored, and a delegated responder *without* it is checked like any
    certificate. The caller has established the issuer first.
    """
    try:
        extensions = cert.extensions
        extensions.get_extension_for_class(x509.OCSPNoCheck)
        eku = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (x509.ExtensionNotFound, ValueError, x509.DuplicateExtension):
        return None
    try:
        is_ca = extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if ExtendedKeyUsageOID.OCSP_SIGNING not in eku or is_ca:
        return None
    return RevocationResult(
        status=CertStatus.EXEMPT,
        reason=Reason.OCSP_NOCHECK,
        detail=(
            "an OCSP responder certificate with id-pkix-ocsp-nocheck: its issuing CA vouches "
            "for it for its lifetime, so its revocation status is not checked "
            "(RFC 6960 4.2.2.2.1)"
        ),
    )


def describe(result: RevocationResult) -> str:
    """One line for a person: ``revoked at ... (keyCompromise)``, ``could_not_tell: timeout``."""
    status = result.status.value
    if result.status is CertStatus.REVOKED:
        if result.expired:
            return "revoked (expired)"
        what = "revoked, on hold" if result.on_hold else "revoked"
        when = f" at {iso_z(result.revoked_at)}" if result.revoked_at else ""
        why = f" ({result.revocation_reason})" if result.revocation_reason else ""
        return f"{what}{when}{why}"
    if result.status in (CertStatus.COULD_NOT_TELL, CertStatus.EXEMPT):
        reason = result.reason.value if result.reason else "?"
        return f"{status}: {reason} — {result.detail}"
    return status
