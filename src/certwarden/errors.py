"""The certwarden exception tree.

Exceptions mean something went wrong (bad input, broken configuration, a bug).
Outcomes such as "revoked" or "could not tell" are values, never exceptions.

    CertwardenError
    ├── InputError            bad data supplied by a person (files, fields)
    │   ├── ParseError        a file that is not a usable certificate container
    │   │   └── CrlParseError bytes that are not a usable CRL (carries its could-not-tell reason)
    │   ├── ParseBudgetError  an upload whose parsing took longer than its time budget
    │   └── InvalidFieldsError  fields (settings, users, queries) with bad values, by name
    ├── NotFoundError         a certificate, store or object that does not exist
    ├── ConflictError         the operation contradicts what is stored
    │   └── ConflictingWriteError  a write racing another one (a unique row); also a StorageError
    ├── ConfigurationError    the deployment itself is misconfigured
    ├── AuthenticationError   a login or token was refused (never says which part was wrong)
    │   └── LoginThrottledError   too many failed logins lately (retry_after)
    │       └── LoginBusyError    too many password checks in flight (retry soon)
    ├── OcspError             OCSP transport failures (carry a could-not-tell reason)
    │   └── OcspFetchError    no usable HTTP answer from a responder (adapters/ocsp_http.py)
    │   └── CrlFetchError     a CRL could not be fetched (certwarden.adapters.crl_http,
    │                         also raised by crl_ldap; carries the could-not-tell reason)
    ├── AriFetchError         an ACME renewalInfo (RFC 9773) fetch failed (adapters/ari_http.py)
    ├── NotificationError     mail could not be handed to the server
    │   ├── SmtpDeliveryError delivery failed (server_level: every message would fail now)
    │   └── ChannelDeliveryError  a notification channel (Apprise) did not take a notice
    ├── BusyError             a bounded resource is in use; try again (HTTP 503, Retry-After)
    ├── StorageError          the database failed
    │   └── LeaseLostError    another instance holds the job now: its result is not committed
    └── TlsError              a TLS connection could not be made or verified
        └── ConnectionRefusedByPolicy   the revocation policy refused the peer

Not in the tree, on purpose: ``DerError``, ``BerError`` and
``MalformedResponseError`` (ValueError subclasses of the core's bounded DER/BER
readers and OCSP response parser) never leave the core: the parsers turn them
into a ParseError or a could-not-tell reason.

Every error has ``diagnostics()``: the one message a person should read, with
what to do. Interfaces catch ``CertwardenError`` once and print that.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from certwarden.core.ocsp.results import Reason

__all__ = [
    "AriFetchError",
    "AuthenticationError",
    "BusyError",
    "CertwardenError",
    "ChannelDeliveryError",
    "ConfigurationError",
    "ConflictError",
    "ConflictingWriteError",
    "ConnectionLostError",
    "ConnectionRefusedByPolicy",
    "CrlParseError",
    "InputError",
    "InvalidFieldsError",
    "LeaseLostError",
    "LoginBusyError",
    "LoginThrottledError",
    "NotFoundError",
    "NotificationError",
    "OcspError",
    "OcspFetchError",
    "ParseBudgetError",
    "ParseError",
    "SmtpDeliveryError",
    "StorageError",
    "TlsError",
]


class CertwardenError(Exception):
    """Root of every error certwarden raises on purpose."""

    def diagnostics(self) -> str:
        return str(self)


class InputError(CertwardenError):
    """Data a person supplied cannot be used."""


class ParseError(InputError):
    """A file could not be read as certificates.

    Attributes:
        source: the file name (or other label) the bytes came from.
        problem: what is wrong with it, in words.
        code: a stable name for the kind of problem when an interface words
            its own remedy (``"password_required"``); empty otherwise.
    """

    def __init__(self, source: str | Path, problem: str, *, code: str = "") -> None:
        self.source = str(source)
        self.problem = problem
        self.code = code
        super().__init__(f"{self.source}: {problem}")


class CrlParseError(ParseError):
    """Bytes that are not a usable CRL (``certwarden.core.crl.load_crl``).

    Attributes:
        source: where the bytes came from (file name or URL).
        problem: what is wrong, in words.
        reason: the could-not-tell reason a check reports for it, a
            ``certwarden.core.ocsp.results.Reason`` value
            (``malformed_crl`` or ``response_too_large``).
    """

    def __init__(self, source: str | Path, problem: str, reason: str = "malformed_crl") -> None:
        self.reason = reason
        super().__init__(source, problem)


class ParseBudgetError(InputError):
    """An upload took longer to parse than its time budget; it was refused, nothing stored.

    Attributes:
        sources: the file names of the upload.
        seconds: the budget.
    """

    def __init__(self, sources: str, seconds: float) -> None:
        self.sources = sources
        self.seconds = seconds
        super().__init__(
            f"{sources}: reading the upload took longer than {seconds:g} s, the limit for "
            "one upload, and was stopped; nothing was stored. Upload fewer certificates at "
            "a time, or import the files on the server with `certwarden import`"
        )


class InvalidFieldsError(InputError):
    """One or more fields have bad values: settings sections, user records, queries.

    Attributes:
        errors: field name -> message, for every bad field (forms show each
            message next to its field).
    """

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        text = "; ".join(f"{k}: {v}" for k, v in self.errors.items())
        super().__init__(f"invalid fields: {text}")


class NotFoundError(CertwardenError):
    """The thing asked for does not exist."""


class ConflictError(CertwardenError):
    """The operation contradicts what is stored (e.g. deleting a non-empty store)."""


class ConfigurationError(CertwardenError):
    """The deployment is misconfigured (database URL, data directory, ...)."""


class AuthenticationError(CertwardenError):
    """A login or token was refused (the message never says which part was wrong)."""


class LoginThrottledError(AuthenticationError):
    """Too many failed logins; ``retry_after`` seconds until the next attempt is heard."""

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        self.retry_after = max(1.0, retry_after)
        minutes = max(1, round(self.retry_after / 60))
        super().__init__(
            message or f"too many failed logins; try again in about {minutes} minute(s)"
        )


class LoginBusyError(LoginThrottledError):
    """Too many password checks are running at once; try again in a few seconds."""

    def __init__(self, retry_after: float = 5.0) -> None:
        super().__init__(
            retry_after, "too many sign-ins are being checked at once; try again in a few seconds"
        )


class OcspError(CertwardenError):
    """An OCSP exchange failed before a response could be judged.

    Attributes:
        reason: the could-not-tell reason code (``timeout``, ``http_error``...).
        url: the responder URL.
    """

    def __init__(self, reason: str, url: str, detail: str) -> None:
        self.reason = reason
        self.url = url
        self.detail = detail
        super().__init__(f"OCSP {reason} from {url}: {detail}")


class NotificationError(CertwardenError):
    """A notice could not be delivered (the outbox keeps it and retries)."""


class BusyError(CertwardenError):
    """A bounded resource (parallel upload parses, a run) is in use; try again later.

    Attributes:
        retry_after: seconds after which trying again is sensible.
    """

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class StorageError(CertwardenError):
    """The database failed or is not at the expected schema."""


class ConnectionLostError(StorageError):
    """The database connection ended in the middle of a transaction (the server
    restarted, the network failed, or PostgreSQL ended a session left idle in
    its transaction, as after this process was paused): nothing of the
    transaction was stored; the pool opens a fresh connection next time."""


class ConflictingWriteError(ConflictError, StorageError):
    """The database refused a write that conflicts with a row written at the same time
    (a unique constraint): HTTP 409. The message never holds the SQL (the log has it);
    callers that know what raced say it in their own words ("duplicate", "a run is in
    progress")."""


class TlsError(CertwardenError):
    """A TLS connection could not be made, or its peer could not be verified.

    Attributes:
        where: ``host:port`` of the peer.
        detail: what went wrong, in words.
    """

    def __init__(self, where: str, detail: str) -> None:
        self.where = where
        self.detail = detail
        super().__init__(f"TLS with {where}: {detail}")


class ConnectionRefusedByPolicy(TlsError):  # noqa: N818 - named for the event it reports
    """The revocation policy refused a TLS peer (SPEC section 3, "Real time").

    Attributes:
        subject, sha256: the peer's leaf certificate.
        status: ``revoked``, ``unknown`` or ``could_not_tell``.
        reason: the CRL reason (revoked) or why the status could not be told.
        why: the policy's sentence (which mode, what it saw).
        result: the revocation result behind the refusal (a ``RevocationResult``).
    """

    def __init__(
        self,
        where: str,
        *,
        subject: str,
        sha256: str,
        status: str,
        reason: str | None,
        why: str,
        result: object = None,
    ) -> None:
        self.subject = subject
        self.sha256 = sha256
        self.status = status
        self.reason = reason
        self.why = why
        self.result = result
        because = f" ({reason})" if reason else ""
        super().__init__(
            where,
            f"connection refused: the server certificate {subject} "
            f"(SHA-256 {sha256[:16]}...) is {status}{because}; {why}",
        )


class OcspFetchError(OcspError):
    """No usable HTTP answer came back from a responder.

    Attributes:
        code: the could-not-tell :class:`Reason`.
        url: the responder URL.
        detail: one sentence for a person ("HTTP 500 from http://...").
        http_status: the status for ``http_error`` (else None).
    """

    def __init__(self, code: Reason, url: str, detail: str, http_status: int | None = None) -> None:
        super().__init__(code.value, url, detail)
        self.code = code
        self.http_status = http_status

    def diagnostics(self) -> str:
        return self.detail


class SmtpDeliveryError(NotificationError):
    """Delivery failed.

    Attributes:
        server_level: True when the failure concerns the server as a whole
            (unreachable, timed out, TLS or login failed): other messages
            would fail the same way now. False when only this message was refused.
    """

    def __init__(self, message: str, *, server_level: bool) -> None:
        self.server_level = server_level
        super().__init__(message)


class ChannelDeliveryError(NotificationError):
    """A notification channel did not take a notice (the reason never holds its URL).

    Attributes:
        channel: the channel's name.
        detail: what went wrong, in words.
    """

    def __init__(self, channel: str, detail: str) -> None:
        self.channel = channel
        self.detail = detail
        super().__init__(f"channel {channel!r}: {detail}")


class AriFetchError(CertwardenError):
    """An ACME directory or renewalInfo (RFC 9773) answer could not be fetched.

    Attributes:
        url: what was asked.
        detail: what went wrong, in words.
    """

    def __init__(self, url: str, detail: str) -> None:
        self.url = url
        self.detail = detail
        super().__init__(f"ACME renewal information from {url}: {detail}")


class LeaseLostError(StorageError):
    """This instance no longer holds the lease of ``job``: nothing of the run is committed.

    Attributes:
        job: the scheduled job (``monitor``, ``revocation``, ...).
        token: the tenure that ended.
    """

    def __init__(self, job: str, token: int) -> None:
        self.job = job
        self.token = token
        super().__init__(
            f"the {job} lease (tenure {token}) was lost to another instance; "
            "this run's results were not committed"
        )
