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


def test_serve_over_https_creates_the_first_admin_once(tmp_path: Path) -> None:
    import ssl
    from datetime import UTC, datetime, timedelta

    from certwarden.demo.devpki import DevCA

    now = datetime.now(UTC)  # the TLS library checks validity against the real clock
    root = DevCA.root(
        "HTTPS Test Root", not_before=now - timedelta(days=1), not_after=now + timedelta(days=30)
    )
    leaf = root.issue(
        "localhost",
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=30),
        sans=["127.0.0.1", "localhost"],
    )
    (tmp_path / "cert.pem").write_bytes(leaf.cert_pem() + root.issued.cert_pem())
    (tmp_path / "key.pem").write_bytes(leaf.key_pem())
    trust = ssl.create_default_context(cadata=root.issued.cert_pem().decode())
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTWARDEN_")}
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(CERTWARDEN), "--data-dir", str(tmp_path / "var"), "serve", "--port", str(port),
                "--tls-cert", str(tmp_path / "cert.pem"), "--tls-key", str(tmp_path / "key.pem"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )  # fmt: skip
    base = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"serve exited with {process.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{base}/health", verify=trust, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"serve did not answer over HTTPS:\n{log.read_text()}")
            time.sleep(0.2)
        match = re.search(r"created user admin with the password (\S+) ", log.read_text())
        assert match, log.read_text()
        with httpx.Client(base_url=base, verify=trust, timeout=10) as browser:
            form = browser.get("/login")
            response = browser.post(
                "/login",
                data={
                    "username": "admin",
                    "password": match.group(1),
                    "csrf_token": csrf_of(form.text),
                },
            )
            assert response.status_code == 303, response.text
            cookie = next(
                c for c in response.headers.get_list("set-cookie") if c.startswith("cw_session=")
            )
            assert "Secure" in cookie and "HttpOnly" in cookie
            page = browser.get("/")
            assert page.status_code == 200 and "Dashboard" in page.text
            assert page.headers["strict-transport-security"].startswith("max-age=")
            assert "demo" not in browser.get("/stores").text  # no demo without --demo
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    # The admin is stored for every later start (and the CLI); no password is printed again.
    again = subprocess.run(
        [str(CERTWARDEN), "--data-dir", str(tmp_path / "var"), "users", "list", "--json"],
        capture_output=True,
        env=env,
        check=True,
    )
    assert '"username": "admin"' in again.stdout.decode()
