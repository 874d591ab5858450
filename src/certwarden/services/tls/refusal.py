"""What a refused TLS peer leaves behind: a ``connection_refused`` alert and the error.

It must not decide whether to refuse (the policy did, in the check it is
given); it records that decision and raises
:class:`~certwarden.errors.ConnectionRefusedByPolicy`.
"""

from __future__ import annotations

from typing import NoReturn

from certwarden.adapters.db import Database
from certwarden.core.ocsp import CertStatus, RevocationResult
from certwarden.core.ocsp.results import describe
from certwarden.core.tls import ConnectionCheck
from certwarden.errors import ConnectionRefusedByPolicy
from certwarden.services.shared.alerts import AlertKind, Severity, record_alert
from certwarden.services.shared.lifecycle import clear_subject

__all__ = ["accepted", "refuse"]


def accepted(db: Database, check: ConnectionCheck) -> None:
    """A connection to ``check``'s peer was let through: its refusal alert (if
    live) clears, with one notice. One unique-index probe when there is none."""
    with db.session() as s:
        clear_subject(
            s,
            "connection_refused",
            f"peer:{check.purpose}:{check.where}",
            now=check.checked_at,
            why=f"a TLS connection to {check.where} ({check.purpose}) was accepted again",
        )


def refuse(db: Database, check: ConnectionCheck) -> NoReturn:
    """Record the refusal of ``check``'s peer (at most one alert per peer, status, hour), raise.

    Raises:
        ConnectionRefusedByPolicy: always, naming the certificate, status and reason.
    """
    result = check.result
    with db.session() as s:
        record_alert(
            s,
            now=check.checked_at,
            kind=AlertKind.CONNECTION_REFUSED,
            severity=(
                Severity.CRITICAL if result.status is CertStatus.REVOKED else Severity.WARNING
            ),
            message=(
                f"TLS connection to {check.where} ({check.purpose}) refused: "
                f"{check.subject} is {describe(result)}; {check.verdict.why}"
            ),
            sha256=check.sha256,
            subject=check.subject,
            # One alert per peer, status and hour: a client that keeps
            # reconnecting does not flood the log.
            dedupe_key=(
                f"tls-refused:{check.purpose}:{check.where}:{check.sha256[:16]}:"
                f"{result.status.value}:{check.checked_at:%Y%m%d%H}"
            ),
            details=check.to_json(),
        )
    raise ConnectionRefusedByPolicy(
        check.where,
        subject=check.subject,
        sha256=check.sha256,
        status=result.status.value,
        reason=_reason(result),
        why=check.verdict.why,
        result=result,
    )


def _reason(result: RevocationResult) -> str | None:
    if result.status is CertStatus.REVOKED:
        if result.expired:
            return "expired"
        return result.revocation_reason
    return result.reason.value if result.reason else None
