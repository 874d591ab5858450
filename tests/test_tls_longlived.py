"""Long-lived TLS connections: syslog forwarding and the re-check registry.

A real TLS syslog receiver (asyncio, RFC 5425 octet counting) serves a
certificate from the test PKI; a real ``openssl ocsp`` responder answers for
it. The certificate is revoked in the responder's index while the connection
is open: the registry closes it within one re-check period of the injected
clock, and reconnection is refused while the status stays so.

OpenSSL 3.0's responder does re-read index.txt when it changes (checked by
mtime) — but only before it blocks in accept(), so the first request after a
change is still answered from the old index; :func:`nudge` sends that one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from certwarden.adapters.tls import open_tls
from certwarden.clock import ManualClock
from certwarden.composition import App, AppConfig, build_app
from certwarden.core.ocsp import CertStatus
from certwarden.core.syslog import frame
from certwarden.services.shared.alerts import AlertKind, Severity, list_alerts, record_alert
from tests.ocsp_responders import OpensslResponder
from tests.tls_servers import (
    SyslogReceiver,
    TlsPki,
    nudge,
    server_context,
    start_responder,
    tls_pki,
)

H = timedelta(hours=1)
RFC5424 = re.compile(
    rb"^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (\S+) (\S+) - (\S+) "
    rb"(\[certwarden@32473 [^\]]*\]) \xef\xbb\xbf(.*)$",
    re.DOTALL,
)


@dataclass
class World:
    pki: TlsPki
    responder: OpensslResponder
    syslog: SyslogReceiver  # presents the "syslog" leaf (good until a test revokes it)
    revoked: SyslogReceiver  # presents the "revoked" leaf


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    pki = tls_pki(tmp_path_factory.mktemp("tls-longlived"))
    responder = start_responder(pki)
    syslog = SyslogReceiver(server_context(pki, "syslog")).start()
    revoked = SyslogReceiver(server_context(pki, "revoked")).start()
    try:
        yield World(pki, responder, syslog, revoked)
    finally:
        syslog.stop()
        revoked.stop()
        responder.stop()


@pytest.fixture
def clock(world: World) -> ManualClock:
    return ManualClock(world.pki.now + timedelta(seconds=1))


@pytest.fixture
def app(tmp_path: Path, clock: ManualClock, world: World) -> Iterator[App]:
    application = build_app(AppConfig(data_dir=tmp_path / "data", database_url=""), clock=clock)
    application.revocation.update_settings({"enable_ocsp": True})
    yield application
    application.close()
    world.pki.write_index(syslog=None)  # back to good for the next test
    nudge(world.pki)


def alert(app: App, text: str) -> None:
    with app.db.session() as s:
        record_alert(
            s, now=app.clock.now(), kind=AlertKind.EXPIRING, severity=Severity.WARNING,
            message=text, sha256="ab" * 32, subject="CN=x", store="tomcat",
        )  # fmt: skip


def test_syslog_connection_closed_when_its_certificate_turns_revoked(
    app: App, clock: ManualClock, world: World
) -> None:
    pki, receiver = world.pki, world.syslog
    app.revocation.update_settings(
        {"enable_revocation_check": True, "check_every": 1, "check_every_unit": "hours"}
    )
    app.revocation.update_params(
        {"certificate_validity_check": True, "validity_check_frequency_hours": 3}
    )
    app.syslog.update_settings(
        {"server": f"127.0.0.1:{receiver.port}", "ca_pem": pki.path("root.pem").read_text()}
    )
    before = (len(receiver.messages), receiver.connections, receiver.closed)
    t0 = clock.now()

    alert(app, "first alert: über-long names survive")
    report = app.syslog.forward()
    assert (report.sent, report.opened, report.error) == (1, True, None)
    assert report.check is not None and report.check.result.status is CertStatus.GOOD
    assert report.check.stapling.value == "not_sent"  # the receiver does not staple
    assert receiver.wait_for(lambda: len(receiver.messages) == before[0] + 1)
    match = RFC5424.match(receiver.messages[-1])
    assert match is not None, receiver.messages[-1]
    pri, _stamp, _host, app_name, msgid, sd, text = match.groups()
    assert int(pri) == 16 * 8 + 4  # local0.warning
    assert (app_name, msgid) == (b"certwarden", b"expiring")
    assert b'kind="expiring"' in sd and b'store="tomcat"' in sd
    assert text.decode() == "first alert: über-long names survive"
    assert receiver.bad_frames == []
    (registered,) = app.connections.connections()
    assert registered.purpose == "syslog"

    # Revoked in the responder's index while the connection is open.
    pki.write_index(syslog=(pki.now - timedelta(minutes=5), "keyCompromise"))
    nudge(pki)

    clock.set(t0 + 30 * timedelta(minutes=1))
    half = app.connections.tick()
    assert half.interval == H and half.rechecked == () and half.closed == ()
    alert(app, "second alert, same connection")
    assert app.syslog.forward().sent == 1
    assert receiver.wait_for(lambda: len(receiver.messages) == before[0] + 2)
    assert receiver.connections == before[1] + 1 and receiver.closed == before[2]

    clock.set(t0 + H)  # one re-check period (Check Every) after the connect-time check
    tick = app.connections.tick()
    assert len(tick.closed) == 1, (tick.why, [c.result for c in tick.rechecked])
    (closed,) = tick.closed
    assert closed.result.status is CertStatus.REVOKED
    assert closed.result.revocation_reason == "keyCompromise"
    assert receiver.wait_for(lambda: receiver.closed == before[2] + 1)
    assert app.connections.connections() == [] and app.syslog.connection is None
    with app.db.session() as s:
        (closed_alert,) = list_alerts(s, kind="connection_closed")
    assert "syslog" in closed_alert.message and "revoked" in closed_alert.message
    assert closed_alert.severity == "critical"

    # Reconnection is refused while the status stays so; nothing is sent.
    alert(app, "third alert, waits")
    refused = app.syslog.forward()
    assert refused.sent == 0 and refused.pending >= 1
    assert refused.error is not None and "refused" in refused.error
    assert "revoked" in refused.error and "keyCompromise" in refused.error
    assert len(receiver.messages) == before[0] + 2
    with app.db.session() as s:
        assert len(list_alerts(s, kind="connection_refused")) == 1

    # Released: the next round reconnects (asked afresh) and catches up, in order.
    pki.write_index(syslog=None)
    nudge(pki)
    clock.set(t0 + H + timedelta(minutes=1))
    caught_up = app.syslog.forward()
    assert caught_up.error is None and caught_up.opened
    assert caught_up.check is not None and caught_up.check.source.value == "responder"
    assert receiver.wait_for(lambda: len(receiver.messages) == before[0] + 2 + caught_up.sent)
    kinds = [RFC5424.match(m).group(5) for m in receiver.messages[before[0] + 2 :]]  # type: ignore[union-attr]
    assert kinds == [b"connection_closed", b"expiring", b"connection_refused"]
    assert app.syslog.status()["pending"] == 0


# (revocation check enabled, Check Every hours, Validity Check Frequency hours,
#  Certificate Validity Check) -> (still open at these hours, closed at this hour)
PRECEDENCE = {
    "check-every-shorter-wins": ((True, 1, 3, True), [0.5, 0.99], 1),
    "check-every-longer-still-wins": ((True, 4, 1, True), [1, 2, 3.99], 4),
    "frequency-when-revocation-check-off": ((False, 1, 3, True), [1, 2, 2.99], 3),
    "no-recheck-when-validity-check-off": ((True, 1, 1, False), [1, 5, 48], None),
}


@pytest.mark.parametrize("case", list(PRECEDENCE))
def test_check_every_takes_precedence_over_validity_check_frequency(
    app: App, clock: ManualClock, world: World, case: str
) -> None:
    """A long-lived LDAP-like link (any client may register) to a server whose
    certificate was good when checked at t0 and is revoked now."""
    (enabled, every, frequency, validity), open_at, closed_at = PRECEDENCE[case]
    app.revocation.update_settings(
        {"enable_revocation_check": enabled, "check_every": every, "check_every_unit": "hours"}
    )
    app.revocation.update_params(
        {"certificate_validity_check": validity, "validity_check_frequency_hours": frequency}
    )
    t0 = clock.now()
    conn = open_tls("127.0.0.1", world.revoked.port)
    reasons: list[str] = []

    def close(why: str) -> None:
        reasons.append(why)
        conn.close()

    app.connections.register(purpose="ldap-link", peer=conn.peer, close=close, checked_at=t0)
    try:
        for hours in open_at:
            clock.set(t0 + timedelta(hours=hours))
            report = app.connections.tick()
            assert report.closed == (), (case, hours)
            assert not conn.closed
        if closed_at is None:
            assert "Certificate Validity Check is off" in report.why
            return
        clock.set(t0 + timedelta(hours=closed_at))
        report = app.connections.tick()
        assert report.interval == timedelta(hours=every if enabled else frequency)
        (closed,) = report.closed
        assert closed.purpose == "ldap-link" and conn.closed
        assert "revoked" in reasons[0]
        assert app.connections.connections() == []
    finally:
        conn.close()


def test_octet_counting_frames() -> None:
    assert frame(b"<14>1 - - - - - hi") == b"18 <14>1 - - - - - hi"
    assert frame("é".encode()) == b"2 \xc3\xa9"


def test_the_serve_loop_rechecks_then_forwards(app: App, clock: ManualClock, world: World) -> None:
    """One round of ``certwarden serve``'s background loop does both, in that order."""
    from prometheus_client import CollectorRegistry

    from certwarden.interfaces.cli._serve import run_round
    from certwarden.interfaces.web.metrics import LoopMetrics

    pki, receiver = world.pki, world.syslog
    app.revocation.update_params(
        {"certificate_validity_check": True, "validity_check_frequency_hours": 2}
    )
    app.syslog.update_settings(
        {"server": f"127.0.0.1:{receiver.port}", "ca_pem": pki.path("root.pem").read_text()}
    )
    metrics = LoopMetrics(CollectorRegistry())
    count = len(receiver.messages)
    alert(app, "sent by the loop")
    run_round(app, metrics)
    assert receiver.wait_for(lambda: len(receiver.messages) == count + 1)
    assert app.syslog.connection is not None

    pki.write_index(syslog=(pki.now, "superseded"))
    nudge(pki)
    clock.advance(2 * H)
    run_round(app, metrics)  # closes the connection; the closing alert then waits
    assert app.syslog.connection is None
    assert len(receiver.messages) == count + 1
    with app.db.session() as s:
        assert [a.kind for a in list_alerts(s, limit=3)][:2] == [
            "connection_refused",
            "connection_closed",
        ]
    errors = metrics.loop_errors.collect()[0].samples
    assert all(sample.value == 0 for sample in errors)
