"""May this CRL be believed? The named validation steps, once per CRL version.

Like the OCSP validator (:mod:`certwarden.core.ocsp.validate`), small named
steps each return the failures they saw, in this order:

    structure -> identify signer -> signature -> thisUpdate -> nextUpdate
    (or maximum age) -> CRL number

The first failure decides the :class:`Reason`; every failure is kept. None of
this depends on the certificate being checked, so :func:`check_crl` runs once
per CRL (and the signature, the costly part, once per CRL version and signer
key: :attr:`Crl.signature_verdicts`); whether the CRL covers a given
certificate is :mod:`.scope`, and the answer for it :mod:`.judge`.

Who may sign (RFC 5280 6.3.3 (f), 5.1.1.3): the certificate's issuing CA, by
the key whose certificate the caller gives as ``issuer``, when its keyUsage
(if present) allows cRLSign; or, for an indirect CRL, a CRL issuer
certificate among ``crl_issuers`` that the issuing CA itself issued (its
signature verifies with the CA's key), that carries keyUsage cRLSign and is
valid at ``now``. Whether the certificate's distribution point names that CRL
issuer in cRLIssuer is a scope question (:func:`.scope.scope_of`).

Signatures go through :func:`certwarden.core.ocsp.signature.verify_signature`:
the same algorithm rules as OCSP responses (the algorithm from the CRL's
signatureAlgorithm, which must fit the key; MD5 and unknown ones refused).
Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certwarden.core.algorithms import algorithm_problem, certificate_algorithm_problem
from certwarden.core.certs import signed_by
from certwarden.core.crl.load import Crl
from certwarden.core.ocsp.results import Reason, ValidationOptions, iso_z
from certwarden.core.ocsp.signature import verify_signature

__all__ = [
    "CrlCheck",
    "Failure",
    "check_crl",
    "signature_problem",
    "step_identify_signer",
    "step_next_update",
    "step_number",
    "step_signature",
    "step_structure",
    "step_this_update",
]

DEFAULT_OPTIONS = ValidationOptions()


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed step: the reason code and what exactly went wrong."""

    reason: Reason
    text: str


@dataclass(frozen=True, eq=False)
class CrlCheck:
    """The certificate-independent verdict on one CRL.

    Attributes:
        crl: the CRL judged.
        signer: the certificate whose key verified it (None when none did).
        failures: every failed step; empty means the CRL may be used.
    """

    crl: Crl
    signer: x509.Certificate | None
    failures: tuple[Failure, ...]

    @property
    def usable(self) -> bool:
        return not self.failures

    @property
    def reason(self) -> Reason | None:
        return self.failures[0].reason if self.failures else None


# -- step: structure (RFC 5280 5.2, 5.3: critical extensions) ----------------


def step_structure(crl: Crl) -> list[Failure]:
    """Unknown critical extensions (CRL or entry) and structural problems refuse the CRL."""
    out: list[Failure] = []
    if crl.unknown_critical:
        out.append(
            Failure(
                Reason.UNSUPPORTED_CRITICAL_EXTENSION,
                f"the CRL carries critical extension(s) {', '.join(crl.unknown_critical)} "
                "that certwarden does not understand (RFC 5280 5.2: it must not be used)",
            )
        )
    out.extend(Failure(Reason.MALFORMED_CRL, problem) for problem in crl.problems)
    if not crl.algorithms_agree:
        out.append(
            Failure(
                Reason.MALFORMED_CRL,
                "signatureAlgorithm differs from tbsCertList.signature (RFC 5280 5.1.1.2)",
            )
        )
    return out


# -- step: who signed it (RFC 5280 6.3.3 (f)) ----------------------------------


def _crl_sign_problem(cert: x509.Certificate) -> str | None:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    except ValueError:
        return "its keyUsage extension is malformed"
    return None if usage.crl_sign else "its keyUsage does not include cRLSign"


