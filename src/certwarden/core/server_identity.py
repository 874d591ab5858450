"""Is this the server it claims to be? Its name (RFC 6125) and its chain's trust, apart.

    match = match_hostname(leaf, "mail.example.net")   # NameMatch: matched, by which SAN
    trust = judge_chain(chain, anchors, now=now)        # ChainTrust: trusted, to which anchor

The two answers are kept separate on purpose: a certificate can chain to a
trusted CA and name another host, or name the host and chain to nothing the
inventory trusts; a report that merges them hides which one failed.

Name matching follows RFC 6125 section 6 as browsers apply it: only the
subjectAltName counts (dNSName for a host name, iPAddress for an address; the
subject CN is not used, section 6.4.4, as the CA/Browser Forum requires a SAN);
DNS names compare case-insensitively as A-labels; a wildcard is a whole ``*``
left-most label only (section 6.4.3: ``*.example.net`` matches
``mail.example.net``, not ``example.net`` nor ``a.b.example.net``), never in a
label with other characters, never over a single-label rest, never for an IP
address.

Pure: no I/O, no clock (``now`` is a parameter).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import DNSName, IPAddress
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

__all__ = ["Anchor", "ChainTrust", "NameMatch", "judge_chain", "match_hostname", "san_entries"]


@dataclass(frozen=True)
class NameMatch:
    """Whether a certificate names ``name`` (RFC 6125)."""

    name: str
    matched: bool
    matched_by: str | None  # the SAN entry that matched, e.g. "DNS:*.example.net"
    names: tuple[str, ...]  # every DNS/IP SAN entry of the certificate
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "matched": self.matched,
            "matched_by": self.matched_by,
            "certificate_names": list(self.names),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Anchor:
    """A certificate the inventory trusts, and the store it is in."""

    cert: x509.Certificate
    store: str


@dataclass(frozen=True)
class ChainTrust:
    """Whether the chain leads to a certificate in the inventory's trust stores."""

    trusted: bool
    detail: str
    anchor_subject: str | None = None
    anchor_store: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "trusted": self.trusted,
            "anchor": self.anchor_subject,
            "store": self.anchor_store,
            "detail": self.detail,
        }


IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def san_entries(cert: x509.Certificate) -> tuple[list[str], list[IpAddress]]:
    """The certificate's dNSName and iPAddress SAN entries (empty without the extension)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    dns = [str(n) for n in san.get_values_for_type(DNSName)]
    ips = [
        ip
        for ip in san.get_values_for_type(IPAddress)
        if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address)
    ]
    return dns, ips


def _a_label(name: str) -> str | None:
    """``name`` as lowercase A-labels without a trailing dot; None when it is not a host name."""
    text = name.strip().rstrip(".")
    if not text:
        return None
    try:
        text = text.encode("idna").decode("ascii")
    except UnicodeError:
        if not text.isascii():
            return None
    return text.lower()


def _dns_matches(pattern: str, host: str) -> bool:
    reference = _a_label(pattern)
    if reference is None:
        return False
    if reference == host:
        return True
    first, _, rest = reference.partition(".")
    if first != "*" or "." not in rest or "*" in rest:
        # Only a whole left-most "*" label is a wildcard; "f*.example.net" and
        # "*.net" match nothing here (RFC 6125 6.4.3; CA/Browser Forum 7.1.2.7.10).
        return False
    label, _, host_rest = host.partition(".")
    return bool(label) and host_rest == rest


def match_hostname(cert: x509.Certificate, name: str) -> NameMatch:
    """Does ``cert`` name ``name`` (a host name, or an IPv4/IPv6 address)?"""
    dns, ips = san_entries(cert)
    names = tuple([f"DNS:{d}" for d in dns] + [f"IP:{ip}" for ip in ips])
    shown = ", ".join(names) or "none"
    try:
        address = ipaddress.ip_address(name.strip().strip("[]"))
    except ValueError:
        address = None
    if not names:
        cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        said = f" (its subject CN {cn[0].value!r} is not used)" if cn else ""
        return NameMatch(
            name,
            False,
            None,
            names,
            f"the certificate has no DNS or IP subjectAltName, so it names no host{said}",
        )
    if address is not None:
        for ip in ips:
            if ip == address:
                return NameMatch(name, True, f"IP:{ip}", names, f"{name} matches IP:{ip}")
        return NameMatch(
            name, False, None, names, f"{name} is not among the certificate's names ({shown})"
        )
    host = _a_label(name)
    if host is not None:
        for pattern in dns:
            if _dns_matches(pattern, host):
                return NameMatch(
                    name, True, f"DNS:{pattern}", names, f"{name} matches DNS:{pattern}"
                )
    return NameMatch(
        name, False, None, names, f"{name} is not among the certificate's names ({shown})"
    )


def _own_name(cert: x509.Certificate) -> DNSName | IPAddress | None:
    """A name the leaf itself carries: the chain is judged apart from the name asked for."""
    dns, ips = san_entries(cert)
    if ips:
        return IPAddress(ips[0])
    for d in dns:
        if "*" not in d:
            return DNSName(d)
    for d in dns:
        if d.startswith("*.") and "*" not in d[2:]:
            return DNSName("wildcard-check" + d[1:])
    return None


def _sha256(cert: x509.Certificate) -> bytes:
    return cert.fingerprint(hashes.SHA256())


def judge_chain(
    chain: Sequence[x509.Certificate], anchors: Sequence[Anchor], *, now: datetime
) -> ChainTrust:
    """Does ``chain`` (leaf first) lead to one of ``anchors`` at ``now`` (RFC 5280 paths)?

    The server certificate itself stored as trusted counts too (pinned). The
    name is NOT checked here (:func:`match_hostname` does that).
    """
    leaf = chain[0]
    by_digest = {_sha256(a.cert): a for a in anchors}
    pinned = by_digest.get(_sha256(leaf))
    if pinned is not None:
        return ChainTrust(
            True,
            f"the server certificate itself is in store {pinned.store}",
            leaf.subject.rfc4514_string(),
            pinned.store,
        )
    if leaf.issuer == leaf.subject:
        return ChainTrust(False, "the server certificate is self-signed and in no trust store")
    if not anchors:
        return ChainTrust(False, "no certificate in the inventory's trust stores issued this chain")
    own = _own_name(leaf)
    if own is None:
        return ChainTrust(
            False, "the server certificate has no subjectAltName, so no TLS client accepts it"
        )
    try:
        verifier = (
            PolicyBuilder()
            .store(Store([a.cert for a in anchors]))
            .time(now)
            .build_server_verifier(own)
        )
        path = verifier.verify(leaf, list(chain[1:]))
    except VerificationError as exc:
        why = str(exc)
        # "candidates exhausted" only says that no path was found: said already.
        extra = "" if "candidates exhausted" in why else f" ({why})"
        return ChainTrust(
            False, f"no valid path to a certificate in the inventory's trust stores{extra}"
        )
    except ValueError as exc:
        return ChainTrust(False, f"the chain cannot be checked: {exc}")
    top = path[-1]
    anchor = by_digest.get(_sha256(top))
    store = anchor.store if anchor else None
    return ChainTrust(
        True,
        f"leads to {top.subject.rfc4514_string()} in store {store}",
        top.subject.rfc4514_string(),
        store,
    )
