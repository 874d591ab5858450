"""The certwarden exception tree.

Exceptions mean something went wrong (bad input, broken configuration, a bug).
Outcomes such as "revoked" or "could not tell" are values, never exceptions.

    CertwardenError
    ├── InputError            bad data supplied by a person (files, fields)
    │   ├── ParseError        a file that is not a usable certificate container
    │   ├── ParseBudgetError  an upload whose parsing took longer than its time budget
    │   └── InvalidFieldsError  fields (settings, users, queries) with bad values, by name
    ├── NotFoundError         a certificate, store or object that does not exist
    ├── ConflictError         the operation contradicts what is stored
    │   └── ConflictingWriteError  a write racing another one (a unique row); also a StorageError
    ├── ConfigurationError    the deployment itself is misconfigured
    ├── OcspError             OCSP transport failures (carry a could-not-tell reason)
    ├── NotificationError     mail could not be handed to the server
    ├── BusyError             a bounded resource is in use; try again (HTTP 503, Retry-After)
    ├── StorageError          the database failed
    └── TlsError              a TLS connection could not be made or verified
        └── ConnectionRefusedByPolicy   the revocation policy refused the peer

Every error has ``diagnostics()``: the one message a person should read, with
what to do. Interfaces catch ``CertwardenError`` once and print that.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "BusyError",
    "CertwardenError",
    "ConfigurationError",
    "ConflictError",
    "ConflictingWriteError",
    "ConnectionRefusedByPolicy",
    "InputError",
    "InvalidFieldsError",
    "NotFoundError",
    "NotificationError",
    "OcspError",
    "ParseBudgetError",
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
    """

    def __init__(self, source: str | Path, problem: str) -> None:
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")


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
