"""Judging and describing a saved OCSP response, offline.

``certwarden ocsp verify-response`` and ``certwarden ocsp show`` render what
these pure functions return; an auditor re-verifying the evidence stored with
a check gets the same answer as the check did (the same steps run, from
:mod:`.validate`).

Judging a saved response: its signature and signer authorisation at ``now``
for every SingleResponse, each of which must name one of the given issuers in
its CertID; the issuers form a trust store — the response is trusted when one
of them makes it so. With ``cert``, also the CertID match and freshness for
that certificate. Without it, freshness is reported but does not decide (an
archived response is judged for authenticity). Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from cryptography import x509

from certwarden.core.algorithms import certificate_algorithm_problem
from certwarden.core.certs import signed_by
from certwarden.core.ocsp.certid import CertId, cert_id_for, issuer_hashes
from certwarden.core.ocsp.response import (
    MalformedResponseError,
    ParsedResponse,
    SingleAnswer,
    certificate_sha256,
    parse_response,
)
from certwarden.core.ocsp.results import (
    CertStatus,
    HashAlgorithm,
    NonceMode,
    Reason,
    RevocationResult,
    ValidationOptions,
    expired_result,
    iso_z,
)
from certwarden.core.ocsp.validate import step_next_update, step_this_update, verify_parsed

__all__ = [
    "OfflineVerdict",
    "Problem",
    "SingleVerdict",
    "describe_response",
    "judge_saved_response",
]

# A saved response has no nonce to compare with.
_OFFLINE = ValidationOptions(nonce_mode=NonceMode.OFF)


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a saved response is not trusted."""

    reason: Reason
    text: str

    def to_json(self) -> dict[str, str]:
        return {"reason": self.reason.value, "text": self.text}


@dataclass(frozen=True)
class SingleVerdict:
    """The judgement of one SingleResponse."""

    index: int  # 1-based, as shown
    answer: SingleAnswer
    issuer: x509.Certificate | None  # the given issuer its CertID names
    result: RevocationResult | None  # None when it names none of them
    notes: tuple[str, ...] = ()  # freshness observations that did not decide


@dataclass(frozen=True)
class OfflineVerdict:
    """Whether a saved response deserves trust, and every reason it does not."""

    at: datetime
    trusted: bool
    problems: tuple[Problem, ...]
    parsed: ParsedResponse | None
    singles: tuple[SingleVerdict, ...] = ()
    certificate: RevocationResult | None = None  # the --cert judgement
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "trusted": self.trusted,
            "verdict": "trusted" if self.trusted else "not trusted",
            "at": iso_z(self.at),
            "reasons": [p.to_json() for p in self.problems],
            "notes": list(self.notes),
            "response": describe_response(self.parsed) if self.parsed else None,
            "single_responses": [_single_json(s) for s in self.singles],
            "certificate": self.certificate.to_json() if self.certificate else None,
        }


def _single_json(verdict: SingleVerdict) -> dict[str, Any]:
    result = verdict.result
    return {
        "index": verdict.index,
        "serial": f"{verdict.answer.serial_number:x}",
        "status": verdict.answer.status.value,
        "issuer_sha256": certificate_sha256(verdict.issuer) if verdict.issuer else None,
        "trusted": bool(result and result.validated),
        "trust_model": result.trust_model.value if result and result.trust_model else None,
        "signer_sha256": result.signer_sha256 if result else None,
        "problems": list(result.problems) if result else [],
        "notes": list(verdict.notes),
    }


def _issuers_named_by(
    answer: SingleAnswer, issuers: Sequence[x509.Certificate]
) -> list[x509.Certificate]:
    if answer.cert_id is None:
        return []
    alg = answer.cert_id.hash_algorithm
    return [
        issuer
        for issuer in issuers
        if issuer_hashes(issuer).name[alg] == answer.issuer_name_hash
        and issuer_hashes(issuer).key[alg] == answer.issuer_key_hash
    ]


