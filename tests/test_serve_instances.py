"""A second instance cannot break the first: ``certwarden serve`` processes on
free ports. On SQLite a second server on the same data directory is refused
before it touches anything; a busy port is found before anything is written;
the demo's settings name only servers that are running, and a start that fails
after writing them puts them back."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from certwarden.composition import App
from certwarden.demo.runtime import start_demo
from tests.web_support import free_port

CERTWARDEN = Path(sys.executable).parent / "certwarden"

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTWARDEN_")}
    env["CERTWARDEN_ADMIN_PASSWORD"] = "instances-admin-password"
    return env


def _start(data_dir: Path, port: int, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(CERTWARDEN), "--data-dir", str(data_dir), "serve", "--port", str(port),
             "--interval", "0.5", *extra],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_env(),
        )  # fmt: skip


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_healthy(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        if process.poll() is not None:
            pytest.fail(f"serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"serve did not answer:\n{log.read_text()}")
        time.sleep(0.2)


def _settings(data_dir: Path) -> dict[str, object]:
    """What the data directory's settings say (read-only commands beside the server)."""
    out: dict[str, object] = {}
    for name, args in (("smtp", ["smtp", "settings"]), ("revocation", ["revocation", "settings"])):
        result = subprocess.run(
            [str(CERTWARDEN), "--data-dir", str(data_dir), *args, "--json"],
            capture_output=True,
            env=_env(),
            timeout=60,
            check=True,
        )
        out[name] = json.loads(result.stdout)
    return out


@pytest.fixture(scope="module")
def first(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, int, subprocess.Popen[bytes]]]:
    """One demo server, shared by the tests that try to disturb it."""
    tmp_path = tmp_path_factory.mktemp("first")
    data_dir, port, log = tmp_path / "var", free_port(), tmp_path / "first.log"
    process = _start(data_dir, port, log, "--demo")
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", process, log)
        yield data_dir, port, process
    finally:
        _stop(process)


def test_a_second_server_on_the_same_data_directory_is_refused_untouched(
    first: tuple[Path, int, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    data_dir, port, process = first
    before = _settings(data_dir)
    smtp = before["smtp"]
    assert isinstance(smtp, dict) and smtp["host"] == "127.0.0.1"
    # The demo's mail server named in the settings is the running one.
    socket.create_connection(("127.0.0.1", int(smtp["port"])), timeout=5).close()

    log = tmp_path / "second.log"
    second = _start(data_dir, free_port(), log, "--demo")
    try:
        assert second.wait(timeout=60) == 1, log.read_text()
    finally:
        _stop(second)
    said = " ".join(log.read_text().split())
    assert "another certwarden server is already running on the data directory" in said
    assert f"(process {process.pid})" in said and "nothing was changed" in said
    assert "demo:" not in said and "Traceback" not in said
    assert _settings(data_dir) == before
    assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
    socket.create_connection(("127.0.0.1", int(smtp["port"])), timeout=5).close()


def test_a_busy_port_is_refused_before_anything_is_written(
    first: tuple[Path, int, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    data_dir, port, _process = first
    before = _settings(data_dir)
    other = tmp_path / "other-var"
    log = tmp_path / "busy.log"
    second = _start(other, port, log, "--demo")
    try:
        assert second.wait(timeout=60) == 1, log.read_text()
    finally:
        _stop(second)
    said = " ".join(log.read_text().split())
    assert f"127.0.0.1:{port} is already in use" in said and "nothing was changed" in said
    assert not (other / "certwarden.db").exists()  # no database, no settings
    assert not (other / "demo-pki").exists()
    assert _settings(data_dir) == before


def test_the_lock_goes_with_the_process(tmp_path: Path) -> None:
    """A server that ends (even killed) leaves no lock: the next one starts."""
    data_dir = tmp_path / "var"
    for n, stop in enumerate((signal.SIGTERM, signal.SIGKILL)):
        port, log = free_port(), tmp_path / f"run{n}.log"
        process = _start(data_dir, port, log)
        try:
            _wait_healthy(f"http://127.0.0.1:{port}", process, log)
        finally:
            process.send_signal(stop)
            process.wait(timeout=30)
    assert (data_dir / "certwarden.lock").exists()


def test_a_demo_start_that_fails_puts_its_settings_back(app: App) -> None:
    """What ``serve --demo`` does when the web server does not come up after the demo."""
    before = (app.outbox.stored_smtp_settings().to_json(), app.revocation.settings().to_dict())
    runtime = start_demo(
        data_dir=app.config.data_dir,
        clock=app.clock,
        inventory=app.inventory,
        monitor=app.monitor,
        revocation=app.revocation,
        outbox=app.outbox,
    )
    try:
        assert app.outbox.stored_smtp_settings().port == runtime.mailbox.port
        assert app.revocation.settings().enable_ocsp is True
    finally:
        runtime.stop()
        runtime.undo_settings()
    after = (app.outbox.stored_smtp_settings().to_json(), app.revocation.settings().to_dict())
    assert after == before


@pytest.mark.parametrize(
    ("lease", "interval", "at_most"),
    [(None, "20", "15 s"), ("5", "5", "2.5 s"), ("60", "31", "30 s")],
)
def test_rounds_further_apart_than_half_the_lease_are_refused_untouched(
    tmp_path: Path, lease: str | None, interval: str, at_most: str
) -> None:
    """Leases and heartbeats are renewed once a round: with rounds further apart
    than the lease, the jobs would pass between instances and the node show as gone."""
    data_dir = tmp_path / "var"
    env = _env() | ({"CERTWARDEN_CLUSTER_LEASE_SECONDS": lease} if lease else {})
    done = subprocess.run(
        [str(CERTWARDEN), "--data-dir", str(data_dir), "serve", "--port", str(free_port()),
         "--interval", interval],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    said = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 2, said
    assert "--interval" in said and f"{interval} s is more than half the cluster lease" in said
    assert f"give at most {at_most}" in said and "CERTWARDEN_CLUSTER_LEASE_SECONDS" in said
    assert not (data_dir / "certwarden.db").exists()  # nothing written
