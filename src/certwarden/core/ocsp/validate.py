"""Judging an OCSP response: may it be believed, and what does it say?

This is the one place that decides whether a response deserves trust. It runs
small named steps (in the manner of pyhanko-certvalidator), each returning the
failures it saw, in this order:

    parse -> response status -> match CertID -> identify signer ->
    signature (and its algorithm) -> critical extensions -> thisUpdate ->
    nextUpdate (or maximum age) -> producedAt -> nonce

The steps live beside this module, one job a module: :mod:`.prechecks`
(status, CertID, extensions, nonce), :mod:`.signer` (who signed, may they,
with which algorithm) and :mod:`.freshness` (the one freshness rule, which
the cache uses too). This module runs them and turns failures into results.

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
from datetime import datetime
from typing import Any

from cryptography import x509

from certwarden.core.ocsp.certid import CertId
from certwarden.core.ocsp.freshness import (
    fresh_until,
    step_next_update,
    step_produced_at,
    step_this_update,
)
from certwarden.core.ocsp.prechecks import (
    DEFAULT_OPTIONS,
    Failure,
    index_singles,
    same_certificate_ids,
    step_critical_extensions,
    step_match_cert_id,
    step_nonce,
    step_response_status,
)
from certwarden.core.ocsp.response import (
    MalformedResponseError,
    ParsedResponse,
    SingleAnswer,
    parse_response,
)
from certwarden.core.ocsp.results import (
    CertStatus,
    Reason,
    RevocationResult,
    ValidationOptions,
    iso_z,
)
from certwarden.core.ocsp.signer import (
    SignatureMemo,
    Signer,
    SignerVerdict,
    delegation_problems,
    step_identify_and_verify_signer,
    trusted_responder_problems,
)

__all__ = [
    "Failure",
    "Signer",
    "SignerVerdict",
    "delegation_problems",
    "fresh_until",
    "index_singles",
    "same_certificate_ids",
    "step_critical_extensions",
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

_DEFAULT_OPTIONS = DEFAULT_OPTIONS


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
    memo = SignatureMemo(parsed)
    index = index_singles(parsed)
    verdicts: dict[int, SignerVerdict] = {}  # by id(): the issuers outlive this call
    nonce_failures = step_nonce(parsed, nonce, options)
    extension_failures = step_critical_extensions(parsed)
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
                options=options,
            )
        verdict = verdicts[id(issuer)]
        failures += verdict.failures
        failures += extension_failures
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
        "legacy_signatures": verdict.legacy,
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
