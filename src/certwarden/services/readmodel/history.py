"""Check history: the revocation checks recorded for a certificate, and their evidence.

Newest first, with the raw OCSP response kept as evidence read only on
request. Nothing here checks anything or writes: the revocation service
records the checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import defer

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import OcspCheck
from certwarden.clock import ensure_utc
from certwarden.core.timefmt import iso_z
from certwarden.errors import NotFoundError

__all__ = ["OcspCheckRecord", "ocsp_check_counts", "ocsp_history", "ocsp_response"]


@dataclass(frozen=True)
class OcspCheckRecord:
    id: int
    checked_at: datetime
    trigger: str
    status: str
    reason: str | None
    detail: str
    revoked_at: datetime | None
    revocation_reason: str | None
    trust_model: str | None
    signer_sha256: str | None
    responder_url: str | None
    this_update: datetime | None
    next_update: datetime | None
    has_response: bool
    # Which source answered (ocsp, crl; None: none asked) and a CRL's evidence.
    source: str | None = None
    crl_number: str | None = None
    crl_sha256: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "checked_at": iso_z(self.checked_at),
            "trigger": self.trigger,
            "status": self.status,
            "reason": self.reason,
            "detail": self.detail,
            "revoked_at": iso_z(self.revoked_at),
            "revocation_reason": self.revocation_reason,
            "trust_model": self.trust_model,
            "signer_sha256": self.signer_sha256,
            "responder_url": self.responder_url,
            "this_update": iso_z(self.this_update),
            "next_update": iso_z(self.next_update),
            "has_response": self.has_response,
            "source": self.source,
            "crl_number": self.crl_number,
            "crl_sha256": self.crl_sha256,
        }


def _opt(when: datetime | None) -> datetime | None:
    return ensure_utc(when) if when is not None else None


def ocsp_history(
    db: Database, certificate_id: int, *, limit: int = 50, offset: int = 0
) -> tuple[list[OcspCheckRecord], int]:
    """Recorded revocation checks of one certificate, newest first, and their total."""
    with db.session() as s:
        total = (
            s.scalar(
                select(func.count())
                .select_from(OcspCheck)
                .where(OcspCheck.certificate_id == certificate_id)
            )
            or 0
        )
        rows = s.execute(
            select(OcspCheck, OcspCheck.raw_response.is_not(None))
            .where(OcspCheck.certificate_id == certificate_id)
            .options(defer(OcspCheck.raw_response))
            .order_by(OcspCheck.checked_at.desc(), OcspCheck.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return [
            OcspCheckRecord(
                r.id,
                ensure_utc(r.checked_at),
                r.trigger,
                r.status,
                r.reason,
                r.detail,
                _opt(r.revoked_at),
                r.revocation_reason,
                r.trust_model,
                r.signer_sha256,
                r.responder_url,
                _opt(r.this_update),
                _opt(r.next_update),
                bool(has),
                r.source,
                r.crl_number,
                r.crl_sha256,
            )
            for r, has in rows
        ], total


def ocsp_response(db: Database, certificate_id: int, check_id: int) -> bytes | None:
    """The raw OCSP response kept as evidence for one check, if any."""
    with db.session() as s:
        row = s.get(OcspCheck, check_id)
        if row is None or row.certificate_id != certificate_id:
            raise NotFoundError(f"no OCSP check {check_id} for certificate {certificate_id}")
        return row.raw_response


def ocsp_check_counts(db: Database) -> dict[str, int]:
    """How many revocation checks were recorded, per status."""
    with db.session() as s:
        return {
            status: int(n)
            for status, n in s.execute(
                select(OcspCheck.status, func.count()).group_by(OcspCheck.status)
            )
        }
