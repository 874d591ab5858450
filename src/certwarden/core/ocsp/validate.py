"""Judging an OCSP response: may it be believed, and what does it say?

This is the one place that decides whether a response deserves trust. It runs
small named steps (in the manner of pyhanko-certvalidator), each returning the
failures it saw, in this order:

    parse -> response status -> match CertID -> identify signer ->
    signature -> thisUpdate -> nextUpdate (or maximum age) -> producedAt -> nonce

The first failure decides the result's :class:`Reason`; ``problems`` lists
every failure. A certificate is GOOD (or REVOKED, or UNKNOWN) only when no step
failed. Nothing here reads a clock, does I/O or raises for bad responses:
every outcome is a :class:`RevocationResult`.

Who may sign (RFC 6960 4.2.2.2, the Delegated Trust Model, then the Trusted
Responder Model):

1. the CA that issued the certificate in question, itself;
2. a responder certificate issued *directly* by that CA, carrying
   id-kp-OCSPSigning, valid at ``now`` and not itself a CA certificate (found
   among the certificates the response includes, or given by the caller as
   ``other_certs``);
3. one of ``trusted_responders`` (certificates an administrator designated by
   uploading them to tomcat-trust), valid at ``now``, carrying
   id-kp-OCSPSigning and not a CA certificate — so that a CA certificate that
   happens to sit in a trust store cannot vouch for certificates other CAs
   issued, not even one whose EKU lists id-kp-OCSPSigning.

Why no CA certificate may act as a responder (2 and 3): RFC 6960 4.2.2.2
speaks of a responder certificate, and RFC 5280 4.2.1.12 notes that EKU
"will appear only in end entity certificates"; many real intermediate CA
certificates nevertheless list id-kp-OCSPSigning (the 2020 "delegated
responder" incident: Mozilla bug 1649939), and such CAs are routinely uploaded
to tomcat-trust for TLS. Letting one sign OCSP answers would let a sub-CA
(often run by someone else) vouch for its parent's or anyone's certificates.
mozilla::pkix likewise requires an OCSP signer to be an end-entity
certificate. The issuing CA signing for itself (rule 1) is of course a CA.

The signer is named by the ResponderID (by name or by SHA-1 key hash); a
certificate that merely claims to be the responder is never believed unless
one of the three rules authorises it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509

from certwarden.core.certs import signed_by
from certwarden.core.ocsp._certinfo import CertInfo, cert_info
from certwarden.core.ocsp.certid import CertId, issuer_hashes
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
    iso_z,
)
from certwarden.core.ocsp.signature import verify_signature

__all__ = [
    "Failure",
    "Signer",
    "SignerVerdict",
    "delegation_problems",
    "index_singles",
    "same_certificate_ids",
    "step_identify_and_verify_signer",
    "step_match_cert_id",
    "step_next_update",
    "step_nonce",
    "step_produced_at",
    "step_response_status",
    "step_this_update",
    "trusted_responder_problems",
    "verify_parsed",
    "verify_response",
]

_DEFAULT_OPTIONS = ValidationOptions()


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed step: the reason code and what exactly went wrong."""

    reason: Reason
    text: str


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


# -- step: response status (RFC 6960 4.2.1) ----------------------------------


def step_response_status(parsed: ParsedResponse) -> list[Failure]:
    """Only a ``successful`` response carries an answer (RFC 6960 4.2.1)."""
    if parsed.successful:
        return []
    return [
        Failure(
            Reason.UNSUCCESSFUL_STATUS,
            f"the responder answered '{parsed.response_status}' instead of a signed response",
        )
    ]


# -- step: CertID (RFC 6960 4.1.1, all four fields) --------------------------


def index_singles(parsed: ParsedResponse) -> dict[CertId, list[SingleAnswer]]:
    """SingleResponses by CertID, so a batch of n answers is matched in O(n)."""
    index: dict[CertId, list[SingleAnswer]] = {}
    for single in parsed.singles:
        if single.cert_id is not None:
            index.setdefault(single.cert_id, []).append(single)
    return index


