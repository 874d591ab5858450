"""When revocation checks run, with the injected clock: every Check Every (only
while OCSP and Revocation Check are on), at upload, and what a status change
causes (an alert, and at once a notice in the outbox when e-mail is on)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography import x509

from certwarden.adapters.db.models import Alert, OcspCheck, OutboxMessage, ServiceState
from certwarden.clock import ManualClock
from certwarden.composition import App, AppConfig, build_app
from certwarden.core.revocation_settings import (
    EnterpriseParams,
    RevocationSettings,
    recheck_interval,
)
from certwarden.services.revocation import SERVICE_NAME, check_evidence
from tests.fakeca import DAY, T0, FakeCA
from tests.ocsp_responders import FakeCAResponder, FaultResponder, LiveAnswer, write_pem

HOUR = timedelta(hours=1)


@dataclass
class Live:
    server: FaultResponder
    sub: FakeCA
    good: x509.Certificate
    other: x509.Certificate
    lsc: x509.Certificate
    files: Path
    clock: ManualClock
    responder: FakeCAResponder


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    server = FaultResponder().start()
    try:
        files = tmp_path_factory.mktemp("schedule-pki")
        root = FakeCA.root("Schedule Root", now=T0)
        sub = root.intermediate("Schedule Issuing CA")
        url = server.url("live")
        good = sub.leaf("watched.schedule.test", ocsp_url=url).cert
        other = sub.leaf("other.schedule.test", ocsp_url=url).cert
        lsc = sub.lsc("SEP001122334455", ocsp_url=url).cert
        # The responder answers "now" by a clock the tests move with the app's.
        clock = ManualClock(T0)
        responder = FakeCAResponder(sub, [good, other, lsc], this_update=clock.now)
        server.serve_dynamic("live", responder)
        write_pem(files / "chain.pem", sub.cert, root.cert)
        write_pem(files / "good.pem", good)
        write_pem(files / "other.pem", other)
        write_pem(files / "lsc.pem", lsc)
        yield Live(server, sub, good, other, lsc, files, clock, responder)
    finally:
        server.stop()


@pytest.fixture
def sched(app: App, live: Live, clock: ManualClock) -> Iterator[App]:
    """An app with the chain, two leaves and one LSC stored (OCSP still off)."""
    live.clock.set(clock.now())
    for cert in (live.good, live.other, live.lsc):
        live.responder.answers[cert.serial_number] = LiveAnswer()
    app.inventory.import_paths([live.files / "chain.pem"], store="tomcat-trust")
    app.inventory.import_paths([live.files / "good.pem", live.files / "other.pem"], store="tomcat")
    app.inventory.import_paths([live.files / "lsc.pem"], store="lsc")
    yield app


def _move(app: App, live: Live, delta: timedelta) -> None:
    app.clock.advance(delta)  # type: ignore[attr-defined]
    live.clock.set(app.clock.now())


def _checks(app: App, trigger: str | None = None) -> list[OcspCheck]:
    with app.db.session() as s:
        query = sa.select(OcspCheck).order_by(OcspCheck.id)
        if trigger:
            query = query.where(OcspCheck.trigger == trigger)
        return list(s.scalars(query))


def test_nothing_is_scheduled_while_ocsp_or_revocation_check_is_off(sched: App) -> None:
    outcome = sched.revocation.tick()
    assert not outcome.ran and "OCSP is disabled" in outcome.why
    sched.revocation.update_settings({"enable_ocsp": True})
    outcome = sched.revocation.tick()
    assert not outcome.ran and "Revocation Check is disabled" in outcome.why
    assert _checks(sched) == []
    with sched.db.session() as s:
        state = s.get(ServiceState, SERVICE_NAME)
        assert state is not None and state.status == "stopped"


def test_check_every_is_honoured(sched: App, live: Live) -> None:
    sched.revocation.update_settings(
        {"enable_ocsp": True, "enable_revocation_check": True, "check_every": "12h"}
    )
    first = sched.revocation.tick()
    assert first.ran and first.report is not None
    # Two leaves and the issuing CA; the LSC only when LSC monitoring is on.
    assert len(first.report.outcomes) == 3
    assert first.next_run_at == sched.clock.now() + 12 * HOUR
    assert len(_checks(sched, "schedule")) == 3
    for hours in (1, 6, 11):
        _move(sched, live, HOUR if hours == 1 else timedelta(hours=5))
        outcome = sched.revocation.tick()
        assert not outcome.ran, hours
        assert outcome.next_run_at == T0 + 12 * HOUR
    _move(sched, live, HOUR)  # 12 h after the first run
    assert sched.revocation.tick().ran
    assert len(_checks(sched, "schedule")) == 6
    # A longer interval applies from the last run on.
    sched.revocation.update_settings({"check_every": "2d"})
    _move(sched, live, 47 * HOUR)
    assert not sched.revocation.tick().ran
    _move(sched, live, HOUR)
    assert sched.revocation.tick().ran


def test_the_last_run_survives_a_restart(sched: App, live: Live, tmp_path: Path) -> None:
    sched.revocation.update_settings(
        {"enable_ocsp": True, "enable_revocation_check": True, "check_every": "1d"}
    )
    assert sched.revocation.tick().ran
    clock = ManualClock(sched.clock.now() + 2 * HOUR)
    again = build_app(AppConfig(data_dir=tmp_path / "data", database_url=""), clock=clock)
    try:
        outcome = again.revocation.tick()
        assert not outcome.ran
        assert outcome.next_run_at == T0 + DAY
        clock.advance(22 * HOUR)
        assert again.revocation.tick().ran
    finally:
        again.close()


def test_lscs_are_checked_only_with_lsc_monitoring(sched: App) -> None:
    sched.revocation.update_settings({"enable_ocsp": True, "enable_revocation_check": True})
    assert len(sched.revocation.check(all_monitored=True).outcomes) == 3
    sched.monitor.update_settings({"lsc_enabled": True})
    report = sched.revocation.check(all_monitored=True)
    assert len(report.outcomes) == 4
    assert any(o.store == "lsc" for o in report.outcomes)


def test_status_change_records_an_alert_and_queues_a_notice_at_once(sched: App, live: Live) -> None:
    sched.monitor.update_settings(
        {"email_enabled": True, "emails": "pki-team@example.test; oncall@example.test"}
    )
    sched.revocation.update_settings(
        {"enable_ocsp": True, "enable_revocation_check": True, "check_every": "6h"}
    )
    assert sched.revocation.tick().ran  # first check: good; nothing to tell anyone
    with sched.db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Alert)) == 0
        assert s.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
    # The responder now says revoked; the answer cached at the first run would
    # still be valid (nextUpdate is a day away), but Check Every asks afresh.
    live.responder.answers[live.good.serial_number] = LiveAnswer(
        "revoked", T0 + HOUR, x509.ReasonFlags.key_compromise
    )
    _move(sched, live, 6 * HOUR)
    outcome = sched.revocation.tick()
    assert outcome.ran and outcome.report is not None
    changed = [o for o in outcome.report.outcomes if o.changed]
    assert [(o.previous_status, o.result.status.value) for o in changed] == [("good", "revoked")]
    assert outcome.report.notices_queued == 1
    with sched.db.session() as s:
        alerts = list(s.scalars(sa.select(Alert)))
        notices = list(s.scalars(sa.select(OutboxMessage)))
    assert [(a.kind, a.severity) for a in alerts] == [("revoked", "critical")]
    assert "keyCompromise" in alerts[0].message
    assert len(notices) == 1
    notice = notices[0]
    assert notice.kind == "revocation"
    assert notice.recipients == ["pki-team@example.test", "oncall@example.test"]
    assert "watched.schedule.test" in notice.subject and "revoked" in notice.subject
    # The one subject style of every notice.
    assert notice.subject.startswith("[certwarden] Revocation status: CN=watched.schedule.test")
    assert notice.subject.endswith(" is now revoked")
    assert "keyCompromise" in notice.body
    assert notice.next_attempt_at == notice.created_at  # due now, not at the next digest
    # The same status again is not a change: no new alert, no new notice.
    _move(sched, live, 6 * HOUR)
    assert sched.revocation.tick().ran
    with sched.db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Alert)) == 1
        assert s.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 1


def test_no_notice_without_email(sched: App, live: Live) -> None:
    sched.revocation.update_settings({"enable_ocsp": True})
    sched.revocation.check(all_monitored=True)
    live.responder.answers[live.other.serial_number] = LiveAnswer("unknown")
    report = sched.revocation.check(all_monitored=True)
    assert [o.result.status.value for o in report.outcomes if o.changed] == ["unknown"]
    assert report.notices_queued == 0
    with sched.db.session() as s:
        kinds = list(s.scalars(sa.select(Alert.kind)))
        assert kinds == ["status_changed"]
        assert s.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0


def test_checks_run_at_upload_and_are_recorded(app: App, live: Live, clock: ManualClock) -> None:
    live.clock.set(clock.now())
    live.responder.answers[live.good.serial_number] = LiveAnswer()
    live.responder.answers[live.other.serial_number] = LiveAnswer(
        "revoked", T0 - DAY, x509.ReasonFlags.cessation_of_operation
    )
    app.inventory.import_paths([live.files / "chain.pem"], store="tomcat-trust")
    app.revocation.update_settings({"enable_ocsp": True})
    prepared = app.inventory.prepare(
        [live.files / "good.pem", live.files / "other.pem"], store="tomcat"
    )
    report = app.upload.commit_checked(prepared)
    assert ["watched.schedule.test" in i.subject for i in report.imported] == [True]
    (refusal,) = report.rejected
    assert "cessationOfOperation" in refusal.problem
    upload_checks = _checks(app, "upload")
    assert sorted(c.status for c in upload_checks) == ["good", "revoked"]
    refused_check = next(c for c in upload_checks if c.status == "revoked")
    assert refused_check.certificate_id is None  # nothing stored, the evidence kept
    with app.db.session() as s:
        # Both were asked in one request: the one response is the evidence of both.
        evidence = {check_evidence(s, c.id) for c in upload_checks}
        assert len(evidence) == 1 and None not in evidence
        assert list(s.scalars(sa.select(Alert.kind))) == ["upload_refused"]
    # No scheduled check happened: uploads are checked on their own.
    assert _checks(app, "schedule") == []


def test_check_every_takes_precedence_over_validity_check_frequency() -> None:
    params = EnterpriseParams(certificate_validity_check=True, validity_check_frequency_hours=6)
    on = RevocationSettings(enable_ocsp=True, enable_revocation_check=True, check_every=2)
    assert recheck_interval(on, params) == timedelta(hours=2)
    off = RevocationSettings(enable_ocsp=True, enable_revocation_check=False)
    assert recheck_interval(off, params) == timedelta(hours=6)
    assert recheck_interval(on, EnterpriseParams(certificate_validity_check=False)) is None
