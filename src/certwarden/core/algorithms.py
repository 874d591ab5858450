"""The signature-algorithm policy: which signatures certwarden accepts, stated once.

One rule for certificates and OCSP responses alike:

* SHA-2, SHA-3 (RSA PKCS#1 v1.5, RSASSA-PSS, ECDSA) and Ed25519/Ed448 are accepted.
* SHA-1 is *legacy*: refused unless the administrator accepts legacy
  signatures (Certificate Revocation setting ``legacy_signatures``, or
  ``--allow-legacy-signatures`` on ``ocsp verify-response`` / ``ocsp query``),
  and never accepted in Common Criteria mode. SHA-1 collisions are practical
  (SHAttered 2017, chosen-prefix 2020), but many enterprise PKIs still run
  SHA-1 CAs, and an administrator must be able to keep watching them knowingly.
* MD5 is legacy too, and never accepted, whatever the setting: chosen-prefix
  MD5 collisions forged a working CA certificate in 2008.

A refusal is the could-not-tell reason ``weak_signature_algorithm`` whose
text names the algorithm, the certificate or response, and what to do.
Whether a key made a signature is :mod:`certwarden.core.signatures`' question;
this module only judges the algorithm. Pure: no I/O.
"""

from __future__ import annotations

import enum

from cryptography import x509

from certwarden.core.signatures import SignatureAlgorithm, certificate_signature_algorithm

__all__ = [
    "LEGACY_DIGESTS",
    "LEGACY_OIDS",
    "LegacySignatures",
    "algorithm_problem",
    "certificate_algorithm_problem",
    "digest_label",
    "is_legacy",
]


@enum.unique
class LegacySignatures(enum.StrEnum):
    """Whether SHA-1 signatures are accepted (never in Common Criteria mode; MD5 never)."""

    ACCEPT = "accept"
    REFUSE = "refuse"


# Digests whose signatures are legacy (cryptography's hash names).
LEGACY_DIGESTS = frozenset({"sha1", "md5"})
# signatureAlgorithm OIDs with a legacy digest (RSASSA-PSS says its digest in parameters).
LEGACY_OIDS = frozenset(
    {
        "1.2.840.113549.1.1.4",  # md5WithRSAEncryption
        "1.2.840.113549.1.1.5",  # sha1WithRSAEncryption
        "1.3.14.3.2.29",  # sha1WithRSASignature (OIW)
        "1.2.840.10045.4.1",  # ecdsa-with-SHA1
        "1.2.840.10040.4.3",  # dsa-with-sha1
    }
)
_NEVER = frozenset({"md5"})
_LABELS = {"sha1": "SHA-1", "md5": "MD5"}

_WHAT_TO_DO = (
    "have it re-issued with SHA-256 or better; meanwhile, outside Common Criteria mode, an "
    "administrator may accept legacy signatures "
    "(certwarden revocation settings set --legacy-signatures accept; for one command, "
    "--allow-legacy-signatures on ocsp verify-response or ocsp query)"
)


def is_legacy(algorithm: SignatureAlgorithm) -> bool:
    """True for a SHA-1 or MD5 signature (RSASSA-PSS: its message digest counts)."""
    return algorithm.digest in LEGACY_DIGESTS


def digest_label(algorithm: SignatureAlgorithm) -> str:
    """``SHA-1`` for a SHA-1 signature, else the algorithm's description."""
    return _LABELS.get(algorithm.digest or "", algorithm.describe())


def algorithm_problem(
    algorithm: SignatureAlgorithm, *, accept_legacy: bool, what: str
) -> str | None:
    """Why ``what`` (e.g. "the responder certificate 'X'") may not be signed so; None: it may.

    ``accept_legacy`` must already be False in Common Criteria mode (the
    callers get it from :meth:`RevocationSettings.validation_options_for`).
    """
    if not is_legacy(algorithm):
        return None
    label = _LABELS.get(algorithm.digest or "", algorithm.describe())
    if algorithm.digest in _NEVER:
        return (
            f"{what} is signed with {algorithm.describe()} ({label}), which is never accepted "
            "(MD5 collisions are practical): have it re-issued with SHA-256 or better"
        )
    if accept_legacy:
        return None
    return (
        f"{what} is signed with {algorithm.describe()} ({label}), a legacy signature "
        f"algorithm refused by default: {_WHAT_TO_DO}"
    )


def certificate_algorithm_problem(
    cert: x509.Certificate, *, accept_legacy: bool, what: str
) -> str | None:
    """:func:`algorithm_problem` for the algorithm ``cert`` is signed with."""
    return algorithm_problem(
        certificate_signature_algorithm(cert), accept_legacy=accept_legacy, what=what
    )
