"""The channels' outbox: a notice per alert and matching channel, stored in the
alert's transaction, delivered later through Apprise, retried with back-off.

    queue_for_alerts(session, [ChannelAlert(...)], now=now)  # alerts.py calls it
    deliver_channels_due(db, keyring, sender, now)           # the loop, run-now, the CLI

A channel notice's ``dedupe_key`` derives from its channel and its alert's
key, so the same alert in the same slot never reaches a channel twice (a
repeated run queues nothing new). Delivery is at-least-once: a notice is
marked sent only after the service took it. A notice whose channel was
removed goes with it. These functions stand apart from the e-mail outbox
(:mod:`.outbox`) but share its claims and back-off (:mod:`.claims`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import Channel, ChannelMessage
from certwarden.clock import ensure_utc
from certwarden.core.channels import CLEARED, compose_clear_notice, compose_notice, takes
from certwarden.core.timefmt import iso_z
from certwarden.errors import ChannelDeliveryError
from certwarden.services.shared import claims
from certwarden.services.shared.claims import Tenure
from certwarden.services.shared.keyring import Keyring
from certwarden.services.shared.outbox import OutboxState

__all__ = [
    "CHANNEL_URL_PURPOSE",
    "ChannelAlert",
    "ChannelDeliveryReport",
    "ChannelMessageEntry",
    "ChannelSender",
    "deliver_channels_due",
    "queue_for_alerts",
]

CHANNEL_URL_PURPOSE = "channel.url"
log = logging.getLogger("certwarden.channels")
# How long a notice being sent stays claimed by the process sending it.
CLAIM_LEASE = timedelta(minutes=5)
_CACHE = "certwarden.channels"  # session.info key: the channels, read once a transaction


class ChannelSender(Protocol):
    def check(self, url: str) -> None: ...
    def send(
        self, channel: str, url: str, *, title: str, body: str, notify_type: str = "info"
    ) -> None: ...


@dataclass(frozen=True)
class ChannelAlert:
    """What a channel notice is made of (an alert being recorded)."""

    kind: str
    severity: str
    message: str
    sha256: str | None
    subject: str
    store: str
    dedupe_key: str | None
    details: dict[str, Any]
    alert_id: int | None = None  # the lifecycle alert (alert_conditions row), if any
    # Set on the one notice that an alert cleared (why): its severity picks the
    # channels (those its earlier notices reached), the notice goes as "cleared".
    cleared: str | None = None


@dataclass(frozen=True)
class _Target:
    id: int
    min_severity: str
    kinds: frozenset[str]


def _targets(session: Session) -> list[_Target]:
    cached = session.info.get(_CACHE)
    if cached is None:
        rows = session.execute(select(Channel.id, Channel.min_severity, Channel.kinds))
        cached = [_Target(i, sev, frozenset(kinds or [])) for i, sev, kinds in rows]
        session.info[_CACHE] = cached
    return cast("list[_Target]", cached)


def forget_channels(session: Session) -> None:
    """Drop the channels read in this transaction (after one is added or removed)."""
    session.info.pop(_CACHE, None)


def _key(channel_id: int, alert: ChannelAlert, now: datetime) -> str:
    basis = alert.dedupe_key or f"{alert.kind}|{alert.sha256}|{alert.message}|{iso_z(now)}"
    return f"channel:{channel_id}:{hashlib.sha256(basis.encode()).hexdigest()}"


def queue_for_alerts(session: Session, alerts: Sequence[ChannelAlert], *, now: datetime) -> int:
    """Queue one notice per alert and channel that takes it, in ``session``'s
    transaction; returns how many. Nothing is read when no channel exists."""
    targets = _targets(session)
    if not targets or not alerts:
        return 0
    pending: dict[str, ChannelMessage] = {}
    for alert in alerts:
        for target in targets:
            if not takes(
                target.min_severity, target.kinds, kind=alert.kind, severity=alert.severity
            ):
                continue
            if alert.cleared is not None:
                title, body = compose_clear_notice(
                    kind=alert.kind,
                    why=alert.cleared,
                    sha256=alert.sha256,
                    subject=alert.subject,
                    store=alert.store,
                    alert_id=alert.alert_id,
                )
            else:
                title, body = compose_notice(
                    kind=alert.kind,
                    severity=alert.severity,
                    message=alert.message,
                    sha256=alert.sha256,
                    subject=alert.subject,
                    store=alert.store,
                    details=alert.details,
                    alert_id=alert.alert_id,
                )
            key = _key(target.id, alert, now)
            pending[key] = ChannelMessage(
                channel_id=target.id,
                created_at=now,
                kind=alert.kind,
                severity=CLEARED if alert.cleared is not None else alert.severity,
                dedupe_key=key,
                title=title,
                body=body,
                state=OutboxState.PENDING.value,
                attempts=0,
                next_attempt_at=now,
                last_error=None,
                sent_at=None,
            )
    if not pending:
        return 0
    keys = list(pending)
    for start in range(0, len(keys), 900):
        chunk = keys[start : start + 900]
        for existing in session.scalars(
            select(ChannelMessage.dedupe_key).where(ChannelMessage.dedupe_key.in_(chunk))
        ):
            pending.pop(existing, None)
    session.add_all(pending.values())
    return len(pending)


@dataclass(frozen=True)
class ChannelMessageEntry:
    id: int
    channel: str
    created_at: datetime
    kind: str
    severity: str
    title: str
    state: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    sent_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel": self.channel,
            "created_at": iso_z(self.created_at),
            "kind": self.kind,
            "severity": self.severity,
            "title": self.title,
            "state": self.state,
            "attempts": self.attempts,
            "next_attempt_at": iso_z(self.next_attempt_at),
            "last_error": self.last_error,
            "sent_at": iso_z(self.sent_at),
        }


def list_channel_messages(
    db: Database, *, state: str | None = None, limit: int = 100
) -> list[ChannelMessageEntry]:
    """Newest first."""
    query = (
        select(ChannelMessage, Channel.name)
        .join(Channel, Channel.id == ChannelMessage.channel_id)
        .order_by(ChannelMessage.id.desc())
        .limit(limit)
    )
    if state is not None:
        query = query.where(ChannelMessage.state == state)
    with db.session() as s:
        return [
            ChannelMessageEntry(
                m.id,
                name,
                ensure_utc(m.created_at),
                m.kind,
                m.severity,
                m.title,
                m.state,
                m.attempts,
                ensure_utc(m.next_attempt_at) if m.state == OutboxState.PENDING else None,
                m.last_error,
                ensure_utc(m.sent_at) if m.sent_at else None,
            )
            for m, name in s.execute(query)
        ]


@dataclass
class ChannelDeliveryReport:
    """What one :func:`deliver_channels_due` call did."""

    sent: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    waiting: int = 0  # pending, but not due yet

    def to_json(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "failed": {str(k): v for k, v in self.failed.items()},
            "waiting": self.waiting,
        }


def deliver_channels_due(
    db: Database,
    keyring: Keyring,
    sender: ChannelSender,
    now: datetime,
    *,
    limit: int = 100,
    tenure: Tenure | None = None,
) -> ChannelDeliveryReport:
    """Try every pending channel notice due at ``now``, oldest first.

    A channel that fails once in a round is not tried again in it: its other
    notices of the round back off with the same reason. Each outcome is
    committed on its own. Each notice is claimed first, with the e-mail
    outbox's claims (:mod:`.claims`): under ``tenure`` (the cluster's outbox
    lease) a claim is fenced, and a dead predecessor's claims are taken over.

    Raises:
        LeaseLostError: the outbox lease was lost during the round.
    """
    report = ChannelDeliveryReport()
    with db.session() as s:
        due = claims.due_ids(s, ChannelMessage, now, tenure, limit)
        report.waiting = claims.waiting(s, ChannelMessage, now)
    down: dict[int, str] = {}  # channel id -> why it failed this round
    for msg_id in due:
        with claims.sending(db, ChannelMessage, msg_id) as mine:
            if mine:  # else being sent by another process
                _deliver_one(db, keyring, sender, msg_id, now, tenure, down, report)
    return report


def _deliver_one(
    db: Database,
    keyring: Keyring,
    sender: ChannelSender,
    msg_id: int,
    now: datetime,
    tenure: Tenure | None,
    down: dict[int, str],
    report: ChannelDeliveryReport,
) -> None:
    """Claim, send and settle one notice (its lock held by the caller)."""
    with db.session() as s:
        row = s.get(ChannelMessage, msg_id)
        if row is None:
            return  # its channel was removed meanwhile
        if row.channel_id in down:
            # Not being sent anywhere (its lock is ours): it backs off too.
            if row.state == OutboxState.PENDING.value:
                claims.back_off(row, f"not attempted: {down[row.channel_id]}", now)
                report.failed[msg_id] = str(row.last_error)
            return
        if not claims.claim(s, ChannelMessage, msg_id, now, CLAIM_LEASE, tenure):
            return  # taken or delivered meanwhile by another process
        channel = s.get_one(Channel, row.channel_id)
        name, sealed = channel.name, channel.url_sealed
        title, body, severity, channel_id = row.title, row.body, row.severity, row.channel_id
    try:
        url = keyring.open(sealed, purpose=CHANNEL_URL_PURPOSE)
    except ValueError:
        error = (
            "its URL was sealed with another secret file and cannot be read; "
            f"add the channel again (certwarden channels add {name} --url ...)"
        )
    else:
        try:
            sender.send(name, url, title=title, body=body, notify_type=severity)
        except ChannelDeliveryError as exc:
            error = exc.detail
        else:
            _settle(db, msg_id, now, None)
            report.sent.append(msg_id)
            return
    down[channel_id] = error
    report.failed[msg_id] = error
    log.warning("channel %s did not take notice %d: %s", name, msg_id, error)
    _settle(db, msg_id, now, error)


def _settle(db: Database, msg_id: int, now: datetime, error: str | None) -> None:
    """Sent (``error`` None) or one more failed attempt; nothing when the notice went."""
    with db.session() as s:
        row = s.get(ChannelMessage, msg_id)
        if row is None:
            return  # its channel was removed meanwhile
        if error is None:
            claims.mark_sent(row, now)
        else:
            claims.back_off(row, error, now)
