"""The monitor's values: service status, run reports, the status view and simulation reports.

Frozen dataclasses with their JSON shapes (``monitor status --json``, the API)
and the service's name. Nothing here reads the database or the clock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from certwarden.core.expiry import DueCertificate, MonitorSettings, NextRun, NoticeKind
from certwarden.core.timefmt import iso_z

__all__ = [
    "SERVICE_NAME",
    "SERVICE_TITLE",
    "MonitorStatus",
    "Notice",
    "RunReport",
    "ServiceStatus",
    "SimulationReport",
]

SERVICE_NAME = "certificate-expiry-monitor"
SERVICE_TITLE = "Certificate Expiry Monitor"


@enum.unique
class ServiceStatus(enum.StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"

    @property
    def label(self) -> str:
        return self.value.capitalize()


@dataclass(frozen=True)
class Notice:
    """One certificate notified by a run."""

    certificate: DueCertificate
    kind: NoticeKind
    days_left: float

    def to_json(self) -> dict[str, Any]:
        c = self.certificate
        return {
            "certificate_id": c.certificate_id,
            "store": c.store,
            "lsc": c.is_lsc,
            "subject": c.subject,
            "serial": c.serial,
            "sha256": c.sha256,
            "not_after": iso_z(c.not_after),
            "days_left": round(self.days_left, 2),
            "kind": self.kind.value,
            "level": c.level.label,
        }


@dataclass(frozen=True)
class RunReport:
    at: datetime
    trigger: str  # "scheduled" or "manual"
    notices: tuple[Notice, ...]
    already_notified: int  # due, but this slot's notice exists (a repeated run)
    email_enabled: bool
    digest_queued: bool
    recipients: tuple[str, ...]
    next_run: NextRun | None  # None while the service is stopped

    def to_json(self) -> dict[str, Any]:
        return {
            "at": iso_z(self.at),
            "trigger": self.trigger,
            "notices": [n.to_json() for n in self.notices],
            "already_notified": self.already_notified,
            "email_enabled": self.email_enabled,
            "digest_queued": self.digest_queued,
            "recipients": list(self.recipients),
            "next_run": _next_json(self.next_run),
        }


def _next_json(nxt: NextRun | None) -> dict[str, Any] | None:
    if nxt is None:
        return None
    return {
        "at": iso_z(nxt.at),
        "interval_hours": nxt.interval.total_seconds() / 3600,
        "reason": nxt.reason.value,
        "explanation": nxt.explanation,
    }


@dataclass(frozen=True)
class MonitorStatus:
    status: ServiceStatus
    changed_at: datetime
    last_run_at: datetime | None
    next_run_at: datetime | None
    interval: timedelta | None
    reason: str | None
    explanation: str
    last_run: dict[str, Any] | None
    hourly_now: bool  # the hourly condition holds right now
    hourly_because: str
    # Runs ever done, per trigger ("scheduled", "manual"), by any process.
    runs: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "service": SERVICE_NAME,
            "status": self.status.value,
            "changed_at": iso_z(self.changed_at),
            "last_run_at": iso_z(self.last_run_at),
            "next_run_at": iso_z(self.next_run_at),
            "interval_hours": self.interval.total_seconds() / 3600 if self.interval else None,
            "reason": self.reason,
            "explanation": self.explanation,
            "last_run": self.last_run,
            "hourly_condition_now": self.hourly_now,
            "hourly_condition_detail": self.hourly_because,
        }


@dataclass(frozen=True)
class SimulationReport:
    start: datetime
    end: datetime
    settings: MonitorSettings
    basis: str  # how the simulated schedule began
    first_run_at: datetime | None
    runs: tuple[RunReport, ...]
    certificates_considered: int

    def to_json(self) -> dict[str, Any]:
        return {
            "start": iso_z(self.start),
            "end": iso_z(self.end),
            "settings": self.settings.to_json(),
            "basis": self.basis,
            "certificates_considered": self.certificates_considered,
            "runs": [r.to_json() for r in self.runs],
        }
