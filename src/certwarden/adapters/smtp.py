"""Mail delivery over SMTP (aiosmtplib), and the SMTP settings.

This module hands one message to one mail server and says, as a
:class:`SmtpDeliveryError` (a :class:`~certwarden.errors.NotificationError`),
why it could not. It never retries and never stores anything: the outbox
(``services/shared/outbox.py``) owns retries and the never-lose guarantee. Nothing
from aiosmtplib, ``ssl`` or ``socket`` leaks past it.

Security modes: ``starttls`` (plain connect, STARTTLS required), ``tls``
(implicit TLS, usually port 465) and ``none`` (plain text, never STARTTLS).

The seam for checking the mail server's certificate: :class:`SmtpTransport`
takes a ``server_certificate_check`` coroutine, called right after the TLS
handshake (implicit TLS or STARTTLS) with the server's leaf certificate. Raising
:class:`~certwarden.errors.NotificationError` from it aborts the delivery before
anything is sent. ``server_chain_check`` is the same seam with every certificate
the server sent (leaf first), so the leaf's issuer is at hand: the revocation
check of section 3 (``services/tls/guard.py``) plugs in there.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import re
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, Protocol

import aiosmtplib

from certwarden.adapters.tls import chain_from_ssl_object
from certwarden.core.expiry import validate_email
from certwarden.errors import InvalidFieldsError, NotificationError, SmtpDeliveryError

__all__ = [
    "DEFAULT_SMTP",
    "SMTP_ENV",
    "Security",
    "ServerCertificateCheck",
    "ServerChainCheck",
    "SmtpDeliveryError",
    "SmtpSettings",
    "SmtpTransport",
    "build_message",
    "smtp_env_overrides",
    "validate_smtp_settings",
]


@enum.unique
class Security(enum.StrEnum):
    STARTTLS = "starttls"
    TLS = "tls"
    NONE = "none"


@dataclass(frozen=True)
class SmtpSettings:
    host: str = ""
    port: int = 25
    security: Security = Security.STARTTLS
    username: str = ""
    password: str = ""
    from_address: str = "certwarden@localhost.localdomain"
    timeout_seconds: float = 30.0

    @property
    def configured(self) -> bool:
        return bool(self.host)

    def to_json(self, *, reveal_password: bool = False) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "security": self.security.value,
            "username": self.username,
            "password": self.password if reveal_password else ("(set)" if self.password else ""),
            "from_address": self.from_address,
            "timeout_seconds": self.timeout_seconds,
        }

    def to_stored(self) -> dict[str, Any]:
        return self.to_json(reveal_password=True)


DEFAULT_SMTP = SmtpSettings()

# Environment variables that override the stored SMTP settings (deployments
# that keep the mail password out of the database set CERTWARDEN_SMTP_PASSWORD).
SMTP_ENV = {
    "host": "CERTWARDEN_SMTP_HOST",
    "port": "CERTWARDEN_SMTP_PORT",
    "security": "CERTWARDEN_SMTP_SECURITY",
    "username": "CERTWARDEN_SMTP_USERNAME",
    "password": "CERTWARDEN_SMTP_PASSWORD",
    "from_address": "CERTWARDEN_SMTP_FROM",
    "timeout_seconds": "CERTWARDEN_SMTP_TIMEOUT",
}

_HOST = re.compile(
    r"^(\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]+|"
    r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)$"
)


def smtp_env_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    """The SMTP fields set by ``CERTWARDEN_SMTP_*`` variables (empty ones ignored)."""
    return {field: environ[var] for field, var in SMTP_ENV.items() if environ.get(var)}


def validate_smtp_settings(
    values: Mapping[str, Any], base: SmtpSettings = DEFAULT_SMTP
) -> SmtpSettings:
    """``base`` with ``values`` applied, every field checked.

    Raises:
        InvalidFieldsError: naming every bad field.
    """
    errors: dict[str, str] = {}
    for name in sorted(set(values) - set(SMTP_ENV)):
        errors[name] = f"unknown SMTP setting {name!r}; known: {', '.join(SMTP_ENV)}"
    out = base
    if "host" in values:
        host = str(values["host"] or "").strip()
        if host and (len(host) > 253 or not _HOST.match(host)):
            errors["host"] = f"SMTP host: {host!r} is not a host name or IP address"
        else:
            out = replace(out, host=host.strip("[]"))
    if "port" in values:
        raw = values["port"]
        try:
            if isinstance(raw, bool):
                raise ValueError
            port = int(str(raw).strip())
        except ValueError:
            errors["port"] = f"SMTP port: {raw!r} is not a port number"
        else:
            if 1 <= port <= 65535:
                out = replace(out, port=port)
            else:
                errors["port"] = f"SMTP port: {port} is out of range; use 1 to 65535"
    if "security" in values:
        raw = str(values["security"]).strip().lower()
        try:
            out = replace(out, security=Security(raw))
        except ValueError:
            errors["security"] = (
                f"SMTP security: {values['security']!r} is not one of starttls, tls, none"
            )
    if "username" in values:
        username = str(values["username"] or "")
        if any(c in username for c in "\r\n\0"):
            errors["username"] = "SMTP username: contains a line break or NUL"
        else:
            out = replace(out, username=username)
    if "password" in values:
        password = str(values["password"] or "")
        if any(c in password for c in "\r\n\0"):
            errors["password"] = "SMTP password: contains a line break or NUL"  # noqa: S105
        else:
            out = replace(out, password=password)
    if "from_address" in values:
        try:
            out = replace(out, from_address=validate_email(str(values["from_address"] or "")))
        except ValueError as exc:
            errors["from_address"] = f"From address: {exc}"
    if "timeout_seconds" in values:
        raw = values["timeout_seconds"]
        try:
            if isinstance(raw, bool):
                raise ValueError
            timeout = float(str(raw).strip().removesuffix("s"))
        except ValueError:
            errors["timeout_seconds"] = f"SMTP timeout: {raw!r} is not a number of seconds"
        else:
            if 1 <= timeout <= 300:
                out = replace(out, timeout_seconds=timeout)
            else:
                errors["timeout_seconds"] = (
                    f"SMTP timeout: {timeout:g}s is out of range; use 1 to 300"
                )
    if out.password and not out.username and not errors:
        errors["username"] = "SMTP username: a password is set but no username"
    if errors:
        raise InvalidFieldsError(errors)
    return out


# ----------------------------------------------------------------- delivering


class ServerCertificateCheck(Protocol):
    """Called after the TLS handshake; raise NotificationError to refuse the server."""

    async def __call__(self, *, host: str, port: int, certificate_der: bytes) -> None: ...


class ServerChainCheck(Protocol):
    """Called after the TLS handshake with the certificates the server sent (DER,
    leaf first); raise NotificationError to refuse the server."""

    async def __call__(self, *, host: str, port: int, chain_der: Sequence[bytes]) -> None: ...


def build_message(
    *,
    sender: str,
    recipients: Sequence[str],
    subject: str,
    body: str,
    message_id: str,
    date: datetime,
) -> EmailMessage:
    """A plain-text message. ``message_id`` is stable per notice, so a notice
    retried after an unclear failure can be recognised as the same mail."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body)
    return msg


