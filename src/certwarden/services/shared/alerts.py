"""The alert log: what certwarden noticed (expiry, revocation, refusals).

Alerts are written inside the caller's transaction, so an alert and the notice
it causes are stored together or not at all. A ``dedupe_key`` makes recording
idempotent: the same key is never stored twice (a repeated run after a crash
records nothing new). Recording an alert sends nothing: notices go through
the outbox (:mod:`.outbox`); each alert a notification channel takes queues
that channel's notice in the same transaction (:mod:`.channel_outbox`).
An alert of a condition (expiry, revoked, could-not-tell, unreachable,
refused) is an event of its lifecycle alert (:mod:`.lifecycle`), which
decides whether it is notified.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from certwarden.adapters.db.models import Alert
from certwarden.clock import ensure_utc
from certwarden.core.timefmt import iso_z
from certwarden.services.shared.channel_outbox import ChannelAlert, queue_for_alerts
from certwarden.services.shared.lifecycle import Event, Tracked, track

__all__ = [
    "AlertKind",
    "AlertRecord",
    "NewAlert",
    "Severity",
    "list_alerts",
    "record_alert",
    "record_alerts",
]


@enum.unique
class AlertKind(enum.StrEnum):
    EXPIRING = "expiring"
    EXPIRED = "expired"
    REVOKED = "revoked"
    STATUS_CHANGED = "status_changed"
    CHECK_FAILED = "check_failed"
    UPLOAD_REFUSED = "upload_refused"
    CONNECTION_REFUSED = "connection_refused"
    CONNECTION_CLOSED = "connection_closed"
    ENDPOINT_UNREACHABLE = "endpoint_unreachable"
    RENEWAL_WINDOW_OPEN = "renewal_window_open"  # ACME ARI (RFC 9773): renew now
    RENEWAL_WINDOW_MOVED = "renewal_window_moved"  # the CA moved the window earlier
    CERTIFICATE_CHANGED = "certificate_changed"  # a monitored endpoint's leaf changed


@enum.unique
class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    MAJOR = "major"  # between warning and critical: info < warning < major < critical
    CRITICAL = "critical"


@dataclass(frozen=True)
class AlertRecord:
    id: int
    created_at: datetime
    kind: str
    severity: str
    certificate_id: int | None
    sha256: str | None
    subject: str
    store: str
    message: str
    details: dict[str, Any]
    condition_id: int | None = None  # its lifecycle alert (alerts list / ack ID)

    def to_json(self) -> dict[str, Any]:
        return {
            "alert_id": self.condition_id,
            "id": self.id,
            "created_at": iso_z(self.created_at),
            "kind": self.kind,
            "severity": self.severity,
            "certificate_id": self.certificate_id,
            "sha256": self.sha256,
            "subject": self.subject,
            "store": self.store,
            "message": self.message,
            "details": self.details,
        }


def record_alert(
    session: Session,
    *,
    now: datetime,
    kind: AlertKind,
    severity: Severity,
    message: str,
    certificate_id: int | None = None,
    sha256: str | None = None,
    subject: str = "",
    store: str = "",
    dedupe_key: str | None = None,
    details: dict[str, Any] | None = None,
) -> Alert | None:
    """Add an alert to ``session``; returns None when ``dedupe_key`` was recorded before."""
    if dedupe_key is not None:
        exists = session.scalar(select(Alert.id).where(Alert.dedupe_key == dedupe_key))
        if exists is not None:
            return None
    alert = Alert(
        created_at=now,
        kind=kind.value,
        severity=severity.value,
        certificate_id=certificate_id,
        sha256=sha256,
        subject=subject,
        store=store,
        message=message,
        dedupe_key=dedupe_key,
        details=details or {},
    )
    (tracked,) = track(session, [_event(alert)], now=now)
    alert.condition_id = tracked.condition_id
    session.add(alert)
    if tracked.notify:
        _notify_channels(session, [_for_channels(alert, tracked)], now)
    return alert


def _event(alert: Alert | NewAlert) -> Event:
    kind, severity = alert.kind, alert.severity
    return Event(
        kind=kind.value if isinstance(kind, enum.Enum) else str(kind),
        severity=severity.value if isinstance(severity, enum.Enum) else str(severity),
        message=alert.message,
        certificate_id=alert.certificate_id,
        sha256=alert.sha256,
        subject=alert.subject or "",
        store=alert.store or "",
        details=dict(alert.details or {}),
    )


def _for_channels(alert: Alert | NewAlert, tracked: Tracked) -> ChannelAlert:
    kind, severity = alert.kind, alert.severity
    return ChannelAlert(
        kind=kind.value if isinstance(kind, enum.Enum) else str(kind),
        severity=severity.value if isinstance(severity, enum.Enum) else str(severity),
        message=alert.message,
        sha256=alert.sha256,
        subject=alert.subject or "",
        store=alert.store or "",
        dedupe_key=alert.dedupe_key,
        details=dict(alert.details or {}),
        alert_id=tracked.condition_id,
    )


def _notify_channels(session: Session, alerts: Sequence[ChannelAlert], now: datetime) -> None:
    """The channels hook: a channel notice per alert and matching channel, queued
    in the alert's transaction (nothing is read when no channel exists)."""
    queue_for_alerts(session, alerts, now=now)


