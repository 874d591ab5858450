"""Per-message claims for the outboxes (e-mail :mod:`.outbox`, channels
:mod:`.channel_outbox`): which notices are due, and the claim an instance
takes on one before sending it, so no other instance sends it meanwhile.

    due = due_ids(s, OutboxMessage, now, tenure, limit)  # oldest first
    if claim(s, OutboxMessage, msg_id, now, CLAIM_LEASE, tenure):
        ...  # commit, then send; then mark_sent / back_off

A claim moves the notice's next attempt ``hold`` ahead. Under the cluster's
outbox lease (``tenure``: its fencing token and fence) the claim also records
the token and is committed only while the lease is this instance's (the
fence runs in the claim's transaction). A later holder of the lease — a
larger token — may take a notice claimed under an earlier token at once: its
claimant lost the lease (killed, or paused past it), so a notice it was
sending is delivered within one lease, not after ``hold``. Without a lease
(the CLI, "deliver now") the claim is the time alone.

Delivery stays at-least-once: a holder paused between its claim and the
server's acceptance and resumed after its successor sent the notice sends it
again (with the same Message-ID for e-mail).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, func, or_, select, update
from sqlalchemy.orm import Session

from certwarden.adapters.db.models import ChannelMessage, OutboxMessage

__all__ = ["PENDING", "SENT", "Tenure", "back_off", "claim", "due_ids", "mark_sent", "waiting"]

PENDING = "pending"
SENT = "sent"
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=1)

Message = OutboxMessage | ChannelMessage
Model = type[OutboxMessage] | type[ChannelMessage]


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
    orphaned = and_(model.claim_token.is_not(None), model.claim_token < tenure.token)
    return and_(model.state == PENDING, or_(on_time, orphaned))


def due_ids(
    s: Session, model: Model, now: datetime, tenure: Tenure | None, limit: int
) -> list[int]:
    """The IDs of the pending notices due at ``now`` (with those a predecessor
    claimed under an earlier token), oldest attempt first."""
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
