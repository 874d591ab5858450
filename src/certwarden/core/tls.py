"""TLS peers and what certwarden decides about them: pure types and rules.

    PeerChain            what a TLS server sent: its chain (leaf first) and any
                         stapled OCSP response (RFC 6066 section 8 / RFC 8446 4.4.2.1)
    Stapling             whether a stapled response was asked for, and sent
    StatusSource         where a connection's revocation status came from
    ConnectionCheck      one decision about one peer: result, verdict, source
    issuer_in_chain      the leaf's issuer among the certificates the server sent
    verify_server_chain  path validation and server-name check at an injected time
    parse_host_port      ``host:port`` / ``[v6]:port`` for settings and the CLI
    StartTls             the plain-text protocols that upgrade to TLS

Pure: no sockets, no ``ssl``, no clock. Adapters build a :class:`PeerChain`
from a connection; the service decides with :func:`certwarden.core.policy.decide`.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import DNSName, IPAddress
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from certwarden.core.certs import facts_from_certificate, find_issuer
from certwarden.core.ocsp.results import RevocationResult, iso_z
from certwarden.core.policy import Decision, Verdict
from certwarden.errors import InputError

__all__ = [
    "ConnectionCheck",
    "PeerChain",
    "Stapling",
    "StartTls",
    "StatusSource",
    "format_where",
    "issuer_in_chain",
    "parse_host_port",
    "server_name",
    "sha256_hex",
    "verify_server_chain",
]

_HOST = re.compile(
    r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


@enum.unique
class StartTls(enum.StrEnum):
    """Protocols that start in plain text and upgrade with a command."""

    SMTP = "smtp"  # RFC 3207: EHLO, STARTTLS
    IMAP = "imap"  # RFC 9051 6.2.1: STARTTLS
    POP3 = "pop3"  # RFC 2595 4: STLS
    LDAP = "ldap"  # RFC 4511 4.14: ExtendedRequest 1.3.6.1.4.1.1466.20037


@enum.unique
class Stapling(enum.StrEnum):
    """What happened to OCSP stapling on a connection."""

    NOT_REQUESTED = "not_requested"  # the client could not ask (Python's ssl module)
    NOT_SENT = "not_sent"  # asked; the server sent no response
    SENT = "sent"


@enum.unique
class StatusSource(enum.StrEnum):
    """Where the revocation status used for a decision came from."""

    STAPLED = "stapled"  # the server's stapled response, validated
    CACHE = "cache"  # a still-fresh validated answer from an earlier check
    RESPONDER = "responder"  # a live OCSP query now
    CRL = "crl"  # the issuer's CRL (fetched now or held while fresh)
    EXPIRED = "expired"  # no question asked: the leaf has expired (treated as revoked)
    NOT_CHECKED = "not_checked"  # OCSP is disabled in the settings
    NONE = "none"  # nobody could be asked (no issuer, no responder URL)


def sha256_hex(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def format_where(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class PeerChain:
    """What a TLS server presented on one connection.

    Attributes:
        host, port: where the client connected.
        certificates: the chain as the server sent it, leaf first (not
            necessarily ordered or complete after the leaf).
        stapling: whether a stapled OCSP response was asked for and sent.
        stapled_response: the DER OCSPResponse the server stapled, if any.
        servername: the name the client verified / sent as SNI.
        protocol: the negotiated TLS version, e.g. ``TLSv1.3`` (when known).
    """

    host: str
    port: int
    certificates: tuple[x509.Certificate, ...]
    stapling: Stapling = Stapling.NOT_REQUESTED
    stapled_response: bytes | None = None
    servername: str | None = None
    protocol: str | None = None

    def __post_init__(self) -> None:
        if not self.certificates:
            raise ValueError(f"{self.where} presented no certificate")

    @property
    def leaf(self) -> x509.Certificate:
        return self.certificates[0]

    @property
    def where(self) -> str:
        return format_where(self.host, self.port)

    @property
    def leaf_subject(self) -> str:
        return self.leaf.subject.rfc4514_string()

    @property
    def leaf_sha256(self) -> str:
        return sha256_hex(self.leaf)


def issuer_in_chain(leaf: x509.Certificate, chain: Sequence[x509.Certificate]) -> int | None:
    """Index in ``chain`` of the certificate that issued ``leaf`` (name, key id, signature)."""
    facts = facts_from_certificate(leaf)
    candidates = [(c, facts_from_certificate(c)) for c in chain]
    return find_issuer(leaf, facts, candidates)


def server_name(host: str) -> DNSName | IPAddress:
    """The name to check the server certificate against: an IP SAN or a DNS SAN."""
    try:
        return IPAddress(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return DNSName(host)


def verify_server_chain(
    chain: Sequence[x509.Certificate],
    *,
    anchors: Sequence[x509.Certificate],
    name: str,
    now: datetime,
) -> tuple[list[x509.Certificate] | None, str | None]:
    """Build and check a path from the leaf to one of ``anchors`` at ``now``.

    Uses cryptography's X.509 verifier (RFC 5280 path validation with the
    CA/Browser-Forum-style profile, RFC 6125 name matching against the
    subjectAltName). Returns ``(path, None)`` or ``(None, problem)``.
    """
    if not anchors:
        return None, "no trust anchor is configured"
    try:
        verifier = (
            PolicyBuilder()
            .store(Store(list(anchors)))
            .time(now)
            .build_server_verifier(server_name(name))
        )
        path = verifier.verify(chain[0], list(chain[1:]))
    except VerificationError as exc:
        return None, f"the server certificate does not verify for {name!r}: {exc}"
    except ValueError as exc:
        return None, f"the server certificate cannot be checked for {name!r}: {exc}"
    return list(path), None


def parse_host_port(value: str, *, default_port: int | None = None) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or (with ``default_port``) a bare host.

    Raises:
        InputError: naming the value and what is wrong with it.
    """
    text = value.strip()
    if not text:
        raise InputError("give a server as HOST:PORT")
    host, sep, port_text = text, "", ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise InputError(f"{value!r}: an IPv6 address needs a closing ']'")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise InputError(f"{value!r}: expected ':PORT' after the IPv6 address")
            sep, port_text = ":", rest[1:]
    elif text.count(":") == 1:
        host, sep, port_text = text.partition(":")
    elif text.count(":") > 1:
        raise InputError(f"{value!r}: write an IPv6 address in brackets, e.g. [::1]:6514")
    if not sep:
        if default_port is None:
            raise InputError(f"{value!r}: give the port too, as HOST:PORT")
        port = default_port
    else:
        if not port_text.isdigit():
            raise InputError(f"{value!r}: the port {port_text!r} is not a number")
        port = int(port_text)
    if not 1 <= port <= 65535:
        raise InputError(f"{value!r}: the port {port} is out of range (1 to 65535)")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if len(host) > 253 or not _HOST.match(host):
            raise InputError(f"{value!r}: {host!r} is not a host name or IP address") from None
    return host, port


