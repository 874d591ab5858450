"""The monitor's settings, its persisted state and schedule: status, start, restart, stop.

The service is enabled by default: the first touch records it as started
(first run 24 hours later, or 1 hour when the hourly condition holds). Its
state row (table ``service_state``) holds the next run and how it was chosen;
the rules themselves are pure (:func:`certwarden.core.expiry.schedule_next`).
Stored settings that fail validation are an error (:class:`StorageError`),
never silently replaced by the defaults. Nothing here runs the monitor.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import ServiceState
from certwarden.clock import Clock, ensure_utc
from certwarden.core.expiry import (
    MonitorSettings,
    NextRun,
    hourly_condition,
    schedule_next,
    validate_monitor_settings,
)
from certwarden.core.timefmt import iso_z
from certwarden.errors import InvalidFieldsError, StorageError
from certwarden.services.monitor.reports import (
    SERVICE_NAME,
    MonitorStatus,
    ServiceStatus,
)
from certwarden.services.monitor.selection import earliest_to_expire
from certwarden.services.shared.settings_store import load_section, save_section

__all__ = [
    "MONITOR_SECTION",
    "ensure_state",
    "load_settings",
    "restart",
    "schedule_next_run",
    "start",
    "status",
    "stop",
    "update_settings",
]

MONITOR_SECTION = "monitor"


def load_settings(s: Session) -> MonitorSettings:
    """The stored Certificate Monitor settings (the defaults when none are stored)."""
    stored = load_section(s, MONITOR_SECTION)
    if stored is None:
        return MonitorSettings()
    try:
        return validate_monitor_settings(stored)
    except InvalidFieldsError as exc:
        raise StorageError(f"the stored Certificate Monitor settings are invalid: {exc}") from exc


def update_settings(db: Database, clock: Clock, values: Mapping[str, Any]) -> MonitorSettings:
    """Apply ``values`` over the current settings; every field is checked and
    nothing is saved when any is bad (:class:`InvalidFieldsError` names them all)."""
    now = clock.now()
    with db.session() as s:
        new = validate_monitor_settings(values, load_settings(s))
        save_section(s, MONITOR_SECTION, new.to_json(), now)
    return new


def ensure_state(s: Session, now: datetime, settings: MonitorSettings) -> ServiceState:
    """The persisted state; the service is enabled by default, so the first
    touch records it as started now (first run 24 hours later)."""
    state = s.get(ServiceState, SERVICE_NAME)
    if state is not None:
        return state
    if s.get_bind().dialect.name != "postgresql":
        return _new_state(s, now, settings)  # one instance; no savepoint (SQLite's would commit)
    try:
        # Several instances starting at once may each create it: one row either way.
        with s.begin_nested():
            state = _new_state(s, now, settings)
    except IntegrityError:
        return s.get_one(ServiceState, SERVICE_NAME)  # another instance's, committed first
    return state


def _new_state(s: Session, now: datetime, settings: MonitorSettings) -> ServiceState:
    state = ServiceState(
        name=SERVICE_NAME,
        status=ServiceStatus.RUNNING.value,
        changed_at=now,
        last_run_at=None,
        next_run_at=None,
        detail={},
    )
    s.add(state)
    schedule_next_run(s, state, now, settings, started=True)
    return state


def schedule_next_run(
    s: Session,
    state: ServiceState,
    now: datetime,
    settings: MonitorSettings,
    *,
    started: bool,
) -> NextRun:
    """Choose the next run after ``now`` and record it (and why) on ``state``."""
    earliest = earliest_to_expire(s, settings, now)
    nxt = schedule_next(
        after=now,
        started=started,
        earliest_not_after=earliest.not_after if earliest else None,
        earliest_label=earliest.label if earliest else "",
    )
    state.next_run_at = nxt.at
    state.detail = {
        **(state.detail or {}),
        "interval_seconds": int(nxt.interval.total_seconds()),
        "reason": nxt.reason.value,
        "explanation": nxt.explanation,
    }
    return nxt


def status(db: Database, clock: Clock) -> MonitorStatus:
    now = clock.now()
    with db.session() as s:
        settings = load_settings(s)
        state = ensure_state(s, now, settings)
        earliest = earliest_to_expire(s, settings, now)
        hourly = hourly_condition(earliest.not_after if earliest else None, now)
        because = ""
        if hourly and earliest is not None:
            verb = "expired" if now > earliest.not_after else "expires"
            because = f"{earliest.label} {verb} {iso_z(earliest.not_after)}"
        detail = dict(state.detail or {})
        running = state.status == ServiceStatus.RUNNING.value
        seconds = detail.get("interval_seconds")
        explanation = (
            str(detail.get("explanation", ""))
            if running
            else "stopped: no runs are scheduled (start it with certwarden monitor start)"
        )
        if running and hourly and detail.get("interval_seconds") == 86400:
            explanation += (
                f"; hourly runs begin after the next run, because {because}" if because else ""
            )
        return MonitorStatus(
            status=ServiceStatus(state.status),
            changed_at=ensure_utc(state.changed_at),
            last_run_at=ensure_utc(state.last_run_at) if state.last_run_at else None,
            next_run_at=ensure_utc(state.next_run_at) if state.next_run_at else None,
            interval=timedelta(seconds=seconds) if running and seconds else None,
            reason=str(detail["reason"]) if running and "reason" in detail else None,
            explanation=explanation,
            last_run=detail.get("last_run"),
            hourly_now=hourly,
            hourly_because=because,
            runs={str(k): int(v) for k, v in (detail.get("runs") or {}).items()},
        )


def start(db: Database, clock: Clock) -> bool:
    """Start the service (first run 24 hours later, or 1 hour when the hourly
    condition holds). Returns False when it was already running."""
    now = clock.now()
    with db.session() as s:
        settings = load_settings(s)
        existed = s.get(ServiceState, SERVICE_NAME) is not None
        state = ensure_state(s, now, settings)
        if existed and state.status == ServiceStatus.RUNNING.value:
            return False
        state.status = ServiceStatus.RUNNING.value
        state.changed_at = now
        schedule_next_run(s, state, now, settings, started=True)
        return True


def restart(db: Database, clock: Clock) -> NextRun:
    """Stop and start: the next run is rescheduled from now."""
    now = clock.now()
    with db.session() as s:
        settings = load_settings(s)
        state = ensure_state(s, now, settings)
        state.status = ServiceStatus.RUNNING.value
        state.changed_at = now
        return schedule_next_run(s, state, now, settings, started=True)


def stop(db: Database, clock: Clock) -> bool:
    """Returns False when it was already stopped."""
    now = clock.now()
    with db.session() as s:
        state = ensure_state(s, now, load_settings(s))
        if state.status == ServiceStatus.STOPPED.value:
            return False
        state.status = ServiceStatus.STOPPED.value
        state.changed_at = now
        state.next_run_at = None
        return True
