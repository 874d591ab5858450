"""Is this CRL about this certificate? Scope, partitions and indirect CRLs.

RFC 5280 6.3.3 (b) and (d), for one certificate distribution point at a time:

* (b)(1) the CRL issuer is the certificate's issuer — or, when the
  distribution point has a cRLIssuer, one of the names it lists, and the CRL
  says it is indirect (IDP indirectCRL);
* (b)(2)(i) when the CRL has an Issuing Distribution Point naming a
  distribution point, that name is one the certificate's distribution point
  names (the certificate's cRLIssuer names count when its DP has no name):
  a shard of a partitioned CRL answers only for its own certificates;
* (b)(2)(ii)-(iv) onlyContainsUserCerts / onlyContainsCACerts exclude the
  other kind; onlyContainsAttributeCerts never covers a certificate;
* (d) the reasons covered are onlySomeReasons ∩ the DP's reasons.

:class:`CertRef` holds what of a certificate these checks read, extracted
once, so that checking many certificates costs a dictionary lookup for the
scope (certificates with the same issuer, CA flag and distribution points
share one ``scope_key``). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from certwarden.core.crl._entries import serial_key
from certwarden.core.crl._names import ALL_REASONS, describe_names, expand, reasons_text
from certwarden.core.crl.load import Crl

__all__ = ["CertRef", "DistPoint", "Scope", "ScopeKey", "cert_ref", "crl_urls", "scope_of"]


@dataclass(frozen=True, slots=True)
class DistPoint:
    """One CRL distribution point of a certificate (RFC 5280 4.2.1.13), names expanded."""

    names: tuple[x509.GeneralName, ...]
    reasons: frozenset[x509.ReasonFlags] | None  # None: all reasons
    crl_issuer: tuple[x509.GeneralName, ...] | None

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(n.value for n in self.names if isinstance(n, x509.UniformResourceIdentifier))


@dataclass(frozen=True, slots=True)
class CertRef:
    """What CRL judging reads of a certificate, read once (:func:`cert_ref`).

    Cheap to make (no re-encoding): the distribution points are expanded and
    the issuer encoded only when a scope decision or an indirect CRL needs
    them, once per ``scope_key``.

    Attributes:
        serial: the serial number; ``key`` its DER content octets (index key).
        issuer: the issuer name.
        is_ca: basicConstraints cA (onlyContainsUserCerts/CACerts).
        distribution_points: the CRL Distribution Points extension, if any.
        scope_key: equal for certificates every scope decision treats alike
            (same issuer, CA flag and distribution points).
    """

    serial: int
    key: bytes
    issuer: x509.Name
    is_ca: bool
    distribution_points: x509.CRLDistributionPoints | None
    scope_key: ScopeKey

    @property
    def issuer_der(self) -> bytes:
        """DER of the issuer name (indirect CRL entries name it)."""
        return self.issuer.public_bytes()

    @property
    def points(self) -> tuple[DistPoint, ...]:
        """The distribution points, names expanded (RFC 5280 4.2.1.13)."""
        if self.distribution_points is None:
            return ()
        return tuple(_point(p, self.issuer) for p in self.distribution_points)


def cert_ref(cert: x509.Certificate) -> CertRef:
    """Read a certificate's serial, issuer, CA flag and CRL distribution points.

    A malformed extension reads as absent (the certificate then has no
    distribution point and only a CRL without a distribution point name can
    cover it); never raises for a parsed certificate.
    """
    issuer = cert.issuer
    is_ca = False
    points: x509.CRLDistributionPoints | None = None
    try:
        extensions = cert.extensions
    except ValueError:
        extensions = x509.Extensions([])
    for ext in extensions:
        oid = ext.oid
        if oid == _BASIC_CONSTRAINTS:
            is_ca = bool(ext.value.ca)
        elif oid == _CRL_DPS:
            points = ext.value
    serial = cert.serial_number
    return CertRef(
        serial, serial_key(serial), issuer, is_ca, points, ScopeKey(issuer, is_ca, points)
    )


class ScopeKey:
    """(issuer, CA flag, distribution points) with its hash computed once.

    A plain tuple would hash its parts (Python-level ``__hash__`` of Name and
    CRLDistributionPoints) at every lookup; this hashes once per certificate
    and compares by identity first, so a CertRef checked again costs almost
    nothing to look up.
    """

    __slots__ = ("_hash", "parts")

    def __init__(
        self, issuer: x509.Name, is_ca: bool, points: x509.CRLDistributionPoints | None
    ) -> None:
        self.parts = (issuer, is_ca, points)
        self._hash = hash(self.parts)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, ScopeKey):
            return NotImplemented
        return self._hash == other._hash and self.parts == other.parts


_BASIC_CONSTRAINTS = ExtensionOID.BASIC_CONSTRAINTS
_CRL_DPS = ExtensionOID.CRL_DISTRIBUTION_POINTS


def _point(point: x509.DistributionPoint, issuer: x509.Name) -> DistPoint:
    crl_issuer = tuple(point.crl_issuer) if point.crl_issuer else None
    # RFC 5280 4.2.1.13: a relative name is relative to the cRLIssuer when
    # present, else to the certificate's issuer.
    base = issuer
    for name in crl_issuer or ():
        if isinstance(name, x509.DirectoryName):
            base = name.value
            break
    return DistPoint(
        names=expand(point.full_name, point.relative_name, base),
        reasons=frozenset(point.reasons) if point.reasons else None,
        crl_issuer=crl_issuer,
    )


def crl_urls(ref: CertRef) -> tuple[str, ...]:
    """Every URI of every distribution point, in the certificate's order, once each."""
    seen: dict[str, None] = {}
    for point in ref.points:
        for url in point.urls:
            seen.setdefault(url, None)
    return tuple(seen)