def same_certificate_ids(cert_id: CertId, issuer: x509.Certificate) -> list[CertId]:
    """``cert_id`` under every other CertID hash algorithm (empty unless ``issuer`` fits it).

    A response may name one certificate by a SHA-1 and by a SHA-256 CertID;
    both are answers about the same certificate and must agree.
    """
    hashes_ = issuer_hashes(issuer)
    alg = cert_id.hash_algorithm
    if (hashes_.name[alg], hashes_.key[alg]) != (cert_id.issuer_name_hash, cert_id.issuer_key_hash):
        return []
    return [
        CertId(other, hashes_.name[other], hashes_.key[other], cert_id.serial_number)
        for other in HashAlgorithm
        if other is not alg
    ]


def step_match_cert_id(
    parsed: ParsedResponse,
    cert_id: CertId,
    index: dict[CertId, list[SingleAnswer]] | None = None,
    equivalents: Sequence[CertId] = (),
) -> tuple[SingleAnswer | None, list[Failure]]:
    """The SingleResponse whose CertID equals ``cert_id`` on all four fields.

    ``equivalents`` name the same certificate under other CertID hash
    algorithms (:func:`same_certificate_ids`): answers found under them do
    not match, but they must not contradict the one that does.
    """
    # CertId equality is all four fields (RFC 6960 4.1.1); so is its hash.
    index = index if index is not None else index_singles(parsed)
    matches = index.get(cert_id, [])
    if matches:
        first = matches[0]
        # Every answer about this certificate, in any order and under either
        # CertID hash, must say the same thing: a signed response that says
        # both "good" and "revoked" about one certificate is not an answer
        # (without this, "good" under SHA-1 plus "revoked" under SHA-256 was
        # GOOD for a SHA-1 request).
        others = [m for e in equivalents for m in index.get(e, [])]
        if any(
            (m.status, m.revoked_at, m.revocation_reason)
            != (first.status, first.revoked_at, first.revocation_reason)
            for m in [*matches[1:], *others]
        ):
            return None, [
                Failure(
                    Reason.MALFORMED_RESPONSE,
                    f"the response answers for {cert_id.describe()} more than once, "
                    "with different statuses",
                )
            ]
        return first, []
    return None, [Failure(Reason.CERTID_MISMATCH, _mismatch_text(parsed, cert_id))]


def _mismatch_text(parsed: ParsedResponse, cert_id: CertId) -> str:
    wanted = f"serial {cert_id.serial_number:x}"
    for single in parsed.singles:
        if single.serial_number != cert_id.serial_number:
            continue
        differs = []
        if single.hash_name != cert_id.hash_algorithm.value:
            differs.append(f"hash algorithm {single.hash_name}, not {cert_id.hash_algorithm}")
        else:
            if single.issuer_name_hash != cert_id.issuer_name_hash:
                differs.append("issuer name hash")
            if single.issuer_key_hash != cert_id.issuer_key_hash:
                differs.append("issuer key hash")
        return (
            f"the response answers for {wanted} but its CertID differs in "
            f"{' and '.join(differs)} (RFC 6960 4.1.1: all four fields must match)"
        )
    answered = ", ".join(f"{s.serial_number:x}" for s in parsed.singles[:5])
    more = "…" if len(parsed.singles) > 5 else ""
    return f"the response does not answer for {wanted}; it answers for serial {answered}{more}"


# -- step: identify the signer and check the signature (RFC 6960 4.2.2.2) ----
#
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


# (candidate sha256, issuer sha256) -> issued directly by it? Memoised: a pure
# function of two certificates, and the costliest check after the response
# signature itself (one more signature verification). Bounded.
_ISSUED: dict[tuple[str, str], bool] = {}
_ISSUED_MAX = 4096


