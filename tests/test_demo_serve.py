"""``make run`` in a test: ``certwarden serve --demo`` as a real process on a
free port with a temporary data directory. Signing in over HTTP, the
dashboard shows the demo certificates with at least one revoked and one
expiring; the captured-mail inbox receives the notices; SIGTERM stops it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.web_support import csrf_of, free_port

PASSWORD = "demo-admin-password"
CERTWARDEN = Path(sys.executable).parent / "certwarden"

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CERTWARDEN_SMTP_", "CERTWARDEN_TESTING_", "CERTWARDEN_DATA"))
    }
    env["CERTWARDEN_ADMIN_PASSWORD"] = PASSWORD
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(CERTWARDEN),
                "--data-dir",
                str(tmp_path / "var"),
                "serve",
                "--demo",
                "--port",
                str(port),
                "--interval",
                "0.5",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"serve exited with {process.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"serve did not answer within 60 s:\n{log.read_text()}")
            time.sleep(0.2)
        yield base, process, log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _count(html: str, state: str) -> int:
    match = re.search(rf'href="/certificates\?state={state}"><span class="n">(\d+)</span>', html)
    assert match, f"no {state} tile on the dashboard"
    return int(match.group(1))


def test_make_run_demo_shows_certificates_revocations_and_mail(
    server: tuple[str, subprocess.Popen[bytes], Path],
) -> None:
    base, process, log = server
    with httpx.Client(base_url=base, timeout=10) as browser:
        assert browser.get("/").status_code == 303  # nothing without signing in
        form = browser.get("/login")
        signed_in = browser.post(
            "/login",
            data={"username": "admin", "password": PASSWORD, "csrf_token": csrf_of(form.text)},
        )
        assert signed_in.status_code == 303, signed_in.text
        # The background loop checks revocation and delivers notices within seconds.
        deadline = time.monotonic() + 60
        while True:
            dashboard = browser.get("/").text
            mail = browser.get("/mail").text
            if _count(dashboard, "revoked") >= 1 and "Message" in mail and "<pre" in mail:
                break
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail(f"the demo did not settle:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        assert "20 certificate(s)" in dashboard
        assert _count(dashboard, "expiring") >= 1 and _count(dashboard, "expired") >= 1
        assert _count(dashboard, "good") >= 1 and _count(dashboard, "unknown") == 1
        listed = browser.get("/certificates?store=demo-servers&limit=100").text
        for name in ("revoked.demo.test", "onhold.demo.test", "tomorrow.demo.test"):
            assert name in listed
        revoked = browser.get("/certificates?state=revoked").text
        assert "revoked.demo.test" in revoked and "onhold.demo.test" in revoked
        assert "tomorrow.demo.test" in browser.get("/certificates?state=expiring").text
        alerts = browser.get("/alerts").text
        assert "expired.demo.test" in alerts and "revoked" in alerts
        assert "pki-team@demo.certwarden.test" in mail
        outbox = browser.get("/outbox").text
        assert 'class="badge sent"' in outbox
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    assert process.returncode in (0, -signal.SIGTERM), log.read_text()[-2000:]
    assert "Traceback" not in log.read_text()
