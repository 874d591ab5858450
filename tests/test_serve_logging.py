"""What the server logs: each background round at info, settings changes on
commit, ``--log-format json``, server-supplied text escaped, and a new empty
database announced."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from certwarden.clock import ManualClock
from certwarden.composition import App
from certwarden.errors import InvalidFieldsError
from certwarden.interfaces.cli._logs import JsonFormatter, TextFormatter
from certwarden.interfaces.cli._serve import run_round
from certwarden.interfaces.web.metrics import LoopMetrics
from tests.web_support import free_port

CERTWARDEN = [sys.executable, "-c", "from certwarden.interfaces.cli import main; main()"]
HOSTILE = "subject evil\n2026-01-01T00:00:00Z INFO certwarden.serve: forged \x1b[2J"


def _record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            exc_info = sys.exc_info()
    return logging.LogRecord("certwarden.serve", logging.INFO, __file__, 1, message, args, exc_info)


def test_text_format_escapes_what_servers_sent_but_keeps_tracebacks() -> None:
    line = TextFormatter().format(_record("notice not delivered: %s", HOSTILE, exc=True))
    first, *rest = line.splitlines()
    assert "evil\\x0a2026-01-01T00:00:00Z INFO certwarden.serve: forged \\x1b[2J" in first
    assert "\x1b" not in line
    assert rest[0].startswith("Traceback") and "RuntimeError: boom" in rest[-1]
    assert first.split(" ")[0].endswith("Z")  # ISO-8601 UTC


def test_json_format_is_one_ascii_object_a_line() -> None:
    line = JsonFormatter().format(_record("probe of %s: %s", "证书.example", HOSTILE, exc=True))
    assert "\n" not in line and line.isascii()
    data = json.loads(line)
    assert data["level"] == "info" and data["logger"] == "certwarden.serve"
    assert data["message"] == f"probe of 证书.example: {HOSTILE}"
    assert "RuntimeError: boom" in data["exception"]
    assert data["ts"].endswith("Z")


def test_background_rounds_and_settings_changes_are_logged_at_info(
    app: App, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    app.revocation.update_settings(
        {"enable_ocsp": True, "enable_revocation_check": True, "check_every": "1h"}
    )
    changed = [r.getMessage() for r in caplog.records if r.name == "certwarden.settings"]
    assert len(changed) == 1, changed
    assert changed[0].startswith("settings revocation changed: ")
    assert "enable_ocsp" in changed[0] and "enable_revocation_check" in changed[0]
    caplog.clear()
    with pytest.raises(InvalidFieldsError):
        app.revocation.update_settings({"check_every": "0h"})
    assert not [r for r in caplog.records if r.name == "certwarden.settings"]  # nothing saved

    app.monitor.start()  # the first run is due 24 hours later
    clock.advance(timedelta(hours=25))
    run_round(app, LoopMetrics(CollectorRegistry()))
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any(m.startswith("monitor run (scheduled): 0 notified") for m in said), said
    # The leader plans the run (here with nothing to check: no chunk).
    assert any(
        m.startswith("revocation check: run 1 planned: 0 certificate(s) in 0 chunk(s)")
        for m in said
    ), said


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTWARDEN_")}
    return subprocess.run(
        [*CERTWARDEN, "--data-dir", str(data_dir), *args],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip


def test_a_new_empty_database_is_announced(tmp_path: Path) -> None:
    first = _cli(tmp_path / "typo", "list")
    assert first.returncode == 0, first
    assert f"created a new empty database at {tmp_path / 'typo' / 'certwarden.db'}" in first.stderr
    again = _cli(tmp_path / "typo", "list")
    assert "created a new empty database" not in again.stderr


@pytest.mark.slow
def test_serve_log_format_json(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTWARDEN_")}
    env["CERTWARDEN_ADMIN_PASSWORD"] = "admin-password-1"
    log = tmp_path / "serve.log"
    with log.open("wb") as err:
        process = subprocess.Popen(
            [*CERTWARDEN, "--data-dir", str(data_dir), "serve", "--port", str(port),
             "--interval", "0.2", "--log-format", "json"],
            stdout=subprocess.DEVNULL, stderr=err, env=env,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        httpx.get(f"http://127.0.0.1:{port}/no-such-page-%1b", timeout=5)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    messages = [r["message"] for r in records]
    assert any("created a new empty database at" in m for m in messages), messages
    assert any(m.startswith("serving on http://127.0.0.1:") for m in messages), messages
    assert any(r["logger"].startswith("uvicorn") for r in records), records
    assert all(line.isascii() for line in lines)
