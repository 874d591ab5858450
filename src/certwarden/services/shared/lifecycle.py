"""The alert lifecycle: one alert per condition, open -> acknowledged -> cleared.

A condition is a subject (a stored certificate, a TLS peer, an endpoint) and
a kind family (expiry: expiring then expired; revoked; could-not-tell; endpoint
unreachable; connection refused). The first alert-log event of a condition
opens its alert; later events update it (kind, severity, level, message). It
clears when the condition ends (:func:`clear_where` and its helpers, called by
the use cases in the transaction that ends it) and a later event opens a new
one.

Notices (the channels' outbox, queued in the same transaction):

- opening: one notice;
- a later event of an open alert: notified (the callers record events only at
  a level crossing or a Notification Frequency repeat);
- an acknowledged alert: only when its severity rises past the one last
  notified (major -> critical), never for a repeat;
- clearing: one "cleared" notice naming the fingerprint, to the channels
  that took the alert (chosen by the severity last notified).

:mod:`.alerts` calls :func:`track` for every event it records.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from certwarden.adapters.db.models import AlertCondition, CertificateRow
from certwarden.clock import ensure_utc
from certwarden.core.channels import severity_rank
from certwarden.core.timefmt import iso_z
from certwarden.errors import ConflictError, InvalidFieldsError, NotFoundError
from certwarden.services.shared.channel_outbox import ChannelAlert, queue_for_alerts
from certwarden.services.shared.renewal import is_replaced, renewals

__all__ = [
    "FAMILIES",
    "MAX_NOTE",
    "AlertState",
    "ConditionRecord",
    "Event",
    "Tracked",
    "acknowledge",
    "check_note",
    "clear",
    "clear_deleted",
    "clear_for_certificates",
    "clear_orphans",
    "clear_renewed",
    "clear_subject",
    "clear_where",
    "count_by_state",
    "get_condition",
    "list_conditions",
    "parse_state",
    "subject_for",
    "track",
]

MAX_NOTE = 500
_CHUNK = 500


@enum.unique
class AlertState(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"


# Alert kind -> the condition family it belongs to (kinds not named here are
# events only: status changes, refused uploads, ARI, closed connections ...).
FAMILIES: dict[str, str] = {
    "expiring": "expiry",
    "expired": "expiry",
    "revoked": "revoked",
    "check_failed": "check_failed",
    "endpoint_unreachable": "endpoint_unreachable",
    "connection_refused": "connection_refused",
}


def parse_state(value: str | None) -> AlertState | None:
    """``open``, ``acknowledged``, ``cleared`` (or None: every state); ValueError otherwise."""
    if value is None or value == "":
        return None
    try:
        return AlertState(value.strip().lower())
    except ValueError:
        choices = ", ".join(s.value for s in AlertState)
        raise ValueError(f"{value[:40]!r} is not an alert state; use {choices}") from None


@dataclass(frozen=True)
class Event:
    """An alert-log event being recorded (what :func:`track` needs of it)."""

    kind: str
    severity: str
    message: str
    certificate_id: int | None
    sha256: str | None
    subject: str
    store: str
    details: dict[str, Any]


@dataclass(frozen=True)
class Tracked:
    """What :func:`track` decided for one event: its alert and whether to notify."""

    condition_id: int | None
    notify: bool


def subject_for(
    kind: str, certificate_id: int | None, sha256: str | None, details: dict[str, Any]
) -> tuple[str, str] | None:
    """``(family, subject_key)`` of an event, or None when it is no condition."""
    family = FAMILIES.get(kind)
    if family is None:
        return None
    if family == "endpoint_unreachable":
        where = details.get("endpoint")
        return (family, f"endpoint:{where}") if where else None
    if family == "connection_refused":
        where, purpose = details.get("where"), details.get("purpose")
        if where:
            return family, f"peer:{purpose or ''}:{where}"
        return (family, f"sha256:{sha256}") if sha256 else None
    if certificate_id is not None:
        return family, f"cert:{certificate_id}"
    return None


def _active_key(family: str, subject_key: str) -> str:
    return hashlib.sha256(f"{family}|{subject_key}".encode()).hexdigest()


def track(s: Session, events: Sequence[Event], *, now: datetime) -> list[Tracked]:
    """Open or update the alert of each event (in order) in ``s``'s transaction.

    One lookup for every live alert the events name; new ones are flushed so
    their IDs can be written on the events. Events of no condition are
    always notified (as before the lifecycle).
    """
    keyed: list[tuple[Event, tuple[str, str] | None]] = [
        (e, subject_for(e.kind, e.certificate_id, e.sha256, e.details)) for e in events
    ]
    wanted = sorted({_active_key(*k) for _, k in keyed if k is not None})
    live: dict[str, AlertCondition] = {}
    for start in range(0, len(wanted), _CHUNK):
        for row in s.scalars(
            select(AlertCondition).where(
                AlertCondition.active_key.in_(wanted[start : start + _CHUNK])
            )
        ):
            live[str(row.active_key)] = row
    decided: list[tuple[AlertCondition | None, bool]] = []
    fresh = False
    for event, key in keyed:
        if key is None:
            decided.append((None, True))
            continue
        active = _active_key(*key)
        found = live.get(active)
        if found is None:
            found = _open(event, key, active, now)
            s.add(found)
            live[active] = found
            fresh = True
            decided.append((found, True))
        else:
            decided.append((found, _update(found, event, now)))
    if fresh:
        s.flush()
    return [Tracked(row.id if row is not None else None, notify) for row, notify in decided]


def _open(event: Event, key: tuple[str, str], active: str, now: datetime) -> AlertCondition:
    level = event.details.get("level")
    return AlertCondition(
        family=key[0],
        subject_key=key[1],
        active_key=active,
        state=AlertState.OPEN.value,
        kind=event.kind,
        severity=event.severity,
        notified_severity=event.severity,
        level=str(level) if level is not None else None,
        certificate_id=event.certificate_id,
        sha256=event.sha256,
        subject=event.subject,
        store=event.store,
        message=event.message,
        events=1,
        opened_at=now,
        updated_at=now,
    )


def _update(row: AlertCondition, event: Event, now: datetime) -> bool:
    """Apply a later event to a live alert; True when it is to be notified."""
    level = event.details.get("level")
    row.kind, row.severity, row.message = event.kind, event.severity, event.message
    if level is not None:
        row.level = str(level)
    row.events += 1
    row.updated_at = now
    if row.certificate_id is None and event.certificate_id is not None:
        row.certificate_id = event.certificate_id
    if event.sha256:
        row.sha256 = event.sha256
    if row.state == AlertState.ACKNOWLEDGED.value:
        notify = severity_rank(event.severity) > severity_rank(row.notified_severity or "")
    else:
        notify = True
    if notify:
        row.notified_severity = event.severity
    return notify


# ---------------------------------------------------------------- clearing


def clear(s: Session, rows: Iterable[AlertCondition], *, now: datetime, why: str) -> list[int]:
    """Clear each live alert of ``rows``, with one "cleared" notice each; returns their IDs."""
    cleared: list[AlertCondition] = [r for r in rows if r.active_key is not None]
    for row in cleared:
        row.state = AlertState.CLEARED.value
        row.active_key = None
        row.cleared_at = now
        row.cleared_reason = why
        row.updated_at = now
    notices = [
        ChannelAlert(
            kind=r.kind,
            severity=r.notified_severity or r.severity,
            message=why,
            sha256=r.sha256,
            subject=r.subject,
            store=r.store,
            dedupe_key=f"alert-cleared:{r.id}",
            details={},
            alert_id=r.id,
            cleared=why,
        )
        for r in cleared
    ]
    if notices:
        queue_for_alerts(s, notices, now=now)
    return [r.id for r in cleared]


def clear_where(s: Session, *criteria: ColumnElement[bool], now: datetime, why: str) -> list[int]:
    """Clear every live alert matching ``criteria`` (AlertCondition columns)."""
    rows = list(
        s.scalars(
            select(AlertCondition)
            .where(AlertCondition.active_key.is_not(None), *criteria)
            .order_by(AlertCondition.id)
        )
    )
    return clear(s, rows, now=now, why=why)


def clear_subject(
    s: Session, family: str, subject_key: str, *, now: datetime, why: str
) -> list[int]:
    """Clear the live alert of one condition (one unique-index probe)."""
    return clear_where(
        s, AlertCondition.active_key == _active_key(family, subject_key), now=now, why=why
    )


def clear_for_certificates(
    s: Session,
    certificate_ids: Sequence[int],
    families: Sequence[str],
    *,
    now: datetime,
    why: str,
) -> list[int]:
    """Clear the live alerts of ``families`` about these stored certificates
    (one probe first: usually no such alert is live at all)."""
    done: list[int] = []
    ids = sorted(set(certificate_ids))
    if (
        not ids
        or s.scalar(
            select(AlertCondition.id)
            .where(
                AlertCondition.active_key.is_not(None), AlertCondition.family.in_(list(families))
            )
            .limit(1)
        )
        is None
    ):
        return done
    for start in range(0, len(ids), _CHUNK):
        done += clear_where(
            s,
            AlertCondition.certificate_id.in_(ids[start : start + _CHUNK]),
            AlertCondition.family.in_(list(families)),
            now=now,
            why=why,
        )
    return done


def clear_deleted(s: Session, *where: ColumnElement[bool], now: datetime) -> list[int]:
    """Before certificates matching ``where`` are deleted: clear every live
    alert about them ("deleted"), in the deleting transaction."""
    return clear_where(
        s,
        AlertCondition.certificate_id.in_(select(CertificateRow.id).where(*where)),
        now=now,
        why="the certificate was deleted from the inventory",
    )


def clear_orphans(s: Session, *, now: datetime) -> list[int]:
    """Clear live certificate alerts whose certificate is gone (whatever deleted it)."""
    return clear_where(
        s,
        AlertCondition.subject_key.startswith("cert:"),
        AlertCondition.certificate_id.is_(None),
        now=now,
        why="the certificate was deleted from the inventory",
    )


def clear_renewed(
    s: Session, *, now: datetime, keys: Sequence[tuple[int, str]] | None = None
) -> list[int]:
    """Clear live expiry alerts of certificates replaced by a renewal (the
    renewal rule, ``services/shared/renewal.py``), optionally only those of
    these (store, subject) pairs."""
    query = (
        select(AlertCondition, CertificateRow.store_id, CertificateRow.subject,
               CertificateRow.not_after)
        .join(CertificateRow, CertificateRow.id == AlertCondition.certificate_id)
        .where(AlertCondition.active_key.is_not(None), AlertCondition.family == "expiry")
    )  # fmt: skip
    # The live expiry alerts are few (certificates near expiry): read them
    # all, then keep those of ``keys``, rather than one query per subject.
    found = list(s.execute(query))
    if keys is not None:
        wanted = set(keys)
        found = [f for f in found if (f[1], f[2]) in wanted]
    if not found:
        return []
    renewed = renewals(s, [(store_id, subject) for _, store_id, subject, _ in found], now)
    done: list[int] = []
    for row, store_id, subject, not_after in found:
        if is_replaced(renewed, store_id, subject, not_after):
            successor = renewed[(store_id, subject)]
            done += clear(
                s,
                [row],
                now=now,
                why=(
                    f"renewed: a certificate with the same subject in store {row.store} "
                    f"(valid until {iso_z(successor)}) is stored"
                ),
            )
    return done


# ---------------------------------------------------------------- reading, ack


@dataclass(frozen=True)
class ConditionRecord:
    id: int
    state: str
    family: str
    kind: str
    severity: str
    notified_severity: str | None
    level: str | None
    certificate_id: int | None
    sha256: str | None
    subject: str
    store: str
    message: str
    events: int
    opened_at: datetime
    updated_at: datetime
    acked_at: datetime | None
    acked_by: str | None
    ack_note: str | None
    cleared_at: datetime | None
    cleared_reason: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "family": self.family,
            "kind": self.kind,
            "severity": self.severity,
            "notified_severity": self.notified_severity,
            "level": self.level,
            "certificate_id": self.certificate_id,
            "sha256": self.sha256,
            "subject": self.subject,
            "store": self.store,
            "message": self.message,
            "events": self.events,
            "opened_at": iso_z(self.opened_at),
            "updated_at": iso_z(self.updated_at),
            "acknowledged": (
                {"at": iso_z(self.acked_at), "by": self.acked_by, "note": self.ack_note}
                if self.acked_at is not None
                else None
            ),
            "cleared": (
                {"at": iso_z(self.cleared_at), "why": self.cleared_reason}
                if self.cleared_at is not None
                else None
            ),
        }


def _record(r: AlertCondition) -> ConditionRecord:
    return ConditionRecord(
        r.id, r.state, r.family, r.kind, r.severity, r.notified_severity, r.level,
        r.certificate_id, r.sha256, r.subject, r.store, r.message, r.events,
        ensure_utc(r.opened_at), ensure_utc(r.updated_at),
        ensure_utc(r.acked_at) if r.acked_at else None, r.acked_by, r.ack_note,
        ensure_utc(r.cleared_at) if r.cleared_at else None, r.cleared_reason,
    )  # fmt: skip


def list_conditions(
    s: Session,
    *,
    state: AlertState | None = None,
    kind: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[ConditionRecord]:
    """Alerts, the most recently changed first."""
    query = select(AlertCondition).order_by(
        AlertCondition.updated_at.desc(), AlertCondition.id.desc()
    )
    if state is not None:
        query = query.where(AlertCondition.state == state.value)
    if kind:
        query = query.where(AlertCondition.kind == kind)
    return [_record(r) for r in s.scalars(query.offset(offset).limit(limit))]


def count_conditions(
    s: Session, *, state: AlertState | None = None, kind: str | None = None
) -> int:
    """How many alerts :func:`list_conditions` would list without a limit."""
    query = select(func.count()).select_from(AlertCondition)
    if state is not None:
        query = query.where(AlertCondition.state == state.value)
    if kind:
        query = query.where(AlertCondition.kind == kind)
    return int(s.scalar(query) or 0)


def count_by_state(s: Session) -> dict[str, int]:
    rows = s.execute(
        select(AlertCondition.state, func.count()).group_by(AlertCondition.state)
    ).all()
    counts = {state.value: 0 for state in AlertState}
    counts.update({str(state): int(n) for state, n in rows})
    return counts


def get_condition(s: Session, alert_id: int) -> ConditionRecord:
    row = s.get(AlertCondition, alert_id)
    if row is None:
        raise NotFoundError(f"no alert #{alert_id}; see certwarden alerts list")
    return _record(row)


def check_note(note: str | None) -> str | None:
    """The note stored with an acknowledgement: at most MAX_NOTE characters, one
    line of text (no control characters); InvalidFieldsError naming ``note``."""
    if note is None:
        return None
    clean = note.strip()
    if len(clean) > MAX_NOTE:
        raise InvalidFieldsError(
            {"note": f"the note is {len(clean)} characters long; at most {MAX_NOTE}"}
        )
    if any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in clean):
        raise InvalidFieldsError(
            {"note": "the note holds control characters (line breaks, tabs ...); write one line"}
        )
    return clean or None


def acknowledge(
    s: Session, alert_id: int, *, by: str, note: str | None, now: datetime
) -> ConditionRecord:
    """Acknowledge an open alert: no more notices until its severity rises.

    Raises:
        InvalidFieldsError: the note is too long or holds control characters.
        NotFoundError: no alert has this ID.
        ConflictError: it is cleared already, or acknowledged already.
        Nothing changes on any of them.
    """
    clean = check_note(note)
    row = s.get(AlertCondition, alert_id, with_for_update=True)
    if row is None:
        raise NotFoundError(f"no alert #{alert_id}; see certwarden alerts list")
    if row.state == AlertState.CLEARED.value:
        raise ConflictError(
            f"alert #{alert_id} is cleared already ({row.cleared_reason}, at "
            f"{iso_z(ensure_utc(row.cleared_at)) if row.cleared_at else '?'}); "
            "there is nothing to acknowledge"
        )
    if row.state == AlertState.ACKNOWLEDGED.value:
        raise ConflictError(
            f"alert #{alert_id} was acknowledged already by {row.acked_by} at "
            f"{iso_z(ensure_utc(row.acked_at)) if row.acked_at else '?'}"
        )
    row.state = AlertState.ACKNOWLEDGED.value
    row.acked_at, row.acked_by, row.ack_note = now, by[:255], clean
    row.updated_at = now
    s.flush()
    return _record(row)
