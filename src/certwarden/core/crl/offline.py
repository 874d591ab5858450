"""Judging a saved CRL offline (``certwarden crl verify``): the verdict and its reasons.

The same steps a check runs (:func:`.validate.check_crl`, :class:`.judge.CrlJudge`),
against CA certificates an administrator names: the CRL is trusted when one
of them (or an indirect CRL issuer it authorised) signed it, it is fresh at
``now`` and nothing in it is refused. With a certificate, the answer for that
certificate must also be a validated one (good or revoked: a revoked
certificate is a trusted answer). Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certwarden.core.certs import signed_by
from certwarden.core.crl.judge import CrlJudge
from certwarden.core.crl.load import Crl
from certwarden.core.crl.validate import DEFAULT_OPTIONS, CrlCheck, Failure, check_crl
from certwarden.core.ocsp.results import Reason, RevocationResult, ValidationOptions, iso_z

__all__ = ["CrlVerdict", "judge_saved_crl"]


@dataclass(frozen=True)
class CrlVerdict:
    """Whether a saved CRL deserves trust (and, with ``--cert``, its answer)."""

    at: datetime
    crl: Crl
    check: CrlCheck
    issuer: x509.Certificate | None  # the given CA it was judged against
    certificate: RevocationResult | None = None
    problems: tuple[Failure, ...] = ()

    @property
    def trusted(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        signer = self.check.signer
        return {
            "trusted": self.trusted,
            "verdict": "trusted" if self.trusted else "not trusted",
            "at": iso_z(self.at),
            "reasons": [{"reason": p.reason.value, "text": p.text} for p in self.problems],
            "crl": self.crl.to_json(entries=False),
            "issuer": self.issuer.subject.rfc4514_string() if self.issuer else None,
            "signer": signer.subject.rfc4514_string() if signer else None,
            "signer_sha256": _sha256(signer) if signer else None,
            "certificate": self.certificate.to_json() if self.certificate else None,
        }


def _sha256(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _issuer_of(
    cert: x509.Certificate, issuers: Sequence[x509.Certificate]
) -> x509.Certificate | None:
    for candidate in issuers:
        if candidate.subject == cert.issuer and signed_by(cert, candidate):
            return candidate
    return None


def judge_saved_crl(
    crl: Crl,
    *,
    issuers: Sequence[x509.Certificate],
    now: datetime,
    cert: x509.Certificate | None = None,
    deltas: Sequence[Crl] = (),
    crl_issuers: Sequence[x509.Certificate] = (),
    options: ValidationOptions = DEFAULT_OPTIONS,
) -> CrlVerdict:
    """Judge ``crl`` (and its ``deltas``) against the CA certificates ``issuers``."""
    if cert is not None:
        issuer = _issuer_of(cert, issuers)
        if issuer is None:
            check = CrlCheck(crl, None, ())
            problem = Failure(
                Reason.ISSUER_NOT_FOUND,
                f"none of the --issuer certificates issued the certificate "
                f"(its issuer is {cert.issuer.rfc4514_string()})",
            )
            return CrlVerdict(now, crl, check, None, problems=(problem,))
        candidates = [issuer]
    else:
        candidates = list(issuers)
    checks = [
        (c, check_crl(crl, c, now=now, options=options, crl_issuers=crl_issuers))
        for c in candidates
    ]
    if not checks:
        problem = Failure(Reason.ISSUER_NOT_FOUND, "no --issuer certificate was given")
        return CrlVerdict(now, crl, CrlCheck(crl, None, ()), None, problems=(problem,))
    # The CA that makes the CRL usable, else the one it names, else the first.
    issuer, check = next(
        (pair for pair in checks if pair[1].usable),
        next((pair for pair in checks if pair[0].subject == crl.issuer), checks[0]),
    )
    problems = list(check.failures)
    judged = CrlJudge(issuer, [crl, *deltas], now=now, options=options, crl_issuers=crl_issuers)
    for delta_check in judged.checks:
        if delta_check.crl is not crl and delta_check.crl.is_delta:
            problems.extend(
                Failure(f.reason, f"delta CRL {delta_check.crl.source}: {f.text}")
                for f in delta_check.failures
            )
    result = None
    if cert is not None:
        result = judged.check(cert)
        if not result.validated and not problems:
            problems.append(Failure(result.reason or Reason.CRL_SCOPE_MISMATCH, result.detail))
    return CrlVerdict(now, crl, check, issuer, result, tuple(problems))
