"""The two states every certificate has side by side, and their SQL conditions.

* its **expiry state**: ``valid`` (outside the notification window),
  ``expiring`` (inside it) or ``expired`` (RFC 5280: only strictly after
  notAfter);
* its **revocation state**: ``good``, ``revoked``, ``unknown``,
  ``could_not_tell``, ``exempt`` (an OCSP responder certificate with
  id-pkix-ocsp-nocheck, not checked by design) or ``not_checked``, taken from
  the last check recorded by the revocation service. Nothing is ever counted as ``good`` without a check
  that said so.

The two are never mixed into one. The notification window is a parameter: it
belongs to the Certificate Monitor's settings, which the caller reads.
"""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import and_

from certwarden.adapters.db.models import CertificateRow

__all__ = ["STATES", "ExpiryState", "RevocationState", "state_clause"]


@enum.unique
class ExpiryState(enum.StrEnum):
    VALID = "valid"
    EXPIRING = "expiring"
    EXPIRED = "expired"


@enum.unique
class RevocationState(enum.StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"
    COULD_NOT_TELL = "could_not_tell"
    NOT_CHECKED = "not_checked"
    EXEMPT = "exempt"  # ocsp-nocheck responder (RFC 6960 4.2.2.2.1): its own state


STATES: tuple[str, ...] = tuple(s.value for s in ExpiryState) + tuple(
    s.value for s in RevocationState
)


_CHECKED = (
    RevocationState.GOOD.value,
    RevocationState.REVOKED.value,
    RevocationState.UNKNOWN.value,
    RevocationState.EXEMPT.value,  # not "could not tell": nothing to tell, by design
)


def state_clause(state: str, now: Any, until: Any) -> Any:
    """The condition for ``state``; ``now`` and ``until`` (the end of the notification
    window) are datetimes or bound parameters."""
    row = CertificateRow
    status = row.revocation_status
    match state:
        case ExpiryState.EXPIRED:
            return row.not_after < now
        case ExpiryState.EXPIRING:
            return and_(row.not_after >= now, row.not_after <= until)
        case ExpiryState.VALID:
            return row.not_after > until
        case RevocationState.NOT_CHECKED:
            return status.is_(None)
        case RevocationState.COULD_NOT_TELL:
            # Anything recorded that is not a validated answer counts here, never as good.
            return and_(status.is_not(None), status.not_in(_CHECKED))
        case _:
            return status == state