def _issued_directly_by(
    candidate: x509.Certificate,
    candidate_info: CertInfo,
    issuer: x509.Certificate,
    issuer_info: CertInfo,
) -> bool:
    key = (candidate_info.sha256, issuer_info.sha256)
    known = _ISSUED.get(key)
    if known is None:
        # Name chaining and the signature, both (cryptography's verify_directly_issued_by).
        known = candidate_info.issuer == issuer_info.subject and signed_by(candidate, issuer)
        if len(_ISSUED) >= _ISSUED_MAX:
            _ISSUED.clear()
        _ISSUED[key] = known
    return known


def delegation_problems(
    candidate: x509.Certificate, issuer: x509.Certificate, now: datetime
) -> list[str]:
    """Why ``candidate`` may not answer for certificates ``issuer`` issued (empty: it may).

    RFC 6960 4.2.2.2: a delegated responder's certificate is issued directly
    by the CA that issued the certificate in question, and carries
    id-kp-OCSPSigning; it must also be valid at the time of the check.
    """
    return _delegation_problems(candidate, cert_info(candidate), issuer, cert_info(issuer), now)


def _delegation_problems(
    candidate: x509.Certificate,
    info: CertInfo,
    issuer: x509.Certificate,
    issuer_info: CertInfo,
    now: datetime,
) -> list[str]:
    problems: list[str] = []
    if not _issued_directly_by(candidate, info, issuer, issuer_info):
        problems.append(
            f"it was not issued directly by {issuer_info.label}, the CA that issued the "
            "certificate (RFC 6960 4.2.2.2)"
        )
    # anyExtendedKeyUsage does not count: RFC 6960 4.2.2.2 asks for id-kp-OCSPSigning itself.
    if not info.ocsp_signing:
        problems.append("it lacks the id-kp-OCSPSigning extended key usage (RFC 6960 4.2.2.2)")
    if info.is_ca:
        problems.append(_CA_SIGNER)
    if (why := _validity_problem(info, now)) is not None:
        problems.append(why)
    return problems


# See the module docstring ("Why no CA certificate may act as a responder").
_CA_SIGNER = (
    "it is a CA certificate (basicConstraints cA=TRUE), and a CA certificate never acts as "
    "an OCSP responder here, whatever its EKU lists (RFC 6960 4.2.2.2, RFC 5280 4.2.1.12)"
)


def trusted_responder_problems(cert: x509.Certificate, now: datetime) -> list[str]:
    """Why a designated (TRP) responder may not sign now (empty: it may)."""
    return _trusted_problems(cert_info(cert), now)


def _trusted_problems(info: CertInfo, now: datetime) -> list[str]:
    problems: list[str] = []
    if not info.ocsp_signing:
        problems.append("the trusted responder lacks the id-kp-OCSPSigning extended key usage")
    if info.is_ca:
        problems.append(_CA_SIGNER)
    if (why := _validity_problem(info, now)) is not None:
        problems.append(why)
    return problems


@dataclass
class _SignatureMemo:
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


