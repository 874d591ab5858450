"""What-if: the monitor's schedule and rules replayed over simulated days, writing nothing.

The simulation runs the same run and schedule code (:mod:`.runs`,
:mod:`.schedule`), unchanged, on a scratch in-memory copy of what matters
(settings, schedule, the certificates that can fall due within the simulated
span) with a :class:`~certwarden.clock.ManualClock`. Nothing is written to the
real database and nothing is sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import Base, CertificateRow, ServiceState, Setting, Store
from certwarden.clock import Clock, ManualClock, ensure_utc
from certwarden.core.expiry import LAST_DAY, MonitorSettings
from certwarden.core.timefmt import iso_z
from certwarden.errors import InputError, StorageError
from certwarden.services.monitor.reports import (
    SERVICE_NAME,
    RunReport,
    ServiceStatus,
    SimulationReport,
)
from certwarden.services.monitor.runs import tick
from certwarden.services.monitor.schedule import MONITOR_SECTION, load_settings, restart
from certwarden.services.monitor.selection import CHUNK, monitored

__all__ = ["MAX_SIMULATION_DAYS", "simulate"]

MAX_SIMULATION_DAYS = 366


def simulate(
    db: Database, clock: Clock, days: int, start: datetime | None = None
) -> SimulationReport:
    """What the service would do over ``days`` from ``start``: every run time
    and what each run would notify. Writes nothing, sends nothing.

    Without ``start``, a running service continues its current schedule from
    now; with ``start`` (or while stopped) it is simulated as (re)started then.
    """
    if isinstance(days, bool) or not 1 <= days <= MAX_SIMULATION_DAYS:
        raise InputError(f"--days {days} is out of range; simulate 1 to {MAX_SIMULATION_DAYS} days")
    explicit = start is not None
    begin = ensure_utc(start) if start is not None else clock.now()
    end = begin + timedelta(days=days)
    scratch = Database("sqlite://")
    try:
        Base.metadata.create_all(scratch.engine)
        settings, considered, carried = _copy_for_simulation(
            db, scratch, begin, end, carry_state=not explicit
        )
        sim_clock = ManualClock(begin)
        if carried is not None:
            basis = f"continues the current schedule (next run {iso_z(carried)}); the service is Running"
            first: datetime | None = max(carried, begin)
        else:
            nxt = restart(scratch, sim_clock)
            first = nxt.at
            basis = f"as if the service were (re)started at {iso_z(begin)}: {nxt.explanation}"
        runs: list[RunReport] = []
        at = first
        while at is not None and at <= end:
            sim_clock.set(at)
            report = tick(scratch, sim_clock, None, at)
            if report is None:  # cannot happen: the schedule said a run is due
                raise StorageError(f"simulation stalled at {iso_z(at)}")
            runs.append(report)
            at = report.next_run.at if report.next_run else None
        return SimulationReport(begin, end, settings, basis, first, tuple(runs), considered)
    finally:
        scratch.dispose()


def _copy_for_simulation(
    db: Database, scratch: Database, begin: datetime, end: datetime, *, carry_state: bool
) -> tuple[MonitorSettings, int, datetime | None]:
    """Copy settings, stores, the schedule and the certificates that can fall
    due (or switch the cadence) before ``end``: nothing later can matter."""
    cert_table = CertificateRow.__table__
    with db.session() as s:
        settings = load_settings(s)
        horizon = end + max(settings.window, LAST_DAY)
        stores = [dict(r) for r in s.execute(select(Store.__table__)).mappings()]
        certs = [
            {**r, "issuer_id": None, "endpoint_id": None, "der": b""}
            for r in s.execute(
                select(cert_table).where(
                    or_(CertificateRow.not_after <= horizon, CertificateRow.notice_from <= end),
                    *monitored(settings),
                )
            ).mappings()
        ]
        # Their renewals too (same store and subject, expiring later): a
        # renewed certificate is not notified, in the simulation either.
        subjects = sorted({c["subject"] for c in certs})
        for start in range(0, len(subjects), CHUNK):
            certs.extend(
                {**r, "issuer_id": None, "endpoint_id": None, "der": b""}
                for r in s.execute(
                    select(cert_table).where(
                        CertificateRow.subject.in_(subjects[start : start + CHUNK]),
                        CertificateRow.not_after > horizon,
                        or_(
                            CertificateRow.notice_from.is_(None),
                            CertificateRow.notice_from > end,
                        ),
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
