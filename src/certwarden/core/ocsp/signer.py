"""Who signed a response, and may they (RFC 6960 4.2.2.2)? A step of :mod:`.validate`.

The rules (issuer, delegated responder, designated Trusted Responder Model
signer) are stated in :mod:`.validate`'s docstring. Beyond them, a responder
certificate is refused when it carries a critical extension certwarden does
not process (:mod:`certwarden.core.extensions`, RFC 5280 4.2) or a keyUsage
without digitalSignature, and the signature algorithms relied on — the
response's own and the issuing CA's signature on a delegated responder's
certificate — must pass :mod:`certwarden.core.algorithms` (SHA-1 only when
legacy signatures are accepted, MD5 never). Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509

from certwarden.core.algorithms import algorithm_problem, digest_label, is_legacy
from certwarden.core.ocsp._certinfo import CertInfo, cert_info
from certwarden.core.ocsp.prechecks import DEFAULT_OPTIONS, Failure
from certwarden.core.ocsp.response import ParsedResponse
from certwarden.core.ocsp.results import Reason, TrustModel, ValidationOptions, iso_z
from certwarden.core.signatures import (
    SignatureAlgorithm,
    certificate_signature_algorithm,
    verify_certificate_signature,
    verify_signature,
)

__all__ = [
    "SignatureMemo",
    "Signer",
    "SignerVerdict",
    "delegation_problems",
    "step_identify_and_verify_signer",
    "trusted_responder_problems",
]


@dataclass(frozen=True, slots=True)
class Signer:
    """A certificate allowed to sign for some issuer, and which rule allows it."""

    cert: x509.Certificate
    model: TrustModel


@dataclass(frozen=True, slots=True)
class SignerVerdict:
    """Who signed the response, if someone authorised did, and what failed."""

    signer: Signer | None
    failures: tuple[Failure, ...]
    # The certificate whose key made the signature even when it is not
    # authorised: evidence for the record, never a reason to trust.
    signed_by: x509.Certificate | None = None
    signed_by_info: CertInfo | None = None
    # Legacy (SHA-1) signatures relied on because they are accepted.
    legacy: tuple[str, ...] = ()


# Certificates are handled with their memoised CertInfo and keyed by SHA-256
# fingerprint: comparing or hashing cryptography Certificate objects costs
# microseconds each, which adds up to more than the signature check.


def _named_by_responder_id(parsed: ParsedResponse, info: CertInfo) -> bool:
    if parsed.responder_key_hash is not None:
        # byKey: SHA-1 of the responder's subjectPublicKey bits (RFC 6960 4.2.1).
        return info.key_hash == parsed.responder_key_hash
    return parsed.responder_name is not None and info.subject == parsed.responder_name


def _validity_problem(info: CertInfo, now: datetime) -> str | None:
    # RFC 5280 4.1.2.5: both ends of the validity period are inclusive.
    if info.not_before <= now <= info.not_after:
        return None
    if now > info.not_after:
        return f"it is not valid at {iso_z(now)} (expired at {iso_z(info.not_after)})"
    return f"it is not valid at {iso_z(now)} (not valid before {iso_z(info.not_before)})"


# (candidate sha256, issuer sha256) -> the algorithm of the issuer's signature
# on the candidate, or None when the issuer did not sign it. Memoised: a pure
# function of two certificates, and the costliest check after the response
# signature itself (one more signature verification). Bounded.
_ISSUED: dict[tuple[str, str], SignatureAlgorithm | None] = {}
_ISSUED_MAX = 4096


def _issued_directly_by(
    candidate: x509.Certificate,
    candidate_info: CertInfo,
    issuer_info: CertInfo,
) -> SignatureAlgorithm | None:
    key = (candidate_info.sha256, issuer_info.sha256)
    if key not in _ISSUED:
        # Name chaining and the signature, both; any algorithm verifies here
        # (the policy on it is applied by the caller, so SHA-1 is diagnosed
        # as weak, not as "not issued by").
        algorithm = None
        if (
            candidate_info.issuer == issuer_info.subject
            and issuer_info.public_key is not None
            and verify_certificate_signature(candidate, issuer_info.public_key) is None
        ):
            algorithm = certificate_signature_algorithm(candidate)
        if len(_ISSUED) >= _ISSUED_MAX:
            _ISSUED.clear()
        _ISSUED[key] = algorithm
    return _ISSUED[key]


# See validate's docstring ("Why no CA certificate may act as a responder").
_CA_SIGNER = (
    "it is a CA certificate (basicConstraints cA=TRUE), and a CA certificate never acts as "
    "an OCSP responder here, whatever its EKU lists (RFC 6960 4.2.2.2, RFC 5280 4.2.1.12)"
)


def _delegation_failures(
    candidate: x509.Certificate,
    info: CertInfo,
    issuer_info: CertInfo,
    now: datetime,
    options: ValidationOptions,
) -> tuple[list[tuple[Reason, str]], tuple[str, ...]]:
    """Why ``candidate`` may not answer for ``issuer``'s certificates, and legacy relied on."""
    problems: list[tuple[Reason, str]] = []
    legacy: tuple[str, ...] = ()
    algorithm = _issued_directly_by(candidate, info, issuer_info)
    if algorithm is None:
        problems.append(
            (
                Reason.UNAUTHORIZED_SIGNER,
                f"it was not issued directly by {issuer_info.label}, the CA that issued the "
                "certificate (RFC 6960 4.2.2.2)",
            )
        )
    # anyExtendedKeyUsage does not count: RFC 6960 4.2.2.2 asks for id-kp-OCSPSigning itself.
    if not info.ocsp_signing:
        problems.append(
            (
                Reason.UNAUTHORIZED_SIGNER,
                "it lacks the id-kp-OCSPSigning extended key usage (RFC 6960 4.2.2.2)",
            )
        )
    if info.is_ca:
        problems.append((Reason.UNAUTHORIZED_SIGNER, _CA_SIGNER))
    problems += _common_problems(info, now)
    if algorithm is not None:
        weak = algorithm_problem(
            algorithm,
            accept_legacy=options.accept_legacy_signatures,
            what=f"the responder certificate {info.label} (signed by {issuer_info.label})",
        )
        if weak is not None:
            problems.append((Reason.WEAK_SIGNATURE_ALGORITHM, weak))
        elif is_legacy(algorithm):
            legacy = (f"responder certificate {info.label}: {digest_label(algorithm)}",)
    return problems, legacy


