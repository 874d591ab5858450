"""Long-lived TLS connections, re-checked while they stay open.

    registration = app.connections.register(
        purpose="syslog", peer=conn.peer, close=lambda why: conn.close(), last_check=check)
    app.connections.tick(now)        # the server loop, every round (cheap when nothing is due)

Any client that keeps a TLS connection open registers it here with a
``close`` callback. When the enterprise parameter Certificate Validity Check
is on, each peer is re-checked once its last check is one interval old: Check
Every when the scheduled revocation check is enabled (it takes precedence),
else Validity Check Frequency (:func:`certwarden.core.revocation_settings.recheck_interval`).
A re-check asks the responder afresh (a staple or a cached answer would only
repeat what was known at connect time). A peer the policy now refuses is
closed at once with a ``connection_closed`` alert, and the guard refuses
reconnections while the status stays so.

It must not open connections (their owners do) or decide about peers
itself: every re-check goes through the guard.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509

from certwarden.adapters.db import Database
from certwarden.clock import Clock
from certwarden.core.ocsp import CertStatus
from certwarden.core.ocsp.results import describe, iso_z
from certwarden.core.revocation_settings import recheck_interval
from certwarden.core.tls import ConnectionCheck, PeerChain
from certwarden.services.shared.alerts import AlertKind, Severity, record_alert
from certwarden.services.shared.sync_bridge import run_sync
from certwarden.services.tls.guard import TlsGuard

__all__ = ["ConnectionRegistry", "LongLivedConnection", "RecheckReport"]

CloseCallback = Callable[[str], None]


@dataclass
class LongLivedConnection:
    """One registered connection and when its peer was last checked."""

    id: int
    purpose: str
    peer: PeerChain
    close: CloseCallback = field(repr=False)
    opened_at: datetime
    last_checked_at: datetime
    last_check: ConnectionCheck | None = None
    extra_issuers: tuple[x509.Certificate, ...] = field(default=(), repr=False)

    def due_at(self, interval: timedelta) -> datetime:
        return self.last_checked_at + interval

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "purpose": self.purpose,
            "where": self.peer.where,
            "subject": self.peer.leaf_subject,
            "sha256": self.peer.leaf_sha256,
            "opened_at": iso_z(self.opened_at),
            "last_checked_at": iso_z(self.last_checked_at),
            "last_status": self.last_check.result.status.value if self.last_check else None,
        }


@dataclass(frozen=True)
class RecheckReport:
    """What one :meth:`ConnectionRegistry.tick` did."""

    at: datetime
    interval: timedelta | None
    why: str
    rechecked: tuple[ConnectionCheck, ...] = ()
    closed: tuple[ConnectionCheck, ...] = ()
    next_due_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "at": iso_z(self.at),
            "interval_seconds": int(self.interval.total_seconds()) if self.interval else None,
            "why": self.why,
            "rechecked": [c.to_json() for c in self.rechecked],
            "closed": [c.to_json() for c in self.closed],
            "next_due_at": iso_z(self.next_due_at),
        }


class ConnectionRegistry:
    """Keeps the open long-lived connections and re-checks their peers on :meth:`tick`."""

    def __init__(self, guard: TlsGuard, db: Database, clock: Clock) -> None:
        self._guard = guard
        self._db = db
        self._clock = clock
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._open: dict[int, LongLivedConnection] = {}

    def register(
        self,
        *,
        purpose: str,
        peer: PeerChain,
        close: CloseCallback,
        last_check: ConnectionCheck | None = None,
        checked_at: datetime | None = None,
        extra_issuers: Sequence[x509.Certificate] = (),
    ) -> LongLivedConnection:
        """Track an open connection whose peer was checked at ``checked_at``
        (default: ``last_check``'s time, else now)."""
        now = self._clock.now()
        when = checked_at or (last_check.checked_at if last_check else now)
        entry = LongLivedConnection(
            next(self._ids),
            purpose,
            peer,
            close,
            now,
            when,
            last_check,
            tuple(extra_issuers),
        )
        with self._lock:
            self._open[entry.id] = entry
        return entry

    def unregister(self, entry: LongLivedConnection | int) -> None:
        key = entry if isinstance(entry, int) else entry.id
        with self._lock:
            self._open.pop(key, None)

    def connections(self) -> list[LongLivedConnection]:
        with self._lock:
            return list(self._open.values())

    def interval(self, now: datetime | None = None) -> timedelta | None:
        """The re-check interval in force, or None when Certificate Validity Check is off."""
        snapshot = self._guard.snapshot(now)
        return recheck_interval(snapshot.revocation, snapshot.params)

    def tick(self, now: datetime | None = None) -> RecheckReport:
        """Re-check every connection whose interval has passed; close refused ones."""
        return run_sync(lambda: self.atick(now))

    async def atick(self, now: datetime | None = None) -> RecheckReport:
        now = now or self._clock.now()
        interval = self.interval(now)
        if interval is None:
            return RecheckReport(
                now,
                None,
                "Certificate Validity Check is off: long-lived connections are not re-checked",
            )
        entries = self.connections()
        due = [e for e in entries if e.due_at(interval) <= now]
        checks = await asyncio.gather(
            *(
                self._guard.aevaluate(
                    e.peer,
                    purpose=e.purpose,
                    recheck=True,
                    now=now,
                    extra_issuers=e.extra_issuers,
                )
                for e in due
            )
        )
        closed: list[ConnectionCheck] = []
        for entry, check in zip(due, checks, strict=True):
            entry.last_checked_at = now
            entry.last_check = check
            if check.refused:
                self._close(entry, check)
                closed.append(check)
        remaining = self.connections()
        next_due = min((e.due_at(interval) for e in remaining), default=None)
        snapshot = self._guard.snapshot(now)
        which = (
            "Check Every (it takes precedence)"
            if snapshot.revocation.scheduled_checks_enabled
            else "Validity Check Frequency"
        )
        why = (
            f"re-checked {len(due)} of {len(entries)} connection(s) every "
            f"{_span(interval)} ({which}); closed {len(closed)}"
        )
        return RecheckReport(now, interval, why, tuple(checks), tuple(closed), next_due)

    def _close(self, entry: LongLivedConnection, check: ConnectionCheck) -> None:
        self.unregister(entry)
        reason = (
            f"the peer certificate {check.subject} is now {describe(check.result)}; "
            f"{check.verdict.why}"
        )
        try:
            entry.close(reason)
        finally:
            with self._db.session() as s:
                record_alert(
                    s,
                    now=check.checked_at,
                    kind=AlertKind.CONNECTION_CLOSED,
                    severity=(
                        Severity.CRITICAL
                        if check.result.status is CertStatus.REVOKED
                        else Severity.WARNING
                    ),
                    message=(
                        f"long-lived TLS connection to {check.where} ({check.purpose}) "
                        f"closed: {reason}"
                    ),
                    sha256=check.sha256,
                    subject=check.subject,
                    details=check.to_json(),
                )


def _span(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    if hours and hours % 24 == 0:
        return f"{hours // 24}d"
    return f"{hours}h" if hours else f"{int(delta.total_seconds())}s"