def _ski(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except (x509.ExtensionNotFound, ValueError):
        return None


def step_identify_signer(
    crl: Crl,
    issuer: x509.Certificate,
    crl_issuers: Sequence[x509.Certificate],
    now: datetime,
) -> tuple[list[x509.Certificate], list[Failure]]:
    """The certificates that may have signed ``crl``, most likely first, or why none may."""
    if crl.issuer == issuer.subject:
        problem = _crl_sign_problem(issuer)
        if problem is not None:
            return [], [
                Failure(
                    Reason.UNAUTHORIZED_SIGNER,
                    f"the CA {issuer.subject.rfc4514_string()} may not sign CRLs: {problem}",
                )
            ]
        return [issuer], []
    refused: list[str] = []
    allowed: list[x509.Certificate] = []
    for candidate in crl_issuers:
        if candidate.subject != crl.issuer:
            continue
        if not signed_by(candidate, issuer):
            refused.append("a certificate with its name was not issued by the CA")
            continue
        problem = _crl_sign_problem(candidate) or (
            "it has no keyUsage with cRLSign" if _no_key_usage(candidate) else None
        )
        # RFC 5280 4.1.2.5: both ends of the validity period are inclusive.
        if problem is None and not (
            candidate.not_valid_before_utc <= now <= candidate.not_valid_after_utc
        ):
            problem = f"its certificate is not valid at {iso_z(now)}"
        if problem is not None:
            refused.append(problem)
            continue
        allowed.append(candidate)
    if allowed:
        return allowed, []
    why = f" ({'; '.join(refused)})" if refused else ""
    return [], [
        Failure(
            Reason.UNAUTHORIZED_SIGNER,
            f"the CRL is issued by {crl.issuer.rfc4514_string()}, which is neither the "
            f"certificate's issuer {issuer.subject.rfc4514_string()} nor a CRL issuer that "
            f"CA authorised with cRLSign{why}",
        )
    ]


def _no_key_usage(cert: x509.Certificate) -> bool:
    # An indirect CRL issuer must show cRLSign explicitly (RFC 5280 6.3.3 (f)).
    try:
        cert.extensions.get_extension_for_class(x509.KeyUsage)
    except x509.ExtensionNotFound:
        return True
    except ValueError:
        return False
    return False


# -- step: signature ------------------------------------------------------------


def _key_id(cert: x509.Certificate) -> str:
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def signature_problem(crl: Crl, signer: x509.Certificate) -> str | None:
    """None when ``signer``'s key verifies ``crl``; else why not. Memoised per key.

    The one place a CRL signature is checked: the algorithm policy of OCSP
    responses applies (:func:`certwarden.core.ocsp.signature.verify_signature`).
    """
    key_id = _key_id(signer)
    if key_id in crl.signature_verdicts:
        return crl.signature_verdicts[key_id]
    try:
        public_key = signer.public_key()
    except ValueError as exc:
        verdict: str | None = f"the signer's public key cannot be read: {exc}"
    else:
        verdict = verify_signature(public_key, crl.signature_algorithm, crl.tbs, crl.signature)
    crl.signature_verdicts[key_id] = verdict
    return verdict


def step_signature(
    crl: Crl, candidates: Sequence[x509.Certificate]
) -> tuple[x509.Certificate | None, list[Failure]]:
    """The first candidate whose key verifies the CRL (those the AKI names first)."""
    if not candidates:
        return None, []
    ordered = sorted(
        candidates,
        key=lambda c: 0 if crl.authority_key_id is None or _ski(c) == crl.authority_key_id else 1,
    )
    problems: list[str] = []
    for candidate in ordered:
        problem = signature_problem(crl, candidate)
        if problem is None:
            return candidate, []
        problems.append(problem)
    return None, [Failure(Reason.BAD_SIGNATURE, f"the CRL's signature is not valid: {problems[0]}")]


def step_algorithm(
    crl: Crl,
    signer: x509.Certificate | None,
    issuer: x509.Certificate,
    options: ValidationOptions,
) -> list[Failure]:
    """The signature-algorithm policy of OCSP responses (:mod:`certwarden.core.algorithms`):
    a SHA-1-signed CRL (or indirect CRL issuer certificate) is ``weak_signature_algorithm``
    unless legacy signatures are accepted (never in Common Criteria mode); MD5 never."""
    failures: list[Failure] = []
    weak = algorithm_problem(
        crl.signature_algorithm,
        accept_legacy=options.accept_legacy_signatures,
        what=f"the CRL from {crl.source}",
    )
    if weak is not None:
        failures.append(Failure(Reason.WEAK_SIGNATURE_ALGORITHM, weak))
    if signer is not None and signer != issuer:
        weak = certificate_algorithm_problem(
            signer,
            accept_legacy=options.accept_legacy_signatures,
            what=f"the CRL issuer certificate {signer.subject.rfc4514_string()}",
        )
        if weak is not None:
            failures.append(Failure(Reason.WEAK_SIGNATURE_ALGORITHM, weak))
    return failures


# -- steps: freshness (RFC 5280 5.1.2.4, 5.1.2.5) ------------------------------


def step_this_update(crl: Crl, now: datetime, options: ValidationOptions) -> list[Failure]:
    """thisUpdate must not be in the future (beyond the clock skew)."""
    if crl.this_update > now + options.skew:
        return [
            Failure(
                Reason.NOT_YET_VALID,
                f"the CRL's thisUpdate {iso_z(crl.this_update)} is in the future "
                f"(now {iso_z(now)}, skew {options.skew})",
            )
        ]
    return []


def step_next_update(crl: Crl, now: datetime, options: ValidationOptions) -> list[Failure]:
    """Past nextUpdate (beyond the skew) is stale; without nextUpdate, the maximum age."""
    if crl.next_update is None:
        if now - crl.this_update > options.max_age:
            return [
                Failure(
                    Reason.STALE,
                    f"the CRL has no nextUpdate and was issued at {iso_z(crl.this_update)}, "
                    f"more than the maximum age {options.max_age} ago",
                )
            ]
        return []
    if crl.next_update < now - options.skew:
        return [
            Failure(
                Reason.STALE,
                f"the CRL's nextUpdate {iso_z(crl.next_update)} has passed (now {iso_z(now)})",
            )
        ]
    return []


# -- step: CRL number (RFC 5280 5.2.3) ------------------------------------------


def step_number(crl: Crl, highest_known: int | None) -> list[Failure]:
    """A CRL older than one already seen for its scope is a replay, never used."""
    if highest_known is None:
        return []
    if crl.number is None:
        return [
            Failure(
                Reason.CRL_NUMBER_REGRESSED,
                f"the CRL has no CRL number, but number {highest_known} was seen for its scope",
            )
        ]
    if crl.number < highest_known:
        return [
            Failure(
                Reason.CRL_NUMBER_REGRESSED,
                f"the CRL's number {crl.number} is older than number {highest_known} "
                "already seen for its scope (a replayed CRL)",
            )
        ]
    return []


def check_crl(
    crl: Crl,
    issuer: x509.Certificate,
    *,
    now: datetime,
    options: ValidationOptions = DEFAULT_OPTIONS,
    crl_issuers: Sequence[x509.Certificate] = (),
    known_numbers: Mapping[str, int] | None = None,
) -> CrlCheck:
    """Run every step on ``crl`` as a CRL of certificates ``issuer`` issued.

    ``known_numbers`` maps :attr:`Crl.scope_id` (plus ``":delta"`` for delta
    CRLs: :func:`number_key`) to the highest CRL number already seen.
    """
    failures = step_structure(crl)
    candidates, found = step_identify_signer(crl, issuer, crl_issuers, now)
    failures += found
    signer, signature_failures = step_signature(crl, candidates)
    failures += signature_failures
    failures += step_algorithm(crl, signer, issuer, options)
    failures += step_this_update(crl, now, options)
    failures += step_next_update(crl, now, options)
    if known_numbers is not None:
        failures += step_number(crl, known_numbers.get(number_key(crl)))
    return CrlCheck(crl, signer, tuple(failures))


def number_key(crl: Crl) -> str:
    """The key CRL numbers are remembered under: the scope, and whether a delta."""
    return f"{crl.scope_id}:delta" if crl.is_delta else crl.scope_id
