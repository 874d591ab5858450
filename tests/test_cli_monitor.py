"""The monitor, smtp, alerts and outbox commands, end to end through the CLI
(in-process, on a real SQLite data directory, with a real SMTP server)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import T0, Cli
from tests.monitor_helpers import make_pem
from tests.smtp_fixture import SmtpServer

H = timedelta(hours=1)
D = timedelta(days=1)


def js(result: Any) -> Any:
    assert result.code == 0, result
    return json.loads(result.stdout)


def import_cert(cli: Cli, tmp_path: Path, cn: str, expires_in: timedelta, *args: str) -> None:
    path = tmp_path / f"{cn}.pem"
    path.write_bytes(make_pem(cn, T0 + expires_in))
    result = cli("import", str(path), *(args or ("--store", "tomcat-trust")))
    assert result.code == 0, result


# ------------------------------------------------------------------- settings


def test_settings_show_defaults_and_set(cli: Cli) -> None:
    assert js(cli("monitor", "settings", "--json")) == {
        "start_days": 30,
        "frequency": "1d",
        "major_within": "7d",
        "critical_within": "1d",
        "email_enabled": False,
        "lsc_enabled": False,
        "emails": [],
    }
    shown = cli("monitor", "settings")
    assert shown.code == 0
    for label in ("Notification Start Time", "Notification Frequency", "E-mail IDs"):
        assert label in shown.stdout
    result = cli(
        "monitor", "settings", "set", "--start-days", "45", "--frequency", "12h",
        "--email", "--lsc", "--emails", "a@x.org; b@y.org",
        "--major-within", "10d", "--critical-within", "36h",
    )  # fmt: skip
    assert result.code == 0, result
    assert js(cli("monitor", "settings", "--json")) == {
        "start_days": 45,
        "frequency": "12h",
        "major_within": "10d",
        "critical_within": "36h",
        "email_enabled": True,
        "lsc_enabled": True,
        "emails": ["a@x.org", "b@y.org"],
    }
    assert cli("monitor", "settings", "set").code == 2  # nothing to change: usage error


BAD_MONITOR_SETTINGS = [
    (["--major-within", "0h"], ["--major-within"], "too short"),
    (["--major-within", "soon"], ["--major-within"], "'soon' is not a duration"),
    (["--major-within", "40d"], ["--major-within"], "must come after the Notification Start"),
    (["--start-days", "5"], ["--start-days"], "shorten the Major Level"),
    (["--critical-within", "7d"], ["--critical-within"], "must come after the Major Level"),
    (["--critical-within", "2d", "--major-within", "1d"], ["--critical-within"], "Major Level"),
    (["--start-days", "0"], ["--start-days"], "out of range"),
    (["--start-days", "366"], ["--start-days"], "out of range"),
    (["--start-days", "ten"], ["--start-days"], "not a whole number of days"),
    (["--start-days", "-3"], ["--start-days"], "out of range"),
    (["--frequency", "0h"], ["--frequency"], "0h is too short; the minimum is 1 hour"),
    (["--frequency", "30m"], ["--frequency"], "30m is not a whole number of hours"),
    (["--frequency", "2y"], ["--frequency"], "unknown unit 'y'"),
    (["--frequency", "daily"], ["--frequency"], "'daily' is not a duration"),
    (["--frequency", "400d"], ["--frequency"], "400d is too long; the maximum is 365 days"),
    (["--frequency", "60w"], ["--frequency"], "60w is too long"),
    (["--emails", "bob@"], ["--emails"], "'bob@' has no domain"),
    (["--emails", "ok@x.org;b@d@x.org"], ["--emails"], "'b@d@x.org'"),
    (["--emails", "a b@x.org"], ["--emails"], "contains a space"),
    (["--email", "--emails", ""], ["--emails"], "no address is set"),
    (
        ["--start-days", "0", "--frequency", "1m", "--emails", "nobody"],
        ["--start-days", "--frequency", "--emails"],
        "Notification",
    ),
    (["--start-days", "20", "--frequency", "0h"], ["--frequency"], "minimum is 1 hour"),
]


@pytest.mark.parametrize(
    ("args", "flags", "words"),
    BAD_MONITOR_SETTINGS,
    ids=[" ".join(a) or "empty" for a, _, _ in BAD_MONITOR_SETTINGS],
)
def test_bad_monitor_settings_are_named_and_nothing_is_saved(
    cli: Cli, args: list[str], flags: list[str], words: str
) -> None:
    setup = cli(
        "monitor", "settings", "set", "--start-days", "10", "--frequency", "2d", "--lsc",
        "--emails", "keep@x.org",
    )  # fmt: skip
    assert setup.code == 0, setup
    before = js(cli("monitor", "settings", "--json"))
    result = cli("monitor", "settings", "set", *args)
    assert result.code == 1, result
    for flag in flags:
        assert f"error: {flag}" in result.stderr
    assert words in result.stderr
    assert "nothing was saved" in result.stderr
    assert js(cli("monitor", "settings", "--json")) == before


BAD_SMTP_SETTINGS = [
    (["--port", "70000"], "--port", "out of range"),
    (["--port", "smtp"], "--port", "not a port number"),
    (["--security", "ssl"], "--security", "not one of starttls, tls, none"),
    (["--from", "nobody"], "--from", "exactly one @"),
    (["--host", "mail server"], "--host", "not a host name"),
    (["--timeout", "0"], "--timeout", "out of range"),
    (["--password-env", "CW_TEST_UNSET_PASSWORD"], "--password-env", "is not set"),
]


@pytest.mark.parametrize(("args", "flag", "words"), BAD_SMTP_SETTINGS)
def test_bad_smtp_settings_are_named_and_nothing_is_saved(
    cli: Cli, args: list[str], flag: str, words: str
) -> None:
    assert cli("smtp", "settings", "set", "--host", "mail.example.org").code == 0
    before = js(cli("smtp", "settings", "--json"))
    result = cli("smtp", "settings", "set", "--port", "587", *args)
    assert result.code == 1, result
    assert f"error: {flag}" in result.stderr and words in result.stderr
    assert js(cli("smtp", "settings", "--json")) == before


def test_smtp_settings_password_from_env_is_never_shown(cli: Cli) -> None:
    result = cli(
        "smtp", "settings", "set", "--host", "mail.example.org", "--port", "587",
        "--username", "cw", "--password-env", "CW_TEST_PW", "--from", "cw@example.org",
        env={"CW_TEST_PW": "s3cret-value"},
    )  # fmt: skip
    assert result.code == 0, result
    shown = js(cli("smtp", "settings", "--json"))
    assert shown["password"] == "(set)"
    assert shown["host"] == "mail.example.org" and shown["from_environment"] == []
    text = cli("smtp", "settings", env={"CERTWARDEN_SMTP_HOST": "relay.example.org"})
    assert "s3cret" not in text.stdout
    assert "relay.example.org" in text.stdout and "CERTWARDEN_SMTP_HOST" in text.stdout


# -------------------------------------------------------------- service control


def test_status_start_stop_restart(cli: Cli) -> None:
    status = cli("monitor", "status")
    assert status.code == 0
    assert "Certificate Expiry Monitor: Running" in status.stdout
    assert "next run:  2026-06-02T12:00:00Z (in 1d)" in status.stdout
    assert "24 hours after the (re)start" in status.stdout
    assert "already running" in cli("monitor", "start").stdout
    assert "stopped" in cli("monitor", "stop").stdout
    data = js(cli("monitor", "status", "--json"))
    assert (data["status"], data["next_run_at"]) == ("stopped", None)
    cli.now = T0 + 5 * H
    assert "started" in cli("monitor", "start").stdout
    assert js(cli("monitor", "status", "--json"))["next_run_at"] == "2026-06-02T17:00:00Z"
    cli.now = T0 + 7 * H
    assert "restarted" in cli("monitor", "restart").stdout
    data = js(cli("monitor", "status", "--json"))
    assert (data["next_run_at"], data["interval_hours"], data["reason"]) == (
        "2026-06-02T19:00:00Z",
        24.0,
        "started",
    )


# ------------------------------------------------------------------- must show


def test_simulate_three_days_switches_from_24_hour_to_hourly_runs(cli: Cli, tmp_path: Path) -> None:
    import_cert(cli, tmp_path, "soon.test", 36 * H)
    import_cert(cli, tmp_path, "far.test", 200 * D)
    result = cli("monitor", "simulate", "--days", "3")
    assert result.code == 0, result
    lines = [line for line in result.stdout.splitlines() if line.startswith("2026-")]
    # first run 24 h after the start, then hourly once soon.test is within a day
    assert lines[0].startswith("2026-06-02T12:00:00Z  1d ")
    assert "expiring CN=soon.test" in lines[0]
    assert lines[1].startswith("2026-06-02T13:00:00Z  1h ")
    assert len(lines) == 49
    assert "nothing stored or sent" in result.stdout

    data = js(cli("monitor", "simulate", "--days", "3", "--json"))
    gaps = []
    previous = data["start"]
    for run in data["runs"]:
        gap = datetime.fromisoformat(run["at"]) - datetime.fromisoformat(previous)
        gaps.append(gap / H)
        previous = run["at"]
    assert gaps == [24.0] + [1.0] * 48
    # critical (12 h left) at once; expiry is a new level, notified at the
    # first run after it (2026-06-03 00:00); then once a day (the frequency).
    levels = [(r["at"], n["kind"], n["level"]) for r in data["runs"] for n in r["notices"]]
    assert levels == [
        ("2026-06-02T12:00:00Z", "expiring", "critical"),
        ("2026-06-03T01:00:00Z", "expired", "expired"),
        ("2026-06-04T01:00:00Z", "expired", "expired"),
    ]
    # nothing was stored by the simulation
    assert js(cli("alerts", "list", "--json")) == []
    assert js(cli("outbox", "list", "--json")) == []


def test_simulate_rejects_bad_input(cli: Cli) -> None:
    result = cli("monitor", "simulate", "--days", "0")
    assert result.code == 1 and "--days 0 is out of range" in result.stderr
    result = cli("monitor", "simulate", "--days", "2", "--from", "yesterday")
    assert result.code == 1 and "not an ISO-8601 time" in result.stderr
    result = cli("monitor", "simulate", "--days", "2", "--from", "2026-07-01T00:00")
    assert result.code == 1 and "needs a UTC offset" in result.stderr
    data = js(cli("monitor", "simulate", "--days", "2", "--from", "2026-07-01T00:00Z", "--json"))
    assert [r["at"] for r in data["runs"]] == ["2026-07-02T00:00:00Z", "2026-07-03T00:00:00Z"]


def _configure_mail(cli: Cli, port: int) -> None:
    result = cli(
        "smtp", "settings", "set", "--host", "127.0.0.1", "--port", str(port),
        "--security", "none", "--from", "certwarden@example.org", "--timeout", "5",
    )  # fmt: skip
    assert result.code == 0, result
    result = cli("monitor", "settings", "set", "--email", "--emails", "a@x.org;b@y.org")
    assert result.code == 0, result


def test_run_now_delivers_one_digest_with_the_right_certificates(
    cli: Cli, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    _configure_mail(cli, smtp_server.port)
    import_cert(cli, tmp_path, "expired.test", -3 * D)
    import_cert(cli, tmp_path, "soon.test", 10 * D)
    import_cert(cli, tmp_path, "far.test", 90 * D)
    result = cli("monitor", "run-now")
    assert result.code == 0, result
    assert "2 certificate(s) notified" in result.stdout
    assert "digest queued for a@x.org; b@y.org" in result.stdout
    assert "outbox: 1 notice(s) sent" in result.stdout
    (mail,) = smtp_server.messages
    assert mail.rcpt_tos == ("a@x.org", "b@y.org")
    assert mail.subject == "[certwarden] Certificate expiry: 1 expired, 1 expiring"
    assert mail.body.index("CN=expired.test") < mail.body.index("CN=soon.test")
    assert "far.test" not in mail.body
    (entry,) = js(cli("outbox", "list", "--json"))
    assert (entry["state"], entry["attempts"], entry["recipients"]) == (
        "sent",
        1,
        ["a@x.org", "b@y.org"],
    )
    alerts = js(cli("alerts", "list", "--json"))
    assert sorted(a["kind"] for a in alerts) == ["expired", "expiring"]
    # Run again at once: nothing is due in this frequency slot, nothing is sent.
    again = js(cli("monitor", "run-now", "--json"))
    assert again["run"]["notices"] == [] and again["delivery"]["sent"] == []
    assert len(smtp_server.messages) == 1
    status = js(cli("monitor", "status", "--json"))
    assert status["last_run"]["trigger"] == "manual"
    assert status["interval_hours"] == 1.0  # expired.test keeps the service hourly


def test_mail_server_down_then_outbox_deliver(
    cli: Cli, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    _configure_mail(cli, smtp_server.port)
    import_cert(cli, tmp_path, "soon.test", 2 * D)
    smtp_server.stop()
    result = cli("monitor", "run-now")
    assert result.code == 1
    assert "not delivered (will retry)" in result.stderr
    assert "cannot connect to 127.0.0.1" in result.stderr
    (entry,) = js(cli("outbox", "list", "--json"))
    assert (entry["state"], entry["attempts"]) == ("pending", 1)
    assert entry["next_attempt_at"] == "2026-06-01T12:01:00Z"
    assert "cannot connect" in entry["last_error"]
    smtp_server.start()
    listing = cli("outbox", "list")
    assert "pending" in listing.stdout
    assert "nothing to deliver (1 waiting for a retry)" in cli("outbox", "deliver").stdout
    cli.now = T0 + timedelta(minutes=1)
    delivered = js(cli("outbox", "deliver", "--json"))
    assert delivered["sent"] == [entry["id"]]
    assert len(smtp_server.messages) == 1
    assert js(cli("outbox", "deliver", "--json"))["sent"] == []
    assert len(smtp_server.messages) == 1


def test_alerts_list_text(cli: Cli, tmp_path: Path) -> None:
    import_cert(cli, tmp_path, "soon.test", 2 * D)
    assert cli("monitor", "run-now").code == 0  # e-mail off: alerts only, exit 0
    listing = cli("alerts", "list")
    assert "expiring" in listing.stdout and "soon.test" in listing.stdout
    assert js(cli("alerts", "list", "--kind", "expired", "--json")) == []


# --------------------------------------------------------- lifetime thresholds


def test_lifetime_share_thresholds_from_the_command_line(cli: Cli, tmp_path: Path) -> None:
    import_cert(cli, tmp_path, "long.test", 100 * D)  # valid from T0 - 300 d: 400 days
    done = js(cli("stores", "set-threshold", "tomcat-trust", "--lifetime-share", "33%", "--json"))
    assert done["lifetime_share"] == "33%" and done["certificates"] == 1
    # 33% of 400 days is 132 days: inside it already, though 100 days is outside the window
    report = js(cli("monitor", "run-now", "--json"))
    assert [n["level"] for n in report["run"]["notices"]] == ["warning"]
    (cert,) = js(cli("list", "--json"))
    shown = cli("set-threshold", str(cert["id"]), "--lifetime-share", "10%")
    assert shown.code == 0, shown
    assert "notices start at 2026-07-31T12:00:00Z" in shown.stdout  # T0 + 100 d - 40 d
    for args, words in (
        (["--lifetime-share", "150%"], "--lifetime-share: '150%' is out of range"),
        (["--lifetime-share", "a lot"], "is not a share of the lifetime"),
    ):
        bad = cli("stores", "set-threshold", "tomcat-trust", *args)
        assert bad.code == 1 and words in bad.stderr, bad
    both = cli("set-threshold", str(cert["id"]), "--lifetime-share", "5%", "--clear")
    assert both.code == 2 and "not both" in both.stderr
    unknown = cli("stores", "set-threshold", "nowhere", "--clear")
    assert unknown.code == 1 and "no store named 'nowhere'" in unknown.stderr
    cleared = cli("stores", "set-threshold", "tomcat-trust", "--clear")
    assert cleared.code == 0 and "Notification Start Time applies" in cleared.stdout
    audit = cli("audit", "list")
    assert audit.code == 0 and "store.threshold" in audit.stdout
    assert "certificate.threshold" in audit.stdout