@dataclass(frozen=True, slots=True)
class Scope:
    """Whether a CRL covers a certificate, and for which reasons."""

    problem: str | None  # None: in scope
    reasons: frozenset[x509.ReasonFlags] = frozenset()

    @property
    def covers(self) -> bool:
        return self.problem is None


_NO_POINT = DistPoint((), None, None)


def scope_of(ref: CertRef, crl: Crl) -> Scope:
    """Does ``crl`` cover ``ref`` (RFC 5280 6.3.3 (b), (d))? Every DP is tried."""
    problems: list[str] = []
    reasons: set[x509.ReasonFlags] = set()
    matched = False
    for point in ref.points or (_NO_POINT,):  # expanded once per call: once per scope_key
        problem = _point_problem(ref, point, crl)
        if problem is None:
            matched = True
            covered = ALL_REASONS if point.reasons is None else point.reasons
            if crl.idp is not None and crl.idp.only_some_reasons:
                covered = covered & frozenset(crl.idp.only_some_reasons)
            reasons.update(covered)
        else:
            problems.append(problem)
    if matched:
        return Scope(None, frozenset(reasons))
    return Scope("; ".join(dict.fromkeys(problems)))


def _point_problem(ref: CertRef, point: DistPoint, crl: Crl) -> str | None:
    # (b)(1): who may issue the CRL for this distribution point.
    if point.crl_issuer is not None:
        named = {n.value for n in point.crl_issuer if isinstance(n, x509.DirectoryName)}
        if crl.issuer not in named:
            return (
                f"the CRL issuer {crl.issuer.rfc4514_string()} is not the cRLIssuer the "
                f"certificate names ({describe_names(point.crl_issuer)})"
            )
        if not crl.indirect:
            return (
                "the certificate names a cRLIssuer but the CRL is not an indirect CRL "
                "(RFC 5280 6.3.3 (b)(1))"
            )
    elif crl.issuer != ref.issuer:
        return (
            f"the CRL is issued by {crl.issuer.rfc4514_string()}, not by the certificate's "
            f"issuer {ref.issuer.rfc4514_string()}"
        )
    idp = crl.idp
    if idp is None:
        return None
    # (b)(2)(i): the shard's own name must be one the certificate names.
    idp_names = expand(idp.full_name, idp.relative_name, crl.issuer)
    if idp_names:
        wanted = point.names or tuple(point.crl_issuer or ())
        if not set(idp_names) & set(wanted):
            return (
                f"the CRL's issuing distribution point ({describe_names(idp_names)}) is not "
                f"the certificate's ({describe_names(wanted)}): another partition"
            )
    if idp.only_contains_user_certs and ref.is_ca:
        return "the CRL covers only end-entity certificates and this is a CA certificate"
    if idp.only_contains_ca_certs and not ref.is_ca:
        return "the CRL covers only CA certificates and this is an end-entity certificate"
    if idp.only_contains_attribute_certs:
        return "the CRL covers only attribute certificates"
    if (
        idp.only_some_reasons
        and point.reasons is not None
        and not frozenset(idp.only_some_reasons) & point.reasons
    ):
        return (
            f"the CRL covers reasons {reasons_text(idp.only_some_reasons)}, none of the "
            f"distribution point's ({reasons_text(point.reasons)})"
        )
    return None