@dataclass(frozen=True)
class ConnectionCheck:
    """One decision about one TLS peer.

    Attributes:
        where: ``host:port``.
        purpose: which client asked (``mail``, ``syslog``, ``probe`` ...).
        subject, sha256, not_after: the peer's leaf certificate.
        result: the revocation status used (never GOOD unless validated).
        verdict: :func:`certwarden.core.policy.decide` on ``result``.
        source: where ``result`` came from.
        stapling: what happened to stapling on the connection.
        stapled_result: how the stapled response was judged (None when none
            was sent); a staple that did not validate is ignored for the decision.
        issuer_source: where the leaf's issuer was found (``chain``,
            ``inventory``) or None.
        checked_at, common_criteria: when, and under which mode.
    """

    where: str
    purpose: str
    subject: str
    sha256: str
    not_after: datetime
    result: RevocationResult
    verdict: Verdict
    source: StatusSource
    stapling: Stapling
    stapled_result: RevocationResult | None
    issuer_source: str | None
    checked_at: datetime
    common_criteria: bool

    @property
    def refused(self) -> bool:
        return self.verdict.decision is Decision.DENY

    def to_json(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "purpose": self.purpose,
            "subject": self.subject,
            "sha256": self.sha256,
            "not_after": iso_z(self.not_after),
            "status": self.result.status.value,
            "result": self.result.to_json(),
            "source": self.source.value,
            "stapling": self.stapling.value,
            "stapled_result": self.stapled_result.to_json() if self.stapled_result else None,
            "issuer_source": self.issuer_source,
            "decision": self.verdict.decision.value,
            "allowed": self.verdict.allowed,
            "why": self.verdict.why,
            "checked_at": iso_z(self.checked_at),
            "common_criteria": self.common_criteria,
        }
