"""The CRLs certwarden holds: one row per distribution point URL, each CRL once by hash.

``crl_sources`` keeps, per URL, the last valid CRL (its hash, number,
thisUpdate, nextUpdate, entries, issuer), the validators of the conditional
GET (ETag, Last-Modified), when it was fetched and when a fetch was last
tried, and the last error. ``crl_blobs`` keeps each CRL's DER once, by its
SHA-256: the evidence of every check it answered.

Plain functions over a Session: the caller commits. It must not fetch or
judge anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from certwarden.adapters.db.models import CrlBlob, CrlSource
from certwarden.clock import ensure_utc
from certwarden.core.ocsp.results import iso_z

__all__ = [
    "CrlRecord",
    "blob",
    "list_records",
    "record",
    "save_attempt",
    "save_crl",
]


@dataclass(frozen=True)
class CrlRecord:
    """What is known of one distribution point (a ``crl_sources`` row)."""

    url: str
    issuer: str | None
    etag: str | None
    last_modified: str | None
    this_update: datetime | None
    next_update: datetime | None
    crl_number: int | None
    entries: int | None
    sha256: str | None
    fetched_at: datetime | None
    attempted_at: datetime | None
    last_error: str | None
    last_error_reason: str | None

    def fresh_at(self, now: datetime) -> str:
        """``fresh``, ``stale`` (past nextUpdate), ``none`` (no valid CRL held)."""
        if self.sha256 is None:
            return "none"
        if self.next_update is not None and now > self.next_update:
            return "stale"
        return "fresh"

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {
            "url": self.url,
            "issuer": self.issuer,
            "crl_number": str(self.crl_number) if self.crl_number is not None else None,
            "this_update": iso_z(self.this_update),
            "next_update": iso_z(self.next_update),
            "entries": self.entries,
            "sha256": self.sha256,
            "etag": self.etag,
            "last_modified": self.last_modified,
            "fetched_at": iso_z(self.fetched_at),
            "attempted_at": iso_z(self.attempted_at),
            "last_error": self.last_error,
            "last_error_reason": self.last_error_reason,
            "freshness": self.fresh_at(now),
        }


def _utc(value: datetime | None) -> datetime | None:
    return ensure_utc(value) if value is not None else None


def _record(row: CrlSource) -> CrlRecord:
    return CrlRecord(
        url=row.url,
        issuer=row.issuer,
        etag=row.etag,
        last_modified=row.last_modified,
        this_update=_utc(row.this_update),
        next_update=_utc(row.next_update),
        crl_number=int(row.crl_number) if row.crl_number is not None else None,
        entries=row.entries,
        sha256=row.blob_sha256,
        fetched_at=_utc(row.fetched_at),
        attempted_at=_utc(row.attempted_at),
        last_error=row.last_error,
        last_error_reason=row.last_error_reason,
    )


def record(s: Session, url: str) -> CrlRecord | None:
    row = s.scalar(select(CrlSource).where(CrlSource.url == url))
    return _record(row) if row is not None else None


def list_records(s: Session) -> list[CrlRecord]:
    return [_record(r) for r in s.scalars(select(CrlSource).order_by(CrlSource.url))]


def blob(s: Session, sha256: str) -> bytes | None:
    """A stored CRL's DER by its SHA-256."""
    return s.scalar(select(CrlBlob.der).where(CrlBlob.sha256 == sha256))


def _row(s: Session, url: str) -> CrlSource:
    row = s.scalar(select(CrlSource).where(CrlSource.url == url))
    if row is None:
        row = CrlSource(url=url)
        s.add(row)
    return row


def save_crl(
    s: Session,
    url: str,
    *,
    der: bytes,
    sha256: str,
    issuer: str,
    this_update: datetime,
    next_update: datetime | None,
    crl_number: int | None,
    entries: int,
    etag: str | None,
    last_modified: str | None,
    now: datetime,
) -> None:
    """A newly fetched valid CRL becomes the one held for ``url`` (its DER stored once)."""
    if s.scalar(select(CrlBlob.id).where(CrlBlob.sha256 == sha256)) is None:
        s.add(CrlBlob(sha256=sha256, der=der, size=len(der), stored_at=now))
    row = _row(s, url)
    row.issuer = issuer
    row.blob_sha256 = sha256
    row.this_update = this_update
    row.next_update = next_update
    row.crl_number = str(crl_number) if crl_number is not None else None
    row.entries = entries
    row.etag = etag
    row.last_modified = last_modified
    row.fetched_at = now
    row.attempted_at = now
    row.last_error = None
    row.last_error_reason = None


def save_attempt(
    s: Session,
    url: str,
    *,
    now: datetime,
    error: str | None = None,
    reason: str | None = None,
    confirmed: bool = False,
) -> None:
    """A fetch that brought no new CRL: failed (``error``), or 304 (``confirmed``)."""
    row = _row(s, url)
    row.attempted_at = now
    if confirmed:
        row.fetched_at = now
    row.last_error = error
    row.last_error_reason = reason
