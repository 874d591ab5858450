"""Per-message claims for the outboxes (e-mail :mod:`.outbox`, channels
:mod:`.channel_outbox`): which notices are due, and the claim an instance
takes on one before sending it, so that no other instance sends it too.

    with sending(db, OutboxMessage, msg_id) as mine:     # PostgreSQL: an advisory lock
        if mine and claim(s, OutboxMessage, msg_id, now, CLAIM_LEASE, tenure):
            ...  # commit, send, then mark_sent / back_off

Two holds protect a notice being sent:

* the claim: its next attempt moves ``hold`` ahead, so it is not due elsewhere.
  Under the cluster's outbox lease (``tenure``) the claim records the lease's
  fencing token and commits only while the lease is this instance's (the
  fence runs in the claim's transaction): an ex-leader claims nothing;
* on PostgreSQL, a session advisory lock on the notice, held by the sending
  process from before its claim until the outcome is stored. PostgreSQL frees
  it when that process's connection ends — kill -9 included — and not before:
  a process that is merely slow, or paused (SIGSTOP), keeps it.

A notice claimed under a lease whose lock is free lost its sender (it died
between claim and outcome): the outbox loop's next holder takes it over at
once, rather than after ``hold``. One whose lock is held is being sent and
is left alone, however long that takes, so a slow or paused sender is not
doubled. Without a lease (the CLI, "deliver now") the claim is time alone.

Delivery stays at-least-once: a sender killed after the server accepted a
notice and before its mark is stored leaves it to be sent again (with the
same Message-ID for e-mail).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, func, or_, select, text, update
from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import ChannelMessage, OutboxMessage

__all__ = [
    "PENDING",
    "SENT",
    "Tenure",
    "back_off",
    "claim",
    "due_ids",
    "mark_sent",
    "sending",
    "waiting",
]

PENDING = "pending"
SENT = "sent"
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=1)

Message = OutboxMessage | ChannelMessage
Model = type[OutboxMessage] | type[ChannelMessage]
# The advisory locks' first key: a hash of the schema and the table (the second
# is the notice's ID). Advisory locks are the whole database's, so the schema is
# part of the key: two certwarden clusters in two schemas of one database do not
# wait on each other's notices.
_LOCK_KEY = "SELECT {fn}(hashtext(current_schema() || '.' || :table), :id)"


@dataclass(frozen=True)
class Tenure:
    """This instance's hold on the outbox job: the lease's fencing token and its fence."""

    token: int
    fence: Callable[[Session], None]


def backoff(attempts: int) -> timedelta:
    """Wait before the next attempt after ``attempts`` failed ones: 1, 2, 4 ... minutes, at most 1 hour."""
    return min(BACKOFF_BASE * (1 << min(max(attempts - 1, 0), 20)), BACKOFF_CAP)


def _due(model: Model, now: datetime, tenure: Tenure | None) -> ColumnElement[bool]:
    on_time = model.next_attempt_at <= now
    if tenure is None:
        return and_(model.state == PENDING, on_time)
    # Claimed under a lease: taken over only when its lock is free (see sending()).
    return and_(model.state == PENDING, or_(on_time, model.claim_token.is_not(None)))


def due_ids(
    s: Session, model: Model, now: datetime, tenure: Tenure | None, limit: int
) -> list[int]:
    """The IDs of the pending notices due at ``now``, oldest attempt first; under
    ``tenure`` also those claimed under a lease (each taken over only if its
    sender is gone: :func:`sending`)."""
    return list(
        s.scalars(
            select(model.id)
            .where(_due(model, now, tenure))
            .order_by(model.next_attempt_at, model.id)
            .limit(limit)
        )
    )


def waiting(s: Session, model: Model, now: datetime) -> int:
    """Pending notices not due yet (backing off, or claimed)."""
    query = select(func.count()).select_from(model)
    return int(s.scalar(query.where(model.state == PENDING, model.next_attempt_at > now)) or 0)


@contextmanager
def sending(db: Database, model: Model, msg_id: int) -> Iterator[bool]:
    """Hold notice ``msg_id``'s advisory lock while it is claimed, sent and settled.

    Yields False when another process holds it (that notice is being sent
    there: leave it). On SQLite (one instance) there is no lock: True.
    """
    if db.dialect != "postgresql":
        yield True
        return
    key = {"table": model.__tablename__, "id": msg_id}
    with db.engine.connect() as conn:
        mine = bool(conn.execute(text(_LOCK_KEY.format(fn="pg_try_advisory_lock")), key).scalar())
        conn.commit()  # the lock is the session's: no transaction stays open during the send
        if not mine:
            yield False
            return
        try:
            yield True
        finally:
            try:
                conn.execute(text(_LOCK_KEY.format(fn="pg_advisory_unlock")), key)
                conn.commit()
            except Exception:
                conn.invalidate()  # closed rather than pooled with the lock held
                raise


def claim(
    s: Session, model: Model, msg_id: int, now: datetime, hold: timedelta, tenure: Tenure | None
) -> bool:
    """Claim notice ``msg_id`` in ``s``'s transaction; False when it is not due
    any more (taken or delivered meanwhile elsewhere).

    Raises:
        LeaseLostError: (from the fence) this instance no longer holds the outbox
            lease; the caller's transaction must roll back.
    """
    done = s.execute(
        update(model)
        .where(model.id == msg_id, _due(model, now, tenure))
        .values(next_attempt_at=now + hold, claim_token=tenure.token if tenure else None)
        .execution_options(synchronize_session=False)
    )
    if cast("CursorResult[Any]", done).rowcount != 1:
        return False
    if tenure is not None:
        tenure.fence(s)
    return True


def mark_sent(row: Message, now: datetime, note: str | None = None) -> None:
    row.state = SENT
    row.attempts += 1
    row.sent_at = now
    row.last_error = note
    row.claim_token = None


def back_off(row: Message, error: str, now: datetime) -> None:
    """One more failed attempt (a pending notice only): the next waits :func:`backoff`."""
    if row.state != PENDING:
        return
    row.attempts += 1
    row.last_error = error
    row.next_attempt_at = now + backoff(row.attempts)
    row.claim_token = None
