"""Text from certificates and input never breaks or restyles the CLI.

A certificate's subject is whatever its issuer (or a monitored server) wrote:
Rich markup (``[/]``, ``[bold]``), bracketed words that look like markup
(``[certwarden] Certificate expiry``), terminal control sequences. Every
command that prints such text prints it literally: no MarkupError, nothing
dropped, no raw ESC reaching the terminal. Real CLI (Typer's runner) over a
real SQLite data directory.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import T0, Cli
from tests.monitor_helpers import make_pem

HOSTILE = "evil [/] cert [bold]x"
ESCAPING = "esc\x1b[2J\x1b]0;pwned\x07 cert"  # clear screen, retitle the window
PARTNER = "[red]Partner[/red]"


def _no_raw_controls(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text, repr(text)


@pytest.fixture
def hostile(cli: Cli, tmp_path: Path) -> dict[str, int]:
    """The hostile certificates imported (expiring soon, so the monitor notices them)."""
    assert cli("stores", "create", "partner", "--description", PARTNER).code == 0
    ids = {}
    for name, store, days in ((HOSTILE, "partner", 5), (ESCAPING, "tomcat-trust", 10)):
        path = tmp_path / f"{len(ids)}.pem"
        path.write_bytes(make_pem(name, T0 + timedelta(days=days)))
        result = cli("import", "--store", store, "--json", str(path))
        assert result.code == 0, result
        ids[name] = json.loads(result.stdout)["imported"][0]["id"]
    return ids


def test_import_list_and_show_print_the_names_literally(
    cli: Cli, tmp_path: Path, hostile: dict[str, int]
) -> None:
    again = tmp_path / "again.pem"
    again.write_bytes(make_pem(HOSTILE, T0 + timedelta(days=5)))
    dup = cli("import", "--store", "partner", str(again))
    assert dup.code == 0, dup
    assert f"CN={HOSTILE}" in dup.stdout  # the duplicate line names it literally

    listed = cli("list")
    assert listed.code == 0, listed
    assert HOSTILE in listed.stdout
    assert "esc\\x1b[2J\\x1b]0;pwned\\x07 cert" in listed.stdout  # visible escapes
    _no_raw_controls(listed.stdout)

    as_json = cli("list", "--json")
    assert {c["subject_cn"] for c in json.loads(as_json.stdout)} == {HOSTILE, ESCAPING}
    _no_raw_controls(as_json.stdout)  # exact values, written as \u001b escapes

    shown = cli("show", str(hostile[HOSTILE]))
    assert shown.code == 0, shown
    assert f"CN={HOSTILE}" in shown.stdout
    escaped = cli("show", str(hostile[ESCAPING]))
    assert escaped.code == 0 and "\\x1b[2J" in escaped.stdout
    _no_raw_controls(escaped.stdout)


def test_store_description_and_error_messages_keep_their_brackets(
    cli: Cli, hostile: dict[str, int]
) -> None:
    stores = cli("stores", "list")
    assert stores.code == 0, stores
    assert PARTNER in stores.stdout

    missing = cli("show", "[/x]")
    assert missing.code == 1, missing
    assert "'[/x]' is neither a certificate ID" in missing.stderr
    assert "Traceback" not in missing.stderr

    bad = cli("list", "--expiring-within", "[bold]2w")
    assert bad.code == 2 and "'[bold]2w' is not a duration" in bad.stderr
    esc = cli("list", "--expiring-within", "\x1b[2J2w")
    assert esc.code == 2 and "'\\x1b[2J2w' is not a duration" in esc.stderr
    _no_raw_controls(esc.stderr)

    nosuch = cli("stores", "delete", "[red]x")
    assert nosuch.code == 1 and "[red]x" in nosuch.stderr


def test_check_all_prints_the_names(cli: Cli, hostile: dict[str, int]) -> None:
    result = cli("check", "--all")
    assert "MarkupError" not in result.stderr and "Traceback" not in result.stderr
    assert HOSTILE in result.stdout
    assert "\\x1b[2J" in result.stdout
    _no_raw_controls(result.stdout)


def test_monitor_run_alerts_outbox_and_simulate(cli: Cli, hostile: dict[str, int]) -> None:
    assert cli("monitor", "settings", "set", "--email", "--emails", "ops@example.test").code == 0
    run = cli("monitor", "run-now", "--no-deliver")
    assert run.code == 0, run
    assert f"CN={HOSTILE}" in run.stdout
    _no_raw_controls(run.stdout)

    alerts = cli("alerts", "list")
    assert alerts.code == 0, alerts
    assert HOSTILE in alerts.stdout.replace("\n", " ") or "evil [/]" in alerts.stdout
    _no_raw_controls(alerts.stdout)

    outbox = cli("outbox", "list")
    assert outbox.code == 0, outbox
    assert "[certwarden] Certificate expiry" in outbox.stdout

    simulated = cli("monitor", "simulate", "--days", "2")
    assert simulated.code == 0, simulated
    assert f"CN={HOSTILE}" in simulated.stdout.replace("\n", "")
    _no_raw_controls(simulated.stdout)


def test_delete_names_what_it_deleted(cli: Cli, hostile: dict[str, int]) -> None:
    result = cli("delete", str(hostile[HOSTILE]))
    assert result.code == 0, result
    assert f"CN={HOSTILE}" in result.stdout and "from partner" in result.stdout
    result = cli("delete", str(hostile[ESCAPING]))
    assert result.code == 0 and "\\x1b" in result.stdout
    _no_raw_controls(result.stdout)
