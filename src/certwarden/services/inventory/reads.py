"""Reading and deleting stored certificates: list, look up by ID or fingerprint, DER, delete.

A certificate is named by its numeric ID, its SHA-256 fingerprint or a unique
prefix of 8+ hex digits of it (:func:`resolve`). Listing here is the CLI's
simple filter (:class:`.records.ListFilter`); the dashboard's and the API's
paged searches live in :mod:`certwarden.services.readmodel`. Nothing here
imports or changes a certificate; :func:`delete_certificate` only removes one.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import CertificateRow, Store
from certwarden.clock import Clock
from certwarden.errors import ConflictError, InputError, NotFoundError
from certwarden.services.inventory.records import CertificateRecord, ListFilter
from certwarden.services.inventory.stores import store_row
from certwarden.services.shared.lifecycle import clear_deleted

__all__ = [
    "certificate_der",
    "delete_certificate",
    "get_certificate",
    "list_certificates",
    "resolve",
]

_HEX = re.compile(r"^[0-9a-fA-F:]+$")


def list_certificates(db: Database, clock: Clock, flt: ListFilter) -> list[CertificateRecord]:
    now = clock.now()
    issuer = CertificateRow.__table__.alias("issuer_cert")
    query = (
        select(CertificateRow, Store.name, issuer.c.sha256)
        .join(Store, Store.id == CertificateRow.store_id)
        .outerjoin(issuer, issuer.c.id == CertificateRow.issuer_id)
    )
    if flt.store is not None:
        query = query.where(Store.name == flt.store)
    if flt.lsc is not None:
        query = query.where(CertificateRow.is_lsc.is_(flt.lsc))
    windows = []
    if flt.expiring_within is not None:
        windows.append(
            and_(
                CertificateRow.not_after >= now,
                CertificateRow.not_after <= now + flt.expiring_within,
            )
        )
    if flt.expired:
        windows.append(CertificateRow.not_after < now)
    if windows:
        query = query.where(or_(*windows))
    query = query.order_by(CertificateRow.not_after, CertificateRow.id).offset(flt.offset)
    if flt.limit is not None:
        query = query.limit(flt.limit)
    with db.session() as s:
        if flt.store is not None:
            store_row(s, flt.store)
        return [CertificateRecord.from_row(row, st, isha) for row, st, isha in s.execute(query)]


def get_certificate(db: Database, ref: str | int) -> CertificateRecord:
    """By numeric ID, or by SHA-256 fingerprint (or a unique prefix of 8+ hex digits)."""
    with db.session() as s:
        row = resolve(s, ref)
        store = s.get_one(Store, row.store_id).name
        isha = s.get(CertificateRow, row.issuer_id).sha256 if row.issuer_id else None  # type: ignore[union-attr]
        return CertificateRecord.from_row(row, store, isha)


def certificate_der(db: Database, ref: str | int) -> bytes:
    with db.session() as s:
        return resolve(s, ref).der


def delete_certificate(db: Database, ref: str | int, *, now: datetime) -> CertificateRecord:
    """Delete one certificate; its live alerts clear ("deleted") in the same transaction."""
    record = get_certificate(db, ref)
    with db.session() as s:
        clear_deleted(s, CertificateRow.id == record.id, now=now)
        s.execute(delete(CertificateRow).where(CertificateRow.id == record.id))
    return record


def resolve(s: Session, ref: str | int) -> CertificateRow:
    """The row ``ref`` names (an ID, a SHA-256 or a unique 8+ hex digit prefix of one)."""
    text = str(ref).strip()
    # ASCII digits only: str.isdigit() is also true for "²", which int() refuses.
    if text.isascii() and text.isdigit() and len(text) < 19:
        row = s.get(CertificateRow, int(text))
        if row is None:
            raise NotFoundError(f"no certificate with ID {text}")
        return row
    digest = text.replace(":", "").lower()
    if not _HEX.match(text) or len(digest) < 8 or len(digest) > 64:
        raise InputError(
            f"{text!r} is neither a certificate ID nor a SHA-256 fingerprint (or 8+ hex digit prefix)"
        )
    rows = list(
        s.scalars(
            select(CertificateRow)
            .where(
                CertificateRow.sha256 == digest
                if len(digest) == 64
                else CertificateRow.sha256.startswith(digest)
            )
            .limit(10)
        )
    )
    if not rows:
        raise NotFoundError(f"no certificate with SHA-256 {digest}")
    if len(rows) > 1:
        ids = ", ".join(str(r.id) for r in rows)
        raise ConflictError(f"{digest} matches several certificates (IDs {ids}); give an ID")
    return rows[0]
