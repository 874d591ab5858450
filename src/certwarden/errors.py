"""The certwarden exception tree.

Exceptions mean something went wrong (bad input, broken configuration, a bug).
Outcomes such as "revoked" or "could not tell" are values, never exceptions.

    CertwardenError
    ├── InputError            bad data supplied by a person (files, fields)
    │   ├── ParseError        a file that is not a usable certificate container
    │   └── InvalidFieldsError  fields (settings, users, queries) with bad values, by name
    ├── NotFoundError         a certificate, store or object that does not exist
    ├── ConflictError         the operation contradicts what is stored
    ├── ConfigurationError    the deployment itself is misconfigured
    ├── OcspError             OCSP transport failures (carry a could-not-tell reason)
    ├── NotificationError     mail could not be handed to the server
    ├── StorageError          the database failed
    └── TlsError              a TLS connection could not be made or verified
        └── ConnectionRefusedByPolicy   the revocation policy refused the peer

Every error has ``diagnostics()``: the one message a person should read, with
what to do. Interfaces catch ``CertwardenError`` once and print that.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "CertwardenError",
    "ConfigurationError",
    "ConflictError",
    "ConnectionRefusedByPolicy",
    "InputError",
    "InvalidFieldsError",
    "NotFoundError",
    "NotificationError",
    "OcspError",
    "ParseError",
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


class StorageError(CertwardenError):
    """The database failed or is not at the expected schema."""


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
