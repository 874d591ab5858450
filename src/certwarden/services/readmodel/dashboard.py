"""The dashboard's and the metrics' figures: counts by state, the expiry timeline,
service states, the alert log and the outbox.

Each figure is one small query; nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import (
    Alert,
    CertificateRow,
    Channel,
    ChannelMessage,
    OutboxMessage,
    ServiceState,
    Store,
)
from certwarden.clock import Clock, ensure_utc
from certwarden.core.timefmt import iso_z
from certwarden.errors import InputError
from certwarden.services.readmodel.states import STATES, ExpiryState, RevocationState, state_clause
from certwarden.services.shared.alerts import AlertRecord, list_alerts

__all__ = [
    "ChannelFigures",
    "Counts",
    "ServiceStateRecord",
    "TimelineBucket",
    "alerts",
    "channel_figures",
    "counts",
    "metric_rows",
    "outbox_counts",
    "outbox_failing",
    "service_states",
    "timeline",
]


@dataclass(frozen=True)
class Counts:
    total: int
    expiry: dict[str, int]
    revocation: dict[str, int]
    window_days: float

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "expiry": dict(self.expiry),
            "revocation": dict(self.revocation),
            "window_days": self.window_days,
        }


@dataclass(frozen=True)
class TimelineBucket:
    """Certificates whose notAfter falls in ``[start, end)``; ``start`` None = already expired."""

    start: datetime | None
    end: datetime
    count: int

    def to_json(self) -> dict[str, Any]:
        return {"start": iso_z(self.start), "end": iso_z(self.end), "count": self.count}


@dataclass(frozen=True)
class ServiceStateRecord:
    name: str
    status: str
    changed_at: datetime
    last_run_at: datetime | None
    next_run_at: datetime | None
    detail: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "changed_at": iso_z(self.changed_at),
            "last_run_at": iso_z(self.last_run_at),
            "next_run_at": iso_z(self.next_run_at),
            "detail": self.detail,
        }


def _opt(when: datetime | None) -> datetime | None:
    return ensure_utc(when) if when is not None else None


def counts(db: Database, clock: Clock, *, window: timedelta) -> Counts:
    """How many certificates are in each expiry state and each revocation state."""
    now = clock.now()
    columns = [func.count().label("total")]
    for state in STATES:
        columns.append(
            func.sum(case((state_clause(state, now, now + window), 1), else_=0)).label(state)
        )
    with db.session() as s:
        row = s.execute(select(*columns).select_from(CertificateRow)).one()
    values = row._asdict()
    return Counts(
        total=int(values["total"] or 0),
        expiry={st.value: int(values[st.value] or 0) for st in ExpiryState},
        revocation={st.value: int(values[st.value] or 0) for st in RevocationState},
        window_days=window.total_seconds() / 86400,
    )


def timeline(db: Database, clock: Clock, *, weeks: int = 26) -> list[TimelineBucket]:
    """Expiries per week for the coming ``weeks``, after a bucket of expired ones."""
    if not 1 <= weeks <= 520:
        raise InputError(f"weeks={weeks} is out of range; use 1 to 520")
    now = clock.now()
    week = timedelta(days=7)
    end = now + weeks * week
    with db.session() as s:
        expired = (
            s.scalar(
                select(func.count())
                .select_from(CertificateRow)
                .where(CertificateRow.not_after < now)
            )
            or 0
        )
        times = s.scalars(
            select(CertificateRow.not_after).where(
                CertificateRow.not_after >= now, CertificateRow.not_after < end
            )
        ).all()
    counts = [0] * weeks
    for when in times:
        index = int((ensure_utc(when) - now) / week)
        counts[min(max(index, 0), weeks - 1)] += 1
    buckets = [TimelineBucket(None, now, expired)]
    buckets += [
        TimelineBucket(now + i * week, now + (i + 1) * week, counts[i]) for i in range(weeks)
    ]
    return buckets


def metric_rows(
    db: Database,
) -> list[tuple[str, str, str, str, str, datetime, datetime, str | None]]:
    """``(store, subject CN, issuer CN, serial, sha256, notBefore, notAfter, status)`` for all."""
    with db.session() as s:
        rows = s.execute(
            select(
                Store.name,
                CertificateRow.subject_cn,
                CertificateRow.issuer_cn,
                CertificateRow.serial,
                CertificateRow.sha256,
                CertificateRow.not_before,
                CertificateRow.not_after,
                CertificateRow.revocation_status,
            )
            .join(Store, Store.id == CertificateRow.store_id)
            .order_by(CertificateRow.id)
        ).all()
    return [
        (st, cn, icn, serial, sha, ensure_utc(nb), ensure_utc(na), status)
        for st, cn, icn, serial, sha, nb, na, status in rows
    ]


def alerts(
    db: Database, *, limit: int = 100, offset: int = 0, kind: str | None = None
) -> tuple[list[AlertRecord], int]:
    """The alert log, newest first, and how many alerts match."""
    counted = select(func.count()).select_from(Alert)
    if kind:
        counted = counted.where(Alert.kind == kind)
    with db.session() as s:
        total = s.scalar(counted) or 0
        return list_alerts(s, limit=limit, offset=offset, kind=kind), total


def service_states(db: Database) -> list[ServiceStateRecord]:
    """Every background service's persisted state (the Control Center's table)."""
    with db.session() as s:
        return [
            ServiceStateRecord(
                r.name,
                r.status,
                ensure_utc(r.changed_at),
                _opt(r.last_run_at),
                _opt(r.next_run_at),
                dict(r.detail or {}),
            )
            for r in s.scalars(select(ServiceState).order_by(ServiceState.name))
        ]


def outbox_counts(db: Database) -> dict[str, int]:
    """Notices in the outbox per state (pending also counts those failing and retrying)."""
    with db.session() as s:
        return {
            state: int(n)
            for state, n in s.execute(
                select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
            )
        }


def outbox_failing(db: Database) -> int:
    """Pending notices that have failed at least once (being retried)."""
    with db.session() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.state == "pending", OutboxMessage.attempts > 0)
            )
            or 0
        )


@dataclass(frozen=True)
class ChannelFigures:
    """A notification channel's outbox: waiting (``pending``, of which ``retrying``
    failed at least once) and delivered (``sent``)."""

    channel: str
    pending: int = 0
    retrying: int = 0
    sent: int = 0


def channel_figures(db: Database) -> list[ChannelFigures]:
    """Every channel (none left out for having no notices), by name."""
    retrying = case((ChannelMessage.attempts > 0, 1), else_=0)
    with db.session() as s:
        rows = s.execute(
            select(Channel.name, ChannelMessage.state, retrying, func.count(ChannelMessage.id))
            .outerjoin(ChannelMessage, ChannelMessage.channel_id == Channel.id)
            .group_by(Channel.name, ChannelMessage.state, retrying)
        ).all()
    figures: dict[str, dict[str, int]] = {}
    for name, state, failed, n in rows:
        counts = figures.setdefault(str(name), {"pending": 0, "retrying": 0, "sent": 0})
        if state == "pending":
            counts["pending"] += int(n)
            counts["retrying"] += int(n) if failed else 0
        elif state == "sent":
            counts["sent"] += int(n)
    return [ChannelFigures(name, **counts) for name, counts in sorted(figures.items())]