def _common_problems(info: CertInfo, now: datetime) -> list[tuple[Reason, str]]:
    problems: list[tuple[Reason, str]] = []
    if info.key_usage_problem is not None:
        problems.append((Reason.UNAUTHORIZED_SIGNER, info.key_usage_problem))
    if (why := _validity_problem(info, now)) is not None:
        problems.append((Reason.UNAUTHORIZED_SIGNER, why))
    if info.critical_problem is not None:
        problems.append((Reason.UNSUPPORTED_CRITICAL_EXTENSION, info.critical_problem))
    return problems


def delegation_problems(
    candidate: x509.Certificate,
    issuer: x509.Certificate,
    now: datetime,
    options: ValidationOptions = DEFAULT_OPTIONS,
) -> list[str]:
    """Why ``candidate`` may not answer for certificates ``issuer`` issued (empty: it may).

    RFC 6960 4.2.2.2: a delegated responder's certificate is issued directly
    by the CA that issued the certificate in question, and carries
    id-kp-OCSPSigning; it must also be valid at the time of the check.
    """
    problems, _ = _delegation_failures(
        candidate, cert_info(candidate), cert_info(issuer), now, options
    )
    return [text for _, text in problems]


def trusted_responder_problems(cert: x509.Certificate, now: datetime) -> list[str]:
    """Why a designated (TRP) responder may not sign now (empty: it may)."""
    return [text for _, text in _trusted_problems(cert_info(cert), now)]


