"""THE renewal rule: a certificate is replaced once a certificate of the same
store and subject, already valid, expiring later, is stored.

The monitor uses it to stop notices (``services/monitor/selection.py``
re-exports it), the alert lifecycle to clear expiry alerts
(:mod:`.lifecycle`). Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from certwarden.adapters.db.models import CertificateRow
from certwarden.clock import ensure_utc

__all__ = ["is_replaced", "renewals"]

_CHUNK = 500


def renewals(
    s: Session, keys: Sequence[tuple[int, str]], now: datetime
) -> dict[tuple[int, str], datetime]:
    """For each (store, subject), the latest notAfter among its certificates
    already valid at ``now``: a later one than a certificate's own means it was
    renewed (its successor sits in the same store) and needs no more notices."""
    subjects = sorted({subject for _, subject in keys})
    latest: dict[tuple[int, str], datetime] = {}
    for start in range(0, len(subjects), _CHUNK):
        for store_id, subject, not_after in s.execute(
            select(
                CertificateRow.store_id, CertificateRow.subject, func.max(CertificateRow.not_after)
            )
            .where(
                CertificateRow.subject.in_(subjects[start : start + _CHUNK]),
                CertificateRow.not_before <= now,
            )
            .group_by(CertificateRow.store_id, CertificateRow.subject)
        ):
            latest[(store_id, subject)] = ensure_utc(not_after)
    return latest


def is_replaced(
    renewed: Mapping[tuple[int, str], datetime], store_id: int, subject: str, not_after: datetime
) -> bool:
    successor = renewed.get((store_id, subject))
    return successor is not None and successor > ensure_utc(not_after)