def step_identify_and_verify_signer(
    parsed: ParsedResponse,
    issuer: x509.Certificate,
    now: datetime,
    *,
    trusted_responders: Sequence[x509.Certificate] = (),
    other_certs: Sequence[x509.Certificate] = (),
    memo: _SignatureMemo | None = None,
) -> SignerVerdict:
    """Find an authorised signer for ``issuer``'s certificates whose key made the signature.

    Candidates are the certificates the ResponderID names; each is authorised
    (or not) by the rules in the module docstring. Then the signature is
    checked with each authorised candidate's key. The failure is
    UNAUTHORIZED_SIGNER when nobody authorised is named, or when the key that
    did make the signature belongs to an unauthorised certificate; it is
    BAD_SIGNATURE when an authorised signer is named but the signature does
    not verify with its key.
    """
    memo = memo or _SignatureMemo(parsed)
    issuer_info = cert_info(issuer)
    trusted = [(cert, cert_info(cert)) for cert in trusted_responders]
    trusted_ids = {info.sha256 for _, info in trusted}
    authorised: list[tuple[Signer, CertInfo]] = []
    refused: list[tuple[x509.Certificate, CertInfo, list[str]]] = []

    # DTM, first case: the issuing CA signs itself (RFC 6960 4.2.2.2).
    if _named_by_responder_id(parsed, issuer_info):
        authorised.append((Signer(issuer, TrustModel.ISSUER), issuer_info))
    # DTM, second case: a delegate the issuing CA certified (RFC 6960 4.2.2.2).
    seen = {issuer_info.sha256}
    included = [*zip(parsed.certificates, parsed.certificate_infos, strict=True)]
    for cert, info in [*included, *((c, cert_info(c)) for c in other_certs)]:
        if info.sha256 in seen or not _named_by_responder_id(parsed, info):
            continue
        seen.add(info.sha256)
        why = _delegation_problems(cert, info, issuer, issuer_info, now)
        if not why:
            authorised.append((Signer(cert, TrustModel.DELEGATED), info))
        elif info.sha256 not in trusted_ids:
            refused.append((cert, info, why))
    # TRP: a responder the administrator designated.
    for cert, info in trusted:
        if not _named_by_responder_id(parsed, info) or any(
            i.sha256 == info.sha256 for _, i in authorised
        ):
            continue
        why = _trusted_problems(info, now)
        if not why:
            authorised.append((Signer(cert, TrustModel.TRUSTED_RESPONDER), info))
        else:
            refused.append((cert, info, why))

    bad_signatures: list[str] = []
    for signer, info in authorised:
        problem = memo.check(info)
        if problem is None:
            return SignerVerdict(signer, (), signer.cert, info)
        bad_signatures.append(f"signer {info.label} ({signer.model}): {problem}")

    refusals = [
        Failure(
            Reason.UNAUTHORIZED_SIGNER,
            f"the responder certificate {info.label} is not authorised to answer for "
            f"certificates issued by {issuer_info.label}: {'; '.join(why)}",
        )
        for _, info, why in refused
    ]
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


# -- steps: freshness (RFC 6960 4.2.2.1, 3.2 items 5-6) -----------------------


def step_this_update(
    single: SingleAnswer, now: datetime, options: ValidationOptions = _DEFAULT_OPTIONS
) -> list[Failure]:
    """thisUpdate is not after ``now`` plus the allowed clock skew."""
    if single.this_update <= now + options.skew:
        return []
    return [
        Failure(
            Reason.NOT_YET_VALID,
            f"thisUpdate {iso_z(single.this_update)} is in the future "
            f"(now {iso_z(now)}, skew {options.skew})",
        )
    ]


def step_next_update(
    single: SingleAnswer, now: datetime, options: ValidationOptions = _DEFAULT_OPTIONS
) -> list[Failure]:
    """nextUpdate is not before ``now`` minus skew; without it, thisUpdate is recent enough.

    A nextUpdate before thisUpdate is refused outright: the response's
    validity window is empty (RFC 6960 4.2.2.1: newer information was due
    before this information was current), so it is fresh at no time, skew or
    not. OpenSSL's OCSP_check_validity refuses it the same way.
    """
    if single.next_update is not None:
        if single.next_update < single.this_update:
            return [
                Failure(
                    Reason.STALE,
                    f"nextUpdate {iso_z(single.next_update)} is before thisUpdate "
                    f"{iso_z(single.this_update)}: the response is valid at no time",
                )
            ]
        if single.next_update >= now - options.skew:
            return []
        return [
            Failure(
                Reason.STALE,
                f"nextUpdate {iso_z(single.next_update)} has passed (now {iso_z(now)}, "
                f"skew {options.skew})",
            )
        ]
    if single.this_update >= now - options.max_age:
        return []
    return [
        Failure(
            Reason.STALE,
            f"the response has no nextUpdate and its thisUpdate {iso_z(single.this_update)} "
            f"is older than the maximum age {options.max_age}",
        )
    ]


