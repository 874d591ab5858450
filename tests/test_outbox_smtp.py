"""Notices against a real SMTP server (aiosmtpd on 127.0.0.1): content and
recipients, the frequency rule, LSC on/off, e-mail off; and the outbox that
never loses a notice: a server that is down, refuses or times out, a process
restarted in between, TLS and the server-certificate seam."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from certwarden.adapters.smtp import SmtpSettings, SmtpTransport
from certwarden.clock import ManualClock
from certwarden.composition import App, AppConfig, build_app
from certwarden.demo.devpki import DevCA
from certwarden.errors import InvalidFieldsError, NotificationError
from certwarden.services.shared.alerts import list_alerts
from certwarden.services.shared.outbox import OutboxService, backoff, enqueue
from tests.conftest import T0
from tests.monitor_helpers import add_cert
from tests.smtp_fixture import SmtpServer

H = timedelta(hours=1)
D = timedelta(days=1)
M = timedelta(minutes=1)
SUFFIX = ",O=certwarden dev PKI"


def use_server(app: App, port: int, **extra: str) -> None:
    app.outbox.update_smtp_settings(
        {
            "host": "127.0.0.1",
            "port": str(port),
            "security": "none",
            "from_address": "certwarden@example.org",
            "timeout_seconds": "5",
            **extra,
        }
    )


def email_on(app: App, emails: str = "ops@example.org", **extra: object) -> None:
    app.monitor.update_settings({"email_enabled": True, "emails": emails, **extra})


# ------------------------------------------------------------------ contents


def test_one_digest_with_the_right_certificates_reaches_every_recipient(
    app: App, smtp_server: SmtpServer
) -> None:
    use_server(app, smtp_server.port)
    email_on(app, "a@x.org; b@y.org")
    _, expired_sha = add_cert(app, "expired.test", T0 - 2 * D, store="CallManager-trust")
    _, soon_sha = add_cert(app, "soon.test", T0 + 10 * D)
    add_cert(app, "far.test", T0 + 90 * D)
    report = app.monitor.run_now()
    assert report.digest_queued
    delivery = app.outbox.deliver_due()
    assert len(delivery.sent) == 1 and not delivery.failed

    (mail,) = smtp_server.messages
    assert mail.mail_from == "certwarden@example.org"
    assert mail.rcpt_tos == ("a@x.org", "b@y.org")
    assert mail.subject == "[certwarden] Certificate expiry: 1 expired, 1 expiring"
    assert mail.message["Message-ID"].endswith("@certwarden.invalid>")
    body = mail.body
    assert body.index("CN=expired.test") < body.index("CN=soon.test")
    assert "far.test" not in body
    assert expired_sha in body and soon_sha in body
    assert "Store:      CallManager-trust" in body
    assert "Days left:  10.0" in body and "Days left:  -2.0" in body
    (entry,) = app.outbox.list()
    assert (entry.state, entry.attempts, entry.last_error) == ("sent", 1, None)
    assert entry.sent_at == T0


def test_the_frequency_rule_over_two_days_of_hourly_runs(
    app: App, clock: ManualClock, smtp_server: SmtpServer
) -> None:
    use_server(app, smtp_server.port)
    email_on(app)
    add_cert(app, "expired.test", T0 - D)
    app.monitor.status()  # started at T0; hourly because of the expired certificate
    while (nxt := app.monitor.status().next_run_at) is not None and nxt <= T0 + 2 * D:
        clock.set(nxt)
        app.monitor.tick(nxt)
        app.outbox.deliver_due(nxt)
    # 48 hourly runs, one notice per day: at 1 h and at 25 h
    assert len(smtp_server.messages) == 2
    assert all("CN=expired.test" in m.body for m in smtp_server.messages)


def test_lsc_certificates_are_mailed_only_with_lsc_monitoring_on(
    app: App, clock: ManualClock, smtp_server: SmtpServer
) -> None:
    use_server(app, smtp_server.port)
    email_on(app)
    add_cert(app, "phone-7.test", T0 + 3 * D, store="lsc", lsc=True)
    assert app.monitor.run_now().notices == ()
    app.outbox.deliver_due()
    assert smtp_server.messages == []
    app.monitor.update_settings({"lsc_enabled": True})
    clock.advance(H)
    app.monitor.run_now()
    app.outbox.deliver_due()
    (mail,) = smtp_server.messages
    assert "CN=phone-7.test" + SUFFIX in mail.body
    assert "Store:      lsc (LSC)" in mail.body


def test_email_off_records_alerts_but_sends_nothing(app: App, smtp_server: SmtpServer) -> None:
    use_server(app, smtp_server.port)
    add_cert(app, "soon.test", T0 + 2 * D)
    report = app.monitor.run_now()
    assert len(report.notices) == 1 and not report.digest_queued
    assert app.outbox.list() == []
    assert app.outbox.deliver_due().sent == []
    assert smtp_server.messages == []
    with app.db.session() as s:
        (alert,) = list_alerts(s)
    assert (alert.kind, alert.subject) == ("expiring", "CN=soon.test" + SUFFIX)


# ------------------------------------------------------------ never lost, once


def test_server_down_during_the_run_then_up_every_notice_arrives_once(
    app: App, clock: ManualClock, smtp_server: SmtpServer
) -> None:
    use_server(app, smtp_server.port)
    email_on(app)
    add_cert(app, "one.test", T0 + 5 * D)
    smtp_server.stop()
    app.monitor.run_now()
    clock.advance(H)
    add_cert(app, "two.test", T0 + 6 * D)
    app.monitor.run_now()  # a second digest, for two.test only

    report = app.outbox.deliver_due()
    assert report.sent == [] and len(report.failed) == 2
    entries = {e.id: e for e in app.outbox.list()}
    for e in entries.values():
        assert e.state == "pending" and e.attempts == 1
        assert e.next_attempt_at == clock.now() + M
        assert "cannot connect to 127.0.0.1" in (e.last_error or "")
    assert app.outbox.deliver_due().failed == {}  # backing off: not due yet
    clock.advance(M)
    assert len(app.outbox.deliver_due().failed) == 2
    assert {e.attempts for e in app.outbox.list()} == {2}
    assert {e.next_attempt_at for e in app.outbox.list()} == {clock.now() + 2 * M}

    smtp_server.start()
    clock.advance(2 * M)
    assert len(app.outbox.deliver_due().sent) == 2
    clock.advance(D)
    assert app.outbox.deliver_due().sent == []
    subjects = sorted(m.body.count("Subject:    CN=") for m in smtp_server.messages)
    assert subjects == [1, 1]
    bodies = " ".join(m.body for m in smtp_server.messages)
    assert bodies.count("CN=one.test") == 1 and bodies.count("CN=two.test") == 1
    assert {e.state for e in app.outbox.list()} == {"sent"}


def test_a_restarted_process_delivers_what_the_old_one_queued_once(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    config = AppConfig(data_dir=tmp_path / "data", database_url="")
    first = build_app(config, clock=ManualClock(T0))
    use_server(first, smtp_server.port)
    email_on(first)
    add_cert(first, "soon.test", T0 + 4 * D)
    smtp_server.stop()
    first.monitor.run_now()
    assert len(first.outbox.deliver_due().failed) == 1
    first.close()  # the process ends with the notice undelivered

    smtp_server.start()
    clock = ManualClock(T0 + 10 * M)
    second = build_app(config, clock=clock)
    try:
        assert second.monitor.run_now().notices == ()  # same frequency slot: nothing new
        assert len(second.outbox.deliver_due().sent) == 1
        clock.advance(H)
        assert second.outbox.deliver_due().sent == []
        assert second.monitor.run_now().notices == ()
        assert second.outbox.deliver_due().sent == []
    finally:
        second.close()
    (mail,) = smtp_server.messages
    assert "CN=soon.test" in mail.body


def test_a_refused_message_is_retried_with_backoff_until_accepted(
    app: App, clock: ManualClock, smtp_server: SmtpServer
) -> None:
    use_server(app, smtp_server.port)
    email_on(app)
    add_cert(app, "soon.test", T0 + 4 * D)
    app.monitor.run_now()
    smtp_server.refuse("451 4.3.0 Mailbox busy, try later")
    report = app.outbox.deliver_due()
    (error,) = report.failed.values()
    assert "refused the message: 451" in error and "Mailbox busy" in error
    smtp_server.accept()
    assert app.outbox.deliver_due().sent == []  # not due before the backoff
    clock.advance(M)
    assert len(app.outbox.deliver_due().sent) == 1
    assert len(smtp_server.messages) == 1 and smtp_server.refused == 1
    (entry,) = app.outbox.list()
    assert (entry.state, entry.attempts) == ("sent", 2)


def test_a_server_that_never_answers_times_out_and_the_notice_waits(
    app: App, silent_server: int
) -> None:
    use_server(app, silent_server, timeout_seconds="1")
    email_on(app)
    add_cert(app, "soon.test", T0 + 4 * D)
    app.monitor.run_now()
    (error,) = app.outbox.deliver_due().failed.values()
    assert "did not answer within 1s" in error
    (entry,) = app.outbox.list()
    assert entry.state == "pending" and entry.attempts == 1


def test_no_smtp_server_configured_leaves_notices_queued_untouched(app: App) -> None:
    email_on(app)
    add_cert(app, "soon.test", T0 + 4 * D)
    app.monitor.run_now()
    report = app.outbox.deliver_due()
    assert report.skipped is not None and "no SMTP server is configured" in report.skipped
    (entry,) = app.outbox.list()
    assert (entry.state, entry.attempts, entry.last_error) == ("pending", 0, None)


def test_enqueue_never_stores_a_key_twice(app: App) -> None:
    kwargs = {"kind": "test", "recipients": ["a@x.org"], "subject": "s", "body": "b"}
    with app.db.session() as s:
        assert enqueue(s, now=T0, dedupe_key="k1", **kwargs)  # type: ignore[arg-type]
    with app.db.session() as s:
        assert not enqueue(s, now=T0 + H, dedupe_key="k1", **kwargs)  # type: ignore[arg-type]
    assert len(app.outbox.list()) == 1


def test_backoff_doubles_up_to_an_hour() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4)] == [M, 2 * M, 4 * M, 8 * M]
    assert backoff(7) == H and backoff(50) == H


# ------------------------------------------------------------ settings and env


def test_environment_overrides_the_stored_smtp_settings(app: App, smtp_server: SmtpServer) -> None:
    app.outbox.update_smtp_settings({"host": "mail.invalid", "port": "2525"})
    env = {
        "CERTWARDEN_SMTP_HOST": "127.0.0.1",
        "CERTWARDEN_SMTP_PORT": str(smtp_server.port),
        "CERTWARDEN_SMTP_SECURITY": "none",
        "CERTWARDEN_SMTP_FROM": "env@example.org",
    }
    outbox = OutboxService(app.db, app.clock, environ=env)
    settings = outbox.smtp_settings()
    assert (settings.host, settings.port, settings.from_address) == (
        "127.0.0.1",
        smtp_server.port,
        "env@example.org",
    )
    assert outbox.env_overrides == ("from_address", "host", "port", "security")
    assert outbox.stored_smtp_settings().host == "mail.invalid"
    email_on(app)
    add_cert(app, "soon.test", T0 + 4 * D)
    app.monitor.run_now()
    assert len(outbox.deliver_due().sent) == 1
    assert smtp_server.messages[0].mail_from == "env@example.org"
    bad = OutboxService(app.db, app.clock, environ={"CERTWARDEN_SMTP_PORT": "http"})
    with pytest.raises(InvalidFieldsError, match="from the environment"):
        bad.smtp_settings()


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("host", "mail server", "not a host name"),
        ("port", "0", "out of range"),
        ("port", "smtp", "not a port number"),
        ("security", "ssl", "not one of starttls, tls, none"),
        ("from_address", "certwarden", "exactly one @"),
        ("timeout_seconds", "0.5", "out of range"),
        ("password", "x", "a password is set but no username"),
    ],
)
def test_bad_smtp_settings_are_named_and_nothing_is_saved(
    app: App, field: str, value: str, words: str
) -> None:
    app.outbox.update_smtp_settings({"host": "mail.example.org"})
    before = app.outbox.stored_smtp_settings()
    with pytest.raises(InvalidFieldsError) as info:
        app.outbox.update_smtp_settings(
            {field: value, "port": "587"} if field != "port" else {field: value}
        )
    assert words in " ".join(info.value.errors.values())
    assert app.outbox.stored_smtp_settings() == before


# --------------------------------------------------------------------- TLS


@pytest.fixture
def tls_pki(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext, bytes]:
    """(server context, client context trusting the test root, server certificate DER)."""
    root = DevCA.root(
        "SMTP Test Root",
        not_before=datetime(2000, 1, 1, tzinfo=UTC),
        not_after=datetime(2099, 1, 1, tzinfo=UTC),
    )
    # The TLS handshake checks validity against the real clock, not ours: a
    # span wide enough that no clock reading matters.
    leaf = root.issue(
        "127.0.0.1",
        sans=["127.0.0.1"],
        not_before=datetime(2000, 1, 1, tzinfo=UTC),
        not_after=datetime(2099, 1, 1, tzinfo=UTC),
    )
    (tmp_path / "server.pem").write_bytes(leaf.cert_pem() + leaf.key_pem())
    (tmp_path / "root.pem").write_bytes(root.issued.cert_pem())
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp_path / "server.pem")
    client = ssl.create_default_context(cafile=str(tmp_path / "root.pem"))
    return server, client, leaf.cert_der()


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_delivery_calls_the_server_certificate_seam(
    app: App, tls_pki: tuple[ssl.SSLContext, ssl.SSLContext, bytes], security: str
) -> None:
    server_ctx, client_ctx, server_der = tls_pki
    server = SmtpServer()
    server.start(tls=server_ctx, implicit=security == "tls")
    seen: list[tuple[str, int, bytes]] = []
    refuse = False

    async def check(*, host: str, port: int, certificate_der: bytes) -> None:
        seen.append((host, port, certificate_der))
        if refuse:
            raise NotificationError(f"{host}:{port}: the server certificate is revoked")

    def factory(settings: SmtpSettings) -> SmtpTransport:
        return SmtpTransport(settings, tls_context=client_ctx, server_certificate_check=check)

    try:
        use_server(app, server.port, security=security)
        outbox = OutboxService(app.db, app.clock, transport_factory=factory)
        email_on(app)
        add_cert(app, "soon.test", T0 + 4 * D)
        app.monitor.run_now()
        refuse = True
        (error,) = outbox.deliver_due().failed.values()
        assert "revoked" in error
        assert server.messages == []
        refuse = False
        assert len(outbox.deliver_due(T0 + H).sent) == 1
        assert len(server.messages) == 1
        assert seen[-1] == ("127.0.0.1", server.port, server_der)
        # Without the test root the handshake fails, plainly.
        untrusted = OutboxService(app.db, app.clock)
        with app.db.session() as s:
            enqueue(
                s,
                now=T0,
                kind="t",
                dedupe_key="tls-2",
                recipients=["a@x.org"],
                subject="s",
                body="b",
            )
        (error,) = untrusted.deliver_due(T0 + H).failed.values()
        assert "TLS with 127.0.0.1" in error and "CERTIFICATE_VERIFY_FAILED" in error
    finally:
        server.stop()


def test_a_process_dying_mid_send_leaves_the_notice_claimed_then_retried_once(
    app: App, clock: ManualClock, smtp_server: SmtpServer
) -> None:
    use_server(app, smtp_server.port)
    email_on(app)
    add_cert(app, "soon.test", T0 + 4 * D)
    app.monitor.run_now()

    class Dies(SmtpTransport):
        def send(self, message: object) -> dict[str, str]:  # type: ignore[override]
            raise SystemExit("killed during the SMTP conversation")

    dying = OutboxService(app.db, app.clock, transport_factory=Dies)
    with pytest.raises(SystemExit):
        dying.deliver_due()
    (entry,) = app.outbox.list()
    assert (entry.state, entry.attempts) == ("pending", 0)
    # Claimed for 10 minutes: another process does not send it meanwhile ...
    clock.advance(9 * M)
    assert app.outbox.deliver_due().sent == []
    # ... and once the claim has lapsed it is delivered, once.
    clock.advance(M)
    assert len(app.outbox.deliver_due().sent) == 1
    assert app.outbox.deliver_due(T0 + D).sent == []
    assert len(smtp_server.messages) == 1
