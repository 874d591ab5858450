"""Alert forwarding to a syslog server over TLS (RFC 5425), checked like every TLS client.

    app.syslog.update_settings({"server": "logs.example.net:6514", "ca_pem": pem, "enabled": True})
    report = app.syslog.forward()     # the server loop, every round: sends alerts not yet sent

The connection is opened when there is something to send and then stays
open; it is registered with the long-lived connection registry, which closes
it when its certificate turns revoked (or, in Common Criteria mode, unknown
or could-not-tell). Opening it goes through :meth:`TlsGuard.connect`: the
chain must lead to the configured CA and name the server, and the revocation
policy must allow the peer — so a reconnection is refused while the status
stays so. Alerts are sent in order, each one RFC 5424 message framed by octet
counting; the position reached is stored, so nothing is skipped across
restarts. (Syslog over TLS has no application acknowledgement: what the
server's TLS stack accepted counts as sent.)

It must not send anything before the guard has allowed the peer, nor skip
or resend an alert it already counted as sent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import Alert, ServiceState
from certwarden.adapters.tls import TlsConnection
from certwarden.clock import Clock, ensure_utc
from certwarden.core.ocsp.results import iso_z
from certwarden.core.syslog import SYSLOG_SECTION, SyslogSettings, format_message, frame
from certwarden.core.tls import ConnectionCheck
from certwarden.errors import InvalidFieldsError, StorageError, TlsError
from certwarden.services.shared.settings_store import load_section, save_section
from certwarden.services.tls.connections import ConnectionRegistry, LongLivedConnection
from certwarden.services.tls.guard import TlsGuard

__all__ = ["SERVICE_NAME", "ForwardReport", "SyslogForwarder"]

SERVICE_NAME = "syslog-forwarder"
BATCH = 500


@dataclass(frozen=True)
class ForwardReport:
    """What one :meth:`SyslogForwarder.forward` did."""

    at: datetime
    sent: int = 0
    pending: int = 0
    connected: bool = False
    opened: bool = False
    skipped: str | None = None
    error: str | None = None
    check: ConnectionCheck | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "at": iso_z(self.at),
            "sent": self.sent,
            "pending": self.pending,
            "connected": self.connected,
            "opened": self.opened,
            "skipped": self.skipped,
            "error": self.error,
            "check": self.check.to_json() if self.check else None,
        }


class SyslogForwarder:
    """Forwards the alert log to the configured syslog server.

    Args:
        db, clock: as every service.
        guard, registry: the TLS revocation guard and the long-lived registry.
        hostname: the HOSTNAME field of the messages (the composition root
            passes the machine's name).
        timeout: seconds for connecting and for each send.
    """

    def __init__(
        self,
        db: Database,
        clock: Clock,
        guard: TlsGuard,
        registry: ConnectionRegistry,
        *,
        hostname: str,
        timeout: float = 10.0,
    ) -> None:
        self._db = db
        self._clock = clock
        self._guard = guard
        self._registry = registry
        self._hostname = hostname
        self._timeout = timeout
        self._lock = threading.RLock()
        self._conn: TlsConnection | None = None
        self._entry: LongLivedConnection | None = None
        self._closed_because: str | None = None

    # ---------------------------------------------------------------- settings

    def settings(self) -> SyslogSettings:
        with self._db.session() as s:
            stored = load_section(s, SYSLOG_SECTION)
        try:
            return SyslogSettings.from_dict(stored)
        except InvalidFieldsError as exc:
            raise StorageError(f"the stored syslog settings are invalid: {exc}") from exc

    def update_settings(self, changes: Mapping[str, Any]) -> SyslogSettings:
        """Validate every field over the stored ones, then save (nothing on error).

        Giving a server enables forwarding unless ``enabled`` says otherwise.
        Forwarding starts with the alerts recorded after it is switched on or
        pointed elsewhere (the history is not replayed into a new server).
        """
        now = self._clock.now()
        values = dict(changes)
        if values.get("server") and "enabled" not in values:
            values["enabled"] = True
        with self._db.session() as s:
            current = SyslogSettings.from_dict(load_section(s, SYSLOG_SECTION))
            new = SyslogSettings.from_dict({**current.to_dict(), **values})
            save_section(s, SYSLOG_SECTION, new.to_dict(), now)
            moved = new.enabled and (
                not current.enabled
                or new.server != current.server
                or new.ca_pem != current.ca_pem
                or new.servername != current.servername
            )
            if moved:
                state = self._state(s, now)
                last = s.scalar(select(func.max(Alert.id))) or 0
                state.detail = {**(state.detail or {}), "last_alert_id": int(last)}
            if not new.enabled or moved:
                self.close("the syslog settings changed")
        return new

    def _state(self, s: Session, now: datetime) -> ServiceState:
        state = s.get(ServiceState, SERVICE_NAME)
        if state is None:
            state = ServiceState(
                name=SERVICE_NAME,
                status="stopped",
                changed_at=now,
                last_run_at=None,
                next_run_at=None,
                detail={"last_alert_id": 0, "forwarded": 0},
            )
            s.add(state)
        return state

    def status(self) -> dict[str, Any]:
        """Settings, connection and progress, for the CLI and the UI."""
        settings = self.settings()
        with self._db.session() as s:
            state = s.get(ServiceState, SERVICE_NAME)
            detail = dict(state.detail or {}) if state else {}
            last_id = int(detail.get("last_alert_id", 0))
            pending = (
                s.scalar(select(func.count()).select_from(Alert).where(Alert.id > last_id)) or 0
            )
        with self._lock:
            connected = self._conn is not None and not self._conn.closed
        return {
            "settings": settings.to_json(),
            "connected": connected,
            "last_alert_id": last_id,
            "forwarded": int(detail.get("forwarded", 0)),
            "pending": int(pending) if settings.enabled else 0,
            "last_error": detail.get("last_error"),
            "last_run_at": iso_z(ensure_utc(state.last_run_at))
            if state and state.last_run_at
            else None,
            "closed_because": self._closed_because,
        }

    # ------------------------------------------------------------- connection

    @property
    def connection(self) -> TlsConnection | None:
        return self._conn

    def close(self, reason: str = "") -> None:
        """Close the connection (if open) and forget its registration."""
        with self._lock:
            if self._entry is not None:
                self._registry.unregister(self._entry)
                self._entry = None
            if self._conn is not None:
                self._conn.close()
                self._conn = None
                self._closed_because = reason or None

    def _dropped_by_registry(self, reason: str) -> None:
        # Called by the registry after it unregistered us.
        with self._lock:
            self._entry = None
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._closed_because = reason

    def _open(
        self, settings: SyslogSettings, anchors: list[x509.Certificate]
    ) -> tuple[TlsConnection, ConnectionCheck]:
        conn, check = self._guard.connect(
            settings.host,
            settings.port,
            anchors=anchors,
            purpose="syslog",
            servername=settings.servername or None,
            timeout=self._timeout,
        )
        self._conn = conn
        self._closed_because = None
        closer: Callable[[str], None] = self._dropped_by_registry
        self._entry = self._registry.register(
            purpose="syslog",
            peer=conn.peer,
            close=closer,
            last_check=check,
            extra_issuers=anchors,
        )
        return conn, check

    # ---------------------------------------------------------------- sending

    def forward(self, now: datetime | None = None) -> ForwardReport:
        """Send the alerts not sent yet (at most ``BATCH`` per call)."""
        now = now or self._clock.now()
        settings = self.settings()
        if not settings.enabled:
            self.close("syslog forwarding is off")
            return ForwardReport(now, skipped="syslog forwarding is off")
        with self._lock:
            with self._db.session() as s:
                state = self._state(s, now)
                last_id = int((state.detail or {}).get("last_alert_id", 0))
                alerts = list(
                    s.scalars(
                        select(Alert).where(Alert.id > last_id).order_by(Alert.id).limit(BATCH)
                    )
                )
            if not alerts:
                return ForwardReport(now, connected=self._conn is not None)
            opened = False
            check: ConnectionCheck | None = None
            if self._conn is not None and self._conn.peer_closed():
                self.close("the syslog server closed the connection")
            conn = self._conn
            if conn is None:
                try:
                    conn, check = self._open(settings, settings.anchors())
                    opened = True
                except TlsError as exc:
                    self._note(now, last_id, 0, exc.diagnostics())
                    return ForwardReport(now, pending=len(alerts), error=exc.diagnostics())
            sent = 0
            error: str | None = None
            for alert in alerts:
                message = frame(
                    format_message(
                        when=ensure_utc(alert.created_at),
                        hostname=self._hostname,
                        app_name=settings.app_name,
                        msgid=alert.kind,
                        severity=alert.severity,
                        text=alert.message,
                        params={
                            "id": alert.id,
                            "kind": alert.kind,
                            "certificate_id": alert.certificate_id,
                            "sha256": alert.sha256,
                            "store": alert.store or None,
                        },
                    )
                )
                try:
                    conn.sendall(message)
                except TlsError as exc:
                    error = exc.diagnostics()
                    self.close(error)
                    break
                last_id = alert.id
                sent += 1
            self._note(now, last_id, sent, error)
            return ForwardReport(
                now,
                sent=sent,
                pending=len(alerts) - sent,
                connected=self._conn is not None,
                opened=opened,
                error=error,
                check=check,
            )

    def _note(self, now: datetime, last_id: int, sent: int, error: str | None) -> None:
        with self._db.session() as s:
            state = self._state(s, now)
            detail = dict(state.detail or {})
            detail["last_alert_id"] = last_id
            detail["forwarded"] = int(detail.get("forwarded", 0)) + sent
            detail["last_error"] = error
            state.detail = detail
            state.last_run_at = now
            status = "running" if error is None else "failing"
            if state.status != status:
                state.status, state.changed_at = status, now
