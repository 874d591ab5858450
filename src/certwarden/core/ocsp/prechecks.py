"""The steps of response validation that need no signer: status, CertID, extensions, nonce.

Parts of :mod:`.validate` (which runs them, in the order its docstring
gives); each returns the :class:`Failure` values it saw. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509

from certwarden.core.ocsp.certid import CertId, issuer_hashes
from certwarden.core.ocsp.response import ParsedResponse, SingleAnswer
from certwarden.core.ocsp.results import HashAlgorithm, NonceMode, Reason, ValidationOptions

__all__ = [
    "DEFAULT_OPTIONS",
    "Failure",
    "index_singles",
    "same_certificate_ids",
    "step_critical_extensions",
    "step_match_cert_id",
    "step_nonce",
    "step_response_status",
]

DEFAULT_OPTIONS = ValidationOptions()


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed step: the reason code and what exactly went wrong."""

    reason: Reason
    text: str


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


# -- step: critical extensions (RFC 6960 4.4, RFC 5280 4.2) -------------------


def step_critical_extensions(parsed: ParsedResponse) -> list[Failure]:
    """A critical response or SingleResponse extension not understood: not trusted.

    (:mod:`certwarden.core.extensions` says which are understood; the nonce is.)
    """
    return [
        Failure(Reason.UNSUPPORTED_CRITICAL_EXTENSION, text) for text in parsed.unsupported_critical
    ]


# -- step: nonce (RFC 8954) --------------------------------------------------


def step_nonce(
    parsed: ParsedResponse, nonce: bytes | None, options: ValidationOptions = DEFAULT_OPTIONS
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