def step_produced_at(
    parsed: ParsedResponse, now: datetime, options: ValidationOptions = _DEFAULT_OPTIONS
) -> list[Failure]:
    """producedAt is not after ``now`` plus the allowed clock skew.

    producedAt is when the responder signed the response (RFC 6960 4.2.1).
    A response signed in the future cannot be genuine at ``now``: either the
    responder's clock is wrong (so its thisUpdate/nextUpdate cannot be relied
    on either) or the response was made ahead of time to be replayed later.
    Judged like thisUpdate (the same skew), so NOT_YET_VALID.
    """
    produced = parsed.produced_at
    if produced is None or produced <= now + options.skew:
        return []
    return [
        Failure(
            Reason.NOT_YET_VALID,
            f"producedAt {iso_z(produced)} is in the future (now {iso_z(now)}, "
            f"skew {options.skew}): the response claims to be signed later than now",
        )
    ]


# -- step: nonce (RFC 8954) --------------------------------------------------


def step_nonce(
    parsed: ParsedResponse, nonce: bytes | None, options: ValidationOptions = _DEFAULT_OPTIONS
) -> list[Failure]:
    """A nonce that was sent and echoed matches; with REQUIRE, it must be echoed."""
    if nonce is not None and parsed.nonce is not None and parsed.nonce != nonce:
        return [
            Failure(
                Reason.NONCE_MISMATCH,
                f"the response echoes nonce {parsed.nonce.hex()}, not the {nonce.hex()} sent "
                "(a replayed or misdirected response)",
            )
        ]
    if options.nonce_mode is NonceMode.REQUIRE:
        if nonce is None:
            return [Failure(Reason.NONCE_MISMATCH, "a nonce is required but none was sent")]
        if parsed.nonce is None:
            return [
                Failure(
                    Reason.NONCE_MISMATCH,
                    "a nonce is required but the response does not echo the one sent",
                )
            ]
    return []


# -- putting it together ------------------------------------------------------


def verify_response(
    der: bytes,
    *,
    cert_ids: Sequence[CertId],
    issuers: Sequence[x509.Certificate],
    now: datetime,
    trusted_responders: Sequence[x509.Certificate] = (),
    nonce: bytes | None = None,
    options: ValidationOptions = _DEFAULT_OPTIONS,
    responder_url: str | None = None,
) -> list[RevocationResult]:
    """Judge one DER response for each CertID (``issuers[i]`` issued ``cert_ids[i]``).

    Returns one :class:`RevocationResult` per CertID, in order. Never raises
    for a bad response: unreadable bytes are MALFORMED_RESPONSE.
    """
    if len(cert_ids) != len(issuers):
        raise ValueError("verify_response needs one issuer per CertID")
    try:
        parsed = parse_response(der)
    except MalformedResponseError as exc:
        detail = f"the response could not be parsed: {exc}"
        return [
            RevocationResult.could_not_tell(
                Reason.MALFORMED_RESPONSE, detail, responder_url=responder_url, raw_response=der
            )
            for _ in cert_ids
        ]
    return verify_parsed(
        parsed,
        cert_ids=cert_ids,
        issuers=issuers,
        now=now,
        trusted_responders=trusted_responders,
        nonce=nonce,
        options=options,
        responder_url=responder_url,
    )


