"""Every notice looks alike: one subject style, one time format, and a link
back to the UI when the mail settings name its public URL (validated as an
http(s) URL); the test message goes through the same real SMTP path."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from certwarden.composition import App
from certwarden.core.notices import subject, validate_public_url, when, with_link
from certwarden.errors import ConflictError, InvalidFieldsError, NotificationError
from tests.conftest import T0, Cli
from tests.monitor_helpers import add_cert
from tests.smtp_fixture import SmtpServer
from tests.web_support import ADMIN_PASSWORD, asgi_client, login, make_setup

D = timedelta(days=1)


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


def test_subject_style_and_time_format() -> None:
    assert (
        subject("Certificate expiry", "1 expired") == "[certwarden] Certificate expiry: 1 expired"
    )
    # Certificate text cannot break the header onto a second line.
    assert subject("Revocation status", "CN=a\r\nBcc: x@y is now revoked") == (
        "[certwarden] Revocation status: CN=a Bcc: x@y is now revoked"
    )
    assert when(T0.replace(microsecond=123456)) == "2026-06-01T12:00:00Z"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("ftp://cw.example.org", "http:// or https://"),
        ("cw.example.org", "http:// or https://"),
        ("https://", "names no host"),
        ("https://user:pw@cw.example.org", "user name or password"),
        ("https://cw.example.org/?x=1", "query or fragment"),
        ("https://cw.example.org:99999", "not a URL"),
        ("https://cw.example.org/a b", "spaces or control characters"),
        ("https://cw.example.org/\x1b[31m", "spaces or control characters"),
    ],
)
def test_a_bad_public_url_is_refused_by_name_and_nothing_is_saved(
    app: App, raw: str, problem: str
) -> None:
    with pytest.raises(ValueError) as caught:
        validate_public_url(raw)
    assert problem in str(caught.value)
    app.outbox.update_smtp_settings({"public_url": "https://before.example.org"})
    with pytest.raises(InvalidFieldsError) as refused:
        app.outbox.update_smtp_settings({"public_url": raw, "host": "mail.example.org"})
    assert set(refused.value.errors) == {"public_url"}
    assert refused.value.errors["public_url"].startswith("Public URL: ")
    stored = app.outbox.stored_smtp_settings()
    assert (stored.public_url, stored.host) == ("https://before.example.org", "")


def test_a_good_public_url_is_kept_without_its_trailing_slash(app: App) -> None:
    saved = app.outbox.update_smtp_settings({"public_url": " https://cw.example.org:8443/pki/ "})
    assert saved.public_url == "https://cw.example.org:8443/pki"
    assert with_link("body\n", saved.public_url, "/alerts").endswith(
        "\n-- \nOpen in certwarden: https://cw.example.org:8443/pki/alerts\n"
    )
    assert app.outbox.update_smtp_settings({"public_url": ""}).public_url == ""
    assert with_link("body\n", "", "/alerts") == "body\n"


def test_the_digest_links_back_to_the_ui_and_uses_the_one_time_format(
    app: App, smtp_server: SmtpServer
) -> None:
    use_server(app, smtp_server.port, public_url="https://cw.example.org")
    app.monitor.update_settings({"email_enabled": True, "emails": "ops@example.org"})
    add_cert(app, "soon.test", T0 + 10 * D)
    assert app.monitor.run_now().digest_queued
    assert app.outbox.deliver_due().sent
    (mail,) = smtp_server.messages
    assert mail.subject == "[certwarden] Certificate expiry: 1 expiring"
    assert mail.body.rstrip().endswith("Open in certwarden: https://cw.example.org/")
    assert "Expires:    2026-06-11T12:00:00Z" in mail.body
    assert " UTC" not in mail.body


def test_without_a_public_url_no_link_is_added(app: App, smtp_server: SmtpServer) -> None:
    use_server(app, smtp_server.port)
    app.monitor.update_settings({"email_enabled": True, "emails": "ops@example.org"})
    add_cert(app, "soon.test", T0 + 10 * D)
    app.monitor.run_now()
    app.outbox.deliver_due()
    (mail,) = smtp_server.messages
    assert "Open in certwarden" not in mail.body


def test_the_test_message_reaches_the_real_server(app: App, smtp_server: SmtpServer) -> None:
    use_server(app, smtp_server.port, public_url="https://cw.example.org")
    report = app.outbox.send_test(["ops@example.org", " noc@example.org"])
    assert report.recipients == ("ops@example.org", "noc@example.org")
    (mail,) = smtp_server.messages
    assert mail.rcpt_tos == ("ops@example.org", "noc@example.org")
    assert mail.subject == "[certwarden] Test message: mail delivery works"
    assert "2026-06-01T12:00:00Z" in mail.body
    assert "Open in certwarden: https://cw.example.org/security/mail" in mail.body
    assert app.outbox.pending_count() == 0  # sent now, never queued


def test_the_test_message_says_why_it_was_not_sent(app: App, smtp_server: SmtpServer) -> None:
    with pytest.raises(InvalidFieldsError) as bad:
        app.outbox.send_test(["not-an-address"])
    assert "not-an-address" in bad.value.errors["to"]
    with pytest.raises(ConflictError, match="no SMTP server is configured"):
        app.outbox.send_test(["ops@example.org"])
    use_server(app, smtp_server.port)
    smtp_server.refuse("554 5.7.1 Not today")
    with pytest.raises(NotificationError, match="554"):
        app.outbox.send_test(["ops@example.org"])
    smtp_server.stop()
    with pytest.raises(NotificationError, match="cannot connect"):
        app.outbox.send_test(["ops@example.org"])


def test_public_url_through_the_cli(cli: Cli) -> None:
    bad = cli("smtp", "settings", "set", "--public-url", "ftp://cw.example.org")
    assert bad.code == 1, bad
    assert "--public-url" in bad.stderr and "http:// or https://" in bad.stderr
    good = cli("smtp", "settings", "set", "--public-url", "https://cw.example.org/")
    assert good.code == 0, good
    shown = json.loads(cli("smtp", "settings", "--json").stdout)
    assert shown["public_url"] == "https://cw.example.org"


async def test_public_url_and_the_test_message_through_the_api(
    app: App, smtp_server: SmtpServer
) -> None:
    setup = make_setup(app)
    async with asgi_client(setup.web, setup.admin_token) as api:
        bad = await api.patch("/api/v1/settings/smtp", json={"public_url": "javascript:alert(1)"})
        assert bad.status_code == 422 and "public_url" in bad.json()["errors"]
        unsent = await api.post("/api/v1/settings/smtp/test", json={"to": ["ops@example.org"]})
        assert unsent.status_code == 409 and "no SMTP server" in unsent.json()["detail"]
        saved = await api.patch(
            "/api/v1/settings/smtp",
            json={
                "host": "127.0.0.1",
                "port": smtp_server.port,
                "security": "none",
                "public_url": "https://cw.example.org",
            },
        )
        assert saved.status_code == 200 and saved.json()["public_url"] == "https://cw.example.org"
        sent = await api.post("/api/v1/settings/smtp/test", json={"to": "ops@example.org"})
        assert sent.status_code == 200, sent.text
        assert sent.json()["recipients"] == ["ops@example.org"]
        assert [m.rcpt_tos for m in smtp_server.messages] == [("ops@example.org",)]
        wrong = await api.post("/api/v1/settings/smtp/test", json={"to": 3})
        assert wrong.status_code == 422 and "to" in wrong.json()["errors"]
    async with asgi_client(setup.web, setup.viewer_token) as viewer:
        refused = await viewer.post("/api/v1/settings/smtp/test", json={"to": ["a@b.org"]})
        assert refused.status_code == 403
    assert len(smtp_server.messages) == 1
    entries, _ = app.users.list_audit()
    tests = [e for e in entries if e.action == "smtp.test"]
    assert len(tests) == 1 and tests[0].details["recipients"] == ["ops@example.org"]


async def test_the_mail_page_sends_a_test_message_and_shows_the_result(
    app: App, smtp_server: SmtpServer
) -> None:
    setup = make_setup(app)
    app.monitor.update_settings({"emails": "pki@example.org; noc@example.org"})
    async with asgi_client(setup.web) as browser:
        csrf = await login(browser, "admin", ADMIN_PASSWORD)
        page = await browser.get("/security/mail")
        assert 'value="pki@example.org; noc@example.org"' in page.text  # the monitor's list
        early = await browser.post(
            "/security/mail/test", data={"csrf_token": csrf, "test_to": "ops@example.org"}
        )
        assert early.status_code == 303
        shown = await browser.get("/security/mail")
        assert "enter the mail server&#39;s Host above and save first" in shown.text
        use_server(app, smtp_server.port)
        bad = await browser.post(
            "/security/mail/test", data={"csrf_token": csrf, "test_to": "ops@@example.org"}
        )
        assert bad.status_code == 422
        assert '<div class="error" id="e-test_to" role="alert">' in bad.text
        assert 'value="ops@@example.org"' in bad.text
        sent = await browser.post(
            "/security/mail/test",
            data={"csrf_token": csrf, "test_to": "ops@example.org, noc@example.org"},
        )
        assert sent.status_code == 303
        result = await browser.get("/security/mail")
        assert "Test message sent to ops@example.org, noc@example.org through 127.0.0.1:" in (
            result.text
        )
        assert [m.rcpt_tos for m in smtp_server.messages] == [
            ("ops@example.org", "noc@example.org")
        ]
        smtp_server.stop()
        failed = await browser.post(
            "/security/mail/test", data={"csrf_token": csrf, "test_to": "ops@example.org"}
        )
        assert failed.status_code == 303
        after = await browser.get("/security/mail")
        assert "The test message was not sent: cannot connect to 127.0.0.1:" in after.text