def _trusted_problems(info: CertInfo, now: datetime) -> list[tuple[Reason, str]]:
    # A designated responder is trusted by being designated: who signed its
    # certificate (and with which algorithm) is not what makes it trusted.
    problems: list[tuple[Reason, str]] = []
    if not info.ocsp_signing:
        problems.append(
            (
                Reason.UNAUTHORIZED_SIGNER,
                "the trusted responder lacks the id-kp-OCSPSigning extended key usage",
            )
        )
    if info.is_ca:
        problems.append((Reason.UNAUTHORIZED_SIGNER, _CA_SIGNER))
    return problems + _common_problems(info, now)


@dataclass
class SignatureMemo:
    """Per-response memo: each candidate's key is tried against the signature once."""

    parsed: ParsedResponse
    outcomes: dict[str, str | None] = field(default_factory=dict)

    def check(self, info: CertInfo) -> str | None:
        if info.sha256 not in self.outcomes:
            algorithm = self.parsed.signature_algorithm
            if algorithm is None:
                outcome: str | None = "the response carries no signature"
            elif info.public_key is None:
                outcome = info.key_problem
            else:
                outcome = verify_signature(
                    info.public_key, algorithm, self.parsed.tbs, self.parsed.signature
                )
            self.outcomes[info.sha256] = outcome
        return self.outcomes[info.sha256]


_Refused = tuple[x509.Certificate, CertInfo, list[tuple[Reason, str]]]


def _refusal(info: CertInfo, issuer_info: CertInfo, why: list[tuple[Reason, str]]) -> Failure:
    # The reason: a missing authorisation first, then an extension, then the algorithm.
    order = (
        Reason.UNAUTHORIZED_SIGNER,
        Reason.UNSUPPORTED_CRITICAL_EXTENSION,
        Reason.WEAK_SIGNATURE_ALGORITHM,
    )
    reason = next(r for r in order if any(w[0] is r for w in why))
    if len(why) == 1 and reason is Reason.WEAK_SIGNATURE_ALGORITHM:
        return Failure(reason, why[0][1])
    return Failure(
        reason,
        f"the responder certificate {info.label} is not authorised to answer for "
        f"certificates issued by {issuer_info.label}: {'; '.join(text for _, text in why)}",
    )


