"""The audit log: who changed what, and when.

Entries are only ever added (:meth:`AuditLog.record`, or
:meth:`AuditLog.record_in` inside the caller's transaction, so that a change
and its entry are stored together) and read newest first. Nothing here
decides who may do what.

An :class:`Actor` says who made a change: a web user (their name, or the
API token's), or the command line (``cli``, with the operating-system user in
the entry's details). :meth:`AuditLog.record_as` records under one.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import AuditEntry
from certwarden.clock import Clock, ensure_utc
from certwarden.services.accounts.records import AuditRecord

__all__ = ["CLI_ACTOR", "Actor", "AuditLog", "os_user"]

CLI_ACTOR = "cli"


def os_user() -> str:
    """The operating-system user running this process (its uid when it has no name)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return f"uid {os.getuid()}"


@dataclass(frozen=True)
class Actor:
    """Who made a change: ``name`` is the entry's actor, ``context`` joins its details."""

    name: str
    context: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def cli(cls) -> Actor:
        """The command line, run by the current operating-system user."""
        return cls(CLI_ACTOR, {"os_user": os_user()})

    @classmethod
    def of(cls, who: Actor | str) -> Actor:
        return who if isinstance(who, Actor) else cls(who)


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

    def record_as(
        self,
        who: Actor | str,
        action: str,
        target: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Like :meth:`record`, with the actor's context (e.g. the OS user) in the details."""
        actor = Actor.of(who)
        self.record(actor.name, action, target, {**(details or {}), **actor.context})

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
