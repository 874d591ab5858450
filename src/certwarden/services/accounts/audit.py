"""The audit log: who changed what, and when.

Entries are only ever added (:meth:`AuditLog.record`, or
:meth:`AuditLog.record_in` inside the caller's transaction, so that a change
and its entry are stored together) and read newest first. Nothing here
decides who may do what.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import AuditEntry
from certwarden.clock import Clock, ensure_utc
from certwarden.services.accounts.records import AuditRecord

__all__ = ["AuditLog"]


class AuditLog:
    """The audit entries table."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def record(
        self, actor: str, action: str, target: str = "", details: dict[str, Any] | None = None
    ) -> None:
        """Record that ``actor`` did ``action`` to ``target`` (its own transaction)."""
        with self._db.session() as s:
            self.record_in(s, actor, action, target, details)

    def record_in(
        self,
        s: Session,
        actor: str,
        action: str,
        target: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        """Like :meth:`record`, inside the caller's transaction ``s``."""
        s.add(
            AuditEntry(
                at=self._clock.now(),
                actor=actor[:64],
                action=action[:64],
                target=target,
                details=details or {},
            )
        )

    def entries(
        self, *, limit: int = 100, offset: int = 0, actor: str | None = None
    ) -> tuple[list[AuditRecord], int]:
        """Newest first, with the total count."""
        query = select(AuditEntry)
        counted = select(func.count()).select_from(AuditEntry)
        if actor:
            query = query.where(AuditEntry.actor == actor)
            counted = counted.where(AuditEntry.actor == actor)
        query = query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        with self._db.session() as s:
            total = s.scalar(counted) or 0
            rows = s.scalars(query.offset(offset).limit(limit))
            return [
                AuditRecord(r.id, ensure_utc(r.at), r.actor, r.action, r.target, dict(r.details))
                for r in rows
            ], total
