"""The Certificate Expiry Monitor service: its state, schedule, runs and what-if.

    monitor.tick(now)        # the server loop: runs when the next run is due (cheap otherwise)
    monitor.run_now()        # the administrators' "run now"
    monitor.simulate(days=3) # replays schedule and rules with a simulated clock, writes nothing

A run is one transaction: it records an alert per due certificate, marks them
notified, queues one digest in the outbox (when e-mail is on) and schedules the
next run, all or nothing; a crash never leaves half a run. It asks the
database only for the certificates inside the notification window (an index
range on ``not_after``), so its cost grows with what is due, not with the
inventory. Rules (schedule, what is due, the digest) live in
:mod:`certwarden.core.expiry`.

The simulation runs this same service, unchanged, on a scratch in-memory copy
of what matters (settings, schedule, the certificates that can fall due within
the simulated span) with a :class:`~certwarden.clock.ManualClock`; nothing is
written to the real database and nothing is sent.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, false, func, insert, select, update
from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import Base, CertificateRow, ServiceState, Setting, Store
from certwarden.clock import Clock, ManualClock, ensure_utc
from certwarden.core.expiry import (
    LAST_DAY,
    DueCertificate,
    MonitorSettings,
    NextRun,
    NoticeKind,
    alert_dedupe_key,
    compose_digest,
    digest_dedupe_key,
    hourly_condition,
    order_for_digest,
    schedule_next,
    validate_monitor_settings,
    window_cutoffs,
)
from certwarden.errors import InputError, SettingsError, StorageError
from certwarden.services.alerts import AlertKind, Severity, record_alert
from certwarden.services.outbox import enqueue
from certwarden.services.settings_store import load_section, save_section

__all__ = [
    "MONITOR_SECTION",
    "SERVICE_NAME",
    "MonitorService",
    "MonitorStatus",
    "Notice",
    "RunReport",
    "ServiceStatus",
    "SimulationReport",
]

SERVICE_NAME = "certificate-expiry-monitor"
SERVICE_TITLE = "Certificate Expiry Monitor"
MONITOR_SECTION = "monitor"
DIGEST_KIND = "expiry-digest"
MAX_SIMULATION_DAYS = 366
_CHUNK = 500


def _iso(when: datetime | None) -> str | None:
    return ensure_utc(when).strftime("%Y-%m-%dT%H:%M:%SZ") if when is not None else None


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
            "not_after": _iso(c.not_after),
            "days_left": round(self.days_left, 2),
            "kind": self.kind.value,
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
            "at": _iso(self.at),
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
        "at": _iso(nxt.at),
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

    def to_json(self) -> dict[str, Any]:
        return {
            "service": SERVICE_NAME,
            "status": self.status.value,
            "changed_at": _iso(self.changed_at),
            "last_run_at": _iso(self.last_run_at),
            "next_run_at": _iso(self.next_run_at),
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
            "start": _iso(self.start),
            "end": _iso(self.end),
            "settings": self.settings.to_json(),
            "basis": self.basis,
            "certificates_considered": self.certificates_considered,
            "runs": [r.to_json() for r in self.runs],
        }


@dataclass(frozen=True)
class _Earliest:
    not_after: datetime
    label: str


class MonitorService:
    """The Certificate Expiry Monitor (Control Center name: Certificate Expiry Monitor)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        before_run: Callable[[datetime], object] | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        # Called with the run's time just before each (scheduled or manual) run,
        # outside any transaction: the monitored TLS endpoints are probed there
        # (services/endpoints.py), so what they serve is part of the same run.
        self._before_run = before_run

    # ---------------------------------------------------------------- settings

    def settings(self) -> MonitorSettings:
        with self._db.session() as s:
            return self._settings(s)

    @staticmethod
    def _settings(s: Session) -> MonitorSettings:
        stored = load_section(s, MONITOR_SECTION)
        if stored is None:
            return MonitorSettings()
        try:
            return validate_monitor_settings(stored)
        except SettingsError as exc:
            raise StorageError(
                f"the stored Certificate Monitor settings are invalid: {exc}"
            ) from exc

    def update_settings(self, values: Mapping[str, Any]) -> MonitorSettings:
        """Apply ``values`` over the current settings; every field is checked and
        nothing is saved when any is bad (:class:`SettingsError` names them all)."""
        now = self._clock.now()
        with self._db.session() as s:
            new = validate_monitor_settings(values, self._settings(s))
            save_section(s, MONITOR_SECTION, new.to_json(), now)
        return new

    # ------------------------------------------------------------ state/control

    def _state(self, s: Session, now: datetime, settings: MonitorSettings) -> ServiceState:
        """The persisted state; the service is enabled by default, so the first
        touch records it as started now (first run 24 hours later)."""
        state = s.get(ServiceState, SERVICE_NAME)
        if state is None:
            state = ServiceState(
                name=SERVICE_NAME,
                status=ServiceStatus.RUNNING.value,
                changed_at=now,
                last_run_at=None,
                next_run_at=None,
                detail={},
            )
            s.add(state)
            self._schedule(s, state, now, settings, started=True)
        return state

    def _schedule(
        self,
        s: Session,
        state: ServiceState,
        now: datetime,
        settings: MonitorSettings,
        *,
        started: bool,
    ) -> NextRun:
        earliest = self._earliest(s, settings, now)
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

    def status(self) -> MonitorStatus:
        now = self._clock.now()
        with self._db.session() as s:
            settings = self._settings(s)
            state = self._state(s, now, settings)
            earliest = self._earliest(s, settings, now)
            hourly = hourly_condition(earliest.not_after if earliest else None, now)
            because = ""
            if hourly and earliest is not None:
                verb = "expired" if now > earliest.not_after else "expires"
                because = f"{earliest.label} {verb} {_iso(earliest.not_after)}"
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
            )

    def start(self) -> bool:
        """Start the service (first run 24 hours later, or 1 hour when the hourly
        condition holds). Returns False when it was already running."""
        now = self._clock.now()
        with self._db.session() as s:
            settings = self._settings(s)
            existed = s.get(ServiceState, SERVICE_NAME) is not None
            state = self._state(s, now, settings)
            if existed and state.status == ServiceStatus.RUNNING.value:
                return False
            state.status = ServiceStatus.RUNNING.value
            state.changed_at = now
            self._schedule(s, state, now, settings, started=True)
            return True

    def restart(self) -> NextRun:
        """Stop and start: the next run is rescheduled from now."""
        now = self._clock.now()
        with self._db.session() as s:
            settings = self._settings(s)
            state = self._state(s, now, settings)
            state.status = ServiceStatus.RUNNING.value
            state.changed_at = now
            return self._schedule(s, state, now, settings, started=True)

    def stop(self) -> bool:
        """Returns False when it was already stopped."""
        now = self._clock.now()
        with self._db.session() as s:
            state = self._state(s, now, self._settings(s))
            if state.status == ServiceStatus.STOPPED.value:
                return False
            state.status = ServiceStatus.STOPPED.value
            state.changed_at = now
            state.next_run_at = None
            return True

    # --------------------------------------------------------------------- runs

    def tick(self, now: datetime | None = None) -> RunReport | None:
        """Run if the service is running and its next run is due at ``now``.

        Cheap when nothing is due (one primary-key read). A service that was
        down past several scheduled runs runs once, not once per missed run.
        """
        now = ensure_utc(now) if now is not None else self._clock.now()
        with self._db.session() as s:
            state = s.get(ServiceState, SERVICE_NAME)
            if state is None:
                self._state(s, now, self._settings(s))
                return None
            if state.status != ServiceStatus.RUNNING.value or state.next_run_at is None:
                return None
            if ensure_utc(state.next_run_at) > now:
                return None
            if self._before_run is None:
                return self._run(s, now, "scheduled")
        self._before_run(now)
        with self._db.session() as s:
            return self._run(s, now, "scheduled")

    def run_now(self) -> RunReport:
        """One run at once (also while stopped; a stopped service stays unscheduled)."""
        now = self._clock.now()
        if self._before_run is not None:
            self._before_run(now)
        with self._db.session() as s:
            return self._run(s, now, "manual")

    def _run(self, s: Session, now: datetime, trigger: str) -> RunReport:
        settings = self._settings(s)
        state = self._state(s, now, settings)
        due = self._due(s, settings, now)
        notices: list[Notice] = []
        keys: list[str] = []
        already = 0
        # One flush for the whole run: each record_alert's duplicate check would
        # otherwise flush the previous alert, one INSERT at a time.
        with s.no_autoflush:
            for item in due:
                kind = item.kind(now)
                days = item.days_left(now)
                key = alert_dedupe_key(item.store, item.sha256, settings.frequency, now)
                alert = record_alert(
                    s,
                    now=now,
                    kind=AlertKind.EXPIRED if kind is NoticeKind.EXPIRED else AlertKind.EXPIRING,
                    severity=Severity.CRITICAL if kind is NoticeKind.EXPIRED else Severity.WARNING,
                    message=_alert_message(item, kind, days),
                    certificate_id=item.certificate_id,
                    sha256=item.sha256,
                    subject=item.subject,
                    store=item.store,
                    dedupe_key=key,
                    details={
                        "not_after": _iso(item.not_after),
                        "days_left": round(days, 2),
                        "serial": item.serial,
                        "lsc": item.is_lsc,
                        "run": trigger,
                    },
                )
                if alert is None:
                    already += 1
                    continue
                notices.append(Notice(item, kind, days))
                keys.append(key)
        ids = [item.certificate_id for item in due]
        for start in range(0, len(ids), _CHUNK):
            s.execute(
                update(CertificateRow)
                .where(CertificateRow.id.in_(ids[start : start + _CHUNK]))
                .values(last_notified_at=now)
                .execution_options(synchronize_session=False)
            )
        queued = False
        if notices and settings.email_enabled:
            digest = compose_digest([n.certificate for n in notices], now)
            queued = enqueue(
                s,
                now=now,
                kind=DIGEST_KIND,
                dedupe_key=digest_dedupe_key(keys),
                recipients=settings.emails,
                subject=digest.subject,
                body=digest.body,
            )
        nxt: NextRun | None = None
        state.last_run_at = now
        if state.status == ServiceStatus.RUNNING.value:
            nxt = self._schedule(s, state, now, settings, started=False)
        expired = sum(1 for n in notices if n.kind is NoticeKind.EXPIRED)
        state.detail = {
            **(state.detail or {}),
            "last_run": {
                "at": _iso(now),
                "trigger": trigger,
                "notified": len(notices),
                "expired": expired,
                "expiring": len(notices) - expired,
                "already_notified": already,
                "digest_queued": queued,
            },
        }
        ordered = order_for_digest([n.certificate for n in notices], now)
        by_id = {n.certificate.certificate_id: n for n in notices}
        return RunReport(
            at=now,
            trigger=trigger,
            notices=tuple(by_id[c.certificate_id] for c in ordered),
            already_notified=already,
            email_enabled=settings.email_enabled,
            digest_queued=queued,
            recipients=settings.emails if settings.email_enabled else (),
            next_run=nxt,
        )

    # ------------------------------------------------------------------ queries

    @staticmethod
    def _monitored(settings: MonitorSettings) -> list[ColumnElement[bool]]:
        # ``is_lsc = 0`` (not ``IS 0``) so the (is_lsc, not_after) index serves it.
        return [] if settings.lsc_enabled else [CertificateRow.is_lsc == false()]

    def _due(self, s: Session, settings: MonitorSettings, now: datetime) -> list[DueCertificate]:
        """Certificates inside the window (or expired) not notified within the
        frequency, and not replaced by a renewal.

        No join: the range on ``not_after`` alone picks the index, so the cost
        follows the certificates in the window, whatever the inventory's size.
        """
        window_end, notified_before = window_cutoffs(now, settings)
        rows = s.execute(
            select(
                CertificateRow.id,
                CertificateRow.store_id,
                CertificateRow.subject,
                CertificateRow.serial,
                CertificateRow.sha256,
                CertificateRow.not_after,
                CertificateRow.is_lsc,
                CertificateRow.last_notified_at,
            )
            .where(CertificateRow.not_after <= window_end, *self._monitored(settings))
            .order_by(CertificateRow.not_after, CertificateRow.id)
        )
        candidates = [
            row
            for row in rows
            if row.last_notified_at is None or ensure_utc(row.last_notified_at) <= notified_before
        ]
        renewed = _renewals(s, [(r.store_id, r.subject) for r in candidates], now)
        stores: dict[int, str] | None = None
        out: list[DueCertificate] = []
        for cid, store_id, subject, serial, sha256, not_after, is_lsc, _ in candidates:
            if _is_replaced(renewed, store_id, subject, not_after):
                continue
            if stores is None:
                stores = dict(s.execute(select(Store.id, Store.name)).all())
            out.append(
                DueCertificate(
                    certificate_id=cid,
                    store=stores.get(store_id, "?"),
                    subject=subject,
                    serial=serial,
                    sha256=sha256,
                    not_after=ensure_utc(not_after),
                    is_lsc=bool(is_lsc),
                )
            )
        return out

    def _earliest(self, s: Session, settings: MonitorSettings, now: datetime) -> _Earliest | None:
        """The monitored certificate that expires first and is not replaced
        (usually one index probe: the first one is rarely a replaced one)."""
        offset, page = 0, 32
        while True:
            rows = s.execute(
                select(
                    CertificateRow.not_after,
                    CertificateRow.subject_cn,
                    CertificateRow.subject,
                    CertificateRow.store_id,
                )
                .where(*self._monitored(settings))
                .order_by(CertificateRow.not_after, CertificateRow.id)
                .offset(offset)
                .limit(page)
            ).all()
            if not rows:
                return None
            renewed = _renewals(s, [(r.store_id, r.subject) for r in rows], now)
            for not_after, cn, subject, store_id in rows:
                if _is_replaced(renewed, store_id, subject, not_after):
                    continue
                store = s.scalar(select(Store.name).where(Store.id == store_id)) or "?"
                return _Earliest(ensure_utc(not_after), f"{cn or subject} ({store})")
            offset += page

    # --------------------------------------------------------------- simulation

    def simulate(self, days: int, start: datetime | None = None) -> SimulationReport:
        """What the service would do over ``days`` from ``start``: every run time
        and what each run would notify. Writes nothing, sends nothing.

        Without ``start``, a running service continues its current schedule from
        now; with ``start`` (or while stopped) it is simulated as (re)started then.
        """
        if isinstance(days, bool) or not 1 <= days <= MAX_SIMULATION_DAYS:
            raise InputError(
                f"--days {days} is out of range; simulate 1 to {MAX_SIMULATION_DAYS} days"
            )
        explicit = start is not None
        begin = ensure_utc(start) if start is not None else self._clock.now()
        end = begin + timedelta(days=days)
        scratch = Database("sqlite://")
        try:
            Base.metadata.create_all(scratch.engine)
            settings, considered, carried = self._copy_for_simulation(
                scratch, begin, end, carry_state=not explicit
            )
            sim_clock = ManualClock(begin)
            sim = MonitorService(scratch, sim_clock)
            if carried is not None:
                basis = (
                    "continues the current schedule (next run "
                    f"{_iso(carried)}); the service is Running"
                )
                first: datetime | None = max(carried, begin)
            else:
                nxt = sim.restart()
                first = nxt.at
                basis = f"as if the service were (re)started at {_iso(begin)}: {nxt.explanation}"
            runs: list[RunReport] = []
            at = first
            while at is not None and at <= end:
                sim_clock.set(at)
                report = sim.tick(at)
                if report is None:  # cannot happen: the schedule said a run is due
                    raise StorageError(f"simulation stalled at {_iso(at)}")
                runs.append(report)
                at = report.next_run.at if report.next_run else None
            return SimulationReport(begin, end, settings, basis, first, tuple(runs), considered)
        finally:
            scratch.dispose()

    def _copy_for_simulation(
        self, scratch: Database, begin: datetime, end: datetime, *, carry_state: bool
    ) -> tuple[MonitorSettings, int, datetime | None]:
        """Copy settings, stores, the schedule and the certificates that can fall
        due (or switch the cadence) before ``end``: nothing later can matter."""
        cert_table = CertificateRow.__table__
        with self._db.session() as s:
            settings = self._settings(s)
            horizon = end + max(settings.window, LAST_DAY)
            stores = [dict(r) for r in s.execute(select(Store.__table__)).mappings()]
            certs = [
                {**r, "issuer_id": None, "endpoint_id": None, "der": b""}
                for r in s.execute(
                    select(cert_table).where(
                        CertificateRow.not_after <= horizon, *self._monitored(settings)
                    )
                ).mappings()
            ]
            # Their renewals too (same store and subject, expiring later): a
            # renewed certificate is not notified, in the simulation either.
            subjects = sorted({c["subject"] for c in certs})
            for start in range(0, len(subjects), _CHUNK):
                certs.extend(
                    {**r, "issuer_id": None, "endpoint_id": None, "der": b""}
                    for r in s.execute(
                        select(cert_table).where(
                            CertificateRow.subject.in_(subjects[start : start + _CHUNK]),
                            CertificateRow.not_after > horizon,
                        )
                    ).mappings()
                )
            setting = s.get(Setting, MONITOR_SECTION)
            state = s.get(ServiceState, SERVICE_NAME)
            carried: datetime | None = None
            state_row: dict[str, Any] | None = None
            if (
                carry_state
                and state is not None
                and state.status == ServiceStatus.RUNNING.value
                and state.next_run_at is not None
            ):
                carried = ensure_utc(state.next_run_at)
                state_row = {
                    "name": SERVICE_NAME,
                    "status": state.status,
                    "changed_at": state.changed_at,
                    "last_run_at": state.last_run_at,
                    "next_run_at": state.next_run_at,
                    "detail": dict(state.detail or {}),
                }
            setting_row = (
                {
                    "section": MONITOR_SECTION,
                    "value": setting.value,
                    "updated_at": setting.updated_at,
                }
                if setting is not None
                else None
            )
        # Times as UTC: the scratch copy is SQLite, which stores a datetime's wall
        # clock and drops its offset, and a PostgreSQL session in another time
        # zone hands times back in that zone.
        with scratch.engine.begin() as conn:
            if stores:
                conn.execute(insert(Store), [_utc_row(r) for r in stores])
            for chunk in _chunks(certs, 2000):
                conn.execute(insert(CertificateRow), [_utc_row(r) for r in chunk])
            if setting_row is not None:
                conn.execute(insert(Setting), [_utc_row(setting_row)])
            if state_row is not None:
                conn.execute(insert(ServiceState), [_utc_row(state_row)])
        return settings, len(certs), carried


