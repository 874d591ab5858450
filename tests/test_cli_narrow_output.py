"""Readable at 80 columns: the default terminal, and any pipe.

The real ``certwarden`` executable, output piped (not a terminal), with
``COLUMNS=80``, over the demo inventory: every key value (ID, full expiry
date, days left, status) is printed whole; ``show`` prints the SHA-256 whole;
``--help`` prints option names whole and types as words.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from certwarden.interfaces.cli._layout import Col, fit_table, shorten_middle
from tests.conftest import T0

CERTWARDEN = [sys.executable, "-c", "from certwarden.interfaces.cli import main; main()"]


def run(data_dir: Path, *args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "COLUMNS": str(columns),
        "CERTWARDEN_DATA_DIR": str(data_dir),
        "CERTWARDEN_TESTING_FIXED_NOW": T0.isoformat(),
    }
    env.pop("FORCE_COLOR", None)
    return subprocess.run(
        [*CERTWARDEN, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("narrow") / "data"
    result = run(data_dir, "demo", "init")
    assert result.returncode == 0, result
    return data_dir


def test_list_at_80_columns_shows_every_full_expiry_date(demo_dir: Path) -> None:
    result = run(demo_dir, "list")
    assert result.returncode == 0, result
    records = json.loads(run(demo_dir, "list", "--json").stdout)
    assert len(records) >= 10
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    for record in records:
        date = record["not_after"]  # the one time format, whole
        row = [line for line in lines if re.match(rf"\s*{record['id']}\s", line)]
        assert len(row) == 1, (record["id"], lines)
        assert date in row[0], (date, row[0])
        assert f"{record['days_left']:.1f}" in row[0]
        assert "…" not in row[0].split(date)[1]  # nothing right of the date is cut
    assert "2026-12…" not in result.stdout


def test_show_prints_the_sha256_whole(demo_dir: Path) -> None:
    records = json.loads(run(demo_dir, "list", "--json").stdout)
    result = run(demo_dir, "show", str(records[0]["id"]))
    assert result.returncode == 0, result
    assert records[0]["sha256"] in result.stdout
    assert records[0]["subject"] in result.stdout


def test_check_all_at_80_columns_keeps_status_and_decision_whole(demo_dir: Path) -> None:
    # OCSP is off in a fresh data dir: every answer is could-not-tell, the
    # longest status there is.
    result = run(demo_dir, "check", "--all")
    assert "Traceback" not in result.stderr, result.stderr
    data = json.loads(run(demo_dir, "check", "--all", "--json").stdout)
    statuses = {o["result"]["status"] for o in data["results"]}
    assert statuses, data
    # The table fits; the details follow it, one line each, long ones unbroken.
    table = [line for line in result.stdout.splitlines() if not line.startswith("  #")]
    assert all(len(line) <= 80 for line in table), table
    for outcome in data["results"]:
        row = next(line for line in table if re.match(rf"\s*{outcome['id']}\s", line))
        shown = "on hold" if outcome["result"]["on_hold"] else outcome["result"]["status"]
        assert shown in row and outcome["decision"] in row, row
        assert f"  #{outcome['id']}: " in result.stdout
    for status in statuses:
        assert status in result.stdout
    assert "could_no…" not in result.stdout


def test_monitor_run_alerts_and_stores_fit_80_columns(demo_dir: Path) -> None:
    run_now = run(demo_dir, "monitor", "run-now", "--no-deliver")
    assert run_now.returncode == 0, run_now
    for args in (["alerts", "list"], ["alerts", "history"], ["stores", "list"], ["outbox", "list"]):
        result = run(demo_dir, *args)
        assert result.returncode == 0, result
        assert all(len(line) <= 80 for line in result.stdout.splitlines()), result.stdout
    alerts = json.loads(run(demo_dir, "alerts", "history", "--json").stdout)
    assert alerts
    shown = run(demo_dir, "alerts", "history").stdout
    for alert in alerts:
        at = alert["created_at"]
        row = next(line for line in shown.splitlines() if re.match(rf"\s*{alert['id']}\s", line))
        assert at in row and alert["kind"] in row, (alert, row)


def test_help_shows_option_names_whole_and_types_as_words(tmp_path: Path) -> None:
    settings = run(tmp_path, "revocation", "settings", "set", "--help")
    assert settings.returncode == 0, settings
    assert "--enable-revocation-check / --disable-revocation-check" in settings.stdout
    assert "--trusted-responder-store TEXT" in settings.stdout
    imported = run(tmp_path, "import", "--help")
    assert "PATH..." in imported.stdout and "--password-file PATH" in imported.stdout
    for text in (settings.stdout, imported.stdout):
        assert "<list[" not in text and "<str>" not in text and "…" not in text
        assert all(len(line) <= 80 for line in text.splitlines())


def test_fit_table_drops_optional_columns_before_cutting_names() -> None:
    import io

    from rich.console import Console

    console = Console(width=60, file=io.StringIO())
    cols = [
        Col("id", "key"),
        Col("subject", "name", min_width=10),
        Col("not after", "key"),
        Col("sha", "key", optional=1),
    ]
    rows = [["12", "CN=" + "x" * 30, "2026-12-31 23:59:59", "a" * 16]]
    table = fit_table(console, cols, rows)
    assert [c.header for c in table.columns] == ["id", "subject", "not after"]
    assert shorten_middle("abcdefghij", 5) == "ab…ij"
    assert shorten_middle("short", 9) == "short"
