"""Expiry alerts that end at a monitor run: their certificate was renewed (the
renewal rule), deleted, or is no longer at any notification level (the
settings changed, LSCs are no longer monitored). Each clears with one
"cleared" notice (``services/shared/lifecycle.py``), in the run's transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from certwarden.adapters.db.models import AlertCondition, CertificateRow
from certwarden.clock import ensure_utc
from certwarden.core.expiry import MonitorSettings, level_at
from certwarden.services.shared.lifecycle import clear, clear_orphans, clear_renewed

__all__ = ["clear_ended"]


def clear_ended(s: Session, settings: MonitorSettings, now: datetime) -> int:
    """Clear the expiry alerts (and any certificate alert whose certificate is
    gone) that ended by ``now``; returns how many. Reads only live alerts."""
    count = len(clear_orphans(s, now=now)) + len(clear_renewed(s, now=now))
    rows = s.execute(
        select(
            AlertCondition,
            CertificateRow.not_after,
            CertificateRow.notice_from,
            CertificateRow.is_lsc,
        )
        .join(CertificateRow, CertificateRow.id == AlertCondition.certificate_id)
        .where(AlertCondition.active_key.is_not(None), AlertCondition.family == "expiry")
        .order_by(AlertCondition.id)
    ).all()
    for row, not_after, notice_from, is_lsc in rows:
        start = ensure_utc(notice_from) if notice_from is not None else None
        if is_lsc and not settings.lsc_enabled:
            why = "locally significant certificates are no longer monitored"
        elif level_at(ensure_utc(not_after), now, settings, start) is None:
            why = "no longer within the Certificate Monitor's notification window"
        else:
            continue
        count += len(clear(s, [row], now=now, why=why))
    return count