def _utc_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: ensure_utc(v) if isinstance(v, datetime) else v for k, v in row.items()}


def _chunks(rows: Sequence[dict[str, Any]], size: int) -> list[Sequence[dict[str, Any]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def _alert_message(item: DueCertificate, kind: NoticeKind, days: float) -> str:
    when = ensure_utc(item.not_after).strftime("%Y-%m-%d %H:%M UTC")
    if kind is NoticeKind.EXPIRED:
        return f"{item.subject} in {item.store} expired {when} ({-days:.1f} days ago)"
    return f"{item.subject} in {item.store} expires {when} ({days:.1f} days left)"


def _renewals(
    s: Session, keys: Sequence[tuple[int, str]], now: datetime
) -> dict[tuple[int, str], datetime]:
    """For each (store, subject), the latest notAfter among its certificates
    already valid at ``now``: a later one than a certificate's own means it was
    renewed (its successor sits in the same store) and needs no more notices."""
    subjects = sorted({subject for _, subject in keys})
    latest: dict[tuple[int, str], datetime] = {}
    for start in range(0, len(subjects), _CHUNK):
        for store_id, subject, not_after in s.execute(
            select(
                CertificateRow.store_id, CertificateRow.subject, func.max(CertificateRow.not_after)
            )
            .where(
                CertificateRow.subject.in_(subjects[start : start + _CHUNK]),
                CertificateRow.not_before <= now,
            )
            .group_by(CertificateRow.store_id, CertificateRow.subject)
        ):
            latest[(store_id, subject)] = ensure_utc(not_after)
    return latest


def _is_replaced(
    renewed: Mapping[tuple[int, str], datetime], store_id: int, subject: str, not_after: datetime
) -> bool:
    successor = renewed.get((store_id, subject))
    return successor is not None and successor > ensure_utc(not_after)
