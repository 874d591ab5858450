"""Syslog over TLS: settings, RFC 5424 messages, RFC 5425 framing.

    settings = SyslogSettings.from_dict({"server": "logs.example.net:6514", "ca_pem": pem})
    frame(format_message(...))     # b"123 <130>1 2026-06-01T12:00:00Z host certwarden - revoked [...] msg"

Pure: validation and byte formatting only. The forwarder
(``services/tls/syslog.py``) owns the connection and what is sent when.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certwarden.core.parsing import load_certificates
from certwarden.core.tls import parse_host_port
from certwarden.errors import InputError, InvalidFieldsError, ParseError

__all__ = [
    "DEFAULT_PORT",
    "ENTERPRISE_ID",
    "FACILITY_LOCAL0",
    "SYSLOG_SECTION",
    "SyslogSettings",
    "format_message",
    "frame",
    "severity_code",
]

SYSLOG_SECTION = "syslog"
DEFAULT_PORT = 6514  # RFC 5425 section 4.1
FACILITY_LOCAL0 = 16
# RFC 5612: the enterprise number reserved for documentation; our SD-ID lives under it.
ENTERPRISE_ID = 32473
_SEVERITY = {"critical": 2, "error": 3, "warning": 4, "notice": 5, "info": 6, "debug": 7}
_NAME = re.compile(r"^[!-~]{1,48}$")  # RFC 5424 APP-NAME: PRINTUSASCII, at most 48
_MAX_CA_BYTES = 256 * 1024
_KNOWN = {"enabled", "server", "ca_pem", "servername", "app_name"}


@dataclass(frozen=True)
class SyslogSettings:
    """Where alerts are forwarded (syslog over TLS, RFC 5425).

    ``ca_pem`` holds the trust anchors the server certificate must chain to;
    ``servername`` the name it must carry (default: the server's host).
    """

    enabled: bool = False
    server: str = ""
    ca_pem: str = ""
    servername: str = ""
    app_name: str = "certwarden"

    @property
    def host(self) -> str:
        return parse_host_port(self.server, default_port=DEFAULT_PORT)[0]

    @property
    def port(self) -> int:
        return parse_host_port(self.server, default_port=DEFAULT_PORT)[1]

    @property
    def name_to_verify(self) -> str:
        return self.servername or self.host

    def anchors(self) -> list[x509.Certificate]:
        if not self.ca_pem:
            return []
        return list(load_certificates(self.ca_pem.encode(), "syslog CA").certificates)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> dict[str, Any]:
        """For display: the CA as subjects, not PEM."""
        out = self.to_dict()
        out.pop("ca_pem")
        out["ca"] = [c.subject.rfc4514_string() for c in self.anchors()]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> SyslogSettings:
        """Check every field; :class:`InvalidFieldsError` names each bad one."""
        data = dict(data or {})
        errors: dict[str, str] = {}
        for key in sorted(set(data) - _KNOWN):
            errors[key] = f"unknown syslog setting; known: {', '.join(sorted(_KNOWN))}"
        enabled = data.get("enabled", False)
        if not isinstance(enabled, bool):
            errors["enabled"] = f"must be true or false, not {enabled!r}"
            enabled = False
        server = str(data.get("server") or "").strip()
        if server:
            try:
                host, port = parse_host_port(server, default_port=DEFAULT_PORT)
                server = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            except InputError as exc:
                errors["server"] = str(exc)
        ca_pem = str(data.get("ca_pem") or "")
        if ca_pem:
            problem = _ca_problem(ca_pem)
            if problem:
                errors["ca_pem"] = problem
            else:
                ca_pem = _normalised_pem(ca_pem)
        servername = str(data.get("servername") or "").strip()
        if servername:
            try:
                parse_host_port(servername, default_port=1)
            except InputError:
                errors["servername"] = f"{servername!r} is not a host name or IP address"
        app_name = str(data.get("app_name") or "certwarden")
        if not _NAME.match(app_name):
            errors["app_name"] = "must be 1 to 48 printable ASCII characters without spaces"
        if enabled and not errors:
            if not server:
                errors["server"] = "is required to forward alerts (HOST:PORT, e.g. logs:6514)"
            if not ca_pem:
                errors["ca_pem"] = (
                    "is required: the CA certificate(s) the syslog server's certificate "
                    "must chain to (--ca FILE)"
                )
        if errors:
            raise InvalidFieldsError(errors)
        return cls(enabled, server, ca_pem, servername, app_name)


def _ca_problem(pem: str) -> str | None:
    if len(pem) > _MAX_CA_BYTES:
        return f"is larger than {_MAX_CA_BYTES // 1024} KiB"
    try:
        load_certificates(pem.encode(), "the syslog CA file")
    except ParseError as exc:
        return exc.problem
    return None


def _normalised_pem(pem: str) -> str:
    certs = load_certificates(pem.encode(), "syslog CA").certificates
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs).decode("ascii")


def severity_code(severity: str) -> int:
    """RFC 5424 6.2.1 severity for an alert severity name (unknown -> notice)."""
    return _SEVERITY.get(severity, 5)


def _sd_value(value: str) -> str:
    # RFC 5424 6.3.3: '"', '\' and ']' are escaped inside PARAM-VALUE.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _header_field(value: str, limit: int) -> str:
    cleaned = "".join(ch for ch in value if "!" <= ch <= "~")[:limit]
    return cleaned or "-"


def format_message(
    *,
    when: datetime,
    hostname: str,
    app_name: str,
    msgid: str,
    severity: str,
    text: str,
    params: Mapping[str, str | int | None] | None = None,
    facility: int = FACILITY_LOCAL0,
) -> bytes:
    """One RFC 5424 message (UTF-8 MSG with BOM, section 6.4)."""
    pri = facility * 8 + severity_code(severity)
    stamp = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    sd = "-"
    if params:
        body = " ".join(
            f'{name}="{_sd_value(str(value))}"'
            for name, value in params.items()
            if value is not None
        )
        sd = f"[certwarden@{ENTERPRISE_ID} {body}]" if body else f"[certwarden@{ENTERPRISE_ID}]"
    header = (
        f"<{pri}>1 {stamp} {_header_field(hostname, 255)} {_header_field(app_name, 48)} - "
        f"{_header_field(msgid, 32)} {sd} "
    )
    return header.encode("ascii") + b"\xef\xbb\xbf" + text.encode("utf-8")


def frame(message: bytes) -> bytes:
    """RFC 5425 4.3.1 octet-counting: ``MSG-LEN SP SYSLOG-MSG``."""
    return str(len(message)).encode("ascii") + b" " + message
