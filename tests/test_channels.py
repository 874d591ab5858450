"""Notification channels through Apprise, against real receivers on loopback:
a JSON webhook (json://) and a Mattermost (Slack-compatible) incoming webhook
at a custom host; the receiver down then up, answering 500 then 200."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from certwarden.adapters.apprise_notify import _scrub
from certwarden.composition import App
from certwarden.core.channels import (
    KIND_GROUPS,
    SEVERITIES,
    parse_kinds,
    shown_url,
    validate_channel,
)
from certwarden.errors import InvalidFieldsError
from certwarden.services.shared.alerts import AlertKind, Severity, record_alert
from tests.conftest import T0, Cli
from tests.monitor_helpers import make_pem
from tests.receiver_fixture import Receiver

H = timedelta(hours=1)
SECRET = "s3cr3t-hook-token"


def js(result: Any) -> Any:
    assert result.code == 0, result
    return json.loads(result.stdout)


def import_cert(cli: Cli, tmp_path: Path, cn: str, expires_in: timedelta) -> str:
    path = tmp_path / f"{cn}.pem"
    path.write_bytes(make_pem(cn, T0 + expires_in))
    result = cli("import", str(path), "--store", "tomcat-trust", "--json")
    assert result.code == 0, result
    listing = js(cli("list", "--json"))
    items = listing["items"] if isinstance(listing, dict) else listing
    (match,) = [c for c in items if cn in c["subject"]]
    return str(match["sha256"])


def add_webhook(cli: Cli, receiver: Receiver, *extra: str) -> None:
    url = f"json://127.0.0.1:{receiver.port}/hooks/{SECRET}"
    result = cli("channels", "add", "ops", "--url", url, *extra)
    assert result.code == 0, result
    assert SECRET not in result.stdout


# ---------------------------------------------------------------- the Must show


def test_run_now_sends_one_json_notice_naming_the_fingerprint(
    cli: Cli, tmp_path: Path, receiver: Receiver
) -> None:
    add_webhook(cli, receiver)
    sha256 = import_cert(cli, tmp_path, "soon.test", 12 * H)
    result = cli("monitor", "run-now")
    assert result.code == 0, result
    assert "channels: 1 notice(s) sent" in result.stdout
    (post,) = receiver.posts
    assert post.path == f"/hooks/{SECRET}"
    assert sha256 in post.body["message"]
    # 12 hours left is past the critical level (1 day): Apprise's "failure" type.
    assert "CN=soon.test" in post.body["title"] and post.body["type"] == "failure"
    # A second run in the same slot sends nothing new.
    again = js(cli("monitor", "run-now", "--json"))
    assert again["channels"]["sent"] == [] and again["run"]["notices"] == []
    assert len(receiver.posts) == 1
    (entry,) = js(cli("channels", "outbox", "--json"))
    assert (entry["state"], entry["attempts"], entry["channel"]) == ("sent", 1, "ops")


def test_the_url_is_stored_sealed_and_shown_as_scheme_and_host(
    cli: Cli, receiver: Receiver
) -> None:
    add_webhook(cli, receiver, "--min-severity", "major", "--kinds", "expiry,revoked")
    (channel,) = js(cli("channels", "list", "--json"))
    assert channel["url"] == "json://127.0.0.1"
    assert channel["min_severity"] == "major"
    assert channel["kinds"] == ["expired", "expiring", "revoked"]
    table = cli("channels", "list")
    assert "json://127.0.0.1" in table.stdout and SECRET not in table.stdout
    with sqlite3.connect(cli.data_dir / "certwarden.db") as db:
        dump = "\n".join(db.iterdump())
    assert SECRET not in dump
    (entry,) = js(cli("audit", "list", "--json"))[:1]
    assert entry["action"] == "channel.add" and SECRET not in json.dumps(entry)


def test_add_refuses_bad_fields_and_stores_nothing(cli: Cli) -> None:
    result = cli(
        "channels", "add", "Bad Name!", "--url", "not a url", "--min-severity", "loud",
        "--kinds", "expiry,weather",
    )  # fmt: skip
    assert result.code == 1
    for text in ("NAME", "--url", "--min-severity: 'loud'", "--kinds", "'weather'"):
        assert text in result.stderr
    assert "nothing was saved" in result.stderr
    unknown = cli("channels", "add", "x", "--url", "nosuchservice://host/path/" + SECRET)
    assert unknown.code == 1 and "Apprise cannot use this nosuchservice:// URL" in unknown.stderr
    assert SECRET not in unknown.stderr
    assert js(cli("channels", "list", "--json")) == []


def test_duplicate_name_remove_and_test(cli: Cli, receiver: Receiver) -> None:
    add_webhook(cli, receiver)
    again = cli("channels", "add", "ops", "--url", "json://127.0.0.1/x")
    assert again.code == 1 and "a channel named 'ops' exists" in again.stderr
    tested = cli("channels", "test", "ops")
    assert tested.code == 0, tested
    (post,) = receiver.posts
    assert "channel ops works" in post.body["title"] and post.body["type"] == "success"
    removed = cli("channels", "remove", "ops")
    assert removed.code == 0 and "channel ops removed" in removed.stdout
    assert cli("channels", "test", "ops").code == 1
    actions = [e["action"] for e in js(cli("audit", "list", "--json"))]
    assert {"channel.add", "channel.test", "channel.remove"} <= set(actions)


# ---------------------------------------------------------------- delivery


def test_receiver_down_then_up_queued_then_delivered_once(
    cli: Cli, tmp_path: Path, receiver: Receiver
) -> None:
    add_webhook(cli, receiver)
    import_cert(cli, tmp_path, "soon.test", 12 * H)
    receiver.stop()
    result = cli("monitor", "run-now")
    assert result.code == 1
    assert "not delivered (will retry)" in result.stderr and SECRET not in result.stderr
    (entry,) = js(cli("channels", "outbox", "--json"))
    assert (entry["state"], entry["attempts"]) == ("pending", 1)
    assert entry["next_attempt_at"] == "2026-06-01T12:01:00Z"
    assert SECRET not in (entry["last_error"] or "")
    receiver.start()
    assert "1 waiting for a retry" in cli("channels", "deliver").stdout
    cli.now = T0 + timedelta(minutes=1)
    delivered = js(cli("channels", "deliver", "--json"))
    assert delivered["sent"] == [entry["id"]]
    assert js(cli("channels", "deliver", "--json"))["sent"] == []
    assert len(receiver.posts) == 1


def test_500_then_200_retried_and_delivered_once(
    cli: Cli, tmp_path: Path, receiver: Receiver
) -> None:
    add_webhook(cli, receiver)
    import_cert(cli, tmp_path, "soon.test", 12 * H)
    receiver.statuses = [500]
    result = cli("monitor", "run-now")
    assert result.code == 1 and "500" in result.stderr
    assert receiver.posts == []
    cli.now = T0 + timedelta(minutes=1)
    assert js(cli("channels", "deliver", "--json"))["sent"] != []
    assert js(cli("channels", "deliver", "--json"))["sent"] == []
    assert len(receiver.posts) == 1


def test_mattermost_slack_compatible_webhook_at_a_custom_host(
    cli: Cli, tmp_path: Path, receiver: Receiver
) -> None:
    url = f"mmost://127.0.0.1:{receiver.port}/{SECRET}"
    assert cli("channels", "add", "chat", "--url", url).code == 0
    sha256 = import_cert(cli, tmp_path, "soon.test", 12 * H)
    assert cli("monitor", "run-now").code == 0
    (post,) = receiver.posts
    assert post.path == f"/hooks/{SECRET}"
    assert sha256 in post.body["text"]  # Slack's incoming-webhook field


def test_channel_takes_only_its_kinds_from_its_minimum_severity(app: App) -> None:
    receiverless = "json://127.0.0.1:9/unused"
    app.channels.add("pager", receiverless, min_severity="critical", kinds="expiry")
    app.channels.add("all", receiverless, min_severity="warning")
    with app.db.session() as s:
        for kind, severity, key in [
            (AlertKind.EXPIRING, Severity.WARNING, "a"),
            (AlertKind.EXPIRED, Severity.CRITICAL, "b"),
            (AlertKind.REVOKED, Severity.CRITICAL, "c"),
            (AlertKind.ENDPOINT_UNREACHABLE, Severity.INFO, "d"),
        ]:
            record_alert(s, now=T0, kind=kind, severity=severity, message=key, dedupe_key=key)
        # The same alert again (same key): nothing new for any channel.
        record_alert(
            s, now=T0, kind=AlertKind.EXPIRED, severity=Severity.CRITICAL, message="b",
            dedupe_key="b",
        )  # fmt: skip
    queued = sorted((m.channel, m.kind) for m in app.channels.messages())
    assert queued == [
        ("all", "expired"),
        ("all", "expiring"),
        ("all", "revoked"),
        ("pager", "expired"),
    ]


def test_remove_drops_the_waiting_notices(app: App) -> None:
    app.channels.add("gone", "json://127.0.0.1:9/x")
    with app.db.session() as s:
        record_alert(
            s, now=T0, kind=AlertKind.EXPIRED, severity=Severity.CRITICAL, message="m",
            dedupe_key="k",
        )  # fmt: skip
    assert app.channels.list()[0].pending == 1
    assert app.channels.remove("gone") == 1
    assert app.channels.messages() == []


# ---------------------------------------------------------------- pure parts


def test_severities_in_order_and_kind_groups_name_alert_kinds() -> None:
    assert tuple(s.value for s in Severity) == SEVERITIES
    assert SEVERITIES == ("info", "warning", "major", "critical")
    values = {k.value for k in AlertKind}
    for group in KIND_GROUPS.values():
        assert set(group) <= values
    assert parse_kinds("all", values) == tuple(sorted(values))
    assert parse_kinds("tls, revoked", values) == (
        "connection_closed",
        "connection_refused",
        "endpoint_unreachable",
        "revoked",
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("json://user:pw@hooks.example.org:8443/in/TOKEN?x=1", "json://hooks.example.org"),
        ("mmosts://chat.example.org/abc123", "mmosts://chat.example.org"),
        ("tgram://123456:ABCDEF-token/4242", "tgram://…"),
        ("slack://TokenA/TokenB/TokenC/#general", "slack://…"),
        ("json://[::1]:8080/x", "json://::1"),
        ("ntfy://localhost/topic", "ntfy://localhost"),
    ],
    ids=["user-port-path", "host", "token-as-host", "slack-tokens", "ipv6", "localhost"],
)
def test_shown_url_keeps_scheme_and_host_only(url: str, shown: str) -> None:
    assert shown_url(url) == shown


def test_validation_never_quotes_the_url_and_scrub_removes_secrets() -> None:
    with pytest.raises(InvalidFieldsError) as caught:
        validate_channel("ok", f"json://h/{SECRET} x", "warning", None, known_kinds=["expired"])
    assert SECRET not in str(caught.value.errors)
    url = f"json://user:{SECRET}@127.0.0.1:1/path/{SECRET}2"
    assert SECRET not in _scrub(f"failed to reach {url} with {SECRET}2", url)


@pytest.mark.postgres
def test_queued_with_the_alert_and_deduplicated_on_postgresql(pg_app: App) -> None:
    pg_app.channels.add("ops", "json://127.0.0.1:9/x", kinds="expiry")
    for _ in range(2):  # the same alert key twice: one notice
        with pg_app.db.session() as s:
            record_alert(
                s, now=T0, kind=AlertKind.EXPIRED, severity=Severity.CRITICAL, message="m",
                sha256="ab" * 32, dedupe_key="slot-1",
            )  # fmt: skip
    (message,) = pg_app.channels.messages()
    assert (message.channel, message.state, message.kind) == ("ops", "pending", "expired")
    assert pg_app.channels.list()[0].pending == 1


def test_a_failed_delivery_logs_no_part_of_the_url(
    app: App, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    app.channels.add("ops", f"json://127.0.0.1:{receiver.port}/in/{SECRET}")
    receiver.stop()
    with app.db.session() as s:
        record_alert(
            s, now=T0, kind=AlertKind.EXPIRED, severity=Severity.CRITICAL, message="m",
            dedupe_key="k",
        )  # fmt: skip
    report = app.channels.deliver_due(T0)
    (error,) = report.failed.values()
    assert SECRET not in error
    assert "channel ops did not take notice" in caplog.text
    assert SECRET not in caplog.text