class SmtpTransport:
    """Sends messages through one configured SMTP server."""

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        tls_context: ssl.SSLContext | None = None,
        server_certificate_check: ServerCertificateCheck | None = None,
        server_chain_check: ServerChainCheck | None = None,
    ) -> None:
        self.settings = settings
        self._tls_context = tls_context
        self._check = server_certificate_check
        self._chain_check = server_chain_check

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def send(self, message: EmailMessage) -> dict[str, str]:
        """Blocking :meth:`send_async` (safe to call from inside an event loop's thread).

        Returns refused recipients (address -> server reply) when the server
        accepted the message for only some of them.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.send_async(message))
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, self.send_async(message)).result()

    async def send_async(self, message: EmailMessage) -> dict[str, str]:
        s = self.settings
        if not s.configured:
            raise SmtpDeliveryError(
                "no SMTP server is configured (certwarden smtp settings set --host ...)",
                server_level=True,
            )
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.security is Security.TLS,
            start_tls=s.security is Security.STARTTLS,
            tls_context=self._tls_context,
            timeout=s.timeout_seconds,
        )
        try:
            try:
                await client.connect()
                if s.security is not Security.NONE and self._check is not None:
                    der = _peer_certificate(client)
                    await self._check(host=s.host, port=s.port, certificate_der=der)
                if s.security is not Security.NONE and self._chain_check is not None:
                    chain = _peer_chain(client)
                    await self._chain_check(host=s.host, port=s.port, chain_der=chain)
                if s.username:
                    await client.login(s.username, s.password)
                refused, _reply = await client.send_message(message)
            finally:
                if client.is_connected:
                    try:
                        await client.quit()
                    except (aiosmtplib.SMTPException, OSError, TimeoutError):
                        client.close()
        except NotificationError:
            raise
        except aiosmtplib.SMTPRecipientsRefused as exc:
            detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
            raise SmtpDeliveryError(
                f"{self.where} refused every recipient ({detail})", server_level=False
            ) from exc
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise SmtpDeliveryError(
                f"{self.where} refused the login of {s.username!r}: {exc.code} {exc.message}",
                server_level=True,
            ) from exc
        except (aiosmtplib.SMTPSenderRefused, aiosmtplib.SMTPDataError) as exc:
            raise SmtpDeliveryError(
                f"{self.where} refused the message: {exc.code} {exc.message}", server_level=False
            ) from exc
        except aiosmtplib.SMTPTimeoutError as exc:
            raise SmtpDeliveryError(
                f"{self.where} did not answer within {s.timeout_seconds:g}s", server_level=True
            ) from exc
        except aiosmtplib.SMTPNotSupported as exc:
            raise SmtpDeliveryError(
                f"{self.where}: {exc} (security is {s.security.value})", server_level=True
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise SmtpDeliveryError(
                f"{self.where} answered {exc.code} {exc.message}", server_level=True
            ) from exc
        except aiosmtplib.SMTPConnectError as exc:
            cause = exc.__cause__
            if isinstance(cause, ssl.SSLError):
                raise SmtpDeliveryError(
                    f"TLS with {self.where} failed: {cause.reason or cause}", server_level=True
                ) from exc
            why = cause.strerror if isinstance(cause, OSError) and cause.strerror else str(exc)
            raise SmtpDeliveryError(
                f"cannot connect to {self.where}: {why}", server_level=True
            ) from exc
        except aiosmtplib.SMTPException as exc:
            raise SmtpDeliveryError(f"{self.where}: {exc}", server_level=True) from exc
        except ssl.SSLError as exc:
            raise SmtpDeliveryError(
                f"TLS with {self.where} failed: {exc.reason or exc}", server_level=True
            ) from exc
        except TimeoutError as exc:
            raise SmtpDeliveryError(
                f"{self.where} did not answer within {s.timeout_seconds:g}s", server_level=True
            ) from exc
        except OSError as exc:
            raise SmtpDeliveryError(
                f"cannot connect to {self.where}: {exc.strerror or exc}", server_level=True
            ) from exc
        return {addr: f"{code} {text}" for addr, (code, text) in refused.items()}


def _peer_certificate(client: aiosmtplib.SMTP) -> bytes:
    ssl_object = client.get_transport_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        raise SmtpDeliveryError(
            f"{client.hostname}:{client.port} presented no certificate", server_level=True
        )
    return bytes(der)


def _peer_chain(client: aiosmtplib.SMTP) -> list[bytes]:
    ssl_object = client.get_transport_info("ssl_object")
    chain = chain_from_ssl_object(ssl_object) if ssl_object is not None else []
    if not chain:
        raise SmtpDeliveryError(
            f"{client.hostname}:{client.port} presented no certificate", server_level=True
        )
    return chain
