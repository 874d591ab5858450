"""Which certificates the monitor considers: monitored, due, renewed, the earliest to expire.

Every query is a range on ``not_after`` (no join), so its cost follows the
certificates inside the window, not the inventory's size. A certificate whose
renewal (same store and subject, expiring later, already valid) is stored
needs no more notices (the rule: ``services/shared/renewal.py``). Nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, false, select
from sqlalchemy.orm import Session

from certwarden.adapters.db.models import CertificateRow, Store
from certwarden.clock import ensure_utc
from certwarden.core.expiry import (
    DueCertificate,
    MonitorSettings,
    is_due,
    level_at,
    window_cutoffs,
)
from certwarden.services.shared.renewal import is_replaced, renewals

__all__ = [
    "CHUNK",
    "Earliest",
    "due_certificates",
    "earliest_to_expire",
    "is_replaced",
    "monitored",
    "renewals",
]

# Rows per IN (...) list.
CHUNK = 500


@dataclass(frozen=True)
class Earliest:
    """The monitored certificate that expires first, and how to name it."""

    not_after: datetime
    label: str


def monitored(settings: MonitorSettings) -> list[ColumnElement[bool]]:
    """The conditions for the certificates the monitor watches (LSCs only when enabled)."""
    # ``is_lsc = 0`` (not ``IS 0``) so the (is_lsc, not_after) index serves it.
    return [] if settings.lsc_enabled else [CertificateRow.is_lsc == false()]


def due_certificates(s: Session, settings: MonitorSettings, now: datetime) -> list[DueCertificate]:
    """Certificates at a notification level (inside the window, past their
    lifetime-share start, or expired) whose level rose since their last notice
    or whose last notice is a frequency old, and not replaced by a renewal.

    No join, two index ranges: ``not_after`` up to the window's end (for
    certificates without a lifetime share) and ``notice_from`` up to now (for
    those with one), so the cost follows the certificates due, whatever the
    inventory's size.
    """
    window_end, _ = window_cutoffs(now, settings)
    columns = (
        CertificateRow.id,
        CertificateRow.store_id,
        CertificateRow.subject,
        CertificateRow.serial,
        CertificateRow.sha256,
        CertificateRow.not_after,
        CertificateRow.is_lsc,
        CertificateRow.last_notified_at,
        CertificateRow.notice_level,
        CertificateRow.notice_from,
    )
    # Both filters the other range would need are applied here, not in SQL, so
    # each query keeps its own index (an ``IS NULL`` or ``is_lsc`` term would
    # let the planner pick a far wider one).
    by_window = [
        row
        for row in s.execute(
            select(*columns).where(CertificateRow.not_after <= window_end, *monitored(settings))
        )
        if row.notice_from is None
    ]
    by_share = [
        row
        for row in s.execute(select(*columns).where(CertificateRow.notice_from <= now))
        if settings.lsc_enabled or not row.is_lsc
    ]
    rows = sorted([*by_window, *by_share], key=lambda r: (ensure_utc(r.not_after), r.id))
    candidates = []
    for row in rows:
        start = ensure_utc(row.notice_from) if row.notice_from is not None else None
        last = ensure_utc(row.last_notified_at) if row.last_notified_at is not None else None
        not_after = ensure_utc(row.not_after)
        if is_due(not_after, last, now, settings, last_level=row.notice_level, start=start):
            level = level_at(not_after, now, settings, start)
            if level is not None:
                candidates.append((row, level))
    renewed = renewals(s, [(r.store_id, r.subject) for r, _ in candidates], now)
    stores: dict[int, str] | None = None
    out: list[DueCertificate] = []
    for row, level in candidates:
        if is_replaced(renewed, row.store_id, row.subject, row.not_after):
            continue
        if stores is None:
            stores = dict(s.execute(select(Store.id, Store.name)).all())
        out.append(
            DueCertificate(
                certificate_id=row.id,
                store=stores.get(row.store_id, "?"),
                subject=row.subject,
                serial=row.serial,
                sha256=row.sha256,
                not_after=ensure_utc(row.not_after),
                is_lsc=bool(row.is_lsc),
                level=level,
            )
        )
    return out


def earliest_to_expire(s: Session, settings: MonitorSettings, now: datetime) -> Earliest | None:
    """The monitored certificate that expires first and is not replaced
    (usually one index probe: the first one is rarely a replaced one)."""
    offset, page = 0, 32
    while True:
        rows = s.execute(
            select(
                CertificateRow.not_after,
                CertificateRow.subject_cn,
                CertificateRow.subject,
                CertificateRow.store_id,
            )
            .where(*monitored(settings))
            .order_by(CertificateRow.not_after, CertificateRow.id)
            .offset(offset)
            .limit(page)
        ).all()
        if not rows:
            return None
        renewed = renewals(s, [(r.store_id, r.subject) for r in rows], now)
        for not_after, cn, subject, store_id in rows:
            if is_replaced(renewed, store_id, subject, not_after):
                continue
            store = s.scalar(select(Store.name).where(Store.id == store_id)) or "?"
            return Earliest(ensure_utc(not_after), f"{cn or subject} ({store})")
        offset += page
