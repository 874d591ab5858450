"""The alert lifecycle: one alert per condition, open -> acknowledged -> cleared,
notified once each way; against a real JSON webhook receiver on loopback."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.conftest import T0, Cli
from tests.monitor_helpers import make_pem
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
