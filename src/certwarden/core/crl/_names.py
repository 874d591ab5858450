"""Distribution point names (RFC 5280 4.2.1.13, 5.2.5): full names, compared.

A distribution point is named by a fullName (GeneralNames: URIs, directory
names) or by nameRelativeToCRLIssuer, an RDN appended to the CRL issuer's
name. Both are turned into one tuple of GeneralNames here, so that matching a
certificate's CRL distribution point with a CRL's Issuing Distribution Point
is a set intersection (RFC 5280 6.3.3 (b)(2)(i)). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

from cryptography import x509

__all__ = ["ALL_REASONS", "describe_names", "expand", "name_text", "reasons_text"]

# The reasons a set of CRLs must cover between them before a certificate is
# "not revoked" (RFC 5280 6.3.3, "all-reasons"; unspecified and removeFromCRL
# are not ReasonFlags bits).
ALL_REASONS: frozenset[x509.ReasonFlags] = frozenset(
    {
        x509.ReasonFlags.key_compromise,
        x509.ReasonFlags.ca_compromise,
        x509.ReasonFlags.affiliation_changed,
        x509.ReasonFlags.superseded,
        x509.ReasonFlags.cessation_of_operation,
        x509.ReasonFlags.certificate_hold,
        x509.ReasonFlags.privilege_withdrawn,
        x509.ReasonFlags.aa_compromise,
    }
)


def expand(
    full_name: Iterable[x509.GeneralName] | None,
    relative_name: x509.RelativeDistinguishedName | None,
    base: x509.Name,
) -> tuple[x509.GeneralName, ...]:
    """The full names of a distribution point; a relative name is appended to ``base``."""
    if full_name is not None:
        return tuple(full_name)
    if relative_name is not None:
        return (x509.DirectoryName(x509.Name([*base.rdns, relative_name])),)
    return ()


def name_text(name: x509.GeneralName) -> str:
    """One GeneralName for a person: ``URI:http://...``, ``dirName:CN=...``."""
    if isinstance(name, x509.DirectoryName):
        return f"dirName:{name.value.rfc4514_string()}"
    if isinstance(name, x509.UniformResourceIdentifier):
        return f"URI:{name.value}"
    return f"{type(name).__name__}:{name.value!s}"


def describe_names(names: Iterable[x509.GeneralName]) -> str:
    text = ", ".join(name_text(n) for n in names)
    return text or "(none)"


def reasons_text(reasons: Iterable[x509.ReasonFlags]) -> str:
    return ", ".join(sorted(r.value for r in reasons)) or "(none)"
