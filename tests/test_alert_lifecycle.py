"""The alert lifecycle: one alert per condition, open -> acknowledged -> cleared,
notified once each way; against a real JSON webhook receiver on loopback."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlalchemy import select

from certwarden.adapters.db.models import ChannelMessage
from certwarden.clock import ManualClock
from certwarden.composition import App
from certwarden.core.ocsp import CertStatus, RevocationResult
from certwarden.core.ocsp.results import Reason
from certwarden.services.revocation import Target
from certwarden.services.revocation.model import Trigger
from certwarden.services.revocation.recording import record_checks
from certwarden.services.shared.lifecycle import (
    AlertState,
    ConditionRecord,
    get_condition,
    list_conditions,
)
from tests.conftest import T0, Cli
from tests.monitor_helpers import add_cert, make_pem
from tests.receiver_fixture import Receiver

H = timedelta(hours=1)
D = timedelta(days=1)
SECRET = "lifecycle-hook-token"


def js(result: Any) -> Any:
    assert result.code == 0, result
    return json.loads(result.stdout)


def import_pem(cli: Cli, tmp_path: Path, name: str, pem: bytes) -> str:
    path = tmp_path / f"{name}.pem"
    path.write_bytes(pem)
    result = cli("import", str(path), "--store", "tomcat-trust", "--json")
    assert result.code == 0, result
    (item,) = json.loads(result.stdout)["imported"]
    return str(item["sha256"])


def test_must_show_webhook_notice_ack_and_cleared_by_renewal(
    cli: Cli, tmp_path: Path, receiver: Receiver
) -> None:
    url = f"json://127.0.0.1:{receiver.port}/hooks/{SECRET}"
    assert cli("channels", "add", "ops", "--url", url).code == 0
    sha256 = import_pem(cli, tmp_path, "old", make_pem("soon.test", T0 + 12 * H))

    first = cli("monitor", "run-now")
    assert first.code == 0, first
    (post,) = receiver.posts
    assert sha256 in post.body["message"] and "CN=soon.test" in post.body["title"]
    # A second run sends nothing.
    assert cli("monitor", "run-now").code == 0
    assert len(receiver.posts) == 1

    (alert,) = js(cli("alerts", "list", "--state", "open", "--json"))
    assert (alert["kind"], alert["severity"], alert["sha256"]) == ("expiring", "critical", sha256)
    assert f"#{alert['id']}" in post.body["message"]
    acked = cli("alerts", "ack", str(alert["id"]), "--note", "renewal ordered, ticket OPS-12")
    assert acked.code == 0, acked
    assert f"alert #{alert['id']} acknowledged by cli" in acked.stdout
    (shown,) = js(cli("alerts", "list", "--state", "acknowledged", "--json"))
    assert shown["acknowledged"]["note"] == "renewal ordered, ticket OPS-12"
    assert shown["acknowledged"]["by"].startswith("cli")
    assert js(cli("alerts", "list", "--state", "open", "--json")) == []
    audit = js(cli("audit", "list", "--json"))
    entries = audit["entries"] if isinstance(audit, dict) else audit
    assert any(e["action"] == "alert.acknowledge" for e in entries)

    # The renewal: same store and subject, valid now, expiring later.
    renewed = import_pem(
        cli, tmp_path, "new", make_pem("soon.test", T0 + 90 * D, not_before=T0 - H)
    )
    assert renewed != sha256
    (cleared,) = js(cli("alerts", "list", "--state", "cleared", "--json"))
    assert cleared["id"] == alert["id"] and cleared["cleared"]["why"].startswith("renewed")
    delivered = js(cli("channels", "deliver", "--json"))
    assert len(delivered["sent"]) == 1
    assert len(receiver.posts) == 2
    notice = receiver.posts[1].body
    assert "cleared" in notice["title"].lower() and sha256 in notice["message"]
    assert notice["type"] == "success"
    # Nothing more: another run, another delivery.
    assert cli("monitor", "run-now").code == 0
    assert js(cli("channels", "deliver", "--json"))["sent"] == []
    assert len(receiver.posts) == 2


def test_ack_errors_unknown_cleared_and_bad_note(cli: Cli, tmp_path: Path) -> None:
    sha256 = import_pem(cli, tmp_path, "old", make_pem("soon.test", T0 + 2 * D))
    assert cli("monitor", "run-now").code == 0
    (alert,) = js(cli("alerts", "list", "--json"))
    missing = cli("alerts", "ack", "9999")
    assert missing.code == 1 and "no alert #9999" in missing.stderr
    long = cli("alerts", "ack", str(alert["id"]), "--note", "x" * 501)
    assert long.code == 1 and "--note" in long.stderr and "at most 500" in long.stderr
    ctl = cli("alerts", "ack", str(alert["id"]), "--note", "a\x1b[31mb")
    assert ctl.code == 1 and "control characters" in ctl.stderr
    assert js(cli("alerts", "list", "--state", "open", "--json"))[0]["id"] == alert["id"]
    bad_state = cli("alerts", "list", "--state", "closed")
    assert bad_state.code == 2 and "not an alert state" in bad_state.stderr
    # Deleting the certificate clears its alert; acknowledging it then is refused.
    assert cli("delete", sha256).code == 0
    (cleared,) = js(cli("alerts", "list", "--state", "cleared", "--json"))
    assert "deleted" in cleared["cleared"]["why"]
    again = cli("alerts", "ack", str(alert["id"]))
    assert again.code == 1 and "cleared already" in again.stderr
    history = js(cli("alerts", "history", "--json"))
    assert [h["alert_id"] for h in history] == [alert["id"]]


# ------------------------------------------------ a simulated month (injected clock)


def _notices(app: App) -> list[tuple[str, str]]:
    """(severity as queued, title) of every channel notice, oldest first."""
    with app.db.session() as s:
        return [
            (m.severity, m.title)
            for m in s.scalars(select(ChannelMessage).order_by(ChannelMessage.id))
        ]


def _drive(app: App, clock: ManualClock, until: datetime) -> None:
    while True:
        nxt = app.monitor.status().next_run_at
        if nxt is None or nxt > until:
            return
        clock.set(nxt)
        assert app.monitor.tick(nxt) is not None


def _alert_of(app: App, sha256: str) -> ConditionRecord:
    with app.db.session() as s:
        (alert,) = [a for a in list_conditions(s) if a.sha256 == sha256 and a.family == "expiry"]
    return alert


def test_a_month_open_ack_rises_expiry_and_renewal(app: App, clock: ManualClock) -> None:
    app.channels.add("ops", "json://127.0.0.1:9/hook", min_severity="warning")
    app.monitor.update_settings({"frequency": "1d"})
    _, acked_sha = add_cert(app, "acked.test", T0 + 20 * D)
    _, plain_sha = add_cert(app, "plain.test", T0 + 20 * D + 6 * H)
    app.monitor.start()
    _drive(app, clock, T0 + 2 * D + H)
    # Opened once each, then one reminder a frequency while open.
    warning = [t for sev, t in _notices(app) if sev == "warning"]
    assert sum("acked.test" in t for t in warning) >= 2
    alert = _alert_of(app, acked_sha)
    assert (alert.state, alert.severity, alert.level) == ("open", "warning", "warning")
    app.changes.acknowledge_alert("alice", alert.id, "renewal ordered")
    before = len(_notices(app))
    _drive(app, clock, T0 + 12 * D)
    # Acknowledged: no reminders for it while the severity stays warning.
    later = _notices(app)[before:]
    assert not any("acked.test" in t for _, t in later)
    assert any("plain.test" in t for _, t in later)  # the open one keeps its reminders
    _drive(app, clock, T0 + 30 * D)
    acked = [(sev, t) for sev, t in _notices(app)[before:] if "acked.test" in t]
    # Re-notified only when the severity rose: major, then critical; not for the
    # expired level (critical again) nor for any repeat.
    assert [sev for sev, _ in acked] == ["major", "critical"]
    plain = [t for _, t in _notices(app) if "plain.test" in t]
    for level in ("Major", "Critical"):
        assert sum(t.startswith(f"[certwarden] {level}") for t in plain) >= 1
    assert sum("expired" in t.lower() for t in plain) >= 1  # the expired crossing, once a day
    alert = _alert_of(app, acked_sha)
    assert (alert.state, alert.level, alert.acked_by) == ("acknowledged", "expired", "alice")
    # The renewal of acked.test clears it at import: one "cleared" notice.
    clock.set(T0 + 30 * D + H)
    add_cert(app, "acked.test", T0 + 120 * D, not_before=T0 + 30 * D)
    alert = _alert_of(app, acked_sha)
    assert alert.state == "cleared" and (alert.cleared_reason or "").startswith("renewed")
    cleared = [(sev, t) for sev, t in _notices(app) if sev == "cleared"]
    assert len(cleared) == 1 and "acked.test" in cleared[0][1]
    # Deleting plain.test clears its alert too; the next runs add nothing for either.
    app.changes.delete_certificate("alice", plain_sha)
    assert _alert_of(app, plain_sha).state == "cleared"
    count = len(_notices(app))
    _drive(app, clock, T0 + 33 * D)
    assert len(_notices(app)) == count
    with app.db.session() as s:
        assert list_conditions(s, state=AlertState.OPEN) == []
        # A condition that re-occurs later opens a new alert: the renewal expiring.
    clock.set(T0 + 119 * D)
    app.monitor.run_now()
    with app.db.session() as s:
        (fresh,) = list_conditions(s, state=AlertState.OPEN)
    assert fresh.id != alert.id and fresh.subject == alert.subject


def test_level_crossings_are_notified_once_each(app: App, clock: ManualClock) -> None:
    app.channels.add("ops", "json://127.0.0.1:9/hook", min_severity="warning")
    app.monitor.update_settings({"frequency": "30d"})
    add_cert(app, "cross.test", T0 + 20 * D)
    app.monitor.start()
    _drive(app, clock, T0 + 26 * D)
    assert [sev for sev, _ in _notices(app)] == ["warning", "major", "critical", "critical"]
    titles = [t for _, t in _notices(app)]
    assert "expiring" in titles[2].lower() and "expired" in titles[3].lower()
    with app.db.session() as s:
        (alert,) = list_conditions(s)
    assert (alert.state, alert.events, alert.kind) == ("open", 4, "expired")


def _result(status: CertStatus) -> RevocationResult:
    if status is CertStatus.COULD_NOT_TELL:
        return RevocationResult.could_not_tell(Reason.MALFORMED_RESPONSE, "test responder")
    return RevocationResult(status=status, detail="a validated test answer")


def test_revoked_then_good_again_clears(app: App) -> None:
    app.channels.add("ops", "json://127.0.0.1:9/hook", min_severity="warning")
    cert_id, sha = add_cert(app, "rev.test", T0 + 90 * D)
    pem = make_pem("rev.test", T0 + 90 * D)
    target = Target(x509.load_pem_x509_certificate(pem), sha, "CN=rev.test", None, ())

    def check(status: CertStatus, at: datetime) -> None:
        with app.db.session() as s:
            record_checks(
                s, [(cert_id, target, "tomcat-trust", _result(status))], now=at,
                trigger=Trigger.MANUAL, common_criteria=False,
            )  # fmt: skip

    check(CertStatus.GOOD, T0)
    check(CertStatus.COULD_NOT_TELL, T0 + H)
    check(CertStatus.REVOKED, T0 + 2 * H)
    with app.db.session() as s:
        by_family = {a.family: a for a in list_conditions(s)}
    assert by_family["check_failed"].state == "cleared"  # the status can be told again
    assert by_family["revoked"].state == "open"
    check(CertStatus.GOOD, T0 + 3 * H)
    with app.db.session() as s:
        revoked = get_condition(s, by_family["revoked"].id)
    assert revoked.state == "cleared" and "checked good again" in (revoked.cleared_reason or "")
    assert [sev for sev, _ in _notices(app)].count("cleared") == 2
