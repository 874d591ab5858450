"""Lifetime-share thresholds: notify when less than a share of a certificate's
lifetime remains, per store (and per certificate, overriding its store's).

A share gives each certificate its own notification start,
``not_after - share * (not_after - not_before)``, kept in
``certificates.notice_from`` (indexed), so the due query stays a range. It is
computed here when a share is set or cleared, and by the import for new
certificates of a store with a share. Without a share (None) the monitor's
Notification Start Time applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import CertificateRow, Store
from certwarden.clock import ensure_utc
from certwarden.core.expiry import lifetime_start
from certwarden.core.shares import SHARE_MAX, SHARE_MIN, format_share, parse_share
from certwarden.core.timefmt import iso_z
from certwarden.errors import InputError
from certwarden.services.inventory.reads import resolve
from certwarden.services.inventory.stores import store_row

__all__ = [
    "SHARE_MAX",
    "SHARE_MIN",
    "Threshold",
    "format_share",
    "parse_share",
    "set_certificate_share",
    "set_store_share",
    "share_or_error",
]

_BATCH = 1000


@dataclass(frozen=True)
class Threshold:
    """What a change set: the target, the share (None: cleared) and how many
    certificates' notification start it recomputed."""

    target: str
    share: float | None
    certificates: int
    notice_from: str | None = None  # a single certificate's new start

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "lifetime_share": format_share(self.share),
            "certificates": self.certificates,
            "notice_from": self.notice_from,
        }


def set_store_share(db: Database, name: str, share: float | None) -> Threshold:
    """Set (or clear, with None) a store's share; recompute the start of its
    certificates that have no override of their own. One transaction."""
    with db.session() as s:
        store = store_row(s, name)
        store.lifetime_share = share
        rows = s.execute(
            select(CertificateRow.id, CertificateRow.not_before, CertificateRow.not_after).where(
                CertificateRow.store_id == store.id, CertificateRow.lifetime_share.is_(None)
            )
        ).all()
        _write_starts(s, [(r.id, r.not_before, r.not_after) for r in rows], share)
        return Threshold(name, share, len(rows))


def set_certificate_share(db: Database, ref: str | int, share: float | None) -> Threshold:
    """Set (or clear, with None: the store's share applies again) one
    certificate's override; recompute its start."""
    with db.session() as s:
        row = resolve(s, ref)
        row.lifetime_share = share
        effective = share
        if effective is None:
            effective = s.get_one(Store, row.store_id).lifetime_share
        row.notice_from = (
            lifetime_start(ensure_utc(row.not_before), ensure_utc(row.not_after), effective)
            if effective is not None
            else None
        )
        start = iso_z(row.notice_from) if row.notice_from is not None else None
        return Threshold(f"{row.id}", share, 1, start)


def _write_starts(s: Session, rows: list[tuple[int, Any, Any]], share: float | None) -> None:
    table = cast("Table", CertificateRow.__table__)
    statement = (
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values(notice_from=bindparam("start"))
    )
    batch: list[dict[str, Any]] = []
    for cid, not_before, not_after in rows:
        start = (
            lifetime_start(ensure_utc(not_before), ensure_utc(not_after), share)
            if share is not None
            else None
        )
        batch.append({"row_id": cid, "start": start})
        if len(batch) == _BATCH:
            s.execute(statement, batch)
            batch = []
    if batch:
        s.execute(statement, batch)


# Bad input from the interfaces: a clear error naming the option.
def share_or_error(value: Any, option: str) -> float:
    try:
        return parse_share(value)
    except ValueError as exc:
        raise InputError(f"{option}: {exc}") from exc
