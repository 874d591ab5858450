"""Which critical extensions certwarden understands (RFC 5280 4.2, RFC 6960 4.4).

RFC 5280 4.2: "A certificate-using system MUST reject the certificate if it
encounters a critical extension it does not recognize or a critical extension
that contains information that it cannot process." The same holds for the
extensions of an OCSP response and of each SingleResponse (RFC 6960 4.4:
unrecognised extensions are ignored "unless they have the critical flag set
and are not understood").

Understood, and why:

* in a certificate certwarden relies on (a delegated or designated OCSP
  responder, a certificate of a TLS peer's chain): basicConstraints,
  keyUsage, extendedKeyUsage (read and enforced), subjectAltName and
  issuerAltName (names only; the TLS name check uses the SAN), subject and
  authority key identifiers, authorityInfoAccess, cRLDistributionPoints,
  id-pkix-ocsp-nocheck (RFC 6960 4.2.2.2.1), certificatePolicies (processed
  with the initial policy anyPolicy: any policy is acceptable, RFC 5280 6.1.1 c),
  and in a CA certificate of a TLS chain the name and policy constraints that
  cryptography's path validation enforces;
* in a response: the nonce (RFC 8954), compared with the one sent;
* in a SingleResponse: none. crlID, archiveCutoff and the CRL entry
  extensions are informational, so a critical one makes the answer depend on
  something certwarden does not check.

A refusal is the could-not-tell reason ``unsupported_critical_extension``.
Pure: no I/O.
"""

from __future__ import annotations

from cryptography import x509

__all__ = [
    "CERTIFICATE_UNDERSTOOD",
    "RESPONSE_UNDERSTOOD",
    "SINGLE_RESPONSE_UNDERSTOOD",
    "TLS_CA_UNDERSTOOD",
    "unsupported_critical",
    "unsupported_critical_problem",
]

_BASIC_CONSTRAINTS = "2.5.29.19"
_KEY_USAGE = "2.5.29.15"
_EXT_KEY_USAGE = "2.5.29.37"
_SUBJECT_ALT_NAME = "2.5.29.17"
_ISSUER_ALT_NAME = "2.5.29.18"
_SUBJECT_KEY_ID = "2.5.29.14"
_AUTHORITY_KEY_ID = "2.5.29.35"
_CERTIFICATE_POLICIES = "2.5.29.32"
_CRL_DISTRIBUTION_POINTS = "2.5.29.31"
_AUTHORITY_INFO_ACCESS = "1.3.6.1.5.5.7.1.1"
_OCSP_NOCHECK = "1.3.6.1.5.5.7.48.1.5"
_NAME_CONSTRAINTS = "2.5.29.30"
_POLICY_CONSTRAINTS = "2.5.29.36"
_INHIBIT_ANY_POLICY = "2.5.29.54"
_NONCE = "1.3.6.1.5.5.7.48.1.2"

# A certificate's extensions certwarden reads and acts on (see the module docstring).
CERTIFICATE_UNDERSTOOD = frozenset(
    {
        _BASIC_CONSTRAINTS,
        _KEY_USAGE,
        _EXT_KEY_USAGE,
        _SUBJECT_ALT_NAME,
        _ISSUER_ALT_NAME,
        _SUBJECT_KEY_ID,
        _AUTHORITY_KEY_ID,
        _CERTIFICATE_POLICIES,
        _CRL_DISTRIBUTION_POINTS,
        _AUTHORITY_INFO_ACCESS,
        _OCSP_NOCHECK,
    }
)
# A CA certificate in a TLS chain: also what path validation enforces.
TLS_CA_UNDERSTOOD = CERTIFICATE_UNDERSTOOD | {
    _NAME_CONSTRAINTS,
    _POLICY_CONSTRAINTS,
    _INHIBIT_ANY_POLICY,
}
RESPONSE_UNDERSTOOD = frozenset({_NONCE})
SINGLE_RESPONSE_UNDERSTOOD: frozenset[str] = frozenset()


def unsupported_critical(
    extensions: x509.Extensions | list[x509.Extension[x509.ExtensionType]],
    understood: frozenset[str],
) -> list[str]:
    """Dotted OIDs of the critical extensions not in ``understood``, in order."""
    return [
        ext.oid.dotted_string
        for ext in extensions
        if ext.critical and ext.oid.dotted_string not in understood
    ]


def unsupported_critical_problem(
    cert: x509.Certificate, what: str, understood: frozenset[str] = CERTIFICATE_UNDERSTOOD
) -> str | None:
    """Why ``cert`` (described as ``what``) may not be relied on, or None.

    An unreadable extension list counts as not understood too.
    """
    try:
        found = unsupported_critical(cert.extensions, understood)
    except (ValueError, x509.DuplicateExtension) as exc:
        return f"{what} has extensions that cannot be read ({exc}) (RFC 5280 4.2)"
    if not found:
        return None
    return (
        f"{what} carries the critical extension{'s' if len(found) > 1 else ''} "
        f"{', '.join(found)}, which certwarden does not process, so it must not be relied on "
        "(RFC 5280 4.2)"
    )