def _judge_with_any(
    parsed: ParsedResponse,
    cert_id: CertId,
    candidates: Sequence[x509.Certificate],
    *,
    now: datetime,
    trusted_responders: Sequence[x509.Certificate],
    other_certs: Sequence[x509.Certificate],
    check_freshness: bool,
    options: ValidationOptions,
) -> tuple[x509.Certificate, RevocationResult]:
    """The first issuer that makes the response trusted, else the first one's failure."""
    first: tuple[x509.Certificate, RevocationResult] | None = None
    for issuer in candidates:
        (result,) = verify_parsed(
            parsed,
            cert_ids=[cert_id],
            issuers=[issuer],
            now=now,
            trusted_responders=trusted_responders,
            other_certs=other_certs,
            options=options,
            check_freshness=check_freshness,
        )
        if result.validated:
            return issuer, result
        first = first or (issuer, result)
    if first is None:
        raise ValueError("no candidate issuers")
    return first


def judge_saved_response(
    der: bytes,
    *,
    issuers: Sequence[x509.Certificate],
    now: datetime,
    cert: x509.Certificate | None = None,
    trusted_responders: Sequence[x509.Certificate] = (),
    other_certs: Sequence[x509.Certificate] = (),
    accept_legacy_signatures: bool = False,
) -> OfflineVerdict:
    """Judge ``der`` offline at ``now`` against the ``issuers`` trust store.

    ``accept_legacy_signatures``: SHA-1 signatures are accepted
    (``--allow-legacy-signatures``); by default they are refused
    (:mod:`certwarden.core.algorithms`).
    """
    options = replace(_OFFLINE, accept_legacy_signatures=accept_legacy_signatures)
    try:
        parsed = parse_response(der)
    except MalformedResponseError as exc:
        problem = Problem(Reason.MALFORMED_RESPONSE, f"the response could not be parsed: {exc}")
        return OfflineVerdict(now, False, (problem,), None)
    if not parsed.successful:
        problem = Problem(
            Reason.UNSUCCESSFUL_STATUS,
            f"the responder answered '{parsed.response_status}': there is no signed answer",
        )
        return OfflineVerdict(now, False, (problem,), parsed)

    problems: list[Problem] = []
    singles: list[SingleVerdict] = []
    for index, answer in enumerate(parsed.singles, start=1):
        label = f"single response #{index} (serial {answer.serial_number:x})"
        freshness = tuple(
            f.text for f in step_this_update(answer, now) + step_next_update(answer, now)
        )
        named = _issuers_named_by(answer, issuers)
        if answer.cert_id is None or not named:
            why = (
                f"its CertID uses {answer.hash_name}, which is not accepted"
                if answer.cert_id is None
                else "its CertID names none of the --issuer certificates "
                f"(issuer name hash {answer.issuer_name_hash.hex()}, "
                f"key hash {answer.issuer_key_hash.hex()})"
            )
            problems.append(Problem(Reason.ISSUER_NOT_FOUND, f"{label}: {why}"))
            singles.append(SingleVerdict(index, answer, None, None, freshness))
            continue
        issuer, result = _judge_with_any(
            parsed,
            answer.cert_id,
            named,
            now=now,
            trusted_responders=trusted_responders,
            other_certs=other_certs,
            check_freshness=False,
            options=options,
        )
        for text in result.problems:
            problems.append(Problem(result.reason or Reason.MALFORMED_RESPONSE, f"{label}: {text}"))
        singles.append(SingleVerdict(index, answer, issuer, result, freshness))

    certificate: RevocationResult | None = None
    notes: list[str] = []
    if cert is not None:
        certificate = _judge_certificate(
            parsed, cert, issuers, now, trusted_responders, other_certs, options
        )
        if not certificate.validated:
            for text in certificate.problems:
                problems.append(
                    Problem(certificate.reason or Reason.CERTID_MISMATCH, f"--cert: {text}")
                )
        if (expired := expired_result(cert, now)) is not None:
            notes.append(f"--cert: {expired.detail} (treated as revoked whatever OCSP says)")
    return OfflineVerdict(
        now, not problems, tuple(problems), parsed, tuple(singles), certificate, tuple(notes)
    )