def verify_parsed(
    parsed: ParsedResponse,
    *,
    cert_ids: Sequence[CertId],
    issuers: Sequence[x509.Certificate],
    now: datetime,
    trusted_responders: Sequence[x509.Certificate] = (),
    other_certs: Sequence[x509.Certificate] = (),
    nonce: bytes | None = None,
    options: ValidationOptions = _DEFAULT_OPTIONS,
    responder_url: str | None = None,
    check_freshness: bool = True,
) -> list[RevocationResult]:
    """:func:`verify_response` on an already parsed response.

    ``other_certs`` are untrusted certificates to search for a delegated
    responder the response does not include (``openssl ocsp -verify_other``);
    they must pass the same RFC 6960 4.2.2.2 checks. ``check_freshness=False``
    skips the thisUpdate/nextUpdate steps (for judging an archived response's
    authenticity only; a live check never does this).
    """
    if len(cert_ids) != len(issuers):
        raise ValueError("verify_parsed needs one issuer per CertID")
    status_failures = step_response_status(parsed)
    if status_failures:
        first = status_failures[0]
        return [
            RevocationResult.could_not_tell(
                first.reason,
                first.text,
                ocsp_response_status=parsed.response_status,
                responder_url=responder_url,
                raw_response=parsed.der,
            )
            for _ in cert_ids
        ]
    memo = _SignatureMemo(parsed)
    index = index_singles(parsed)
    verdicts: dict[int, SignerVerdict] = {}  # by id(): the issuers outlive this call
    nonce_failures = step_nonce(parsed, nonce, options)
    produced_failures = step_produced_at(parsed, now, options) if check_freshness else []
    results: list[RevocationResult] = []
    for cert_id, issuer in zip(cert_ids, issuers, strict=True):
        failures: list[Failure] = []
        single, match_failures = step_match_cert_id(
            parsed, cert_id, index, same_certificate_ids(cert_id, issuer)
        )
        failures += match_failures
        if id(issuer) not in verdicts:
            verdicts[id(issuer)] = step_identify_and_verify_signer(
                parsed,
                issuer,
                now,
                trusted_responders=trusted_responders,
                other_certs=other_certs,
                memo=memo,
            )
        verdict = verdicts[id(issuer)]
        failures += verdict.failures
        if single is not None and check_freshness:
            failures += step_this_update(single, now, options)
            failures += step_next_update(single, now, options)
        failures += produced_failures
        failures += nonce_failures
        results.append(_result(parsed, single, verdict, failures, responder_url))
    return results


def _result(
    parsed: ParsedResponse,
    single: SingleAnswer | None,
    verdict: SignerVerdict,
    failures: list[Failure],
    responder_url: str | None,
) -> RevocationResult:
    signer, signer_info = verdict.signer, verdict.signed_by_info
    evidence: dict[str, Any] = {
        "trust_model": signer.model if signer else None,
        "signer_sha256": signer_info.sha256 if signer_info else None,
        "this_update": single.this_update if single else None,
        "next_update": single.next_update if single else None,
        "produced_at": parsed.produced_at,
        "responder_url": responder_url,
        "raw_response": parsed.der,
        "ocsp_response_status": parsed.response_status,
    }
    if failures or single is None or signer is None or signer_info is None:
        # (single and signer are always set when nothing failed; the check
        # stays explicit so no edit elsewhere can ever turn this into GOOD.)
        first = failures[0] if failures else Failure(Reason.MALFORMED_RESPONSE, "internal error")
        return RevocationResult(
            status=CertStatus.COULD_NOT_TELL,
            reason=first.reason,
            detail=first.text,
            problems=tuple(f.text for f in failures) or (first.text,),
            **evidence,
        )
    if single.status is CertStatus.REVOKED:
        reason = single.revocation_reason or "unspecified reason"
        detail = f"revoked at {iso_z(single.revoked_at)} ({reason})"
    elif single.status is CertStatus.UNKNOWN:
        detail = "the responder does not know this certificate"
    else:
        detail = "good"
    return RevocationResult(
        status=single.status,
        detail=f"{detail}; response signed by {signer_info.label} ({signer.model})",
        revoked_at=single.revoked_at,
        revocation_reason=single.revocation_reason,
        **evidence,
    )
