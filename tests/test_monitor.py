"""The Certificate Expiry Monitor service on a real SQLite database, with the
clock moved by hand: the schedule over simulated weeks, runs, the frequency
rule, idempotency, and the what-if simulation (which must match real runs)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from certwarden.adapters.db.models import Alert, CertificateRow, OutboxMessage, ServiceState
from certwarden.clock import ManualClock
from certwarden.composition import App
from certwarden.errors import InputError
from certwarden.services.monitor import ServiceStatus
from tests.conftest import T0
from tests.monitor_helpers import add_cert, hours, monitor_ca

H = timedelta(hours=1)
D = timedelta(days=1)

Action = Callable[[App], Any]


@dataclass(frozen=True)
class Scenario:
    id: str
    certs: Sequence[tuple[str, timedelta, bool]]  # (cn, expires in, is LSC)
    days: float
    expected_runs: Sequence[float]  # hours after T0
    settings: dict[str, Any] = field(default_factory=dict)
    events: Sequence[tuple[float, Action]] = ()  # (hours after T0, what happens)


def _delete(cn: str) -> Action:
    def act(app: App) -> None:
        (record,) = [r for r in app.inventory.list() if r.subject_cn == cn]
        app.inventory.delete(record.id)

    return act


def _import(cn: str, expires_at_hours: float) -> Action:
    return lambda app: add_cert(app, cn, T0 + timedelta(hours=expires_at_hours))


def _hourly(first: float, last: float) -> list[float]:
    return [float(h) for h in range(int(first), int(last) + 1)]


SCENARIOS = [
    Scenario(
        "24-hour cadence",
        [("far.test", 60 * D, False)],
        days=7,
        expected_runs=[24, 48, 72, 96, 120, 144, 168],
    ),
    Scenario(
        "no certificate at all: still every 24 hours",
        [],
        days=3,
        expected_runs=[24, 48, 72],
    ),
    Scenario(
        "seven days from expiry changes nothing; within a day switches to hourly",
        [("week.test", timedelta(hours=180), False)],
        days=7.5,
        # 36 h left at 144 h: daily; 12 h left at 168 h: hourly from then on.
        expected_runs=[24, 48, 72, 96, 120, 144, 168, *_hourly(169, 180)],
    ),
    Scenario(
        "expiring in 36 hours: the first run (24 h after start) switches to hourly",
        [("soon.test", 36 * H, False)],
        days=3,
        expected_runs=[24, *_hourly(25, 72)],
    ),
    Scenario(
        "it expires, and runs stay hourly while it is there",
        [("expired.test", -2 * D, False)],
        days=0.5,
        # started with the hourly condition holding: first run 1 h later
        expected_runs=_hourly(1, 12),
    ),
    Scenario(
        "restart: the first run is 24 hours later, not at once",
        [("far.test", 60 * D, False)],
        days=4,
        events=[(5, lambda app: app.monitor.restart())],
        expected_runs=[29, 53, 77],
    ),
    Scenario(
        "stop, then start while a certificate is expired: first run 1 hour later",
        [("expired.test", -2 * D, False)],
        days=0.6,
        events=[(3.5, lambda app: app.monitor.stop()), (10.25, lambda app: app.monitor.start())],
        expected_runs=[1, 2, 3, 11.25, 12.25, 13.25, 14.25],
    ),
    Scenario(
        "back to 24 hours once the expired certificate is deleted",
        [("expired.test", -2 * D, False), ("far.test", 90 * D, False)],
        days=2.5,
        events=[(5.5, _delete("expired.test"))],
        expected_runs=[1, 2, 3, 4, 5, 6, 30, 54],
    ),
    Scenario(
        "a certificate imported between runs is seen at the next daily run",
        [("far.test", 60 * D, False)],
        days=51 / 24,
        events=[(30, _import("late.test", 40))],
        expected_runs=[24, 48, 49, 50, 51],
    ),
    Scenario(
        "an expired LSC does not count while LSC monitoring is off",
        [("phone.test", -1 * D, True)],
        days=3,
        expected_runs=[24, 48, 72],
    ),
    Scenario(
        "an expired LSC makes runs hourly when LSC monitoring is on",
        [("phone.test", -1 * D, True)],
        days=0.25,
        settings={"lsc_enabled": True},
        expected_runs=_hourly(1, 6),
    ),
]


def drive(
    app: App, clock: ManualClock, *, days: float, events: Sequence[tuple[float, Action]] = ()
) -> list[float]:
    """Move the clock from run to run, ticking the real service as the server
    loop does, with ``events`` applied at their times. Returns run times (hours)."""
    end = T0 + timedelta(days=days)
    pending = sorted(events, key=lambda e: e[0])
    runs: list[float] = []
    while True:
        nxt = app.monitor.status().next_run_at
        if pending and (nxt is None or T0 + timedelta(hours=pending[0][0]) <= nxt):
            at, action = pending.pop(0)
            clock.set(T0 + timedelta(hours=at))
            action(app)
            continue
        if nxt is None or nxt > end:
            return runs
        # A tick a second early does nothing.
        assert app.monitor.tick(nxt - timedelta(seconds=1)) is None
        clock.set(nxt)
        assert app.monitor.tick(nxt) is not None
        runs.append(hours(nxt - T0))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_schedule(app: App, clock: ManualClock, scenario: Scenario) -> None:
    for cn, expires_in, lsc in scenario.certs:
        add_cert(app, cn, T0 + expires_in, store="lsc" if lsc else "tomcat-trust", lsc=lsc)
    if scenario.settings:
        app.monitor.update_settings(scenario.settings)
    runs = drive(app, clock, days=scenario.days, events=scenario.events)
    assert runs == [float(h) for h in scenario.expected_runs]


def test_status_explains_the_interval(app: App, clock: ManualClock) -> None:
    st = app.monitor.status()
    assert st.status is ServiceStatus.RUNNING  # enabled by default
    assert st.next_run_at == T0 + D
    assert "24 hours after the (re)start" in st.explanation
    add_cert(app, "late.test", T0 + 10 * H)
    st = app.monitor.status()
    assert st.hourly_now
    assert "hourly runs begin after the next run" in st.explanation
    clock.set(T0 + D)
    app.monitor.tick()
    st = app.monitor.status()
    assert st.interval == H
    assert st.last_run_at == T0 + D
    assert "late.test (tomcat-trust) expired" in st.explanation
    assert app.monitor.stop()
    assert not app.monitor.stop()
    st = app.monitor.status()
    assert st.status is ServiceStatus.STOPPED
    assert st.next_run_at is None
    assert app.monitor.tick(T0 + 10 * D) is None


# ----------------------------------------------------------------------- runs


def _alerts(app: App) -> list[tuple[str, str]]:
    with app.db.session() as s:
        return [(a.kind, a.subject) for a in s.scalars(select(Alert).order_by(Alert.id))]


def _outbox_count(app: App) -> int:
    with app.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


def test_a_run_notifies_what_is_inside_the_window_once_per_frequency(
    app: App, clock: ManualClock
) -> None:
    add_cert(app, "inside.test", T0 + 10 * D)
    add_cert(app, "outside.test", T0 + 32 * D)
    add_cert(app, "expired.test", T0 - 3 * D)
    report = app.monitor.run_now()
    assert [(n.kind.value, n.certificate.subject) for n in report.notices] == [
        ("expired", "CN=expired.test,O=certwarden dev PKI"),
        ("expiring", "CN=inside.test,O=certwarden dev PKI"),
    ]
    assert not report.digest_queued  # e-mail is off by default
    assert _outbox_count(app) == 0
    assert len(_alerts(app)) == 2
    clock.advance(23 * H)
    assert app.monitor.run_now().notices == ()
    clock.advance(H)  # a full day (the frequency) after the first notice
    assert len(app.monitor.run_now().notices) == 2
    # outside.test enters the window (30 days before its expiry) a day later
    clock.advance(D)
    names = [n.certificate.subject for n in app.monitor.run_now().notices]
    assert "CN=outside.test,O=certwarden dev PKI" in names


def test_a_shorter_frequency_notifies_more_often(app: App, clock: ManualClock) -> None:
    add_cert(app, "expired.test", T0 - D)
    app.monitor.update_settings({"frequency": "12h"})
    runs = drive(app, clock, days=2)
    assert runs == _hourly(1, 48)
    # hourly runs, a notice every 12 hours: at 1, 13, 25 and 37 hours
    assert len(_alerts(app)) == 4


def test_deleted_or_replaced_certificates_stop_being_notified(app: App, clock: ManualClock) -> None:
    old_id, _ = add_cert(app, "web.test", T0 + 5 * D)
    gone_id, _ = add_cert(app, "gone.test", T0 + 6 * D)
    assert len(app.monitor.run_now().notices) == 2
    app.inventory.delete(gone_id)
    app.inventory.delete(old_id)  # replaced by a renewal:
    add_cert(app, "web.test", T0 + 400 * D)
    clock.advance(2 * D)
    assert app.monitor.run_now().notices == ()


def test_a_renewal_in_the_same_store_ends_the_old_certificates_notices(
    app: App, clock: ManualClock
) -> None:
    """A renewal uploaded next to the old certificate (not replacing it) counts
    as a replacement: same store and subject, valid now, expiring later."""
    old_id, _ = add_cert(app, "web.test", T0 + 5 * D)
    add_cert(app, "web.test", T0 + 400 * D, store="tomcat")  # another store: no renewal
    add_cert(app, "other.test", T0 + 6 * D)
    first = app.monitor.run_now()
    assert first.notices[0].certificate.certificate_id == old_id
    assert len(first.notices) == 2

    renewal = monitor_ca().issue(
        "web.test", not_before=T0 + D + H, not_after=T0 + 400 * D
    )  # uploaded early, valid only from tomorrow
    app.inventory.commit(
        app.inventory.prepare_bytes([("renewal.pem", renewal.cert_pem())], store="tomcat-trust")
    )
    clock.advance(D)
    still = [n.certificate.subject for n in app.monitor.run_now().notices]
    assert still == ["CN=web.test,O=certwarden dev PKI", "CN=other.test,O=certwarden dev PKI"]
    clock.advance(D + H)  # the renewal is valid now
    after = [n.certificate.subject for n in app.monitor.run_now().notices]
    assert after == ["CN=other.test,O=certwarden dev PKI"]
    sim = app.monitor.simulate(3)
    assert all(
        n.certificate.subject != "CN=web.test,O=certwarden dev PKI"
        for run in sim.runs
        for n in run.notices
    )


def test_a_replaced_expired_certificate_does_not_keep_the_monitor_hourly(
    app: App, clock: ManualClock
) -> None:
    add_cert(app, "web.test", T0 - 2 * D)  # expired, left in the store
    assert app.monitor.status().hourly_now
    add_cert(app, "web.test", T0 + 400 * D)  # its renewal, next to it
    status = app.monitor.status()
    assert not status.hourly_now, status


def test_a_repeated_run_in_the_same_slot_notifies_nothing_twice(
    app: App, clock: ManualClock
) -> None:
    add_cert(app, "soon.test", T0 + 3 * D)
    app.monitor.update_settings({"email_enabled": True, "emails": "ops@example.org"})
    first = app.monitor.run_now()
    assert first.digest_queued and len(first.notices) == 1
    # As if the run's mark had been lost (a crash, a restore): same slot, later.
    with app.db.session() as s:
        s.execute(update(CertificateRow).values(last_notified_at=None))
    clock.advance(2 * H)
    again = app.monitor.run_now()
    assert again.notices == ()
    assert again.already_notified == 1
    assert not again.digest_queued
    assert len(_alerts(app)) == 1
    assert _outbox_count(app) == 1


def test_lsc_certificates_only_when_lsc_monitoring_is_on(app: App, clock: ManualClock) -> None:
    add_cert(app, "phone-1.test", T0 + 2 * D, store="lsc", lsc=True)
    add_cert(app, "server.test", T0 + 2 * D)
    assert [n.certificate.subject for n in app.monitor.run_now().notices] == [
        "CN=server.test,O=certwarden dev PKI"
    ]
    app.monitor.update_settings({"lsc_enabled": True})
    clock.advance(H)
    assert [n.certificate.subject for n in app.monitor.run_now().notices] == [
        "CN=phone-1.test,O=certwarden dev PKI"
    ]


def test_a_tick_that_is_not_due_writes_nothing(app: App, clock: ManualClock) -> None:
    app.monitor.status()  # first touch records the service as started at T0
    with app.db.session() as s:
        before = s.execute(select(ServiceState.__table__)).all()
    for h in (1, 5, 23):
        assert app.monitor.tick(T0 + h * H) is None
    with app.db.session() as s:
        assert s.execute(select(ServiceState.__table__)).all() == before


# ----------------------------------------------------------------- simulation


def _snapshot(app: App) -> dict[str, Any]:
    with app.db.session() as s:
        return {
            table: s.execute(text(f"SELECT * FROM {table} ORDER BY 1")).all()
            for table in ("certificates", "alerts", "outbox", "services", "settings")
        }


def _mixed_inventory(app: App) -> None:
    add_cert(app, "expired.test", T0 - 2 * D)
    add_cert(app, "soon.test", T0 + 36 * H)
    add_cert(app, "month.test", T0 + 20 * D)
    add_cert(app, "later.test", T0 + 33 * D)
    add_cert(app, "far.test", T0 + 300 * D)
    add_cert(app, "phone.test", T0 + 4 * D, store="lsc", lsc=True)


def test_simulation_writes_nothing_and_matches_real_runs(app: App, clock: ManualClock) -> None:
    _mixed_inventory(app)
    app.monitor.update_settings(
        {"frequency": "2d", "email_enabled": True, "emails": "a@x.org", "lsc_enabled": True}
    )
    before = _snapshot(app)
    sim = app.monitor.simulate(5)
    assert _snapshot(app) == before  # nothing stored (not even the service state)
    assert sim.runs[0].at == T0 + H  # expired.test: hourly from the start
    assert all(r.digest_queued == bool(r.notices) for r in sim.runs)

    real: list[tuple[float, list[tuple[str, str]]]] = []
    end = T0 + 5 * D
    while (nxt := app.monitor.status().next_run_at) is not None and nxt <= end:
        clock.set(nxt)
        report = app.monitor.tick(nxt)
        assert report is not None
        real.append(
            (hours(nxt - T0), [(n.certificate.sha256, n.kind.value) for n in report.notices])
        )
    simulated = [
        (hours(r.at - T0), [(n.certificate.sha256, n.kind.value) for n in r.notices])
        for r in sim.runs
    ]
    assert simulated == real
    assert sum(len(n) for _, n in real) == len(_alerts(app))


def test_simulation_continues_the_current_schedule_or_starts_from_a_given_time(
    app: App, clock: ManualClock
) -> None:
    add_cert(app, "far.test", T0 + 200 * D)
    app.monitor.status()  # started at T0: next run T0 + 24 h
    clock.set(T0 + 10 * H)
    sim = app.monitor.simulate(2)
    assert [hours(r.at - T0) for r in sim.runs] == [24, 48]
    assert "continues the current schedule" in sim.basis
    sim = app.monitor.simulate(2, T0 + 100 * H)
    assert [hours(r.at - T0) for r in sim.runs] == [124, 148]
    assert "(re)started" in sim.basis


def test_a_month_of_hourly_runs_simulates(app: App) -> None:
    add_cert(app, "expired.test", T0 - D)
    sim = app.monitor.simulate(30)
    assert len(sim.runs) == 30 * 24
    assert sum(len(r.notices) for r in sim.runs) == 30  # once a day, by the frequency


@pytest.mark.parametrize("days", [0, -1, 367])
def test_simulation_days_out_of_range(app: App, days: int) -> None:
    with pytest.raises(InputError, match="out of range"):
        app.monitor.simulate(days)
