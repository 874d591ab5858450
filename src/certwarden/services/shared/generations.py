"""Counters in ``shared_generations`` that tell every instance its in-memory state is stale.

An instance that changes something others may hold in memory (the token
verifications, OCSP answers, refused TLS peers) bumps a counter in the same
database; every instance reads it at most once per ``every`` (a
:class:`Watch`) and drops or reloads what the counter covers when it moved.
So an in-process cache stays a pure accelerator: what it serves is at most
``every`` (one second by default) behind a change made on another instance.

:func:`bump` is one atomic upsert with ``RETURNING`` (SQLite and PostgreSQL):
its row lock also serialises the writers of one counter until they commit,
so rows stamped with a counter's values become visible in that order.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import SharedGeneration

__all__ = ["SYNC_EVERY", "Watch", "bump", "read"]

# How far behind another instance's change an in-memory copy may be.
SYNC_EVERY = timedelta(seconds=1)


def bump(s: Session, name: str, by: int = 1) -> int:
    """Add ``by`` to counter ``name`` in the caller's transaction; its new value."""
    insert: Any
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    c = SharedGeneration
    statement = (
        insert(SharedGeneration)
        .values(name=name, generation=by)
        .on_conflict_do_update(index_elements=[c.name], set_={"generation": c.generation + by})
        .returning(c.generation)
    )
    return int(s.execute(statement).scalar_one())


def read(s: Session, name: str) -> int:
    """Counter ``name`` (0 before its first bump)."""
    value = s.scalar(select(SharedGeneration.generation).where(SharedGeneration.name == name))
    return int(value or 0)


class Watch:
    """Reads counter ``name`` at most once per ``every`` of the caller's ``now``."""

    def __init__(self, db: Database, name: str, *, every: timedelta = SYNC_EVERY) -> None:
        self._db = db
        self.name = name
        self.every = every
        self._seen: int | None = None
        self._read_at: datetime | None = None

    def due(self, now: datetime) -> bool:
        last = self._read_at
        return last is None or not timedelta(0) <= now - last < self.every

    def moved(self, now: datetime) -> bool:
        """Whether the counter moved since the last read; read only when due.

        The first read is a move too: whatever was held before it may be stale.
        """
        if not self.due(now):
            return False
        with self._db.session() as s:
            value = read(s, self.name)
        self._read_at = now
        before, self._seen = self._seen, value
        return before != value