@dataclass(frozen=True)
class NewAlert:
    """An alert to record with :func:`record_alerts` (the fields of :func:`record_alert`)."""

    kind: AlertKind
    severity: Severity
    message: str
    certificate_id: int | None = None
    sha256: str | None = None
    subject: str = ""
    store: str = ""
    dedupe_key: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


# Keys per dedupe lookup: well under every backend's bound-parameter limit.
_KEY_CHUNK = 900


def record_alerts(session: Session, alerts: Sequence[NewAlert], *, now: datetime) -> list[NewAlert]:
    """Record many alerts in ``session``'s transaction: what :func:`record_alert`
    does for each, in order, with one dedupe lookup and one multi-row INSERT.

    Returns the alerts recorded; one whose ``dedupe_key`` was recorded before
    (or comes earlier in ``alerts``) is left out, as :func:`record_alert` would.
    """
    if not alerts:
        return []
    # What the session still holds unflushed goes first: alerts added by
    # record_alert count as recorded, certificates they name exist.
    session.flush()
    keys = sorted({a.dedupe_key for a in alerts if a.dedupe_key is not None})
    seen: set[str] = set()
    if keys:
        for start in range(0, len(keys), _KEY_CHUNK):
            chunk = keys[start : start + _KEY_CHUNK]
            seen.update(
                session.scalars(select(Alert.dedupe_key).where(Alert.dedupe_key.in_(chunk)))
            )
    recorded: list[NewAlert] = []
    for alert in alerts:
        if alert.dedupe_key is not None:
            if alert.dedupe_key in seen:
                continue
            seen.add(alert.dedupe_key)
        recorded.append(alert)
    if recorded:
        decided = track(session, [_event(a) for a in recorded], now=now)
        # Core executemany on the session's connection: no ORM object per row.
        session.execute(
            insert(cast("Table", Alert.__table__)),
            [
                {
                    "created_at": now,
                    "kind": a.kind.value,
                    "severity": a.severity.value,
                    "certificate_id": a.certificate_id,
                    "sha256": a.sha256,
                    "subject": a.subject,
                    "store": a.store,
                    "message": a.message,
                    "dedupe_key": a.dedupe_key,
                    "details": a.details,
                    "condition_id": d.condition_id,
                }
                for a, d in zip(recorded, decided, strict=True)
            ],
        )
        _notify_channels(
            session,
            [_for_channels(a, d) for a, d in zip(recorded, decided, strict=True) if d.notify],
            now,
        )
    return recorded


def list_alerts(
    session: Session, *, limit: int = 100, offset: int = 0, kind: str | None = None
) -> list[AlertRecord]:
    """Newest first."""
    query = select(Alert).order_by(Alert.created_at.desc(), Alert.id.desc())
    if kind:
        query = query.where(Alert.kind == kind)
    rows = session.scalars(query.offset(offset).limit(limit))
    return [
        AlertRecord(
            r.id,
            ensure_utc(r.created_at),
            r.kind,
            r.severity,
            r.certificate_id,
            r.sha256,
            r.subject,
            r.store,
            r.message,
            dict(r.details),
            r.condition_id,
        )
        for r in rows
    ]