def _judge_certificate(
    parsed: ParsedResponse,
    cert: x509.Certificate,
    issuers: Sequence[x509.Certificate],
    now: datetime,
    trusted_responders: Sequence[x509.Certificate],
    other_certs: Sequence[x509.Certificate],
    options: ValidationOptions,
) -> RevocationResult:
    own = [issuer for issuer in issuers if signed_by(cert, issuer)]
    if not own:
        return RevocationResult.could_not_tell(
            Reason.ISSUER_NOT_FOUND,
            "none of the --issuer certificates issued the certificate "
            f"(its issuer is {cert.issuer.rfc4514_string()})",
            raw_response=parsed.der,
        )
    # Ask with the CertID hash the response itself uses (SHA-1 when it uses none we know).
    used = {s.cert_id.hash_algorithm for s in parsed.singles if s.cert_id is not None}
    algorithm = HashAlgorithm.SHA256 if used == {HashAlgorithm.SHA256} else HashAlgorithm.SHA1
    weak = certificate_algorithm_problem(
        cert,
        accept_legacy=options.accept_legacy_signatures,
        what=f"the certificate {cert.subject.rfc4514_string()}",
    )
    if weak is not None:
        return RevocationResult.could_not_tell(
            Reason.WEAK_SIGNATURE_ALGORITHM, weak, raw_response=parsed.der
        )
    cert_id = cert_id_for(cert, own[0], algorithm)
    _, result = _judge_with_any(
        parsed,
        cert_id,
        own,
        now=now,
        trusted_responders=trusted_responders,
        other_certs=other_certs,
        check_freshness=True,
        options=options,
    )
    return result


def describe_response(parsed: ParsedResponse) -> dict[str, Any]:
    """Everything a response says, as JSON-ready values (``certwarden ocsp show``)."""
    if not parsed.successful:
        return {"response_status": parsed.response_status}
    algorithm = parsed.signature_algorithm
    return {
        "response_status": parsed.response_status,
        "responder_id": (
            {"by": "name", "name": parsed.responder_name.rfc4514_string()}
            if parsed.responder_name is not None
            else {
                "by": "key_hash",
                "key_hash": parsed.responder_key_hash.hex() if parsed.responder_key_hash else None,
            }
        ),
        "produced_at": iso_z(parsed.produced_at),
        "signature_algorithm": algorithm.describe() if algorithm else None,
        "nonce": parsed.nonce.hex() if parsed.nonce is not None else None,
        "responses": [
            {
                "cert_id": {
                    "hash_algorithm": s.hash_name,
                    "issuer_name_hash": s.issuer_name_hash.hex(),
                    "issuer_key_hash": s.issuer_key_hash.hex(),
                    "serial": f"{s.serial_number:x}",
                },
                "status": s.status.value,
                "this_update": iso_z(s.this_update),
                "next_update": iso_z(s.next_update),
                "revoked_at": iso_z(s.revoked_at),
                "revocation_reason": s.revocation_reason,
                "on_hold": s.status is CertStatus.REVOKED
                and s.revocation_reason == "certificateHold",
            }
            for s in parsed.singles
        ],
        "certificates": [_cert_json(c) for c in parsed.certificates],
    }


def _cert_json(cert: x509.Certificate) -> dict[str, Any]:
    try:
        eku = [
            getattr(oid, "_name", oid.dotted_string)
            for oid in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        ]
    except (x509.ExtensionNotFound, ValueError):
        eku = []
    try:
        serial = f"{cert.serial_number:x}"
    except Exception:  # e.g. a zero or negative serial cryptography warns (or errors) about
        serial = "unreadable"
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": serial,
        "sha256": certificate_sha256(cert),
        "not_before": iso_z(cert.not_valid_before_utc),
        "not_after": iso_z(cert.not_valid_after_utc),
        "extended_key_usage": eku,
    }