def step_identify_and_verify_signer(
    parsed: ParsedResponse,
    issuer: x509.Certificate,
    now: datetime,
    *,
    trusted_responders: Sequence[x509.Certificate] = (),
    other_certs: Sequence[x509.Certificate] = (),
    memo: SignatureMemo | None = None,
    options: ValidationOptions = DEFAULT_OPTIONS,
) -> SignerVerdict:
    """Find an authorised signer for ``issuer``'s certificates whose key made the signature.

    Candidates are the certificates the ResponderID names; each is authorised
    (or not) by the rules in :mod:`.validate`'s docstring. Then the signature
    is checked with each authorised candidate's key, and its algorithm against
    the policy. The failure is UNAUTHORIZED_SIGNER when nobody authorised is
    named, or when the key that did make the signature belongs to an
    unauthorised certificate (UNSUPPORTED_CRITICAL_EXTENSION or
    WEAK_SIGNATURE_ALGORITHM when that is all that is wrong with it); it is
    BAD_SIGNATURE when an authorised signer is named but the signature does
    not verify with its key, and WEAK_SIGNATURE_ALGORITHM when it verifies
    but with a refused algorithm.
    """
    memo = memo or SignatureMemo(parsed)
    issuer_info = cert_info(issuer)
    trusted = [(cert, cert_info(cert)) for cert in trusted_responders]
    trusted_ids = {info.sha256 for _, info in trusted}
    authorised: list[tuple[Signer, CertInfo, tuple[str, ...]]] = []
    refused: list[_Refused] = []

    # DTM, first case: the issuing CA signs itself (RFC 6960 4.2.2.2).
    if _named_by_responder_id(parsed, issuer_info):
        authorised.append((Signer(issuer, TrustModel.ISSUER), issuer_info, ()))
    # DTM, second case: a delegate the issuing CA certified (RFC 6960 4.2.2.2).
    seen = {issuer_info.sha256}
    included = [*zip(parsed.certificates, parsed.certificate_infos, strict=True)]
    for cert, info in [*included, *((c, cert_info(c)) for c in other_certs)]:
        if info.sha256 in seen or not _named_by_responder_id(parsed, info):
            continue
        seen.add(info.sha256)
        why, legacy = _delegation_failures(cert, info, issuer_info, now, options)
        if not why:
            authorised.append((Signer(cert, TrustModel.DELEGATED), info, legacy))
        elif info.sha256 not in trusted_ids:
            refused.append((cert, info, why))
    # TRP: a responder the administrator designated.
    for cert, info in trusted:
        if not _named_by_responder_id(parsed, info) or any(
            i.sha256 == info.sha256 for _, i, _ in authorised
        ):
            continue
        trp_why = _trusted_problems(info, now)
        if not trp_why:
            authorised.append((Signer(cert, TrustModel.TRUSTED_RESPONDER), info, ()))
        else:
            refused.append((cert, info, trp_why))

    bad_signatures: list[str] = []
    for signer, info, legacy in authorised:
        problem = memo.check(info)
        if problem is None:
            return _with_algorithm(parsed, signer, info, legacy, options)
        bad_signatures.append(f"signer {info.label} ({signer.model}): {problem}")

    refusals = [_refusal(info, issuer_info, why) for _, info, why in refused]
    actual = next(((c, i) for c, i, _ in refused if memo.check(i) is None), None)
    if actual is not None:
        # The signature is genuine, but made by a key nobody authorised.
        return SignerVerdict(None, tuple(refusals), *actual)
    if not authorised and not refused:
        refusals.append(
            Failure(
                Reason.UNAUTHORIZED_SIGNER,
                f"no certificate matching the responder ID ({parsed.responder_description()}) "
                f"is the issuing CA {issuer_info.label}, a responder it delegated to, or a "
                "trusted responder, so the signature cannot be trusted",
            )
        )
    signature_failures = [Failure(Reason.BAD_SIGNATURE, text) for text in bad_signatures]
    if not authorised and refused:
        signature_failures.append(
            Failure(
                Reason.BAD_SIGNATURE,
                "the signature does not verify with the key of any certificate the responder "
                "ID names",
            )
        )
    # Authorised signer named but the signature fails: the signature is the
    # first problem; otherwise the missing authorisation is.
    ordered = signature_failures + refusals if authorised else refusals + signature_failures
    return SignerVerdict(None, tuple(ordered))


def _with_algorithm(
    parsed: ParsedResponse,
    signer: Signer,
    info: CertInfo,
    legacy: tuple[str, ...],
    options: ValidationOptions,
) -> SignerVerdict:
    """The verified signer, unless the response's own algorithm is refused."""
    algorithm = parsed.signature_algorithm
    if algorithm is None:  # memo.check refuses a response without one
        return SignerVerdict(None, (Failure(Reason.BAD_SIGNATURE, "no signature"),))
    weak = algorithm_problem(
        algorithm,
        accept_legacy=options.accept_legacy_signatures,
        what=f"the response (signed by {info.label}, {signer.model})",
    )
    if weak is not None:
        failure = Failure(Reason.WEAK_SIGNATURE_ALGORITHM, weak)
        return SignerVerdict(None, (failure,), signer.cert, info)
    if is_legacy(algorithm):
        legacy = (*legacy, f"response signature: {digest_label(algorithm)}")
    return SignerVerdict(signer, (), signer.cert, info, legacy)
